"""One-pass (online) SGD of the student, fast and reference implementations.

Chapter "Setting and notation", Eq. (SGD):
    J_i <- J_i + (eta / sqrt N) delta_i x,   delta_i = a_S g'(lambda_i) (y - sigma),
with a fresh x ~ N(0, Sigma) at every step and alpha = steps / N.  Only the first N_l
eigen-coordinates (largest eigenvalues first) are updated.  eps_g is recorded on the alpha grid
exactly from the current weights (closed form in Q, R, T), never from a test set.

The fast engine is a compiled (numba) loop that draws each input from the counter-based normal
source of ``twolayer.fastrng`` and keeps the weights in float64; ``reference_step`` is the plain
NumPy transcription of Eq. (SGD) that the tests hold it against.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np

from . import fastrng
from .config import Config, check_seed
from .data import coordinate_eigenvalues, seed_streams
from .models import init_weights, overlaps
from .results import LearningCurve, alpha_grid
from .theory.overlaps import eps_g as _eps_g

_ACT_CODE = {"linear": 0, "erf": 1}
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)


class DivergenceError(RuntimeError):
    """SGD blew up (non-finite or exploding weights); the learning rate is too large."""


# ---------------------------------------------------------------------------------------------
# reference implementation
# ---------------------------------------------------------------------------------------------
def reference_step(J, B, x, eta, activation="erf", a_student=1.0, a_teacher=1.0, n_train=None):
    """One SGD step (Eq. SGD) in plain NumPy; updates J (K x N) in place and returns it."""
    from .activations import get_activation

    act = get_activation(activation)
    N = J.shape[1]
    n_train = N if n_train is None else n_train
    lam = J @ x / math.sqrt(N)
    rho = B @ x / math.sqrt(N)
    err = a_teacher * act.g(rho).sum() - a_student * act.g(lam).sum()
    delta = a_student * act.dg(lam) * err
    J[:, :n_train] += (eta / math.sqrt(N)) * delta[:, None] * x[None, :n_train]
    return J


# ---------------------------------------------------------------------------------------------
# compiled engine
# ---------------------------------------------------------------------------------------------
@nb.njit(inline="always")
def _g(h, act):
    if act == 1:
        return math.erf(h * _INV_SQRT2)
    return h


@nb.njit(inline="always")
def _dg(h, act):
    if act == 1:
        return _SQRT_2_OVER_PI * math.exp(-0.5 * h * h)
    return 1.0


@nb.njit(inline="always", fastmath={"reassoc", "contract", "nsz", "arcp"})
def _step(J, B, x, hs, eta_n, inv_sqrt_n, act, a_s, a_t, n_train):
    K, N = J.shape
    M = B.shape[0]
    y = 0.0
    for m in range(M):
        acc = 0.0
        for c in range(N):
            acc += B[m, c] * x[c]
        y += _g(acc * inv_sqrt_n, act)
    sig = 0.0
    for k in range(K):
        acc = 0.0
        for c in range(N):
            acc += J[k, c] * x[c]
        hs[k] = acc * inv_sqrt_n
        sig += _g(hs[k], act)
    err = a_t * y - a_s * sig
    for k in range(K):
        coef = eta_n * a_s * _dg(hs[k], act) * err
        for c in range(n_train):
            J[k, c] += coef * x[c]


@nb.njit(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def _run_given(J, B, X, eta, act, a_s, a_t, n_train):
    """SGD over the rows of X (inputs given in the eigenbasis)."""
    N = J.shape[1]
    inv = 1.0 / math.sqrt(N)
    hs = np.empty(J.shape[0])
    for s in range(X.shape[0]):
        _step(J, B, X[s], hs, eta * inv, inv, act, a_s, a_t, n_train)


@nb.njit(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def _run_indexed(J, B, X, idx, eta, act, a_s, a_t, n_train):
    """SGD over the rows X[idx[s]] (a data set read in place, no gathered copies)."""
    N = J.shape[1]
    inv = 1.0 / math.sqrt(N)
    hs = np.empty(J.shape[0])
    for s in range(idx.shape[0]):
        _step(J, B, X[idx[s]], hs, eta * inv, inv, act, a_s, a_t, n_train)


@nb.njit(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def _run_generated(J, B, sqrt_lam, n_steps, eta, act, a_s, a_t, n_train, key, ctr, key2, ctr2, kn, wn, fn):
    """n_steps SGD steps on fresh inputs x = sqrt(lambda) * z, z from the counter-based source."""
    N = J.shape[1]
    inv = 1.0 / math.sqrt(N)
    hs = np.empty(J.shape[0])
    z = np.empty(N)
    miss = np.empty(N, dtype=np.int64)
    for s in range(n_steps):
        ctr, ctr2 = fastrng.fill_normal(z, key, ctr, key2, ctr2, kn, wn, fn, miss)
        for c in range(N):
            z[c] *= sqrt_lam[c]
        _step(J, B, z, hs, eta * inv, inv, act, a_s, a_t, n_train)
    return ctr, ctr2


class InputStream:
    """The seeded stream of inputs x ~ N(0, Sigma) in the eigenbasis that ``simulate`` uses.

    ``draw(n)`` returns the next n inputs (n x N) exactly as the engine would consume them.
    """

    def __init__(self, cfg: Config, seed: int):
        self.sqrt_lam = np.sqrt(coordinate_eigenvalues(cfg.N, cfg.L, cfg.beta))
        self.keys = fastrng.keys_from_seed(seed_streams(check_seed(seed))[2])
        self.counters = (0, 0)

    def draw(self, n: int) -> np.ndarray:
        z, self.counters = fastrng.standard_normal(self.keys, n, len(self.sqrt_lam), self.counters)
        return z * self.sqrt_lam


def check_weights(J, cfg: Config, alpha: float) -> None:
    """Raise ``DivergenceError`` if the weights are non-finite or exceed 1e6 (any input source)."""
    big = np.max(np.abs(J)) if J.size else 0.0
    if not np.isfinite(big) or big > 1e6:
        raise DivergenceError(
            f"SGD diverged by alpha = {alpha:.4g} (weights {'non-finite' if not np.isfinite(big) else 'exceed 1e6'}); "
            f"eta = {cfg.eta} is too large for this setting (see the chapter on the linear theory "
            f"for the largest stable eta)"
        )


def simulate_seed(cfg: Config, seed: int, alpha: np.ndarray, J=None, B=None):
    """One SGD run on the grid ``alpha``; returns (eps_g per grid point, final J, B).

    Starts from ``init_weights(cfg, seed)`` unless J, B are given (copied).
    """
    if J is None or B is None:
        J0, B0 = init_weights(cfg, seed)
        J = J0 if J is None else J
        B = B0 if B is None else B
    J = np.array(J, dtype=np.float64, order="C", copy=True)
    B = np.array(B, dtype=np.float64, order="C", copy=True)
    stream = InputStream(cfg, seed)
    lam = stream.sqrt_lam**2
    key, key2 = (np.uint64(k) for k in stream.keys)
    ctr, ctr2 = np.uint64(0), np.uint64(0)
    steps = np.round(np.asarray(alpha) * cfg.N).astype(np.int64)
    eps = np.empty(len(steps))
    done = 0
    act = _ACT_CODE[cfg.activation]
    for p, target in enumerate(steps):
        n = int(target - done)
        if n < 0:
            raise ValueError("alpha grid must be increasing")
        if n:
            ctr, ctr2 = _run_generated(
                J, B, stream.sqrt_lam, n, cfg.eta, act, cfg.a_student, cfg.a_teacher,
                cfg.n_trainable, key, ctr, key2, ctr2, fastrng.KN, fastrng.WN, fastrng.FN,
            )
            ctr, ctr2 = np.uint64(ctr), np.uint64(ctr2)  # keep unsigned: int64 + uint64 is float
            done = int(target)
        check_weights(J, cfg, target / cfg.N)
        Q, R, T = overlaps(J, B, lam)
        eps[p] = _eps_g(Q, R, T, cfg.activation, cfg.a_student, cfg.a_teacher)
    return eps, J, B


def simulate(
    cfg: Config,
    alpha_max: float = 100.0,
    points: int = 100,
    seeds=(0,),
    alpha: np.ndarray | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> LearningCurve:
    """Online SGD learning curves for several seeds (chapter "Setting and notation").

    Seeds run in parallel threads (the compiled loop releases the GIL); ``workers`` defaults to
    min(#seeds, #cores).  Returns a ``LearningCurve`` with one row per seed.
    """
    seeds = [check_seed(s) for s in np.atleast_1d(seeds)]
    if alpha is None:
        alpha = alpha_grid(alpha_max, points, cfg.N)
    if workers is None:
        workers = min(len(seeds), os.cpu_count() or 1)
    bar = _progress(len(seeds), progress, "sgd seeds")

    def one(seed):
        out = simulate_seed(cfg, seed, alpha)[0]
        if bar is not None:
            bar.update(1)
        return out

    if workers > 1 and len(seeds) > 1:
        with ThreadPoolExecutor(workers) as pool:
            rows = list(pool.map(one, seeds))
    else:
        rows = [one(s) for s in seeds]
    if bar is not None:
        bar.close()
    return LearningCurve(alpha=alpha, eps_g=np.array(rows), method="sgd", meta={"seeds": seeds, "cfg": cfg})


def _progress(total, enabled, desc):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=None, leave=False)


def run_indexed_inputs(J, B, X, idx, cfg: Config):
    """SGD over the rows ``X[idx]`` of a data set (eigen/PCA basis), read in place; J updated in place.

    Same steps as ``run_given_inputs(J, B, X[idx], cfg)`` without materialising the copies
    (at N = 1024 gathering a row costs more than the step itself)."""
    if not (X.flags.c_contiguous and X.dtype == np.float64):
        raise ValueError("X must be a C-contiguous float64 array (rows are read in place)")
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= X.shape[0]):
        raise ValueError(f"idx must index the rows of X, i.e. lie in [0, {X.shape[0]})")
    _run_indexed(J, B, X, idx, cfg.eta, _ACT_CODE[cfg.activation], cfg.a_student, cfg.a_teacher, cfg.n_trainable)
    return J


def run_given_inputs(J, B, X, cfg: Config):
    """SGD over the given inputs X (n x N, eigenbasis) with the compiled step; J is updated in place."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    _run_given(J, B, X, cfg.eta, _ACT_CODE[cfg.activation], cfg.a_student, cfg.a_teacher, cfg.n_trainable)
    return J
