"""Training recipes in the linear network: learning-rate schedules, mini-batches and label noise.

Chapter "Training recipes" (``chapters/08_recipes.md``).  For g(x) = x, K = M = 1 and labels
y = teacher(x) + sigma xi, a step of B samples with learning rate a = eta f(alpha) maps the mean
block errors exactly as (Eq. {eq}`eq-rec-step`)

    e_g <- e_g + (a / N) (-2 lambda_g + (1 + 1/B) a lambda_g^2 / N) e_g
               + (a^2 / (B N)) lambda_g f_g (sum_h lambda_h e_h + sigma^2)        (g trained)

(``twolayer.theory.linear.finite_n_curve`` without the sigma^2: the label noise enters the
residual's variance next to 2 eps_g).  Per unit alpha and for N -> infinity this is the ODE
(Eq. {eq}`eq-rec-ode`)

    de_g/dalpha = -2 a_s lambda_g e_g + a_s^2 lambda_g f_g (sum_h lambda_h e_h + sigma^2),

with the per-sample rate a_s = eta f(alpha) / B.  ``recursion_curve`` runs the first step by
step; ``ode_limit_curve`` integrates the second piecewise exactly (cheap at any alpha).  The
closed forms: the late exponents under a power decay f = (1 + alpha/A0)^-P with and without
label noise, the best P, the noise floor and the largest stable eta of a mini-batch.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from scipy.optimize import brentq

from ..problem.checks import check_alpha, check_bool, check_float, check_int
from ..problem.config import Config
from ..problem.spectrum import groups
from ..problem.trajectory import Trajectory
from . import linear

__all__ = ["best_power", "eta_max_batch", "noise_floor", "ode_limit_curve", "power_decay_exponent",
           "recursion_curve", "time_changed",
           "two_term_curve"]


def _require(config):
    if not isinstance(config, Config):
        raise ValueError(f"config must be a Config, got {type(config).__name__}")
    if config.activation != "linear" or config.K != 1 or config.M != 1 or not config.uniform_readout \
            or config.readout != "sum":
        raise ValueError("the recipe theory of the linear network needs activation='linear', K = M = 1, "
                         "readout='sum' and fixed second layers")


def _overlap(config, alpha, r0, t0):
    """r_g(alpha) = t_g - (t_g - r_g(0)) exp(-(eta/B) lambda_g tau(alpha)) (the O(eta) relaxation;
    only Q and R of the returned Trajectory use it)."""
    grp = groups(config)
    tau = config.lr_schedule.integral(alpha)
    rate = config.eta / config.batch * grp.lam * grp.trainable
    return t0 - (t0 - r0) * np.exp(-np.outer(tau, rate))


def recursion_curve(config: Config, alpha, *, init="sampled", seeds=None, eta2: bool = True) -> Trajectory:
    """The exact mean of eps_g over the inputs and the label noise of SGD at finite N, step by
    step (Eq. {eq}`eq-rec-step`): any eta, schedule, batch B and label noise sigma
    (``config.noise``).  eps_g is the error against the teacher (without the label noise).

    Parameters
    ----------
    config : a linear Config with K = M = 1
    alpha : grid of whole steps of B samples (``alpha_grid(..., batch=B)``)
    init, seeds : initial weights, as ``twolayer.theory.linear.exact_curve``
    eta2 : keep the O(eta^2) terms (False: the small-eta limit)

    Returns
    -------
    Trajectory (one row per seed); equals ``linear.finite_n_curve`` for noise = 0."""
    _require(config)
    eta2 = check_bool("eta2", eta2)
    a = check_alpha(alpha, allow_zero=True)
    noise2 = float(config.noise) ** 2 if eta2 else 0.0
    errs = linear._scheduled_recursion(config, a, eta2, noise2)
    return linear._trajectory(config, a, init, seeds, "recursion", errs)


@nb.njit(cache=True)
def _piecewise(lam, frac, trainable, grid, dtau, eta_s, e0, noise2, c2, out_e, keep):
    G = lam.shape[0]
    e = e0.copy()
    new = np.empty(G)
    p = 0
    if keep[0]:
        out_e[p] = e
        p += 1
    dk = np.empty(G)
    onek = np.empty(G)
    lpk = np.empty(G)
    for k in range(grid.shape[0] - 1):
        da = grid[k + 1] - grid[k]
        rate = eta_s * dtau[k] / da if da > 0 else 0.0   # the step's mean per-sample rate
        s0 = noise2
        for g in range(G):
            s0 += lam[g] * e[g]
            x = 2.0 * eta_s * lam[g] * dtau[k] if trainable[g] else 0.0
            if x > 40.0:
                dk[g], onek[g], lpk[g] = 0.0, 1.0, 1.0 / x
            elif x > 1e-8:
                d = math.exp(-x)
                dk[g], onek[g] = d, 1.0 - d
                lpk[g] = (1.0 - d - x * d) / x
            else:
                dk[g], onek[g], lpk[g] = 1.0 - x, x, 0.5 * x
        s_end = s0
        for it in range(3):  # predictor (s constant), then correctors with s linear in alpha
            s1 = noise2
            for g in range(G):
                src = s_end * onek[g] - (s_end - s0) * lpk[g]
                new[g] = e[g] * dk[g] + c2 * rate * frac[g] * src / 2.0
                s1 += lam[g] * new[g]
            s_end = s1
        e[:] = new
        if keep[k + 1]:
            out_e[p] = e
            p += 1
    return p


def ode_limit_curve(config: Config, alpha, *, init="sampled", seeds=None, eta2: bool = True,
                    per_decade: int = 60) -> Trajectory:
    """The N -> infinity ODE of the block errors under a schedule, a mini-batch and label noise
    (Eq. {eq}`eq-rec-ode`), integrated piecewise exactly: on each step of a log grid
    (``per_decade`` points a decade, refined by the requested alpha and the schedule's
    breakpoints) every group relaxes exactly with the step's accumulated rate under the coupling
    sum_h lambda_h e_h + sigma^2 taken linear in alpha between the step's ends (a predictor and two
    correctors).
    Exact without the O(eta^2) terms (then ``linear.small_eta_curve``); otherwise to O(step^2).

    Parameters
    ----------
    config : a linear Config with K = M = 1 (any schedule, batch, noise, trainable)
    alpha : grid (P,), increasing, >= 0
    init, seeds : initial weights, as ``linear.exact_curve``
    eta2 : keep the O(eta^2) terms (coupling and label noise)
    per_decade : integration points per decade of alpha

    Returns
    -------
    Trajectory (one row per seed)."""
    _require(config)
    eta2 = check_bool("eta2", eta2)
    per_decade = check_int("per_decade", per_decade, 4, 10_000)
    a = check_alpha(alpha, allow_zero=True)
    grp = groups(config)
    sched = config.lr_schedule
    eta_s = config.eta / config.batch
    top = float(a[-1]) if a.size else 1.0
    lo = min(0.01 / (eta_s * float(grp.lam.max())), top)
    fine = np.geomspace(lo, max(top, lo), max(2, int(per_decade * np.log10(max(top, lo) / lo)) + 1))
    brk = np.array(sched.params[:2] if sched.kind in ("cosine", "wsd") else [])
    brk = brk[(brk > 0) & (brk < top)] if sched.kind == "wsd" else brk[:1][(brk[:1] > 0) & (brk[:1] < top)]
    if sched.kind == "wsd" and sched.params[2] > 0:
        brk = np.append(brk, sched.params[2])
    grid = np.unique(np.concatenate([[0.0], fine, a, brk]))
    keep = np.isin(grid, a)
    dtau = np.diff(sched.integral(grid))
    c2 = 1.0 if eta2 else 0.0
    noise2 = float(config.noise) ** 2

    def errs(e0, r0, t0):
        out = np.empty((int(keep.sum()), grp.size))
        with np.errstate(over="ignore", invalid="ignore"):
            _piecewise(grp.lam, grp.frac, grp.trainable, grid, dtau, eta_s, np.ascontiguousarray(e0),
                       noise2, c2, out, keep)
        idx = np.searchsorted(grid[keep], a)
        return out[idx], _overlap(config, a, r0, t0)

    return linear._trajectory(config, a, init, seeds, "ode-limit", errs)


# -- closed forms ---------------------------------------------------------------------------------
def two_term_curve(config: Config, alpha) -> np.ndarray:
    """The two-term prediction behind Eq. {eq}`eq-rec-kappa` (mean initial errors): the
    noiseless small-eta error in tau(alpha) plus the quasi-static noise of every direction,

        eps(alpha) = 1/2 sum_g lambda_g [e_g(0) exp(-2 eta_s lambda_g tau)
                     + (eta_s f(alpha) sigma^2 f_g / 2) (1 - exp(-2 eta_s lambda_g tau))],

    eta_s = eta / B: a learned direction holds the noise of the current rate (the small-eta fixed
    point of Eq. {eq}`eq-rec-ode`), an unlearned one none.

    Parameters
    ----------
    config : a linear Config with K = M = 1 (schedule, batch, noise)
    alpha : grid (P,)

    Returns
    -------
    eps (P,)."""
    _require(config)
    a = check_alpha(alpha, allow_zero=True)
    grp = groups(config)
    eta_s = config.eta / config.batch
    e0 = linear.initial_block_errors(config.replace(noise=0.0), "mean")
    sched = config.lr_schedule
    decay = np.exp(-2.0 * eta_s * np.outer(sched.integral(a), grp.lam * grp.trainable))
    noise = 0.5 * eta_s * sched.factor(a)[:, None] * float(config.noise) ** 2 * grp.frac * grp.trainable
    return 0.5 * (decay * e0 + (1.0 - decay) * noise) @ grp.lam


def power_decay_exponent(beta: float, P, noise: bool = False):
    """The late exponent kappa of eps_g ~ alpha^-kappa under f = (1 + alpha/A0)^-P
    (Eq. {eq}`eq-rec-kappa`): with s = beta/(1+beta), tau ~ alpha^(1-P) gives (1-P) s without
    label noise; with it the noise floor (sigma^2/4) eta f(alpha) ~ alpha^-P adds, and the slower
    of the two wins: min((1-P) s, P).  P >= 1 gives 0 (tau grows at most logarithmically).

    Parameters
    ----------
    beta : spectral exponent > 0
    P : decay exponent(s) >= 0
    noise : with label noise

    Returns
    -------
    kappa (float or array like P)."""
    beta = check_float("beta", beta, lo=0.0, lo_open=True)
    P = np.asarray(P, dtype=np.float64)
    if np.any(P < 0):
        raise ValueError("P must be >= 0")
    s = beta / (1.0 + beta)
    k = np.where(P < 1.0, (1.0 - P) * s, 0.0)
    if noise:
        k = np.minimum(k, P)
    return float(k) if k.ndim == 0 else k


def best_power(beta: float) -> dict:
    """The best power decay with label noise (Eq. {eq}`eq-rec-pstar`): (1-P) s = P at
    P* = s/(1+s) = beta/(1+2 beta), where the late exponent is also P*.

    Parameters
    ----------
    beta : spectral exponent > 0

    Returns
    -------
    dict with "P" (P*) and "kappa" (the exponent there, equal to P*)."""
    beta = check_float("beta", beta, lo=0.0, lo_open=True)
    s = beta / (1.0 + beta)
    return {"P": s / (1.0 + s), "kappa": s / (1.0 + s)}


def noise_floor(eta: float, noise: float, load: float = 1.0) -> float:
    """The error a constant per-sample rate eta settles at with label noise sigma, every
    direction trained, N -> infinity (Eq. {eq}`eq-rec-floor`): the fixed point of Eq.
    {eq}`eq-rec-ode`, eps = eta sigma^2 load / (2 (2 - eta load)), load = sum_g f_g lambda_g
    (1 for Tr Sigma = N); about eta sigma^2 / 4 for small eta.

    Parameters
    ----------
    eta : per-sample rate eta / B, below 2 / load
    noise : label-noise standard deviation sigma
    load : sum_g f_g lambda_g

    Returns
    -------
    float"""
    eta = check_float("eta", eta, lo=0.0, lo_open=True)
    noise = check_float("noise", noise, lo=0.0)
    load = check_float("load", load, lo=0.0, lo_open=True)
    if eta * load >= 2.0:
        raise ValueError(f"eta * load must be < 2 for a finite floor, got {eta * load:.4g}")
    return eta * noise**2 * load / (2.0 * (2.0 - eta * load))


def eta_max_batch(config: Config) -> float:
    """The largest stable learning rate eta (per step) of the exact finite-N recursion with
    mini-batches of B = ``config.batch`` (Eq. {eq}`eq-rec-etamax`): with D_g = 2 - (1 + 1/B) eta
    lambda_g / N > 0 it is the root of (eta / B) sum_{g trained} f_g lambda_g / D_g = 1 (matrix
    determinant lemma).  It grows with B from ``linear.eta_max_finite_n`` (B = 1) towards
    2 N / lambda_+ (B -> infinity), where the single largest direction limits the step.

    Parameters
    ----------
    config : a linear Config with K = M = 1 (its eta and schedule are ignored)

    Returns
    -------
    float"""
    _require(config)
    grp = groups(config)
    lam, f = grp.lam[grp.trainable], grp.frac[grp.trainable]
    N, B = config.N, config.batch
    c = 1.0 + 1.0 / B

    def load(eta):
        return eta / B * float(np.sum(f * lam / (2.0 - c * eta * lam / N))) - 1.0

    hi = 2.0 * N / (c * float(lam.max())) * (1.0 - 1e-12)
    if load(hi) < 0:
        return hi
    return float(brentq(load, 1e-12, hi, xtol=1e-14, rtol=1e-12))


def time_changed(config: Config, alpha_constant):
    """Where a schedule reaches what the constant rate reaches at ``alpha_constant``, to leading
    order in eta (Eq. {eq}`eq-rec-time`): the alpha with tau(alpha) = int_0^alpha f = alpha_constant
    (``Schedule.inverse_integral``); inf where the schedule's tau never gets there.

    Parameters
    ----------
    config : any Config (its schedule is used)
    alpha_constant : alpha(s) of the constant-rate run

    Returns
    -------
    float or array like ``alpha_constant``."""
    if not isinstance(config, Config):
        raise ValueError(f"config must be a Config, got {type(config).__name__}")
    t = np.asarray(alpha_constant, dtype=np.float64)
    sched = config.lr_schedule
    out = np.asarray(sched.inverse_integral(t), dtype=np.float64)
    if sched.kind in ("cosine", "wsd"):
        total = float(sched.integral(1e300 if sched.kind == "wsd" else sched.params[0]))
        if sched.kind == "wsd" or sched.params[1] == 0.0:
            out = np.where(t >= total, np.inf, out)
    elif sched.kind == "power" and sched.params[0] > 1.0:
        P, A0 = sched.params
        out = np.where(t >= A0 / (P - 1.0), np.inf, out)
    return float(out) if out.ndim == 0 else out
