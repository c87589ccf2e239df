"""Scaling-law fits: the reachable error against the number N_l of trained directions, and the
power-law exponent of a spectrum.

Chapter "Trainable dimensions" (``chapters/02_trainable_dims.md``), Eq. {eq}`eq-tr-law`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from ..problem.checks import check_int
from .curves import loglog_fit

__all__ = ["default_fit_window", "fit_beta", "fit_scaling_law", "tail_exponents", "tail_sum"]


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


def tail_sum(eigenvalues, n_trainable, weights=None) -> np.ndarray:
    """The frozen tail sum_{l > N_l} lambda_l w_l of a spectrum, for every N_l given.

    With the mean initialisation every coordinate carries the same teacher power,
    w_l = (1 + sigma_J^2)/N, so the reachable error of Eq. {eq}`eq-tr-epsinf` is this sum
    with w_l = 1 times (1 + sigma_J^2)/(2N) and the eta factor.

    Parameters
    ----------
    eigenvalues : the spectrum lambda_1 >= lambda_2 >= ... (length N)
    n_trainable : numbers N_l of trained leading coordinates, integers in [0, N]
    weights : per-coordinate weights w_l (length N); default 1

    Returns
    -------
    ndarray
        sum over the ranks l = N_l + 1 ... N of lambda_l w_l, one entry per N_l.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if lam.ndim != 1 or lam.size < 2:
        raise ValueError(f"eigenvalues must be a 1-d array of length >= 2, got shape {lam.shape}")
    w = np.ones_like(lam) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != lam.shape:
        raise ValueError(f"weights must have the shape of eigenvalues {lam.shape}, got {w.shape}")
    n = np.asarray(n_trainable)
    if not np.issubdtype(n.dtype, np.integer) or np.any(n < 0) or np.any(n > lam.size):
        raise ValueError(f"n_trainable must be integers in [0, {lam.size}]")
    tails = np.append(np.cumsum((lam * w)[::-1])[::-1], 0.0)
    return tails[n]


def tail_exponents(eigenvalues, n_trainable, window=None, midpoint: bool = True) -> pd.DataFrame:
    """Why the N_l law of a measured spectrum has another exponent than its eigenvalues.

    Compares, over one window of ranks, the local exponent of the eigenvalues (``fit_beta``)
    with the exponent of the finite-L law {eq}`eq-tr-law` fitted (``fit_scaling_law``) to the
    tail sums sum_{l > N_l} lambda_l (``tail_sum``), which the reachable error follows
    (chapter "Trainable dimensions", the real-image section). Rows, in this order:

        "eigenvalues, whole window"    beta of lambda_k on the ranks [lo, hi)
        "eigenvalues, lower half"      the same on [lo, m), m = geometric middle of the window
        "eigenvalues, upper half"      the same on [m, hi)
        "eigenvalues above the window" the same on [hi, N] (the steep end of the spectrum)
        "tail sum"                     finite-L fit of the tail sums at the N_l given
        "tail sum, power law above"    the same with lambda_k for k >= hi replaced by the
                                       window's power law continued from lambda_{hi-1}

    Parameters
    ----------
    eigenvalues : the spectrum lambda_1 >= ... >= lambda_N
    n_trainable : the N_l of the fit, integers with 1 <= N_l < N
    window : ranks [lo, hi) of the eigenvalue fits; default [min N_l, max N_l + 1)
    midpoint : use the midpoint form of the finite-L law in the tail-sum fits

    Returns
    -------
    pandas.DataFrame
        indexed by the row names above, columns "from" and "to" (the ranks, "to" exclusive)
        and "beta" (the exponent, positive for a falling law).
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    n = np.sort(np.asarray(n_trainable))
    N = lam.size
    if n.size < 3 or n[0] < 1 or n[-1] >= N:
        raise ValueError(f"n_trainable needs >= 3 values in [1, {N - 1}]")
    lo, hi = (int(n[0]), int(n[-1]) + 1) if window is None else (int(window[0]), int(window[1]))
    if not (1 <= lo < hi - 4 and hi <= N - 2):
        raise ValueError(f"window must satisfy 1 <= lo < hi - 4 and hi <= N - 2, got {(lo, hi)}")
    mid = int(round(np.sqrt(lo * hi)))
    b_win, _ = fit_beta(lam, lo, hi)
    k = np.arange(1, N + 1, dtype=np.float64)
    cont = np.where(k < hi, lam, lam[hi - 2] * (k / (hi - 1)) ** (-(1.0 + b_win)))
    rows = [("eigenvalues, whole window", lo, hi, b_win),
            ("eigenvalues, lower half", lo, mid, fit_beta(lam, lo, mid)[0]),
            ("eigenvalues, upper half", mid, hi, fit_beta(lam, mid, hi)[0]),
            ("eigenvalues above the window", hi, N + 1, fit_beta(lam, hi, N + 1)[0])]
    for name, spectrum in (("tail sum", lam), ("tail sum, power law above", cont)):
        fit = fit_scaling_law(n, tail_sum(spectrum, n), N, midpoint=midpoint)
        rows.append((name, int(n[0]), int(n[-1]) + 1, fit["beta"]))
    return pd.DataFrame(rows, columns=["of", "from", "to", "beta"]).set_index("of")
