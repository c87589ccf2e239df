"""Events on learning curves: plateaus, their entry and escape, and the growth of the student
asymmetry that ends them.

Chapter "The symmetric plateau" (``chapters/03_plateau.md``) and chapter "The asymptotic phase":
the book's one escape-time definition (``measure_plateau`` / ``escape_time``: the first alpha
after the curve's flattest point at which eps_g falls below half its value there), a plain
crossing (``first_below``), and the fit of the unstable amplitude a_u of
Eq. {eq}`eq-plateau-length` (``unstable_amplitude``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..problem.checks import check_float
from .curves import local_slope

__all__ = ["CurvePlateau", "asymmetry", "escape_split", "escape_time", "first_below", "measure_plateau",
           "paired_escape_times", "plateau_entry", "unstable_amplitude", "run_end"]


def first_below(alpha, eps, level: float, after: float = 0.0) -> float:
    """First alpha > ``after`` at which eps falls below ``level`` (interpolated linearly in
    ln alpha and ln eps between grid points); nan if it never does within the grid.  A plain
    crossing: the book's escape time is ``escape_time``."""
    level = check_float("level", level, lo=0.0, lo_open=True)
    alpha, eps = np.asarray(alpha, dtype=np.float64), np.asarray(eps, dtype=np.float64)
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
    """The plateau of a learning curve as measured on it (``measure_plateau``): its flattest
    point (alpha_p, eps_p, local slope there), the escape time alpha_esc (nan when not
    reached on the grid) and ``at_start``: the flattest point is where the search opens.  Compare ``twolayer.theory.plateau.Plateau``, the fixed point."""

    alpha_p: float
    eps_p: float
    slope_p: float
    alpha_esc: float
    at_start: bool = False


#: The plateau is looked for once the curve has fallen below this fraction of its first value
#: (so that the flat start of a slow run, before the student has moved, is not taken for it).
START_DROP = 0.9


def measure_plateau(alpha, eps, *, alpha_min: float = 1.0, eps_min: float = 1e-3) -> CurvePlateau:
    """The plateau and the escape of one curve: the book's one definition (contributor notes,
    "Measured quantities"; chapter "The symmetric plateau").

    The candidates are the grid points with alpha >= ``alpha_min``, after the curve first fell
    below ``START_DROP`` times its first value and before it first falls below ``eps_min``.  The
    plateau is the flattest candidate (smallest |d ln eps / d ln alpha|, centred differences);
    eps_p is the curve's value there, and the escape time the
    first alpha after it with eps < eps_p / 2 (interpolated in ln alpha, ln eps; nan when the
    curve does not fall that far on the grid).  ``at_start`` flags a curve whose flattest
    candidate is the first one: it steepens from the window's start on, a shoulder at best.

    Parameters
    ----------
    alpha, eps : the grid (P,) and one curve (P,)
    alpha_min, eps_min : the window of candidates; ``eps_min`` must lie above any late floor of
        the curve (label noise, untrained directions)

    Returns
    -------
    CurvePlateau; raises ValueError when no grid point lies in the window."""
    alpha, eps = np.asarray(alpha, dtype=np.float64), np.asarray(eps, dtype=np.float64)
    slope = local_slope(alpha, np.maximum(eps, 1e-300))
    s = np.where(np.isfinite(slope), np.abs(slope), np.inf)
    started = np.maximum.accumulate(eps < START_DROP * eps[0])
    cand = np.flatnonzero((alpha >= alpha_min) & started & (np.minimum.accumulate(eps) > eps_min))
    if not cand.size:
        raise ValueError("no point with alpha >= alpha_min before eps falls below eps_min")
    i = cand[np.argmin(s[cand])]
    return CurvePlateau(float(alpha[i]), float(eps[i]), float(slope[i]),
                        first_below(alpha, eps, 0.5 * float(eps[i]), after=float(alpha[i])),
                        at_start=bool(i == cand[0] and cand.size > 1))


def escape_time(alpha, eps, *, alpha_min: float = 1.0, eps_min: float = 1e-3):
    """The escape time of ``measure_plateau`` (the book's one definition) for one curve (P,), a
    float, or for each row of (S, P), an array; nan where the curve has no plateau window or
    does not fall below half its plateau height on the grid."""
    eps = np.asarray(eps, dtype=np.float64)
    esc = [_plateau_or_none(alpha, e, alpha_min, eps_min) for e in np.atleast_2d(eps)]
    out = np.array([float("nan") if pl is None else pl.alpha_esc for pl in esc])
    return float(out[0]) if eps.ndim == 1 else out


def _plateau_or_none(alpha, eps, alpha_min: float, eps_min: float) -> CurvePlateau | None:
    """``measure_plateau``, or None for a curve with no point in the search window."""
    try:
        return measure_plateau(alpha, eps, alpha_min=alpha_min, eps_min=eps_min)
    except ValueError:
        return None


def paired_escape_times(alpha, eps_sim, eps_ref, alpha_ref=None, *, alpha_min: float = 1.0,
                        eps_min: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Escape times of simulations and of their noiseless references (the ODE from the same
    weights), seed by seed: the plateau is measured on the reference (``measure_plateau``), and
    the simulation escapes when it falls below half that height after the reference's flattest
    point (a single SGD curve is too rough to find its own flattest point).

    Parameters
    ----------
    alpha, eps_sim : the simulations' grid (P,) and curves (S, P) or (P,)
    eps_ref, alpha_ref : the references' curves (S, P') or (P',) and grid (default ``alpha``)

    Returns
    -------
    (simulation, reference) escape times, each (S,); nan where not reached on the grid."""
    alpha_ref = alpha if alpha_ref is None else alpha_ref
    sim, ref = np.atleast_2d(eps_sim), np.atleast_2d(eps_ref)
    out_s, out_r = [], []
    for e_s, e_r in zip(sim, ref):
        pl = _plateau_or_none(alpha_ref, e_r, alpha_min, eps_min)
        out_r.append(float("nan") if pl is None else pl.alpha_esc)
        out_s.append(float("nan") if pl is None else first_below(alpha, e_s, 0.5 * pl.eps_p, after=pl.alpha_p))
    return np.array(out_s), np.array(out_r)


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


def run_end(alpha, eps, level: float, factor: float = 1.5) -> float:
    """Where a run that is to end with its specialisation phase stops: ``factor`` times the
    first grid alpha at which the curve falls below ``level`` (the last alpha if it never does),
    at most the last alpha.  Chapter "The symmetric plateau" (paper Fig. 5 and the escape-time grid,
    ``level = eps_p / 20``).

    Parameters
    ----------
    alpha, eps : the grid (P,) and one curve (P,), e.g. a probe run of the ODE
    level : eps level (> 0) that marks the end of the escape
    factor : how far (>= 1) beyond the first alpha below ``level`` the run continues

    Returns
    -------
    float
    """
    alpha, eps = np.asarray(alpha, dtype=np.float64), np.asarray(eps, dtype=np.float64)
    if alpha.ndim != 1 or alpha.shape != eps.shape or alpha.size < 1:
        raise ValueError("alpha and eps must be 1-d arrays of the same length >= 1")
    level = check_float("level", level, lo=0.0, lo_open=True)
    factor = check_float("factor", factor, lo=1.0)
    below = np.flatnonzero(eps < level)
    return float(min(alpha[-1], factor * alpha[below[0]])) if below.size else float(alpha[-1])


def escape_split(alpha, R, eps, level: float, R_p: float, *, grow_from: float = 10.0,
                 grow_to: float = 0.1) -> dict:
    """Split the escape time of one curve into the approach, the exponential growth of the
    student asymmetry and the tail (chapter "The symmetric plateau", section
    {ref}`sec-plateau-fig5-trend`; Eq. {eq}`eq-plateau-length`).

    The asymmetry a(alpha) (``asymmetry`` of R) starts at a_0 = a(alpha_0), the first grid point,
    and grows as a_0 exp(rate (alpha - approach)) once the unstable mode dominates; ``rate`` and
    ``approach`` come from a least-squares fit of ln a against alpha over the window from the
    first alpha with a >= ``grow_from`` * a_0 to the first with a >= ``grow_to`` * R_p.  Then

        escape = approach + growth + tail,   growth = ln(R_p / a_0) / rate,

    ``approach`` the delay before the growth sets in, ``growth`` the time the fitted exponential
    takes from a_0 to the size R_p of the plateau overlaps, and ``tail`` the rest: the fall of
    eps_g from the specialisation to ``level`` (the escape, ``first_below``).

    Parameters
    ----------
    alpha : grid (P,), increasing, starting before the asymmetry grows
    R : student-teacher overlaps of the curve, (P, K, M)
    eps : its generalisation error (P,)
    level : eps level that defines the escape (e.g. half the predicted plateau error)
    R_p : size of the plateau overlaps (e.g. mean |R_in| at the fixed point)
    grow_from, grow_to : the fit window, as above (grow_from > 1, grow_to > 0)

    Returns
    -------
    dict with ``escape`` (nan when eps never falls below ``level``), ``a0``, ``rate``,
    ``approach``, ``growth``, ``tail``, and ``eps_grown``: eps where the window closes (the
    error of the curve when the asymmetry has grown to ``grow_to`` * R_p).  Raises ValueError when the window holds fewer than
    three grid points (the asymmetry does not grow on the grid)."""
    alpha, eps = np.asarray(alpha, dtype=np.float64), np.asarray(eps, dtype=np.float64)
    a = asymmetry(R)
    if alpha.ndim != 1 or a.shape != alpha.shape or eps.shape != alpha.shape:
        raise ValueError("alpha (P,), R (P, K, M) and eps (P,) must share the grid")
    R_p = check_float("R_p", R_p, lo=0.0, lo_open=True)
    grow_from = check_float("grow_from", grow_from, lo=1.0, lo_open=True)
    grow_to = check_float("grow_to", grow_to, lo=0.0, lo_open=True)
    a0 = float(a[0])
    start = np.flatnonzero(a >= grow_from * a0)
    stop = np.flatnonzero(a >= grow_to * R_p)
    if not start.size or not stop.size or stop[0] - start[0] < 2:
        raise ValueError("the asymmetry does not grow through the fit window on this grid")
    sel = slice(start[0], stop[0] + 1)
    rate, intercept = np.polyfit(alpha[sel], np.log(a[sel]), 1)
    approach = (np.log(a0) - intercept) / rate
    growth = np.log(R_p / a0) / rate
    esc = first_below(alpha, eps, level)
    return {"escape": esc, "a0": a0, "rate": float(rate), "approach": float(approach),
            "growth": float(growth), "tail": float(esc - approach - growth),
            "eps_grown": float(eps[stop[0]])}
