"""Experiments: paired SGD-vs-ODE runs, runs on real data, parameter sweeps.  Imports the
layers below it."""

from .agreement import agreement, alpha_grids, paired_results, paired_sweep
from .ode_states import escape_mode_shape, fixed_points
from .paired import Paired, paired
from .real_data import held_out_error, simulate_on_data

__all__ = ["Paired", "agreement", "alpha_grids", "escape_mode_shape", "fixed_points", "held_out_error",
           "paired", "paired_results", "paired_sweep", "simulate_on_data"]
