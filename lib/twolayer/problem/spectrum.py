"""The input spectrum: power-law levels, clustered levels, user-given eigenvalues, and the
grouping of eigen-coordinates by eigenvalue that the block ODE works with.

Chapter "Order-parameter dynamics" (``chapters/00_dynamics.md``), section "From SGD to the block
equations": inputs x ~ N(0, Sigma) are written in the eigenbasis of Sigma, largest eigenvalue
first.  For the power law of the paper, level l = 1..L has the eigenvalue
lambda_l = lambda_+ l^{-(1+beta)} with multiplicity N/L, and lambda_+ fixes (1/L) sum_l lambda_l = 1
(Tr Sigma = N).  With a cluster width delta > 0 each level is split into N/L evenly spaced values
in [lambda_l (1 - delta/2), lambda_l (1 + delta/2)] (mean lambda_l, so Tr Sigma = N still); a
user-given spectrum is used as given (sorted, largest first; not renormalised).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .checks import check_float, check_int

__all__ = ["Groups", "coordinate_eigenvalues", "eigenvalues", "groups", "lambda_plus", "make_groups"]


def lambda_plus(L: int, beta: float) -> float:
    """lambda_+ = L / sum_{l=1}^L l^{-(1+beta)}, the largest eigenvalue of the power law."""
    L = check_int("L", L, 1)
    beta = check_float("beta", beta, lo=0.0, lo_open=True)
    l = np.arange(1, L + 1, dtype=np.float64)
    return float(L / np.sum(l ** (-(1.0 + beta))))


def eigenvalues(L: int, beta: float) -> np.ndarray:
    """The L distinct eigenvalues lambda_l = lambda_+ l^{-(1+beta)} of the power law, largest
    first, normalised to mean 1 (chapter "Setting", intro, Eq. of the spectrum)."""
    L = check_int("L", L, 1)
    beta = check_float("beta", beta, lo=0.0, lo_open=True)
    l = np.arange(1, L + 1, dtype=np.float64)
    lam = l ** (-(1.0 + beta))
    return lam * (L / lam.sum())


def _clustered(N: int, L: int, beta: float, width: float) -> np.ndarray:
    m = N // L
    lev = eigenvalues(L, beta)
    if m == 1 or width == 0.0:
        return np.repeat(lev, m)
    offsets = width * (np.arange(m, dtype=np.float64) / (m - 1) - 0.5)  # mean exactly 0
    offsets -= offsets.mean()
    lam = (lev[:, None] * (1.0 + offsets[::-1][None, :])).ravel()
    return np.sort(lam)[::-1].copy()


@lru_cache(maxsize=64)
def _coordinates_cached(N: int, L: int, beta: float, width: float, spectrum) -> np.ndarray:
    if spectrum is not None:
        lam = np.sort(np.asarray(spectrum, dtype=np.float64))[::-1].copy()
    else:
        lam = _clustered(N, L, beta, width)
    lam.flags.writeable = False
    return lam


def coordinate_eigenvalues(config) -> np.ndarray:
    """The eigenvalue of each of the N eigen-coordinates of ``config``, largest first
    (read-only array of shape (N,))."""
    return _coordinates_cached(config.N, config.L, config.beta, config.cluster_width, config.spectrum)


@dataclass(frozen=True)
class Groups:
    """Eigen-coordinates grouped by eigenvalue and trainability: the blocks of the block ODE.

    Group g holds the coordinates ``start[g]:stop[g]``, all with eigenvalue ``lam[g]``; ``frac[g]``
    is their fraction n_g / N, ``trainable[g]`` whether SGD moves them (the first N_l
    coordinates are trained), ``level[g]`` the index of the distinct eigenvalue (for the power
    law: l - 1).  Without a cut by N_l and without clusters there is one group per level (G = L);
    a cut splits a level in two; a cluster width makes every coordinate its own group.
    """

    lam: np.ndarray
    frac: np.ndarray
    trainable: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    level: np.ndarray

    @property
    def size(self) -> int:
        return int(self.lam.shape[0])

    def slices(self) -> list[slice]:
        return [slice(int(a), int(b)) for a, b in zip(self.start, self.stop)]


def make_groups(lam, n_trainable: int | None = None) -> Groups:
    """Group coordinates with eigenvalues ``lam`` (sorted, largest first) into runs of equal
    value, cut where the trained coordinates (the first ``n_trainable``) end."""
    lam = np.asarray(lam, dtype=np.float64)
    N = lam.shape[0]
    n_l = N if n_trainable is None else check_int("trainable (N_l)", n_trainable, 1, N)
    if N == 0 or np.any(np.diff(lam) > 0):
        raise ValueError("lam must be a non-empty array sorted from largest to smallest")
    edges = np.flatnonzero(np.diff(lam) != 0) + 1
    bounds = np.unique(np.concatenate([[0, N], edges, [n_l] if 0 < n_l < N else []])).astype(np.int64)
    start, stop = bounds[:-1], bounds[1:]
    level_of_coord = np.concatenate([[0], np.cumsum(np.diff(lam) != 0)])
    out = Groups(
        lam=lam[start].copy(),
        frac=(stop - start) / N,
        trainable=stop <= n_l,
        start=start.copy(),
        stop=stop.copy(),
        level=level_of_coord[start].astype(np.int64),
    )
    for a in (out.lam, out.frac, out.trainable, out.start, out.stop, out.level):
        a.flags.writeable = False
    return out


@lru_cache(maxsize=64)
def _groups_cached(config) -> Groups:
    return make_groups(coordinate_eigenvalues(config), config.trainable)


def groups(config) -> Groups:
    """The groups of the block ODE for ``config`` (cached; read-only arrays)."""
    return _groups_cached(config)
