"""The one result type shared by closed forms, ODEs and simulations: a learning curve on an
alpha grid, one row per seed (theory curves have one row, or one per initialisation)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np

from .config import _check_int, check_alpha_grid_args


def alpha_grid(alpha_max: float, points: int, N: int, alpha_min: float | None = None) -> np.ndarray:
    """Log-spaced alpha grid whose points are whole SGD steps (alpha = steps / N).

    ``points`` log-spaced values from ``alpha_min`` (default: one step, 1/N) to ``alpha_max`` are
    rounded to whole steps; duplicates at small alpha are dropped, so the grid may hold fewer
    points.  Closed forms, ODEs and simulations all use this grid.
    """
    alpha_max, points = check_alpha_grid_args(alpha_max, points)
    N = _check_int("N", N, 1)
    if alpha_min is None:
        alpha_min = 1.0 / N
    if not 0 < alpha_min < alpha_max:
        raise ValueError(f"alpha_min must be in (0, alpha_max={alpha_max}), got {alpha_min}")
    steps = np.unique(np.maximum(1, np.round(np.geomspace(alpha_min, alpha_max, points) * N)))
    return steps / N


@dataclass(frozen=True)
class LearningCurve:
    """eps_g on an alpha grid.  ``eps_g`` has shape (S, P): S seeds (or initialisations), P points."""

    alpha: np.ndarray
    eps_g: np.ndarray
    method: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        a = np.asarray(self.alpha, dtype=float)
        e = np.atleast_2d(np.asarray(self.eps_g, dtype=float))
        if e.shape[-1] != a.shape[0]:
            raise ValueError(f"eps_g has {e.shape[-1]} points but alpha has {a.shape[0]}")
        object.__setattr__(self, "alpha", a)
        object.__setattr__(self, "eps_g", e)

    @property
    def n_seeds(self) -> int:
        return self.eps_g.shape[0]

    @property
    def mean(self) -> np.ndarray:
        return self.eps_g.mean(axis=0)

    @property
    def sem(self) -> np.ndarray:
        """Standard error of the mean over seeds (zeros for a single row)."""
        if self.n_seeds < 2:
            return np.zeros_like(self.alpha)
        return self.eps_g.std(axis=0, ddof=1) / np.sqrt(self.n_seeds)

    def at(self, alpha: float) -> float:
        """Seed-mean eps_g at the grid point nearest to ``alpha`` (log distance)."""
        i = int(np.argmin(np.abs(np.log(self.alpha) - np.log(alpha))))
        return float(self.mean[i])

    def to_csv(self, path) -> None:
        """CSV with header ``alpha,eps_g`` (+ ``eps_g_sem`` when S > 1), one row per point."""
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            sem = self.n_seeds > 1
            w.writerow(["alpha", "eps_g"] + (["eps_g_sem"] if sem else []))
            for i, a in enumerate(self.alpha):
                row = [repr(float(a)), repr(float(self.mean[i]))]
                if sem:
                    row.append(repr(float(self.sem[i])))
                w.writerow(row)


def read_csv(path) -> LearningCurve:
    """Read a curve written by ``LearningCurve.to_csv`` (the seed mean only)."""
    data = np.genfromtxt(path, delimiter=",", names=True)
    return LearningCurve(alpha=np.atleast_1d(data["alpha"]), eps_g=np.atleast_1d(data["eps_g"]))
