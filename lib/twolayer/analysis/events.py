"""Events on learning curves: plateaus, their entry and escape, and the growth of the student
asymmetry that ends them.

Chapter "The symmetric plateau" (``chapters/03_plateau.md``) and chapter "The asymptotic phase":
the book's one escape criterion (``escape_time``: the first alpha with eps_g below half the
plateau value), the plateau measured on a curve (``measure_plateau``), and the fit of the
unstable amplitude a_u of Eq. {eq}`eq-plateau-length` (``unstable_amplitude``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..problem.checks import check_float
from .curves import local_slope

__all__ = ["CurvePlateau", "asymmetry", "escape_time", "measure_plateau", "plateau_entry", "unstable_amplitude"]


def escape_time(alpha, eps, eps_p: float, fraction: float = 0.5, after: float = 0.0) -> float:
    """First alpha > ``after`` at which eps falls below ``fraction * eps_p`` (interpolated linearly
    in ln alpha and ln eps between grid points); nan if it never does within the grid."""
    fraction = check_float("fraction", fraction, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    eps_p = check_float("eps_p", eps_p, lo=0.0, lo_open=True)
    alpha, eps = np.asarray(alpha, dtype=np.float64), np.asarray(eps, dtype=np.float64)
    level = fraction * eps_p
    below = np.nonzero((eps < level) & (alpha > after))[0]
    if len(below) == 0:
        return float("nan")
    i = below[0]
    if i == 0 or eps[i - 1] <= 0 or eps[i] <= 0:
        return float(alpha[i])
    a0, a1 = np.log(alpha[i - 1]), np.log(alpha[i])
    e0, e1 = np.log(eps[i - 1]), np.log(eps[i])
    return float(np.exp(a0 + (np.log(level) - e0) * (a1 - a0) / (e1 - e0)))


def plateau_entry(alpha, eps, eps_p: float, tol: float = 0.1) -> float:
    """First alpha at which eps is within ``tol`` (relative) of the plateau value; nan if never."""
    alpha, eps = np.asarray(alpha, dtype=np.float64), np.asarray(eps, dtype=np.float64)
    near = np.nonzero(np.abs(eps / eps_p - 1.0) < tol)[0]
    return float(alpha[near[0]]) if len(near) else float("nan")


@dataclass(frozen=True)
class CurvePlateau:
    """The plateau of a learning curve as measured on it: its flattest point (alpha_p, eps_p,
    local slope there) and the escape time (first alpha after alpha_p with eps < eps_p / 2; nan
    when not reached on the grid).  Compare ``twolayer.theory.plateau.Plateau``, the fixed point."""

    alpha_p: float
    eps_p: float
    slope_p: float
    alpha_esc: float


def measure_plateau(alpha, eps, alpha_min: float = 1.0, eps_min: float = 1e-3) -> CurvePlateau:
    """The flattest point (smallest |d ln eps / d ln alpha|) among the points with
    alpha >= ``alpha_min`` that come before the curve first falls below ``eps_min``, and the escape
    time after it."""
    alpha, eps = np.asarray(alpha, dtype=np.float64), np.asarray(eps, dtype=np.float64)
    s = local_slope(alpha, np.maximum(eps, 1e-300))
    m = (alpha >= alpha_min) & (np.minimum.accumulate(eps) > eps_min)
    if not m.any():
        raise ValueError("no point with alpha >= alpha_min before eps falls below eps_min")
    i = np.flatnonzero(m)[np.argmin(np.abs(s[m]))]
    return CurvePlateau(float(alpha[i]), float(eps[i]), float(s[i]),
                        escape_time(alpha, eps, float(eps[i]), after=float(alpha[i])))


def asymmetry(R) -> np.ndarray:
    """Size of the student asymmetry: rms over (i, n) of R_in - mean_i R_in, for global R of shape
    (..., K, M)."""
    R = np.asarray(R, dtype=np.float64)
    D = R - R.mean(axis=-2, keepdims=True)
    return np.sqrt((D**2).mean(axis=(-2, -1)))


def unstable_amplitude(alpha, R, eps, eps_p: float, sigma: float, linear_until: float = 0.95):
    """Amplitude a_u of the growing student asymmetry on the plateau (Eq. {eq}`eq-plateau-length`).

    The asymmetry a(alpha) (``asymmetry`` of R, shape (P, K, M)) is a marginal part plus the
    unstable mode, a = a_m + a_u exp(sigma alpha); (a_m, a_u) are fitted by linear least squares
    (relative residuals) between the plateau entry and the last alpha with
    eps > ``linear_until`` * eps_p.  Returns (a_u, alpha_entry); nan when the curve has no
    plateau on the grid."""
    alpha, eps = np.asarray(alpha, dtype=np.float64), np.asarray(eps, dtype=np.float64)
    a_in = plateau_entry(alpha, eps, eps_p)
    if not np.isfinite(a_in):
        return float("nan"), float("nan")
    late = np.nonzero((alpha >= a_in) & (eps < linear_until * eps_p))[0]
    stop = late[0] if len(late) else len(alpha)
    sel = np.arange(int(np.searchsorted(alpha, a_in)), stop)
    if len(sel) < 3:
        return float("nan"), a_in
    a = asymmetry(np.asarray(R)[sel])
    X = np.stack([np.ones(len(sel)), np.exp(sigma * alpha[sel])], axis=1)
    coef = np.linalg.lstsq(X / a[:, None], np.ones(len(sel)), rcond=None)[0]
    return float(coef[1]), a_in
