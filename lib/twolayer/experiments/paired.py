"""Paired runs: online SGD and the block ODE started from the same initial weights.

Chapter "Order-parameter dynamics", section "Theory against simulation", and every chapter that
holds the ODE against SGD: for each seed the ODE starts from the block overlaps of the very
weights that seed's simulation starts from (``init="sampled"``), so seed means pair seed by seed
at any scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.curves import log_deviation
from ..analysis.events import paired_escape_times
from ..engines.sgd import simulate
from ..problem.checks import check_seeds
from ..problem.config import Config
from ..problem.trajectory import Trajectory
from ..theory.ode import solve_ode

__all__ = ["Paired", "paired"]


@dataclass(frozen=True)
class Paired:
    """SGD and ODE trajectories of the same seeds on the same grid."""

    sgd: Trajectory
    ode: Trajectory

    def deviation(self, window=None, floor: float = 0.0, reduce: str = "max") -> np.ndarray:
        """|ln eps_sgd - ln eps_ode| per seed, reduced over the grid (see ``log_deviation``)."""
        return log_deviation(self.sgd.eps_g, self.ode.eps_g, self.sgd.alpha, window, floor, reduce)

    def mean_deviation(self, window=None, floor: float = 0.0, reduce: str = "max") -> float:
        """The same for the seed means."""
        return float(log_deviation(self.sgd.mean(), self.ode.mean(), self.sgd.alpha, window, floor, reduce))

    def escape_times(self) -> tuple[np.ndarray, np.ndarray]:
        """Per seed, the escape times (``paired_escape_times``: the plateau measured on the ODE
        curve, SGD read at the same level; nan when not on the grid): (sgd, ode)."""
        return paired_escape_times(self.sgd.alpha, self.sgd.eps_g, self.ode.eps_g, self.ode.alpha)


def paired(config: Config, alpha, *, seeds=(0,), rtol: float = 1e-5, eta2: bool = True, workers=None,
           progress=None, **ode_kw) -> Paired:
    """SGD for every seed and the block ODE from each seed's initial weights, on the grid
    ``alpha`` (whole SGD steps).  ``ode_kw`` go to ``solve_ode`` (e.g. ``h_max``, ``keep_blocks``)."""
    seeds = check_seeds(seeds)
    sgd = simulate(config, alpha, seeds=seeds, workers=workers, progress=progress)
    ode = solve_ode(config, alpha, seeds=seeds, init="sampled", rtol=rtol, eta2=eta2, progress=progress, **ode_kw)
    return Paired(sgd, ode)
