"""Analysis of learning curves: deviations, slopes and fits, plateau and escape detection,
scaling-law and compute-frontier fits, and the tables chapters print.  Imports the layers below
it (problem ... theory)."""

from .clusters import cluster_resolution
from .curves import fit_exponential_rate, fit_slope, local_slope, log_deviation, loglog_fit, select, slope_window
from .events import (CurvePlateau, asymmetry, escape_split, escape_time, first_below, measure_plateau, paired_escape_times,
                     plateau_entry, run_end, unstable_amplitude)
from .frontier import (compare_frontiers, curves_at_budgets, curves_from_trajectories, exponent_table, fit_frontier,
                       measured_frontier)
from .late_phase import decoupled_exponents, expected_timescales, late_exponents
from .rates import rate_law_ratio
from .recipes import batch_scan, budget_scan, critical_batch, power_decay_scan, tuned_frontier
from .scaling import default_fit_window, fit_beta, fit_scaling_law, tail_exponents, tail_sum
from .symmetry import overlap_spread
from .tables import curves_at

__all__ = ["asymmetry", "batch_scan", "budget_scan", "cluster_resolution", "compare_frontiers",
           "critical_batch", "CurvePlateau", "curves_at", "curves_at_budgets",
           "curves_from_trajectories", "decoupled_exponents", "default_fit_window", "escape_split",
           "escape_time", "expected_timescales", "exponent_table", "first_below", "fit_beta",
           "fit_exponential_rate", "fit_frontier", "fit_scaling_law", "fit_slope",
           "late_exponents", "local_slope", "log_deviation", "loglog_fit", "measure_plateau",
           "measured_frontier", "overlap_spread", "paired_escape_times", "plateau_entry",
           "power_decay_scan", "rate_law_ratio", "run_end", "select", "slope_window",
           "tail_exponents", "tail_sum", "tuned_frontier", "unstable_amplitude"]
