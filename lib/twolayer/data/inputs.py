"""Input sources of the SGD engine: fresh Gaussian inputs, a given sequence, or rows of a data set.

Chapter "Setting" (introduction): every SGD step uses a fresh input x ~ N(0, Sigma), generated in
the eigenbasis as x = sqrt(lambda) * z.  The engine (``twolayer.engines``) accepts an *input
specification* and asks it, per seed, for a source:

* ``GaussianInputs()`` (the default): z from the compiled counter-based normal stream of the
  seed (``twolayer.data.rng``, stream "inputs" of ``weights.STREAMS``);
* ``GivenInputs(X)``: the rows of X in order, the same for every seed (for tests and for inputs
  made elsewhere);
* ``DatasetInputs(X)``: rows of a data set drawn with replacement, row indices from the seed's
  "inputs" stream (real images in their PCA basis, chapter "Trainable dimensions").

A source exposes ``kind`` and the arrays the compiled loop reads; it is not an iterator in
Python, so the per-step work stays compiled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..problem.checks import check_int
from ..problem.config import Config
from ..problem.spectrum import coordinate_eigenvalues
from ..state.weights import seed_stream
from . import rng as fastrng

__all__ = ["DatasetInputs", "GaussianInputs", "GivenInputs", "GaussianSource", "RowSource", "normal_keys"]


def normal_keys(seed: int, kind: str = "inputs") -> tuple[int, int]:
    """The two 64-bit keys of the counter-based normal stream ``kind`` of ``seed``."""
    return fastrng.keys_from_seed(seed_stream(seed, kind))


@dataclass
class GaussianSource:
    """Fresh Gaussian inputs x = sqrt(lambda) z for one seed (counter-based stream)."""

    kind = "gaussian"
    sqrt_lam: np.ndarray
    keys: tuple[int, int]
    counters: tuple[int, int] = (0, 0)

    def draw(self, n: int) -> np.ndarray:
        """The next n inputs (n x N) exactly as the engine consumes them (advances the stream)."""
        n = check_int("n", n, 0)
        z, self.counters = fastrng.standard_normal(self.keys, n, self.sqrt_lam.shape[0], self.counters)
        return z * self.sqrt_lam


@dataclass
class RowSource:
    """Rows X[idx[s]] for steps s = 0, 1, ...: ``idx`` given (``GivenInputs``: 0, 1, 2, ...) or
    drawn from the seed's stream on demand (``DatasetInputs``)."""

    kind = "rows"
    X: np.ndarray
    rng: np.random.Generator | None = None
    position: int = 0

    def indices(self, n: int) -> np.ndarray:
        """Row indices of the next n steps (advances the source)."""
        n = check_int("n", n, 0)
        m = self.X.shape[0]
        if self.rng is None:
            if self.position + n > m:
                raise ValueError(f"the given inputs hold {m} rows; the run needs at least {self.position + n}")
            idx = np.arange(self.position, self.position + n, dtype=np.int64)
        else:
            idx = np.minimum(np.floor(self.rng.random(n) * m).astype(np.int64), m - 1)
        self.position += n
        return idx

    def draw(self, n: int) -> np.ndarray:
        return self.X[self.indices(n)]


def _as_rows(X, N: int | None = None) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"X must be a 2-d array of inputs (rows, N), got shape {X.shape}")
    if N is not None and X.shape[1] != N:
        raise ValueError(f"X must have N = {N} columns, got {X.shape[1]}")
    if not np.issubdtype(X.dtype, np.floating) and not np.issubdtype(X.dtype, np.integer):
        raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite")
    return X


class GaussianInputs:
    """Fresh inputs x ~ N(0, Sigma) for every step (the paper's online SGD)."""

    def source(self, config: Config, seed: int) -> GaussianSource:
        lam = coordinate_eigenvalues(config)
        return GaussianSource(np.sqrt(lam), normal_keys(seed, "inputs"))

    def __repr__(self) -> str:
        return "GaussianInputs()"


class GivenInputs:
    """The rows of X (n x N, eigenbasis) in order, one per step, for every seed alike."""

    def __init__(self, X):
        self.X = _as_rows(X)

    def source(self, config: Config, seed: int) -> RowSource:
        if self.X.shape[1] != config.N:
            raise ValueError(f"X must have N = {config.N} columns, got {self.X.shape[1]}")
        return RowSource(self.X)


class DatasetInputs:
    """Rows of a data set (n x N, in the eigenbasis of its covariance) drawn with replacement;
    each seed draws its own row indices (stream "inputs").  The config's spectrum should be the
    data set's (``Config(spectrum=...)``), so that eps_g is its population error."""

    def __init__(self, X):
        self.X = _as_rows(X)

    def source(self, config: Config, seed: int) -> RowSource:
        if self.X.shape[1] != config.N:
            raise ValueError(f"X must have N = {config.N} columns, got {self.X.shape[1]}")
        return RowSource(self.X, np.random.default_rng(seed_stream(seed, "inputs")))
