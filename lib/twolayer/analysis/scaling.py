"""Scaling-law fits: the reachable error against the number N_l of trained directions, and the
power-law exponent of a spectrum.

Chapter "Trainable dimensions" (``chapters/02_trainable_dims.md``), Eq. {eq}`eq-tr-law`.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from ..problem.checks import check_int
from .curves import loglog_fit

__all__ = ["default_fit_window", "fit_beta", "fit_scaling_law"]


def fit_scaling_law(n_trainable, eps_inf, L: int | None = None, midpoint: bool = False) -> dict:
    """Fit reachable errors against N_l.

    Returns ``{"slope": s}``, the plain log-log slope (a pure N_l^{-beta} gives -beta), and with
    ``L`` also ``beta`` and ``amplitude`` of the finite-L form A (N_l^{-beta} - L^{-beta}) fitted in
    log space (``midpoint``: A ((N_l + 1/2)^{-beta} - (L + 1/2)^{-beta}))."""
    n = np.asarray(n_trainable, dtype=np.float64)
    e = np.asarray(eps_inf, dtype=np.float64)
    if n.ndim != 1 or n.shape != e.shape or n.size < 2:
        raise ValueError("n_trainable and eps_inf must be 1-d arrays of the same length >= 2")
    out = {"slope": loglog_fit(n, e)[0]}
    if L is not None:
        L = check_int("L", L, 2)
        if np.any(n >= L):
            raise ValueError(f"n_trainable must be < L = {L} for the finite-L fit (eps_inf(L) = 0)")
        y = np.log(e)
        h = 0.5 if midpoint else 0.0

        def resid(b):
            g = np.log((n + h) ** (-b) - (L + h) ** (-b))
            lnA = np.mean(y - g)
            return float(np.sum((y - g - lnA) ** 2)), float(np.exp(lnA))

        res = minimize_scalar(lambda b: resid(b)[0], bounds=(1e-3, 10.0), method="bounded", options={"xatol": 1e-10})
        out["beta"] = float(res.x)
        out["amplitude"] = resid(res.x)[1]
    return out


def default_fit_window(N: int) -> tuple[int, int]:
    """Default rank window [lo, hi) of ``fit_beta``: [10, N/2 + 1) (for N < 64: [2, N/2 + 1))."""
    N = check_int("N", N, 4)
    return (10 if N >= 64 else 2), N // 2 + 1


def fit_beta(eigenvalues, lo: int | None = None, hi: int | None = None) -> tuple[float, float]:
    """Fit lambda_k = lambda_+ k^{-(1+beta)} on the ranks k in [lo, hi) (1-based, largest first):
    least squares of log lambda_k on log k; returns (beta, lambda_plus_fit).

    Natural-image patch spectra are not a clean power law at either end: the first ~10 modes
    carry image-level brightness and contrast, the upper half of the ranks the high-frequency
    corners suppressed by optics and compression; in between they are close to the 1/f^2 law of
    natural scenes, hence the default window [10, N/2 + 1)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if lam.ndim != 1 or lam.size < 4:
        raise ValueError(f"eigenvalues must be a 1-d array of length >= 4, got shape {lam.shape}")
    N = lam.size
    dlo, dhi = default_fit_window(N)
    lo = dlo if lo is None else check_int("lo", lo, 1, N - 1)
    hi = dhi if hi is None else check_int("hi", hi, lo + 2, N + 1)
    window = lam[lo - 1 : hi - 1]
    if not np.all(window > 0) or not np.all(np.isfinite(window)):
        raise ValueError(f"eigenvalues in the rank window [{lo}, {hi}) must be finite and > 0")
    slope, intercept = loglog_fit(np.arange(lo, hi, dtype=np.float64), window)
    return float(-slope - 1.0), float(np.exp(intercept))
