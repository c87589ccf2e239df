"""Experiments: paired SGD-vs-ODE runs, runs on real data, parameter sweeps.  Imports the
layers below it."""

from .escape import escape_by_seed
from .paired import Paired, paired
from .real_data import held_out_error, simulate_on_data

__all__ = ["Paired", "escape_by_seed", "held_out_error", "paired", "simulate_on_data"]
