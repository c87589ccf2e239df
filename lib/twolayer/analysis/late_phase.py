"""The late phase against its predictions: the expected teacher's time scales and the fitted
late exponent of eps_g.

Chapter "The published version" (``chapters/05_published.md``): the plateau and escape rate of
the expected teacher next to the power-law window of the specialised fixed point
(``expected_timescales``; Eqs. {eq}`eq-plateau-rate-L` and {eq}`eq-asy-window`), and the late
exponent fitted on the ODE, on the decoupled sum S(alpha) of Eq. {eq}`eq-asy-sum` and on SGD
inside that window after the escape (``late_exponents``; the book's version of paper Fig. 6
right), and the finite-L prediction of that exponent against beta (``decoupled_exponents``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..problem.checks import check_float
from ..problem.config import Config
from ..theory import asymptotic as asy
from ..theory import spectral
from ..theory.plateau import plateau
from .curves import fit_slope
from .events import measure_plateau

__all__ = ["decoupled_exponents", "expected_timescales", "late_exponents"]


def expected_timescales(configs, fields=("beta",)) -> pd.DataFrame:
    """The expected teacher's plateau at O(eta) and the power-law window of its specialised
    fixed point, one row per configuration.

    Parameters
    ----------
    configs : list of ``Config``
    fields : ``Config`` fields to lead the table with

    Returns
    -------
    DataFrame with the columns ``fields`` and ``eps_p``, ``sigma`` (the O(eta) escape rate,
    ``theory.plateau.plateau(eta2=False)``), ``p_min``, ``p_max`` (extreme eigenvalues of P at
    the specialised point of the expected teacher, ``init="mean"``), ``window_lo``,
    ``window_hi`` (Eq. {eq}`eq-asy-window`, ``asymptotic.powerlaw_window``)
    """
    configs = list(configs)
    if not configs or not all(isinstance(c, Config) for c in configs):
        raise ValueError("configs must be a non-empty list of Configs")
    unknown = [f for f in fields if f not in Config.field_names()]
    if unknown:
        raise ValueError(f"fields must be Config fields; unknown: {unknown}")
    rows = []
    for c in configs:
        pl = plateau(c, eta2=False)  # expected teacher, O(eta): the proportional shortcut
        p = np.linalg.eigvalsh(asy.fixed_point_P(c, init="mean"))
        lo, hi = asy.powerlaw_window(c, p)
        rows.append({**{f: getattr(c, f) for f in fields}, "eps_p": pl.eps_p, "sigma": pl.escape_rate,
                     "p_min": float(p.min()), "p_max": float(p.max()), "window_lo": lo, "window_hi": hi})
    return pd.DataFrame(rows)


def late_exponents(ode: Mapping, windows: Mapping, sgd: Mapping | None = None, *,
                   sgd_alpha_max: float = np.inf, margin: float = 3.0, min_span: float = 2.0) -> pd.DataFrame:
    """The late exponent of eps_g fitted inside the power-law window after the escape, seed by
    seed, with its mean and standard error over the seeds.

    For every seed the fit window is [max(margin alpha_esc, margin alpha_lo), min(alpha_hi /
    margin, end of the run)], with alpha_esc that seed's escape (``measure_plateau``; margin
    alpha_lo alone when its curve has no plateau).  The exponent -d ln eps / d ln alpha is fitted
    there (``fit_slope``) on the seed's ODE curve and on the decoupled sum S(alpha) of
    Eq. {eq}`eq-asy-sum` of the same seed (the finite-L prediction); seeds whose window is
    narrower than ``min_span`` (ratio) are left out.  Where SGD is given, the exponent is fitted on
    the seed mean of SGD and on the mean of the ODE over the same seeds (all, if SGD names none
    of them) over [median lower edge, min(alpha_hi / margin, ``sgd_alpha_max``)].  Chapter
    {ref}`chap-published`, the book's version of paper Fig. 6 (right).

    Parameters
    ----------
    ode : mapping ``Config`` -> ODE ``Trajectory`` with its seeds (``Trajectory.seeds``)
    windows : mapping ``Config`` -> (alpha_lo, alpha_hi) of Eq. {eq}`eq-asy-window`
    sgd : mapping ``Config`` -> SGD ``Trajectory`` for the configurations SGD checks
    sgd_alpha_max : where the SGD runs end
    margin, min_span : the window's margins and its smallest fitted width (> 1)

    Returns
    -------
    DataFrame with one row per configuration of ``ode``: ``K``, ``M``, ``beta``, ``seeds`` (the
    number of seeds fitted), ``escape`` (the median escape over all seeds; nan: no plateau),
    ``fit_lo`` (the median lower edge of the fitted seeds), ``fit_hi`` and ``span`` (fit_hi /
    fit_lo), ``ode`` and ``ode_sem`` (mean and standard error over the fitted seeds; sem nan for
    one seed), ``S`` and ``S_sem`` (the same for S), ``sgd``, ``sgd_ode`` (nan where not fitted)
    and ``law`` (beta / (1 + beta)); fit_lo to S are nan where no seed's window is open
    """
    margin = check_float("margin", margin, lo=1.0)
    min_span = check_float("min_span", min_span, lo=1.0, lo_open=True)
    sgd = dict(sgd or {})
    if set(windows) < set(ode) or set(sgd) - set(ode):
        raise ValueError("windows must name every configuration of ode, and sgd only those")
    rows = []
    for c, tr in ode.items():
        alpha, seeds = tr.alpha, tr.seeds if tr.seeds is not None else (0,) * tr.n_seeds
        lo, hi = windows[c]
        hi = min(hi / margin, alpha[-1])
        esc = np.array([measure_plateau(alpha, e).alpha_esc for e in tr.eps_g])  # nan: no plateau
        start = np.where(np.isfinite(esc), np.maximum(margin * esc, margin * lo), margin * lo)
        fits = [(a, -fit_slope(alpha, e, window=(a, hi)),
                 -fit_slope(alpha, asy.decoupled_curve(c, alpha, seed=s), window=(a, hi)))
                for a, e, s in zip(start, tr.eps_g, seeds) if hi >= min_span * a]
        row = {"K": c.K, "M": c.M, "beta": c.beta, "seeds": len(fits),
               "escape": float(np.median(esc)) if np.isfinite(esc).all() else np.nan,
               **dict.fromkeys(("fit_lo", "fit_hi", "span", "ode", "ode_sem", "S", "S_sem", "sgd",
                                "sgd_ode"), np.nan), "law": spectral.powerlaw_exponent(c.beta)}
        if fits:
            a0 = float(np.median([f[0] for f in fits]))
            row.update(fit_lo=a0, fit_hi=hi, span=hi / a0)
            row["ode"], row["ode_sem"] = _mean_sem([f[1] for f in fits])
            row["S"], row["S_sem"] = _mean_sem([f[2] for f in fits])
            if c in sgd:
                w_sgd = (a0, min(hi, sgd_alpha_max))
                same = [i for i, s in enumerate(seeds) if s in set(sgd[c].seeds or ())] or list(range(len(seeds)))
                row["sgd_ode"] = -fit_slope(alpha, tr.eps_g[same].mean(axis=0), window=w_sgd)
                row["sgd"] = -fit_slope(sgd[c].alpha, sgd[c].mean(), window=w_sgd)
        rows.append(row)
    return pd.DataFrame(rows)


def decoupled_exponents(config: Config, betas, fit_lo, seeds=(0,), *, alpha_max: float = np.inf,
                        margin: float = 3.0) -> pd.DataFrame:
    """The finite-L prediction of the late exponent as a function of beta: -d ln S / d ln alpha
    of the decoupled sum S(alpha) of Eq. {eq}`eq-asy-sum`, averaged over the sampled teachers of
    ``seeds`` and fitted on [max(fit_lo, margin alpha_lo), min(alpha_hi / margin, alpha_max)],
    with (alpha_lo, alpha_hi) the window of Eq. {eq}`eq-asy-window` of the expected teacher at
    each beta (``late_exponents`` fits the same S on each seed's window after its escape).  The
    chapter {ref}`chap-published` draws it as a curve against beta.

    Parameters
    ----------
    config : the configuration whose ``beta`` is replaced
    betas : the values of beta (n,)
    fit_lo : the lower edge of the fit, e.g. margin times a typical escape (> 0)
    seeds : the seeds of the sampled teachers
    alpha_max, margin : the end of the fit (the end of the runs) and the window's margin

    Returns
    -------
    DataFrame with the columns ``beta``, ``fit_lo``, ``fit_hi``, ``S`` (the mean exponent; nan
    where the fit range is narrower than a factor 2) and ``law`` (beta / (1 + beta))
    """
    betas = np.atleast_1d(np.asarray(betas, dtype=np.float64))
    fit_lo = check_float("fit_lo", fit_lo, lo=0.0, lo_open=True)
    margin = check_float("margin", margin, lo=1.0)
    if betas.ndim != 1 or not betas.size:
        raise ValueError("betas must be a non-empty 1-d array")
    rows = []
    for b in betas:
        c = config.replace(beta=float(b))
        lo, hi = asy.powerlaw_window(c, np.linalg.eigvalsh(asy.fixed_point_P(c, init="mean")))
        a, z = max(fit_lo, margin * lo), min(hi / margin, alpha_max)
        x = np.nan
        if z >= 2 * a:
            alpha = np.geomspace(a, z, 40)
            x = float(np.mean([-fit_slope(alpha, asy.decoupled_curve(c, alpha, seed=s)) for s in seeds]))
        rows.append({"beta": float(b), "fit_lo": a, "fit_hi": z, "S": x, "law": spectral.powerlaw_exponent(float(b))})
    return pd.DataFrame(rows)


def _mean_sem(x) -> tuple[float, float]:
    """Mean and standard error of the mean (nan for one value)."""
    x = np.asarray(x, dtype=np.float64)
    sem = float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else np.nan
    return float(x.mean()), sem
