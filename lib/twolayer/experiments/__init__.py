"""Experiments: paired SGD-vs-ODE runs, runs on real data, parameter sweeps.  Imports the
layers below it."""

from .agreement import agreement, alpha_grids, paired_results
from .escape import escape_by_seed
from .hierarchy import hierarchy_vs_blocks
from .linear_powerlaw import LinearPowerlaw, linear_powerlaw
from .linear_sgd import LinearRun, linear_vs_sgd
from .ode_states import escape_mode_shape, fixed_points
from .paired import Paired, paired
from .real_data import held_out_error, simulate_on_data
from .stability import count_diverged, eta2_scan

__all__ = ["LinearPowerlaw", "LinearRun", "Paired", "agreement", "alpha_grids", "count_diverged",
           "escape_by_seed", "escape_mode_shape", "eta2_scan", "fixed_points", "held_out_error",
           "hierarchy_vs_blocks", "linear_powerlaw", "linear_vs_sgd", "paired", "paired_results",
           "simulate_on_data"]
