"""Analysis of learning curves: deviations, slopes and fits, plateau and escape detection,
scaling-law fits.  Imports the layers below it (problem ... theory)."""

from .clusters import cluster_resolution
from .curves import fit_exponential_rate, fit_slope, local_slope, log_deviation, loglog_fit, select, slope_window
from .events import (CurvePlateau, asymmetry, escape_time, first_below, measure_plateau, paired_escape_times,
                     plateau_entry, unstable_amplitude)
from .late_phase import expected_timescales, late_exponents
from .rates import rate_law_ratio
from .scaling import default_fit_window, fit_beta, fit_scaling_law
from .symmetry import overlap_spread

__all__ = ["CurvePlateau", "asymmetry", "cluster_resolution", "default_fit_window", "escape_time", "expected_timescales", "first_below", "fit_beta",
           "fit_exponential_rate", "fit_scaling_law", "fit_slope", "late_exponents", "local_slope", "log_deviation", "loglog_fit",
           "measure_plateau", "overlap_spread", "paired_escape_times", "plateau_entry", "rate_law_ratio", "select", "slope_window", "unstable_amplitude"]
