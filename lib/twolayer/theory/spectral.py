"""Superpositions of exponentials over a power-law spectrum: the continuum law, its window and
its local slope.  One place for the power law of both the linear network (chapter "Linear
activation", Eqs. {eq}`eq-lin-continuum`, {eq}`eq-lin-powerlaw`) and the asymptotic phase of the
erf network (chapter "The asymptotic phase", Eqs. {eq}`eq-asy-power`, {eq}`eq-asy-window`).

Both reduce to

    S(alpha) = sum_k a_k (1/L) sum_{l=1}^{L} lambda_l exp(-c_k lambda_l alpha),

with lambda_l = lambda_+ l^{-(1+beta)}, decay constants c_k (2 eta for the linear network, 2 eta p_k
for the modes p_k of the asymptotic phase) and amplitudes a_k.  Replacing the sum over l by an
integral over l in [1/2, L + 1/2] (midpoint rule) and substituting x = c alpha lambda_+ l^{-(1+beta)}
gives, with s = beta / (1 + beta),

    S(alpha) ~ sum_k a_k lambda_+ / (L (1 + beta)) (c_k lambda_+ alpha)^{-s} int_{x_hi}^{x_lo} x^{s-1} e^{-x} dx,

x_lo = c alpha lambda_+ 2^{1+beta} (l = 1/2), x_hi = c alpha lambda_+ (L + 1/2)^{-(1+beta)}: a power
law alpha^{-s} while x_lo >> 1 >> x_hi for every mode, i.e. inside the window
1 / (c_min lambda_1) << alpha << 1 / (c_max lambda_L).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gamma as _gamma
from scipy.special import gammainc

from ..problem.checks import check_float, check_int
from ..problem.spectrum import eigenvalues, lambda_plus

__all__ = ["centre_slope", "continuum_slope", "continuum_sum", "powerlaw_exponent", "powerlaw_window",
           "resolved_levels"]


def powerlaw_exponent(beta: float) -> float:
    """s = beta / (1 + beta): eps_g ~ alpha^{-s} (the linear network and the asymptotic phase)."""
    beta = check_float("beta", beta, lo=0.0, lo_open=True)
    return beta / (1.0 + beta)


def _rates(rates):
    c = np.atleast_1d(np.asarray(rates, dtype=np.float64))
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("rates must be a non-empty 1-d array of finite values > 0")
    return c


def powerlaw_window(L: int, beta: float, rates) -> tuple[float, float]:
    """(1 / (c_min lambda_1), 1 / (c_max lambda_L)): the window in which every mode of S is a
    power law (empty when the first value exceeds the second)."""
    lam = eigenvalues(check_int("L", L, 1), beta)
    c = _rates(rates)
    return 1.0 / (c.min() * lam[0]), 1.0 / (c.max() * lam[-1])


def _limits(L, beta, c, alpha):
    lp = lambda_plus(L, beta)
    x_lo = c * alpha * lp * 0.5 ** (-(1.0 + beta))
    x_hi = c * alpha * lp * (L + 0.5) ** (-(1.0 + beta))
    return lp, x_lo, x_hi


def continuum_sum(L: int, beta: float, alpha, rates, amplitudes, cutoffs: bool = True) -> np.ndarray:
    """The continuum form of S(alpha) (module docstring); without ``cutoffs`` the integral is
    Gamma(s), the pure power law."""
    L = check_int("L", L, 1)
    s = powerlaw_exponent(beta)
    alpha = np.asarray(alpha, dtype=np.float64)
    c = _rates(rates)
    amp = np.broadcast_to(np.asarray(amplitudes, dtype=np.float64), c.shape)
    out = np.zeros_like(alpha)
    for ck, ak in zip(c, amp):
        lp, x_lo, x_hi = _limits(L, beta, ck, alpha)
        integral = _gamma(s) * (gammainc(s, x_lo) - gammainc(s, x_hi)) if cutoffs else _gamma(s)
        out += ak * lp / (L * (1.0 + beta)) * (ck * lp * alpha) ** (-s) * integral
    return out


def continuum_slope(L: int, beta: float, alpha, rates, amplitudes) -> np.ndarray:
    """d ln S / d ln alpha of ``continuum_sum`` (with cut-offs), in closed form:
    per mode -s + (x_lo^s e^{-x_lo} - x_hi^s e^{-x_hi}) / int."""
    L = check_int("L", L, 1)
    s = powerlaw_exponent(beta)
    alpha = np.asarray(alpha, dtype=np.float64)
    c = _rates(rates)
    amp = np.broadcast_to(np.asarray(amplitudes, dtype=np.float64), c.shape)
    num = np.zeros_like(alpha)
    den = np.zeros_like(alpha)
    for ck, ak in zip(c, amp):
        lp, x_lo, x_hi = _limits(L, beta, ck, alpha)
        integral = _gamma(s) * (gammainc(s, x_lo) - gammainc(s, x_hi))
        pref = ak * lp / (L * (1.0 + beta)) * (ck * lp * alpha) ** (-s)
        term = pref * integral
        slope = -s + (x_lo**s * np.exp(-x_lo) - x_hi**s * np.exp(-x_hi)) / integral
        num += term * slope
        den += term
    return num / den


def centre_slope(L: int, beta: float) -> float:
    """Local slope of the single-mode continuum law at the geometric centre of its window,
    keeping only the lower cut-off (the upper one is exponentially small there):

        slope_c = -s - u^s e^{-u} / (Gamma(s) - gamma(s, u)),   u = L^{-(1+beta)/2},

    so the approach to -s is as slow as L^{-beta/2} (chapter "Linear activation",
    Eq. {eq}`eq-lin-centre-slope`)."""
    L = check_int("L", L, 2)
    s = powerlaw_exponent(beta)
    u = float(L) ** (-(1.0 + beta) / 2.0)
    lower = _gamma(s) * (1.0 - gammainc(s, u))
    return float(-s - u**s * np.exp(-u) / lower)


def resolved_levels(eigenvalues, rate: float, alpha) -> np.ndarray:
    """The number of distinct eigenvalues that relaxations exp(-rate lambda alpha) resolve by
    ``alpha``: the eigenvalues sorted and merged while neighbours differ by less than
    1 / (rate alpha) (chapter "Beyond the paper", nearly degenerate spectra).  A spectrum of L
    distinct values never gives more than L; L clusters of relative width delta give the same as
    the L values until rate lambda delta alpha ~ 1, and then up to the number of values."""
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))
    if lam.ndim != 1 or lam.size == 0 or not np.all(np.isfinite(lam)):
        raise ValueError("eigenvalues must be a non-empty 1-d array of finite values")
    rate = check_float("rate", rate, lo=0.0, lo_open=True)
    alpha = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
    gaps = np.diff(lam)
    out = np.empty(alpha.shape, dtype=np.int64)
    for i, a in enumerate(alpha):
        res = 1.0 / (rate * a) if a > 0 else np.inf
        count, acc = 1, 0.0
        for gap in gaps:
            acc += gap
            if acc >= res:
                count += 1
                acc = 0.0
        out[i] = count
    return out
