"""Online SGD of the student: the compiled engine and its driver.

Chapter "Setting" (introduction), the SGD rule; chapter "Beyond the paper" for unequal or
trained second layers and label noise (the step is written out in
``twolayer.engines.reference``, which the tests hold this engine against on identical inputs).
One driver, ``simulate``, runs any input source of ``twolayer.data.inputs`` (fresh Gaussian
inputs, a given sequence, rows of a data set) for several seeds, and records at every point of
the alpha grid the order parameters Q, R, T (and v) computed from the weights, and eps_g
exactly from them (no test set).

The compiled loop keeps the weights in float64 and draws each input from the counter-based
normal source of ``twolayer.data.rng``.  Its dot products use fast-math reassociation (the
vector width decides their summation order), so two CPUs agree to round-off, not bit for bit;
the same CPU gives the same bits for any number of threads.  Seeds run in parallel threads (the
loop releases the GIL), in chunks of ~0.05 s, so that progress ticks on alpha and Ctrl-C stops
the run within a fraction of a second.

Divergence follows the package's one rule (``twolayer.problem.divergence``: eps_g at a grid point
above 1e4 times max(1, its start)); inside a chunk the loop stops early on a squared output error
above 1e8 times its start or a weight above 1e6 times its start, with the same message.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

import numba as nb
import numpy as np

from ..data import rng as fastrng
from ..data.inputs import GaussianInputs, GaussianSource, RowSource, normal_keys
from ..gaussian.activations import dg_of, g_of
from ..problem.checks import check_bool, check_int, check_seeds, check_steps
from ..problem.config import Config
from ..problem.divergence import check_curve, diverged
from ..problem.progress import make_progress
from ..problem.resources import Budget, check_budget, sgd_estimate
from ..problem.schedule import factor_scalar
from ..problem.spectrum import coordinate_eigenvalues
from ..problem.trajectory import Trajectory
from ..state.setting import resolve
from ..state.weights import check_weights_shape, init_weights, overlaps
from .reference import reference_step

__all__ = ["simulate"]

_FM = {"reassoc", "contract", "nsz", "arcp"}

#: Early stops inside a chunk (relative to the start of the run); the rule itself, on eps_g at
#: the grid points, is ``twolayer.problem.divergence``.
ERR2_GROWTH = 1e8      # squared output error of one step
WEIGHT_GROWTH = 1e6    # largest |J_ic|

#: Wall time of one compiled chunk (progress and Ctrl-C granularity).
CHUNK_SECONDS = 0.05


# ---------------------------------------------------------------------------------------------
# compiled kernels
# ---------------------------------------------------------------------------------------------
@nb.njit(inline="always", fastmath=_FM)
def _step(J, B, v, vT, x, hs, gs, eta_n, inv_sqrt_n, act, n_train, eta_v_n, xi):
    """One step (see ``reference.reference_step``); returns the output error y - sigma."""
    K, N = J.shape
    M = B.shape[0]
    y = xi
    for m in range(M):
        acc = 0.0
        for c in range(N):
            acc += B[m, c] * x[c]
        y += vT[m] * g_of(acc * inv_sqrt_n, act)
    sig = 0.0
    for k in range(K):
        acc = 0.0
        for c in range(N):
            acc += J[k, c] * x[c]
        hs[k] = acc * inv_sqrt_n
        gs[k] = g_of(hs[k], act)
        sig += v[k] * gs[k]
    err = y - sig
    for k in range(K):
        coef = eta_n * v[k] * dg_of(hs[k], act) * err
        for c in range(n_train):
            J[k, c] += coef * x[c]
    if eta_v_n != 0.0:
        for k in range(K):
            v[k] += eta_v_n * gs[k] * err
    return err


@nb.njit(inline="always")
def _max_abs(J):
    m = 0.0
    for k in range(J.shape[0]):
        for c in range(J.shape[1]):
            a = abs(J[k, c])
            if not a <= m:  # also propagates NaN
                m = a
    return m


@nb.njit(nogil=True, cache=True, fastmath=_FM)
def _run_gaussian(J, B, v, vT, sqrt_lam, n_steps, eta, eta_v, act, n_train, ctr, noise, nctr,
                  lim2, wlim, check_every, step0):
    """``n_steps`` steps on fresh inputs x = sqrt(lambda) z.  ``ctr`` = [key, counter, key2,
    counter2] of the input stream (updated in place), ``nctr`` the same for the noise stream.
    Returns (steps done, status): status 0 ok, 1 output error exploded, 2 weights exploded."""
    N = J.shape[1]
    inv = 1.0 / math.sqrt(N)
    K = J.shape[0]
    hs = np.empty(K)
    gs = np.empty(K)
    z = np.empty(N)
    words = np.empty(N, dtype=np.uint64)
    miss = np.empty(N, dtype=np.int64)
    nz = np.empty(1)
    nwords = np.empty(1, dtype=np.uint64)
    nmiss = np.empty(1, dtype=np.int64)
    for s in range(n_steps):
        c1, c2 = fastrng.fill_normal(z, ctr[0], ctr[1], ctr[2], ctr[3], fastrng.KN, fastrng.WN, fastrng.FN, words, miss)
        ctr[1] = c1
        ctr[3] = c2
        for c in range(N):
            z[c] *= sqrt_lam[c]
        xi = 0.0
        if noise != 0.0:
            d1, d2 = fastrng.fill_normal(nz, nctr[0], nctr[1], nctr[2], nctr[3], fastrng.KN, fastrng.WN, fastrng.FN, nwords, nmiss)
            nctr[1] = d1
            nctr[3] = d2
            xi = noise * nz[0]
        err = _step(J, B, v, vT, z, hs, gs, eta * inv, inv, act, n_train, eta_v / N, xi)
        if not err * err <= lim2:
            return s + 1, 1
        if (step0 + s + 1) % check_every == 0:
            if not _max_abs(J) <= wlim:
                return s + 1, 2
    return n_steps, 0


@nb.njit(nogil=True, cache=True, fastmath=_FM)
def _run_rows(J, B, v, vT, X, idx, eta, eta_v, act, n_train, noise, nctr, lim2, wlim, check_every, step0):
    """SGD over the rows X[idx[s]] (read in place); same returns as ``_run_gaussian``."""
    N = J.shape[1]
    inv = 1.0 / math.sqrt(N)
    K = J.shape[0]
    hs = np.empty(K)
    gs = np.empty(K)
    nz = np.empty(1)
    nwords = np.empty(1, dtype=np.uint64)
    nmiss = np.empty(1, dtype=np.int64)
    for s in range(idx.shape[0]):
        xi = 0.0
        if noise != 0.0:
            d1, d2 = fastrng.fill_normal(nz, nctr[0], nctr[1], nctr[2], nctr[3], fastrng.KN, fastrng.WN, fastrng.FN, nwords, nmiss)
            nctr[1] = d1
            nctr[3] = d2
            xi = noise * nz[0]
        err = _step(J, B, v, vT, X[idx[s]], hs, gs, eta * inv, inv, act, n_train, eta_v / N, xi)
        if not err * err <= lim2:
            return s + 1, 1
        if (step0 + s + 1) % check_every == 0:
            if not _max_abs(J) <= wlim:
                return s + 1, 2
    return idx.shape[0], 0


_factor = nb.njit(inline="always")(factor_scalar)


@nb.njit(nogil=True, cache=True, fastmath=_FM)
def _run_gaussian_recipe(J, B, v, vT, sqrt_lam, n_steps, eta, eta_v, act, n_train, ctr, noise, nctr,
                         lim2, wlim, check_every, step0, batch, code, p0, p1, p2):
    """``n_steps`` steps of a mini-batch of ``batch`` fresh inputs each, with the learning rate
    eta f(alpha) of the schedule (code, p0, p1, p2) at the alpha where the step starts: the mean
    gradient over the batch, taken at the weights before the step.  The inputs are drawn in order
    from the same stream as ``_run_gaussian`` (one step of a batch of 1 draws what one step there
    does).  ``step0`` counts the steps of ``batch`` done before; same returns."""
    N = J.shape[1]
    inv = 1.0 / math.sqrt(N)
    K = J.shape[0]
    M = B.shape[0]
    hs = np.empty(K)
    gs = np.empty(K)
    z = np.empty(N)
    dJ = np.empty((K, n_train))
    dv = np.empty(K)
    words = np.empty(N, dtype=np.uint64)
    miss = np.empty(N, dtype=np.int64)
    nz = np.empty(1)
    nwords = np.empty(1, dtype=np.uint64)
    nmiss = np.empty(1, dtype=np.int64)
    for s in range(n_steps):
        f = _factor(code, p0, p1, p2, (step0 + s) * batch / N)
        dJ[:, :] = 0.0
        dv[:] = 0.0
        for b in range(batch):
            c1, c2 = fastrng.fill_normal(z, ctr[0], ctr[1], ctr[2], ctr[3], fastrng.KN, fastrng.WN, fastrng.FN, words, miss)
            ctr[1] = c1
            ctr[3] = c2
            for c in range(N):
                z[c] *= sqrt_lam[c]
            y = 0.0
            if noise != 0.0:
                d1, d2 = fastrng.fill_normal(nz, nctr[0], nctr[1], nctr[2], nctr[3], fastrng.KN, fastrng.WN, fastrng.FN, nwords, nmiss)
                nctr[1] = d1
                nctr[3] = d2
                y = noise * nz[0]
            for m in range(M):
                acc = 0.0
                for c in range(N):
                    acc += B[m, c] * z[c]
                y += vT[m] * g_of(acc * inv, act)
            sig = 0.0
            for k in range(K):
                acc = 0.0
                for c in range(N):
                    acc += J[k, c] * z[c]
                hs[k] = acc * inv
                gs[k] = g_of(hs[k], act)
                sig += v[k] * gs[k]
            err = y - sig
            if not err * err <= lim2:
                return s + 1, 1
            for k in range(K):
                coef = v[k] * dg_of(hs[k], act) * err
                for c in range(n_train):
                    dJ[k, c] += coef * z[c]
                dv[k] += gs[k] * err
        scale = f * eta * inv / batch
        for k in range(K):
            for c in range(n_train):
                J[k, c] += scale * dJ[k, c]
        if eta_v != 0.0:
            sv = f * eta_v / N / batch
            for k in range(K):
                v[k] += sv * dv[k]
        if ((step0 + s + 1) * batch) % check_every < batch:
            if not _max_abs(J) <= wlim:
                return s + 1, 2
    return n_steps, 0


def _state(keys):
    return np.array([keys[0], 0, keys[1], 0], dtype=np.uint64)


# ---------------------------------------------------------------------------------------------
# one seed
# ---------------------------------------------------------------------------------------------
class _Cancelled(Exception):
    pass


def _run_seed(config: Config, seed: int, steps: np.ndarray, spec, weights, record_weights: bool,
              cancel: threading.Event, tick) -> dict:
    setting = resolve(config)
    act = setting.activation
    if weights is None:
        J, B = init_weights(config, seed)
    else:
        J, B = weights
    J = np.array(J, dtype=np.float64, order="C", copy=True)
    B = np.array(B, dtype=np.float64, order="C", copy=True)
    v = config.student_weights.copy()
    vT = config.teacher_weights
    lam = np.ascontiguousarray(coordinate_eigenvalues(config))
    N, K, M = config.N, config.K, config.M
    src = spec.source(config, seed)
    noise_state = _state(normal_keys(seed, "noise"))
    P = steps.shape[0]
    Qs, Rs, Ts = np.empty((P, K, K)), np.empty((P, K, M)), np.empty((P, M, M))
    vs = np.empty((P, K))
    Js = np.empty((P, K, N)) if record_weights else None
    Q0, R0, T0 = overlaps(J, B, lam)
    eps0 = float(setting.eps_g(Q0, R0, T0, v))
    scale_err = max(1.0, 2.0 * eps0)
    lim2 = ERR2_GROWTH * scale_err
    wlim = WEIGHT_GROWTH * max(1.0, float(np.abs(J).max(initial=0.0)), float(np.abs(B).max(initial=0.0)))
    per_step = 1.5e-9 * (3 * N + (2 * K + M) * N) + 1e-8
    chunk = max(1, int(CHUNK_SECONDS / per_step))
    recipe = not config.default_recipe
    Bsz = config.batch
    if recipe:
        chunk = max(Bsz, chunk - chunk % Bsz)  # whole mini-batches
        code, p0, p1, p2 = config.lr_schedule.scalars
    if act.code < 0:
        chunk = max(1, min(chunk, 2000))
    done = 0
    for p, target in enumerate(steps):
        while done < target:
            if cancel.is_set():
                raise _Cancelled
            n = int(min(chunk, target - done))
            status = 0
            if act.code < 0:  # a user activation: the NumPy step
                X = src.draw(n)
                for s in range(n):
                    xi = 0.0
                    if config.noise:
                        z, c = fastrng.standard_normal((int(noise_state[0]), int(noise_state[2])), 1, 1,
                                                       (int(noise_state[1]), int(noise_state[3])))
                        noise_state[1], noise_state[3] = c
                        xi = float(z[0, 0])
                    reference_step(J, B, X[s], config, v=v, xi=xi)
                    if not np.all(np.isfinite(J)) or np.abs(J).max() > wlim:
                        n_done, status = s + 1, 2
                        break
                else:
                    n_done = n
            elif recipe:  # a schedule or mini-batches (Gaussian inputs, checked by ``simulate``)
                st = np.array([src.keys[0], src.counters[0], src.keys[1], src.counters[1]], dtype=np.uint64)
                n_b, status = _run_gaussian_recipe(J, B, v, vT, src.sqrt_lam, n // Bsz, config.eta, config.eta_v,
                                                   int(act.code), config.n_trainable, st, config.noise, noise_state,
                                                   lim2, wlim, N, done // Bsz, Bsz, code, p0, p1, p2)
                n_done = int(n_b) * Bsz
                src.counters = (int(st[1]), int(st[3]))
            elif isinstance(src, GaussianSource):
                st = np.array([src.keys[0], src.counters[0], src.keys[1], src.counters[1]], dtype=np.uint64)
                n_done, status = _run_gaussian(J, B, v, vT, src.sqrt_lam, n, config.eta, config.eta_v, int(act.code),
                                               config.n_trainable, st, config.noise, noise_state, lim2, wlim, N, done)
                src.counters = (int(st[1]), int(st[3]))
            elif isinstance(src, RowSource):
                idx = src.indices(n)
                n_done, status = _run_rows(J, B, v, vT, src.X, idx, config.eta, config.eta_v, int(act.code),
                                           config.n_trainable, config.noise, noise_state, lim2, wlim, N, done)
            else:  # pragma: no cover - sources are made by the specs of twolayer.data.inputs
                raise TypeError(f"unknown input source {type(src).__name__}")
            done += int(n_done)
            tick(n_done / N)
            if status:
                why = "output error exploded" if status == 1 else "weights exploded"
                raise diverged("SGD", config.eta, done / N, why)
        Qs[p], Rs[p], Ts[p] = overlaps(J, B, lam)
        vs[p] = v
        if record_weights:
            Js[p] = J
        if not (np.all(np.isfinite(J)) and np.all(np.isfinite(v))):
            raise diverged("SGD", config.eta, target / N, "non-finite weights")
        check_curve("SGD", config.eta, [target / N], [float(setting.eps_g(Qs[p], Rs[p], Ts[p], v))], eps0)
    eps = setting.eps_g(Qs, Rs, Ts, vs if config.train_readout else v)
    return dict(eps=eps, Q=Qs, R=Rs, T=Ts, v=vs, J=Js, B=B)


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------
def simulate(config: Config, alpha, *, seeds=(0,), inputs=None, weights=None, workers: int | None = None,
             progress=None, record_weights: bool = False, budget: Budget | None = None,
             backend: str = "numba", device=None, dtype: str = "float64") -> Trajectory:
    """Online SGD learning curves, one row per seed (book introduction, the SGD rule).

    Parameters
    ----------
    config : the setting
    alpha : grid of alpha = steps / N, strictly increasing, each a whole number of steps
        (``alpha_grid`` makes such grids)
    seeds : one seed or several; each seed draws its teacher, student and inputs
    inputs : an input specification of ``twolayer.data.inputs`` (default ``GaussianInputs()``)
    weights : optional (J, B) to start every seed from (then seeds only drive the inputs)
    workers : threads (default min(#seeds, #cores)); the results do not depend on it
    progress : ``True`` for a bar on stderr that ticks on alpha, or a tqdm-like object
    record_weights : keep J at every grid point (``info["J"]``, shape (S, P, K, N)) and the
        teachers (``info["B"]``, (S, M, N))
    budget : memory/time limits (``twolayer.problem.resources.Budget``)
    backend : ``"numba"`` (the compiled engine, default) or ``"torch"``: all seeds advance as one
        batched tensor program (``engines.torch_backend.simulate_torch``; its random inputs come
        from ``torch.Generator`` and differ from the compiled engine's)
    device, dtype : torch backend only: device (default CUDA if available) and ``"float64"`` or
        ``"float32"``

    Returns
    -------
    Trajectory with method ``"sgd"`` (``"sgd-torch"`` for the torch backend): eps_g (S, P) and Q, R, T (and v when the second layer is
    trained) at every grid point.

    Raises ``DivergenceError`` (with the alpha where it happened) when a run blows up.
    """
    if backend not in ("numba", "torch"):
        raise ValueError(f"backend must be 'numba' or 'torch', got {backend!r}")
    if backend == "torch":
        if weights is not None or record_weights or workers is not None:
            raise ValueError("weights, record_weights and workers apply to backend='numba' only")
        # PyTorch is optional and slow to import: loaded only when asked for (same layer)
        from .torch_backend import simulate_torch

        return simulate_torch(config, alpha, seeds=seeds, inputs=inputs, device=device, dtype=dtype,
                              progress=progress, budget=budget)
    if device is not None or dtype != "float64":
        raise ValueError("device and dtype apply to backend='torch' only")
    if not isinstance(config, Config):
        raise ValueError(f"config must be a Config, got {type(config).__name__}")
    alpha, steps = check_steps(alpha, config.N)
    if config.batch > 1 and np.any(steps % config.batch):
        raise ValueError(f"alpha must be whole mini-batches: alpha N a multiple of batch = {config.batch} "
                         f"(use alpha_grid(..., batch={config.batch}))")
    seeds = check_seeds(seeds)
    record_weights = check_bool("record_weights", record_weights)
    cores = os.cpu_count() or 1
    workers = min(len(seeds), cores) if workers is None else check_int("workers", workers, 1, 1024)
    spec = GaussianInputs() if inputs is None else inputs
    if not hasattr(spec, "source"):
        raise ValueError(f"inputs must be an input specification of twolayer.data.inputs, got {inputs!r}")
    if not config.default_recipe and (not isinstance(spec, GaussianInputs) or resolve(config).activation.code < 0):
        raise ValueError("a learning-rate schedule or batch > 1 needs fresh Gaussian inputs and a built-in "
                         "activation in the compiled SGD engine")
    if weights is not None:
        if not (isinstance(weights, (tuple, list)) and len(weights) == 2):
            raise ValueError("weights must be a pair (J, B)")
        weights = check_weights_shape(config, *weights)
    mem, secs = sgd_estimate(config.N, config.K, config.M, float(steps[-1]) * len(seeds), len(alpha),
                             len(seeds), min(workers, len(seeds)), record_weights)
    check_budget(f"SGD with N={config.N}, K={config.K}, M={config.M} to alpha={alpha[-1]:g} for "
                 f"{len(seeds)} seeds", mem, secs, budget)
    if resolve(config).activation.code < 0:
        workers = 1  # the NumPy step holds the GIL
    bar = make_progress(progress, float(alpha[-1]) * len(seeds), "sgd")
    lock = threading.Lock()

    def tick(x):
        with lock:
            bar.update(x)

    cancel = threading.Event()
    try:
        if workers == 1 or len(seeds) == 1:
            rows = [_run_seed(config, s, steps, spec, weights, record_weights, cancel, tick) for s in seeds]
        else:
            with ThreadPoolExecutor(workers) as pool:
                futs = [pool.submit(_run_seed, config, s, steps, spec, weights, record_weights, cancel, tick)
                        for s in seeds]
                try:
                    while True:  # a timeout, so that Ctrl-C reaches this thread promptly
                        done, pending = wait(futs, timeout=0.1, return_when=FIRST_EXCEPTION)
                        if not pending or any(f.exception() is not None for f in done):
                            break
                finally:
                    cancel.set()  # stops the other seeds within one chunk (no-op when all are done)
            errors = [f.exception() for f in futs if f.exception() is not None]
            real = [e for e in errors if not isinstance(e, _Cancelled)]
            if real:
                raise real[0]
            rows = [f.result() for f in futs]
    finally:
        bar.close()
    info = {}
    if record_weights:
        info = {"J": np.stack([r["J"] for r in rows]), "B": np.stack([r["B"] for r in rows])}
    return Trajectory(
        alpha=alpha, eps_g=np.stack([r["eps"] for r in rows]), config=config, method="sgd",
        Q=np.stack([r["Q"] for r in rows]), R=np.stack([r["R"] for r in rows]),
        T=np.stack([r["T"] for r in rows]), seeds=seeds,
        v=np.stack([r["v"] for r in rows]) if config.train_readout else None, info=info,
    )
