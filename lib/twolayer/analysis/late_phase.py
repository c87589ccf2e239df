"""The late phase against its predictions: the expected teacher's time scales and the fitted
late exponent of eps_g.

Chapter "The published version" (``chapters/05_published.md``): the plateau and escape rate of
the expected teacher next to the power-law window of the specialised fixed point
(``expected_timescales``; Eqs. {eq}`eq-plateau-rate-L` and {eq}`eq-asy-window`), and the late
exponent fitted on the ODE, on the decoupled sum S(alpha) of Eq. {eq}`eq-asy-sum` and on SGD
inside that window after the escape (``late_exponents``; the camera-ready's Fig. 6 right).
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

__all__ = ["expected_timescales", "late_exponents"]


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
                   sgd_alpha_max: float = np.inf, margin: float = 3.0, min_span: float = 2.0,
                   seed: int = 0) -> pd.DataFrame:
    """The late exponent of eps_g fitted inside the power-law window after the escape.

    For each configuration the fit window is [max(margin alpha_esc, margin alpha_lo),
    min(alpha_hi / margin, end of the run)] (margin alpha_lo alone when the ODE curve has no
    plateau, alpha_esc from ``measure_plateau``); the exponent -d ln eps / d ln alpha is fitted
    there (``fit_slope``) on the ODE of ``seed``, on the decoupled sum S(alpha) of the same seed
    and, where given, on the seed mean of SGD and on the ODE over SGD's part of the window
    (up to ``sgd_alpha_max``).  Windows narrower than ``min_span`` (ratio) are not fitted.

    Parameters
    ----------
    ode : mapping ``Config`` -> ODE ``Trajectory`` (its first row is used)
    windows : mapping ``Config`` -> (alpha_lo, alpha_hi) of Eq. {eq}`eq-asy-window`
    sgd : mapping ``Config`` -> SGD ``Trajectory`` for the configurations SGD checks
    sgd_alpha_max : where the SGD runs end
    margin, min_span : the window's margins and its smallest fitted width (> 1)
    seed : the seed of the sampled teacher of S(alpha)

    Returns
    -------
    DataFrame with one row per configuration of ``ode``: ``K``, ``M``, ``beta``, ``escape``
    (nan: no plateau), ``fit_lo``, ``fit_hi`` and ``span`` (fit_hi / fit_lo), ``ode``, ``S``,
    ``sgd``, ``sgd_ode`` (the fitted exponents; nan where not fitted) and ``law``
    (beta / (1 + beta))
    """
    margin = check_float("margin", margin, lo=1.0)
    min_span = check_float("min_span", min_span, lo=1.0, lo_open=True)
    sgd = dict(sgd or {})
    if set(windows) < set(ode) or set(sgd) - set(ode):
        raise ValueError("windows must name every configuration of ode, and sgd only those")
    rows = []
    for c, tr in ode.items():
        alpha, e = tr.alpha, tr.eps_g[0]
        esc = measure_plateau(alpha, e).alpha_esc  # nan: the curve has no plateau
        lo, hi = windows[c]
        w = (max(margin * esc, margin * lo) if np.isfinite(esc) else margin * lo, min(hi / margin, alpha[-1]))
        row = {"K": c.K, "M": c.M, "beta": c.beta, "escape": esc, "fit_lo": w[0], "fit_hi": w[1],
               "span": w[1] / w[0], "ode": np.nan, "S": np.nan, "sgd": np.nan, "sgd_ode": np.nan,
               "law": spectral.powerlaw_exponent(c.beta)}
        if w[1] >= min_span * w[0]:
            S = asy.decoupled_curve(c, alpha, seed=seed)
            row["ode"], row["S"] = -fit_slope(alpha, e, window=w), -fit_slope(alpha, S, window=w)
            if c in sgd:
                w_sgd = (w[0], min(w[1], sgd_alpha_max))
                row["sgd_ode"] = -fit_slope(alpha, e, window=w_sgd)
                row["sgd"] = -fit_slope(sgd[c].alpha, sgd[c].mean(), window=w_sgd)
        else:
            row["fit_lo"] = row["fit_hi"] = row["span"] = np.nan  # the window is closed
        rows.append(row)
    return pd.DataFrame(rows)
