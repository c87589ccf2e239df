"""The one result type: a ``Trajectory`` on an alpha grid, from simulations, ODEs and closed
forms alike, and the log-spaced alpha grid of whole SGD steps they share.

A trajectory holds, per seed s and grid point p, the generalisation error ``eps_g[s, p]`` and the
order parameters ``Q[s, p]`` (K x K), ``R[s, p]`` (K x M), ``T[s, p]`` (M x M) (and the student's
second layer ``v[s, p]`` when it is trained), so that one test or one figure can hold SGD, the
block ODE and an exact solution against each other on the same grid.  ``eps_g`` means one thing
everywhere: 1/2 E[(sigma - y)^2] over a fresh input, without the label-noise variance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .checks import check_float, check_int
from .config import Config

__all__ = ["Trajectory", "alpha_grid"]


def alpha_grid(alpha_max: float, points: int, N: int, alpha_min: float | None = None,
               batch: int = 1) -> np.ndarray:
    """Log-spaced alpha grid whose points are whole SGD steps (alpha = steps / N; with a
    mini-batch ``batch`` = B, whole steps of B samples: alpha = steps B / N).

    ``points`` log-spaced values from ``alpha_min`` (default one step, 1/N) to ``alpha_max`` are
    rounded to whole steps; duplicates at small alpha are dropped, so the grid may hold fewer
    points.  Simulations, ODEs and closed forms all use this grid.
    """
    N = check_int("N", N, 1)
    points = check_int("points", points, 2, 1_000_000)
    alpha_max = check_float("alpha_max", alpha_max, lo=0.0, lo_open=True)
    if alpha_max * N > 2**53:
        raise ValueError(f"alpha_max must be <= 2^53 / N = {2**53 / N:.3g} (whole steps in float64), got {alpha_max:g}")
    lo = 1.0 / N if alpha_min is None else check_float("alpha_min", alpha_min, lo=0.0, lo_open=True)
    if not lo < alpha_max:
        raise ValueError(f"alpha_min must be < alpha_max = {alpha_max:g}, got {lo:g}")
    batch = check_int("batch", batch, 1)
    if batch == 1:
        steps = np.unique(np.maximum(1.0, np.round(np.geomspace(lo, alpha_max, points) * N)))
        return steps / N
    steps = np.unique(np.maximum(1.0, np.round(np.geomspace(lo, alpha_max, points) * N / batch)))
    return steps * batch / N


def _ro(a):
    if a is None:
        return None
    a = np.array(a, dtype=np.float64, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Trajectory:
    """eps_g and order parameters on an alpha grid, one row per seed.

    Parameters
    ----------
    alpha : (P,) grid
    eps_g : (S, P) generalisation error (S seeds or initialisations)
    Q, R, T : (S, P, K, K), (S, P, K, M), (S, P, M, M) order parameters, or ``None`` when the
        method does not provide them
    config : the ``Config`` of the run
    method : what produced it: ``"sgd"``, ``"ode"``, ``"exact"``, ``"small-eta"``,
        ``"finite-N"``, ``"hierarchy"``, ...
    seeds : the seeds of the rows (``None`` for an initialisation that is not a seed's)
    v : (S, P, K) student second layer when it is trained, else ``None``
    info : extra facts about the run (e.g. ``n_steps`` of the ODE integrator)
    """

    alpha: np.ndarray
    eps_g: np.ndarray
    config: Config
    method: str
    Q: np.ndarray | None = None
    R: np.ndarray | None = None
    T: np.ndarray | None = None
    seeds: tuple | None = None
    v: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        a = np.asarray(self.alpha, dtype=np.float64)
        e = np.asarray(self.eps_g, dtype=np.float64)
        if e.ndim == 1:
            e = e[None]
        if a.ndim != 1 or e.ndim != 2 or e.shape[1] != a.shape[0]:
            raise ValueError(f"eps_g must have shape (S, P) with P = len(alpha) = {a.shape[0]}, got {e.shape}")
        S, P = e.shape
        K, M = self.config.K, self.config.M
        for name, shape in (("Q", (S, P, K, K)), ("R", (S, P, K, M)), ("T", (S, P, M, M)), ("v", (S, P, K))):
            x = getattr(self, name)
            if x is not None and np.shape(x) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {np.shape(x)}")
            object.__setattr__(self, name, _ro(x))
        if self.seeds is not None:
            seeds = tuple(int(s) for s in self.seeds)
            if len(seeds) != S:
                raise ValueError(f"seeds must name the {S} rows, got {len(seeds)}")
            object.__setattr__(self, "seeds", seeds)
        object.__setattr__(self, "alpha", _ro(a))
        object.__setattr__(self, "eps_g", _ro(e))
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))

    # -- shape ---------------------------------------------------------------------------
    @property
    def n_seeds(self) -> int:
        return int(self.eps_g.shape[0])

    def __len__(self) -> int:
        return int(self.alpha.shape[0])

    # -- summaries -----------------------------------------------------------------------
    def mean(self) -> np.ndarray:
        """Seed mean of eps_g, shape (P,)."""
        return self.eps_g.mean(axis=0)

    def sem(self) -> np.ndarray:
        """Standard error of the seed mean of eps_g, shape (P,) (zeros for one row)."""
        if self.n_seeds < 2:
            return np.zeros(self.alpha.shape[0])
        return self.eps_g.std(axis=0, ddof=1) / np.sqrt(self.n_seeds)

    def seed(self, i: int) -> "Trajectory":
        """The trajectory of row ``i`` alone (S = 1)."""
        i = check_int("i", i, -self.n_seeds, self.n_seeds - 1)
        sl = slice(i, i + 1) if i != -1 else slice(i, None)
        pick = (lambda x: None if x is None else x[sl])
        return Trajectory(
            alpha=self.alpha, eps_g=self.eps_g[sl], config=self.config, method=self.method,
            Q=pick(self.Q), R=pick(self.R), T=pick(self.T), v=pick(self.v),
            seeds=None if self.seeds is None else self.seeds[sl], info=dict(self.info),
        )

    def index(self, alpha: float) -> int:
        """Index of the grid point nearest to ``alpha`` in ln alpha."""
        alpha = check_float("alpha", alpha, lo=0.0, lo_open=True)
        return int(np.argmin(np.abs(np.log(self.alpha) - np.log(alpha))))

    def at(self, alpha: float) -> float:
        """Seed-mean eps_g at the grid point nearest to ``alpha`` (in ln alpha)."""
        return float(self.mean()[self.index(alpha)])

    def restrict(self, lo: float = 0.0, hi: float = np.inf) -> "Trajectory":
        """The grid points with lo <= alpha <= hi."""
        sel = (self.alpha >= lo) & (self.alpha <= hi)
        if not sel.any():
            raise ValueError(f"no grid point in [{lo:g}, {hi:g}]")
        pick = (lambda x: None if x is None else x[:, sel])
        return Trajectory(alpha=self.alpha[sel], eps_g=self.eps_g[:, sel], config=self.config,
                          method=self.method, Q=pick(self.Q), R=pick(self.R), T=pick(self.T),
                          v=pick(self.v), seeds=self.seeds, info=dict(self.info))

    def __repr__(self) -> str:
        return (f"Trajectory(method={self.method!r}, seeds={self.n_seeds}, points={len(self)}, "
                f"alpha=[{self.alpha[0]:.4g}, {self.alpha[-1]:.4g}], K={self.config.K}, M={self.config.M})")
