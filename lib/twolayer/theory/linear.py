"""The linear network with K = M = 1: exact learning curves, the power law, the largest stable
learning rate and the reachable error when only N_l directions are trained, for any spectrum.

Chapter "Linear activation" (``chapters/01_linear.md``) and chapter "Trainable dimensions"
(``chapters/02_trainable_dims.md``).  For g(x) = x the block error e_g = q^g - 2 r^g + t^g of each
group obeys the closed linear system (Eq. {eq}`eq-lin-e`)

    de_g/dalpha = -2 eta lambda_g e_g + eta^2 lambda_g f_g sum_h lambda_h e_h      (g trained)
    de_g/dalpha = 0                                                              (g frozen)

with eps_g = 1/2 sum_g lambda_g e_g, while r^g relaxes on its own, dr^g/dalpha = eta lambda_g
(t^g - r^g).  With W = diag(f^{-1/2}) the trained block is similar to the symmetric
S = -2 eta diag(lambda) + eta^2 v v^T, v_g = lambda_g sqrt(f_g) (Eq. {eq}`eq-lin-sym`), solved
exactly by one symmetric eigendecomposition; frozen groups act as a constant source.  The
spectrum may be anything (``Config(spectrum=...)``, e.g. the empirical spectrum of image
patches): every group is its own block.

``finite_n_curve``: the exact mean over the inputs of SGD at finite N (Eq. {eq}`eq-lin-finite-N`),
which adds 2 eta^2 lambda_g^2 e_g / N per unit alpha, relevant when eta lambda_+ / N is not small.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from scipy.optimize import brentq

from ..problem.checks import (
    check_alpha,
    check_bool,
    check_constant_rate,
    check_float,
    check_int,
    check_seeds,
)
from ..problem.config import Config
from ..problem.divergence import check_curve
from ..problem.spectrum import eigenvalues, groups, lambda_plus
from ..problem.trajectory import Trajectory
from ..state.setting import effective_eta, resolve
from ..state.weights import initial_state
from . import spectral

__all__ = [
    "block_errors",
    "continuum_curve",
    "eta_max",
    "eta_max_finite_n",
    "exact_curve",
    "finite_n_curve",
    "frozen_tail",
    "frozen_tail_continuum",
    "initial_block_errors",
    "powerlaw_window",
    "reachable_error",
    "reachable_error_powerlaw",
    "small_eta_curve",
    "step_schedule",
]


def _require_linear_k1(config: Config):
    if not isinstance(config, Config):
        raise ValueError(f"config must be a Config, got {type(config).__name__}")
    if config.activation != "linear" or config.K != 1 or config.M != 1 or not config.uniform_readout:
        raise ValueError(
            "the exact linear theory needs activation='linear', K = M = 1 and fixed second layers "
            f"(got activation={config.activation_name!r}, K={config.K}, M={config.M})")
    if config.readout != "sum" or config.noise != 0.0:
        raise ValueError("the exact linear theory is written for readout='sum' and noise = 0")


def initial_block_errors(config: Config, init="sampled", seed: int = 0) -> np.ndarray:
    """e_g(0) = q^g - 2 r^g + t^g of every group (K = M = 1), from ``twolayer.state.initial_state``."""
    _require_linear_k1(config)
    st = initial_state(config, init, seed)
    return st.q[:, 0, 0] - 2.0 * st.r[:, 0, 0] + st.t[:, 0, 0]


def _solve(lam, frac, trainable, eta, alpha, e0, eta2):
    """Exact solution of Eq. {eq}`eq-lin-e`: e (P, G) for e0 (G,)."""
    out = np.empty((len(alpha), lam.size))
    tr = trainable
    out[:, ~tr] = e0[~tr]
    if tr.any():
        lt, ft = lam[tr], frac[tr]
        c2 = eta**2 if eta2 else 0.0
        b = c2 * np.dot(e0[~tr], lam[~tr]) * lt * ft  # constant source from frozen groups
        sq = np.sqrt(ft)
        v = lt * sq
        w, U = np.linalg.eigh(np.diag(-2.0 * eta * lt) + c2 * np.outer(v, v))
        x0 = (e0[tr] / sq) @ U
        bt = (b / sq) @ U
        wa = np.outer(alpha, w)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            phi1 = np.where(np.abs(wa) < 1e-12, 1.0, np.expm1(wa) / np.where(wa == 0, 1.0, wa))
            x = np.exp(wa) * x0 + (alpha[:, None] * phi1) * bt  # overflow: see _solve_finite_n
        out[:, tr] = (x @ U.T) * sq
    return out


@nb.njit(cache=True)
def _recursion(lam, frac, trainable, eta, factors, record, e0, c2, N, batch, out_e, out_r, r0, t0,
               noise2=0.0):
    """The per-step recursion with the learning rate eta * factors[k] of step k: e (mean squared
    error per group) and r (mean student-teacher overlap); ``record[p]`` the steps before grid
    point p.  ``noise2`` is the label-noise variance sigma^2 that the O(eta^2) term adds to the
    residual (chapter "Training recipes"; 0 for the paper's noiseless teacher)."""
    G = lam.shape[0]
    e = e0.copy()
    r = r0.copy()
    p = 0
    P = record.shape[0]
    while p < P and record[p] == 0:
        out_e[p] = e
        out_r[p] = r
        p += 1
    for k in range(factors.shape[0]):
        a = eta * factors[k]
        a2 = c2 * factors[k] * factors[k]
        s = noise2
        for h in range(G):
            s += lam[h] * e[h]
        for g in range(G):
            if trainable[g]:
                e[g] += (-2.0 * a * lam[g] + (1.0 + 1.0 / batch) * a2 * lam[g] ** 2 / N) * e[g] / N \
                    + a2 / batch * lam[g] * frac[g] * s / N
                r[g] += a * lam[g] * (t0[g] - r[g]) / N
        while p < P and record[p] == k + 1:
            out_e[p] = e
            out_r[p] = r
            p += 1
    return p


def _solve_finite_n(lam, frac, trainable, eta, alpha, e0, eta2, N, batch=1):
    """Exact mean over the inputs after round(alpha N / B) SGD steps of a mini-batch of B
    (Eq. {eq}`eq-lin-finite-N`; B = 1 the paper's SGD)."""
    out = np.empty((len(alpha), lam.size))
    tr = trainable
    out[:, ~tr] = e0[~tr]
    if tr.any():
        lt, ft = lam[tr], frac[tr]
        c2 = eta**2 if eta2 else 0.0
        if batch == 1:
            b = c2 * lt * ft * np.dot(lam[~tr], e0[~tr])
        else:  # the fluctuation of the batch mean: 1 / B of the coupling, 1 + 1 / B of the fourth moment
            b = c2 / batch * lt * ft * np.dot(lam[~tr], e0[~tr])
        sq = np.sqrt(ft)
        v = lt * sq
        if batch == 1:
            d = -2.0 * eta * lt + 2.0 * c2 * lt**2 / N
            w, U = np.linalg.eigh(np.diag(d) + c2 * np.outer(v, v))
        else:
            d = -2.0 * eta * lt + (1.0 + 1.0 / batch) * c2 * lt**2 / N
            w, U = np.linalg.eigh(np.diag(d) + c2 / batch * np.outer(v, v))
        x0 = U.T @ (e0[tr] / sq)
        bt = U.T @ (b / sq)
        t = np.round(alpha * N) if batch == 1 else np.round(alpha * N / batch)
        lg = np.log1p(w / N)
        wa = np.outer(t, lg)  # log of (1 + w/N)^t
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            geo = np.where(np.abs(wa) < 1e-12, t[:, None] / N + 0.0 * wa,
                           np.expm1(wa) / np.where(w == 0, 1.0, w) * (w != 0))
            x = np.exp(wa) * x0 + geo * bt  # may overflow: the caller's divergence rule reports it
        out[:, tr] = (x @ U.T) * sq
    return out


def block_errors(config: Config, alpha, e0, *, eta2: bool = True, finite_n: bool = False) -> np.ndarray:
    """e_g(alpha) for every grid point (P, G): the exact solution of Eq. {eq}`eq-lin-e` from the
    block errors ``e0`` (G,), or with ``finite_n`` the exact finite-N mean (Eq.
    {eq}`eq-lin-finite-N`; alpha N rounded to whole steps)."""
    _require_linear_k1(config)
    alpha = check_alpha(alpha, allow_zero=True)
    eta2 = check_bool("eta2", eta2)
    grp = groups(config)
    e0 = np.asarray(e0, dtype=np.float64)
    if e0.shape != (grp.size,) or not np.all(np.isfinite(e0)) or np.any(e0 < 0):
        raise ValueError(f"e0 must hold {grp.size} finite block errors >= 0, got shape {e0.shape}")
    if not config.lr_schedule.is_constant:
        raise ValueError("block_errors needs schedule='constant' (use finite_n_curve for a schedule)")
    if finite_n:
        return _solve_finite_n(grp.lam, grp.frac, grp.trainable, config.eta, alpha, e0, eta2, config.N, config.batch)
    return _solve(grp.lam, grp.frac, grp.trainable, effective_eta(config), alpha, e0, eta2)


def _trajectory(config, alpha, init, seeds, method, errors_of, test_weights=None):
    alpha = check_alpha(alpha, allow_zero=True)
    grp = groups(config)
    sampled = isinstance(init, str) and init == "sampled"
    seeds = check_seeds(0 if seeds is None else seeds) if sampled else (0,)
    w_eps = grp.lam
    if test_weights is not None:
        if grp.size != config.N:
            raise ValueError("test_weights need one coordinate per group (a spectrum of distinct eigenvalues)")
        w_eps = np.asarray(test_weights, dtype=np.float64)
        if w_eps.shape != (config.N,) or not np.all(np.isfinite(w_eps)) or np.any(w_eps < 0):
            raise ValueError(f"test_weights must hold N = {config.N} finite values >= 0")
    rows, Q, R, T = [], [], [], []
    for s in seeds:
        st = initial_state(config, init, s)
        e0 = st.q[:, 0, 0] - 2.0 * st.r[:, 0, 0] + st.t[:, 0, 0]
        e, r = errors_of(e0, st.r[:, 0, 0], st.t[:, 0, 0])
        q = e + 2.0 * r - st.t[:, 0, 0]
        rows.append(np.maximum(0.5 * e @ w_eps, 0.0))
        check_curve(f"linear theory ({method})", config.eta, alpha, rows[-1], 0.5 * e0 @ w_eps)
        Q.append((q @ grp.lam)[:, None, None])
        R.append((r @ grp.lam)[:, None, None])
        T.append(np.full((len(alpha), 1, 1), st.t[:, 0, 0] @ grp.lam))
    info = {} if test_weights is None else {"test_weights": True}
    return Trajectory(alpha=alpha, eps_g=np.array(rows), config=config, method=method, Q=np.array(Q),
                      R=np.array(R), T=np.array(T), seeds=seeds if sampled else None, info=info)


def exact_curve(config: Config, alpha, *, init="sampled", seeds=None, eta2: bool = True,
                test_weights=None) -> Trajectory:
    """The exact solution of Eq. {eq}`eq-lin-e` (chapter "Linear activation", paper Fig. 2), one
    row per seed's initial weights (``init="sampled"``) or one for ``"mean"``/given overlaps.

    ``test_weights`` (N,): evaluate 1/2 sum_i w_i e_i instead of the population error (the error
    on other data whose second moments in this basis are w; one coordinate per group).

    With a mini-batch eta is the per-sample eta / B (exact for the ODE limit).  Under a schedule
    only ``eta2=False`` is exact (alpha replaced by tau = int_0^alpha f); with the O(eta^2) term
    a schedule is refused (use ``finite_n_curve`` or ``solve_ode``)."""
    _require_linear_k1(config)
    eta2 = check_bool("eta2", eta2)
    st = resolve(config)
    grp, rate = st.groups, st.rate
    a = check_alpha(alpha, allow_zero=True)
    sched = config.lr_schedule
    if eta2 and not sched.is_constant:
        raise ValueError("exact_curve with the O(eta^2) term needs schedule='constant' (under a schedule that "
                         "term does not follow the accumulated learning rate); use finite_n_curve (exact per "
                         "step), solve_ode, or eta2=False")
    tau = a if sched.is_constant else sched.integral(a)
    eta = effective_eta(config)

    def errs(e0, r0, t0):
        e = _solve(grp.lam, grp.frac, grp.trainable, eta, tau, e0, eta2)
        r = t0 - (t0 - r0) * np.exp(-np.outer(tau, rate))
        return e, r

    return _trajectory(config, a, init, seeds, "exact", errs, test_weights)


def small_eta_curve(config: Config, alpha, *, init="sampled", seeds=None) -> Trajectory:
    """The small-eta closed form eps_g = 1/2 sum_g lambda_g e_g(0) exp(-2 eta lambda_g alpha)
    (Eq. {eq}`eq-lin-small`): the exact solution without the O(eta^2) term.

    With a mini-batch eta is the per-sample eta / B; under a schedule alpha is replaced by the
    accumulated learning rate tau(alpha) = int_0^alpha f, which is exact here."""
    _require_linear_k1(config)
    st = resolve(config)
    rate = st.rate
    a = check_alpha(alpha, allow_zero=True)
    tau = a if config.lr_schedule.is_constant else config.lr_schedule.integral(a)

    def errs(e0, r0, t0):
        e = e0 * np.exp(-2.0 * np.outer(tau, rate))
        r = t0 - (t0 - r0) * np.exp(-np.outer(tau, rate))
        return e, r

    return _trajectory(config, a, init, seeds, "small-eta", errs)


def finite_n_curve(config: Config, alpha, *, init="sampled", seeds=None, eta2: bool = True) -> Trajectory:
    """The exact mean of eps_g over the inputs of SGD at finite N (Eq. {eq}`eq-lin-finite-N`):
    differs from ``exact_curve`` by the fourth-moment term 2 eta^2 lambda_g^2 e_g / N and by
    counting whole steps.

    It is exact at any eta, batch B and schedule: a step of B samples with learning rate
    a = eta f(k B / N) maps the block errors as

        e_g <- e_g + (a / N) (-2 lambda_g + (1 + 1/B) a lambda_g^2 / N) e_g
                   + (a^2 / (B N)) lambda_g f_g sum_h lambda_h e_h                  (g trained)

    (the batch mean's fluctuation carries 1/B of the coupling), solved by one eigendecomposition
    for a constant rate and step by step (compiled) under a schedule."""
    _require_linear_k1(config)
    eta2 = check_bool("eta2", eta2)
    grp = groups(config)
    a = check_alpha(alpha, allow_zero=True)
    N, Bsz = config.N, config.batch
    if not config.lr_schedule.is_constant:
        return _trajectory(config, a, init, seeds, "finite-N", _scheduled_recursion(config, a, eta2))

    def errs(e0, r0, t0):
        e = _solve_finite_n(grp.lam, grp.frac, grp.trainable, config.eta, a, e0, eta2, N, Bsz)
        steps = np.round(a * N) if Bsz == 1 else np.round(a * N / Bsz)
        factor = np.where(grp.trainable, 1.0 - config.eta * grp.lam / N, 1.0)
        r = t0 - (t0 - r0) * factor[None, :] ** steps[:, None]
        return e, r

    return _trajectory(config, a, init, seeds, "finite-N", errs)


def step_schedule(config: Config, alpha) -> tuple[np.ndarray, np.ndarray]:
    """The steps of B samples before each grid point and the learning-rate factor f(k B / N) of
    every step k, as the SGD engine takes them (chapter "Training recipes").

    Parameters
    ----------
    config : the setting (its ``batch`` and ``schedule``)
    alpha : grid of whole steps of B samples divided by N (``alpha_grid(..., batch=B)``)

    Returns
    -------
    (record, factors): int64 steps per grid point, float64 factor per step"""
    N, Bsz = config.N, config.batch
    record = np.round(alpha * N / Bsz).astype(np.int64)
    if np.any(np.abs(alpha * N / Bsz - record) > 1e-6 * np.maximum(1.0, record)):
        raise ValueError(f"alpha must be whole steps of batch = {Bsz} samples divided by N (use alpha_grid)")
    n = int(record[-1]) if record.size else 0
    return record, config.lr_schedule.factor(np.arange(n, dtype=np.float64) * Bsz / N)


def _scheduled_recursion(config, alpha, eta2, noise2=0.0):
    """``errors_of`` of the per-step recursion under a schedule (one step of B samples at a time,
    the learning rate of step k eta f(k B / N), as the SGD engine takes it), with label-noise
    variance ``noise2`` in the O(eta^2) term."""
    grp = groups(config)
    N, Bsz = config.N, config.batch
    record, factors = step_schedule(config, alpha)
    c2 = config.eta**2 if eta2 else 0.0

    def errs(e0, r0, t0):
        P, G = len(alpha), grp.size
        e, r = np.empty((P, G)), np.empty((P, G))
        with np.errstate(over="ignore", invalid="ignore"):
            _recursion(grp.lam, grp.frac, grp.trainable, config.eta, factors, record, np.ascontiguousarray(e0), c2,
                       float(N), float(Bsz), e, r, np.ascontiguousarray(r0, dtype=np.float64),
                       np.ascontiguousarray(t0, dtype=np.float64), noise2)
        return e, r

    return errs


def eta_max(config: Config) -> float:
    """Largest stable learning rate of the ODE (Eq. {eq}`eq-lin-eta-max`): S is negative
    definite iff eta < 2 / sum_{g trained} f_g lambda_g (matrix determinant lemma); 2 N / Tr Sigma
    = 2 when everything is trained."""
    check_constant_rate(config, "this linear closed form (eta_max)")
    grp = groups(config)
    load = float(np.sum(grp.frac * grp.lam * grp.trainable))
    return np.inf if load == 0 else 2.0 / load


def eta_max_finite_n(config: Config) -> float:
    """Largest eta for which the exact finite-N mean recursion (Eq. {eq}`eq-lin-finite-N`) is
    stable: the root of (eta/2) sum_{g trained} f_g lambda_g / (1 - eta lambda_g / N) = 1 with
    eta lambda_+ < N.  Tends to ``eta_max`` for lambda_+ / N -> 0; about 1 for L = N, beta = 1."""
    check_constant_rate(config, "this linear closed form (eta_max_finite_n)")
    grp = groups(config)
    lam, f = grp.lam[grp.trainable], grp.frac[grp.trainable]
    N = config.N

    def load(eta):
        return 0.5 * eta * float(np.sum(f * lam / (1.0 - eta * lam / N))) - 1.0

    hi = min(eta_max(config), N / float(lam.max())) * (1.0 - 1e-12)
    if load(hi) < 0:
        return hi
    return float(brentq(load, 1e-12, hi, xtol=1e-14, rtol=1e-12))


def reachable_error(config: Config, *, init="mean", seed: int = 0, eta2: bool = True) -> float:
    """eps_inf(N_l), the alpha -> infinity limit of Eq. {eq}`eq-lin-e` (Eq. {eq}`eq-lin-eps-inf`):

        eps_inf = eps_frozen / (1 - (eta/2) sum_{g trained} f_g lambda_g),
        eps_frozen = 1/2 sum_{g frozen} lambda_g e_g(0);

    without the O(eta^2) term the trained groups reach zero and eps_inf = eps_frozen."""
    check_constant_rate(config, "this linear closed form (reachable_error)")
    _require_linear_k1(config)
    eta2 = check_bool("eta2", eta2)
    grp = groups(config)
    e0 = initial_block_errors(config, init, seed)
    fr = ~grp.trainable
    eps_frozen = 0.5 * float(np.dot(grp.lam[fr], e0[fr]))
    if not eta2:
        return eps_frozen
    load = 0.5 * config.eta * float(np.sum(grp.frac * grp.lam * grp.trainable))
    if load >= 1.0:
        raise ValueError(f"eta must be < eta_max = {eta_max(config):.6g} for a finite reachable error, got {config.eta}")
    return eps_frozen / (1.0 - load)


# ---------------------------------------------------------------------------------------------
# the power law (chapter "Linear activation", Eqs. eq-lin-continuum, eq-lin-powerlaw)
# ---------------------------------------------------------------------------------------------
def powerlaw_window(config: Config) -> tuple[float, float]:
    """(alpha_1, alpha_L) = (1/(2 eta lambda_+), 1/(2 eta lambda_L)): the power law holds for
    alpha_1 << alpha << alpha_L (Eq. {eq}`eq-lin-powerlaw`)."""
    check_constant_rate(config, "this linear closed form (powerlaw_window)")
    return spectral.powerlaw_window(config.L, config.beta, [2.0 * config.eta])


def continuum_curve(config: Config, alpha, e_per_block: float | None = None) -> np.ndarray:
    """The continuum form of the small-eta sum with its cut-offs (Eq. {eq}`eq-lin-continuum`):
    ``spectral.continuum_sum`` with the rate 2 eta and amplitude e / 2, where ``e_per_block`` is
    L e_l(0) (default 1 + sigma_J^2, its mean for N = L)."""
    check_constant_rate(config, "this linear closed form (continuum_curve)")
    e = (1.0 + config.sigma_J**2) if e_per_block is None else check_float("e_per_block", e_per_block, lo=0.0)
    return spectral.continuum_sum(config.L, config.beta, alpha, [2.0 * config.eta], [0.5 * e])


# ---------------------------------------------------------------------------------------------
# the reachable error of N_l trained directions (chapter "Trainable dimensions")
# ---------------------------------------------------------------------------------------------
def _check_nl(n_l, L):
    n = np.asarray(n_l, dtype=np.float64)
    if not np.all(np.isfinite(n)) or np.any(n < 1) or np.any(n > L):
        raise ValueError(f"n_trainable (N_l, in units of eigenvalue levels) must be in [1, L={L}]")
    return n


def frozen_tail(L: int, beta: float, n_trainable):
    """Exact (1/L) sum_{l > N_l}^{L} lambda_l of the power law (N = L; integer N_l)."""
    lam = eigenvalues(L, beta)
    n = np.asarray(n_trainable)
    if not np.all(n == np.round(n)):
        raise ValueError("n_trainable (N_l) must be integers for the exact sum")
    n = _check_nl(n, L).astype(int)
    tail = np.concatenate([np.cumsum(lam[::-1])[::-1], [0.0]]) / L  # tail[k] = (1/L) sum_{l>k}
    out = tail[n]
    return float(out) if np.ndim(out) == 0 else out


def frozen_tail_continuum(L: int, beta: float, n_trainable, midpoint: bool = False):
    """Continuum form of ``frozen_tail`` (chapter "Trainable dimensions", Eq. {eq}`eq-tr-law`):
    (1/L) sum_{l>N_l} lambda_l ~ lambda_+ / (beta L) (N_l^{-beta} - L^{-beta}); with
    ``midpoint`` from N_l + 1/2 to L + 1/2 (accurate to O(N_l^{-2}) instead of O(N_l^{-1}))."""
    L = check_int("L", L, 1)
    beta = check_float("beta", beta, lo=0.0, lo_open=True)
    n = _check_nl(n_trainable, L)
    h = 0.5 if midpoint else 0.0
    out = lambda_plus(L, beta) / (beta * L) * ((n + h) ** (-beta) - (L + h) ** (-beta))
    return float(out) if np.ndim(out) == 0 else out


def reachable_error_powerlaw(L: int, beta: float, eta: float, sigma_J: float, n_trainable,
                             continuum: bool = False, midpoint: bool = False):
    """eps_inf(N_l) for the power law with N = L at the mean initialisation (Eq. {eq}`eq-tr-law`):
    eps_inf = (1 + sigma_J^2)/2 * tail(N_l) / (1 - eta/2 (1 - tail(N_l)))."""
    eta = check_float("eta", eta, lo=0.0, lo_open=True)
    sigma_J = check_float("sigma_J", sigma_J, lo=0.0)
    tail = frozen_tail_continuum(L, beta, n_trainable, midpoint) if continuum else frozen_tail(L, beta, n_trainable)
    return 0.5 * (1.0 + sigma_J**2) * tail / (1.0 - 0.5 * eta * (1.0 - np.asarray(tail)))
