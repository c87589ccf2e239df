"""Initial weights and the overlaps of weights: the bridge from a seed to the order parameters.

Chapter "Order-parameter dynamics" (``chapters/00_dynamics.md``), section "From SGD to the block
equations".  All weights live in the eigenbasis of Sigma (largest eigenvalue first).  Each seed
owns independent child streams of ``numpy.random.SeedSequence(seed)``: 0 the teacher B, 1 the
student J, 2 the inputs, 3 a random rotation, 4 the label noise, 5 the PyTorch backend's inputs.

Overlaps are sums over coordinates in a fixed order (compiled, no BLAS), so the initial overlaps
of the ODE are the same to the last bit on any CPU.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ..problem.checks import check_seed
from ..problem.config import Config
from ..problem.spectrum import Groups, coordinate_eigenvalues
from .blocks import BlockState
from .setting import resolve

__all__ = [
    "STREAMS",
    "block_overlaps",
    "check_weights_shape",
    "init_student",
    "init_teacher",
    "init_weights",
    "initial_state",
    "overlaps",
    "seed_stream",
]

#: Child stream of a seed for each kind of random draw.
STREAMS = {"teacher": 0, "student": 1, "inputs": 2, "rotation": 3, "noise": 4, "torch": 5}


def seed_stream(seed: int, kind: str) -> np.random.SeedSequence:
    """The independent ``SeedSequence`` of ``seed`` for one kind of draw (see ``STREAMS``)."""
    seed = check_seed(seed)
    if kind not in STREAMS:
        raise ValueError(f"kind must be one of {tuple(STREAMS)}, got {kind!r}")
    return np.random.SeedSequence(seed).spawn(len(STREAMS))[STREAMS[kind]]


def init_teacher(config: Config, seed: int) -> np.ndarray:
    """Teacher B (M x N): i.i.d. N(0, 1) entries; with ``teacher="orthogonal"`` made
    Sigma-orthonormal by the symmetric (Loewdin) transformation B <- T0^{-1/2} B, which gives
    T = B Sigma B^T / N = I exactly while changing B as little as possible."""
    rng = np.random.default_rng(seed_stream(seed, "teacher"))
    B = rng.standard_normal((config.M, config.N))
    if config.teacher == "orthogonal":
        lam = coordinate_eigenvalues(config)
        T0 = (B * lam) @ B.T / config.N
        w, U = np.linalg.eigh(0.5 * (T0 + T0.T))
        if w.min() <= 1e-12 * w.max():
            raise ValueError("teacher='orthogonal' needs M <= number of eigenvalues > 0 (T0 is singular)")
        B = (U / np.sqrt(w)) @ U.T @ B
    return B


def init_student(config: Config, seed: int) -> np.ndarray:
    """Student J (K x N): i.i.d. N(0, sigma_J^2) entries."""
    rng = np.random.default_rng(seed_stream(seed, "student"))
    return config.sigma_J * rng.standard_normal((config.K, config.N))


def init_weights(config: Config, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(J, B) exactly as a simulation with this seed starts."""
    return init_student(config, seed), init_teacher(config, seed)


def check_weights_shape(config: Config, J, B) -> tuple[np.ndarray, np.ndarray]:
    """C-contiguous float64 copies of J (K x N) and B (M x N), checked against the config."""
    out = []
    for name, W, rows in (("J", J, config.K), ("B", B, config.M)):
        W = np.asarray(W)
        if W.shape != (rows, config.N):
            raise ValueError(f"{name} must have shape ({rows}, {config.N}) for this config, got {W.shape}")
        if not np.issubdtype(W.dtype, np.floating) and not np.issubdtype(W.dtype, np.integer):
            raise ValueError(f"{name} must hold real numbers, got dtype {W.dtype}")
        W = np.array(W, dtype=np.float64, order="C", copy=True)
        if not np.all(np.isfinite(W)):
            raise ValueError(f"{name} must be finite")
        out.append(W)
    return out[0], out[1]


@nb.njit(cache=True, nogil=True)
def _block_overlaps(J, B, lam_w, start, stop, N, q, r, t):
    """q[g] = J_g J_g^T / N etc. over the coordinates start[g]:stop[g] (fixed summation order)."""
    K = J.shape[0]
    M = B.shape[0]
    for g in range(start.shape[0]):
        for i in range(K):
            for j in range(i, K):
                s = 0.0
                for c in range(start[g], stop[g]):
                    s += J[i, c] * J[j, c]
                q[g, i, j] = s / N
                q[g, j, i] = s / N
            for n in range(M):
                s = 0.0
                for c in range(start[g], stop[g]):
                    s += J[i, c] * B[n, c]
                r[g, i, n] = s / N
        for n in range(M):
            for m in range(n, M):
                s = 0.0
                for c in range(start[g], stop[g]):
                    s += B[n, c] * B[m, c]
                t[g, n, m] = s / N
                t[g, m, n] = s / N


def block_overlaps(J, B, grp: Groups):
    """Per-group overlaps (q, r, t) of weights in the eigenbasis: shapes (G, K, K), (G, K, M),
    (G, M, M), with q^g = J_g J_g^T / N over the coordinates of group g (likewise r, t)."""
    J = np.ascontiguousarray(J, dtype=np.float64)
    B = np.ascontiguousarray(B, dtype=np.float64)
    G, K, M, N = grp.size, J.shape[0], B.shape[0], J.shape[1]
    q, r, t = np.empty((G, K, K)), np.empty((G, K, M)), np.empty((G, M, M))
    _block_overlaps(J, B, grp.lam, np.ascontiguousarray(grp.start), np.ascontiguousarray(grp.stop), float(N), q, r, t)
    return q, r, t


@nb.njit(cache=True, nogil=True)
def _overlaps(J, B, lam, Q, R, T):
    K, N = J.shape
    M = B.shape[0]
    for i in range(K):
        for j in range(i, K):
            s = 0.0
            for c in range(N):
                s += lam[c] * J[i, c] * J[j, c]
            Q[i, j] = s / N
            Q[j, i] = s / N
        for n in range(M):
            s = 0.0
            for c in range(N):
                s += lam[c] * J[i, c] * B[n, c]
            R[i, n] = s / N
    for n in range(M):
        for m in range(n, M):
            s = 0.0
            for c in range(N):
                s += lam[c] * B[n, c] * B[m, c]
            T[n, m] = s / N
            T[m, n] = s / N


def overlaps(J, B, lam):
    """Global overlaps Q = J Sigma J^T / N, R = J Sigma B^T / N, T = B Sigma B^T / N of
    eigenbasis weights, ``lam`` the eigenvalue of each coordinate (fixed summation order)."""
    J = np.ascontiguousarray(J, dtype=np.float64)
    B = np.ascontiguousarray(B, dtype=np.float64)
    lam = np.ascontiguousarray(lam, dtype=np.float64)
    K, M = J.shape[0], B.shape[0]
    Q, R, T = np.empty((K, K)), np.empty((K, M)), np.empty((M, M))
    _overlaps(J, B, lam, Q, R, T)
    return Q, R, T


def initial_state(config, init="sampled", seed: int = 0) -> BlockState:
    """The block state at alpha = 0 (chapter "Order-parameter dynamics").

    Parameters
    ----------
    config : Config or Setting
    init : ``"sampled"``: the block overlaps of the weights ``init_weights(config, seed)`` a
        simulation with that seed starts from (exact, compiled sums); ``"mean"``: their
        expectation over the initialisation, q^g = sigma_J^2 f_g I, r^g = 0, t^g = f_g I; or a
        tuple ``(q0, r0, t0)`` / ``(q0, r0, t0, v0)`` given per group (validated)
    seed : the seed of ``"sampled"``

    Returns
    -------
    BlockState (v0 defaults to the config's student second layer)
    """
    st = resolve(config)
    cfg, grp = st.config, st.groups
    G, K, M = grp.size, cfg.K, cfg.M
    v0 = st.v
    if isinstance(init, str):
        if init == "sampled":
            J, B = init_weights(cfg, seed)
            q, r, t = block_overlaps(J, B, grp)
        elif init == "mean":
            f = grp.frac[:, None, None]
            q = cfg.sigma_J**2 * f * np.eye(K)
            r = np.zeros((G, K, M))
            t = f * np.eye(M)
        else:
            raise ValueError(f"init must be 'sampled', 'mean' or a tuple (q0, r0, t0[, v0]), got {init!r}")
        return BlockState.checked(q, r, t, v0, G, K, M)
    if isinstance(init, (tuple, list)) and len(init) in (3, 4):
        v = init[3] if len(init) == 4 else v0
        return BlockState.checked(init[0], init[1], init[2], v, G, K, M)
    raise ValueError(f"init must be 'sampled', 'mean' or a tuple (q0, r0, t0[, v0]), got {type(init).__name__}")
