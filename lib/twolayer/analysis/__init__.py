"""Analysis of learning curves: deviations, slopes and fits, plateau and escape detection,
scaling-law fits.  Imports the layers below it (problem ... theory)."""

from .curves import (
                     fit_exponential_rate,
                     fit_slope,
                     local_slope,
                     log_deviation,
                     loglog_fit,
                     select,
                     slope_window,
)
from .events import (
                     CurvePlateau,
                     asymmetry,
                     escape_time,
                     first_below,
                     measure_plateau,
                     paired_escape_times,
                     plateau_entry,
                     run_end,
                     unstable_amplitude,
)
from .frontier import compare_frontiers, curves_at_budgets, curves_from_trajectories, exponent_table, fit_frontier, measured_frontier
from .scaling import default_fit_window, fit_beta, fit_scaling_law
from .tables import curves_at

__all__ = ["CurvePlateau", "asymmetry", "compare_frontiers", "curves_at", "curves_at_budgets", "curves_from_trajectories",
           "default_fit_window", "escape_time", "exponent_table", "first_below", "fit_beta", "fit_frontier",
           "measured_frontier",
           "fit_exponential_rate", "fit_scaling_law", "fit_slope", "local_slope", "log_deviation", "loglog_fit",
           "measure_plateau", "paired_escape_times", "plateau_entry", "run_end", "select", "slope_window", "unstable_amplitude"]
