"""Analysis of learning curves: deviations, local slopes, fits and windows.  One of each.

Used by every chapter to hold theory against simulation (``log_deviation``), to read exponents
off curves (``fit_slope``, ``fit_exponential_rate``, ``local_slope``) and to find where a power
law holds (``slope_window``).  Functions take plain arrays (a ``Trajectory``'s ``alpha`` and
``eps_g`` rows or ``mean()``) and validate them.
"""

from __future__ import annotations

import numpy as np

from ..problem.checks import check_float

__all__ = ["fit_exponential_rate", "fit_slope", "local_slope", "loglog_fit", "log_deviation", "select",
           "slope_window"]


def _arrays(alpha, eps):
    alpha = np.asarray(alpha, dtype=np.float64)
    eps = np.asarray(eps, dtype=np.float64)
    if alpha.ndim != 1 or eps.shape[-1] != alpha.shape[0]:
        raise ValueError(f"eps must have the grid length {alpha.shape[0]} in its last axis, got {eps.shape}")
    return alpha, eps


def select(alpha, eps, window=None, eps_range=None) -> np.ndarray:
    """Mask of the grid points with alpha in ``window`` = (lo, hi) and eps (1-d) in
    ``eps_range`` = (lo, hi), both inclusive, and eps finite and > 0."""
    alpha, eps = _arrays(alpha, eps)
    m = np.isfinite(eps) & (eps > 0)
    if window is not None:
        lo, hi = window
        m &= (alpha >= lo) & (alpha <= hi)
    if eps_range is not None:
        lo, hi = eps_range
        m &= (eps >= lo) & (eps <= hi)
    return m


def loglog_fit(x, y) -> tuple[float, float]:
    """Least-squares line through (ln x, ln y): (slope, intercept).  The book's one log-log fit."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError("x and y must be 1-d arrays of the same length >= 2")
    if np.any(x <= 0) or np.any(y <= 0) or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite and > 0 for a log-log fit")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


def fit_slope(alpha, eps, window=None, eps_range=None, min_points: int = 3) -> float:
    """Fitted exponent d ln eps / d ln alpha (negative for a decay) over the points in ``window``
    (alpha) and ``eps_range``."""
    alpha, eps = _arrays(alpha, eps)
    m = select(alpha, eps, window, eps_range)
    if m.sum() < min_points:
        raise ValueError(f"fewer than {min_points} grid points in the fit range (alpha {window}, eps {eps_range})")
    return loglog_fit(alpha[m], eps[m])[0]


def fit_exponential_rate(alpha, eps, window=None, eps_range=None, min_points: int = 3) -> float:
    """kappa of eps ~ exp(-kappa alpha): least squares of ln eps against alpha in the ranges
    (keep ``eps_range`` above the precision floor)."""
    alpha, eps = _arrays(alpha, eps)
    m = select(alpha, eps, window, eps_range)
    if m.sum() < min_points:
        raise ValueError(f"fewer than {min_points} grid points in the fit range (alpha {window}, eps {eps_range})")
    return float(-np.polyfit(alpha[m], np.log(eps[m]), 1)[0])


def local_slope(alpha, eps, width: float | None = None) -> np.ndarray:
    """d ln eps / d ln alpha on the grid (last axis); nan where eps <= 0.

    ``width=None``: centred differences.  ``width=w``: the slope of the least-squares line through
    the points with |ln alpha' - ln alpha| <= w (for noisy curves, e.g. a few SGD seeds); nan
    where fewer than three such points have eps > 0."""
    alpha, eps = _arrays(alpha, eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(np.where(eps > 0, eps, np.nan))
    x = np.log(alpha)
    if width is None:
        return np.gradient(y, x, axis=-1)
    width = check_float("width", width, lo=0.0, lo_open=True)
    out = np.full(y.shape, np.nan)
    for i in range(len(x)):
        near = np.abs(x - x[i]) <= width
        xs, ys = x[near], y[..., near]
        ok = np.isfinite(ys)
        n = ok.sum(axis=-1)
        xm = np.where(ok, xs, 0.0).sum(axis=-1) / np.maximum(n, 1)
        ym = np.where(ok, ys, 0.0).sum(axis=-1) / np.maximum(n, 1)
        dx = np.where(ok, xs - xm[..., None], 0.0)
        dy = np.where(ok, ys - ym[..., None], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[..., i] = np.where(n >= 3, (dx * dy).sum(axis=-1) / (dx * dx).sum(axis=-1), np.nan)
    return out


def log_deviation(x, y, alpha=None, window=None, floor: float = 0.0, reduce: str = "max"):
    """|ln x - ln y| reduced over the last axis: ``"max"`` (default), ``"mean"`` or ``"rms"``.

    Only points with both x and y above ``floor`` (and alpha inside ``window`` when ``alpha``
    is given) count.  x and y broadcast (e.g. per-seed rows against one theory curve)."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    floor = check_float("floor", floor, lo=0.0)
    m = (x > floor) & (y > floor) & np.isfinite(x) & np.isfinite(y)
    if window is not None:
        if alpha is None:
            raise ValueError("window needs alpha")
        alpha = np.asarray(alpha, dtype=np.float64)
        m &= (alpha >= window[0]) & (alpha <= window[1])
    if not m.any(axis=-1).all():
        raise ValueError("no point where both curves are above the floor (and inside the window)")
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(m, np.abs(np.log(np.where(m, x, 1.0)) - np.log(np.where(m, y, 1.0))), np.nan)
    if reduce == "max":
        return np.nanmax(d, axis=-1)
    if reduce == "mean":
        return np.nanmean(d, axis=-1)
    if reduce == "rms":
        return np.sqrt(np.nanmean(d * d, axis=-1))
    raise ValueError(f"reduce must be 'max', 'mean' or 'rms', got {reduce!r}")


def slope_window(alpha, eps, target: float, tol: float, width: float | None = None,
                 after: float | None = None) -> tuple[float, float]:
    """(alpha_lo, alpha_hi) of the longest run of grid points whose local slope (``local_slope``
    with ``width``) is within ``tol`` of ``target``; (nan, nan) if there is none.  ``after``: the
    curve is cut to alpha >= after before the slopes are taken (e.g. the escape time, so that a
    flat stretch of the plateau does not count)."""
    alpha, eps = _arrays(alpha, eps)
    if after is not None:
        keep = alpha >= check_float("after", after)
        alpha, eps = alpha[keep], eps[keep]
    ok = np.abs(local_slope(alpha, eps, width) - target) < tol
    best, start, best_run = 0, None, (float("nan"), float("nan"))
    for i, v in enumerate(np.append(ok, False)):
        if v and start is None:
            start = i
        elif not v and start is not None:
            if i - start > best:
                best, best_run = i - start, (float(alpha[start]), float(alpha[i - 1]))
            start = None
    return best_run
