"""The measured compute frontier: lower envelope of learning curves at fixed compute, and its slopes.

Chapter "Scaling laws at fixed compute" (``chapters/07_compute.md``).  A learning curve
eps(alpha) of a student with N_l trained directions and K hidden units is a curve eps(C) of the
compute C = alpha N K N_l (Eq. {eq}`eq-cmp-budget`); ``curves_from_trajectories`` makes the long
table of such curves, ``measured_frontier`` interpolates every curve in log-log at common budgets
and takes the lower envelope over N_l (Eq. {eq}`eq-cmp-frontier`), and ``fit_frontier`` fits the
log-log slopes of N_l*, P* and eps* against C over a window (``theory.frontier.frontier_window``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..problem.trajectory import Trajectory
from ..theory.frontier import COLUMNS, asymptotic_exponents, envelope
from .curves import loglog_fit

__all__ = ["compare_frontiers", "curves_at_budgets", "curves_from_trajectories", "exponent_table", "fit_frontier", "measured_frontier"]


def curves_from_trajectories(trajectories: Mapping) -> pd.DataFrame:
    """The long table of eps(C) of learning curves, one per trained dimension.

    Parameters
    ----------
    trajectories : mapping N_l -> ``Trajectory`` (SGD or ODE; the seed mean is used) of a
        configuration with that many trained directions

    Returns
    -------
    DataFrame with columns C (= alpha N K N_l), n_trainable, alpha, samples (= alpha N), eps;
    grid points with alpha = 0 are left out
    """
    if not isinstance(trajectories, Mapping) or not trajectories:
        raise ValueError("trajectories must be a non-empty mapping N_l -> Trajectory")
    parts = []
    for n_l, traj in trajectories.items():
        if not isinstance(traj, Trajectory):
            raise ValueError(f"trajectories[{n_l!r}] must be a Trajectory, got {type(traj).__name__}")
        cfg = traj.config
        if int(n_l) != cfg.n_trainable:
            raise ValueError(f"trajectories[{n_l!r}] trains N_l = {cfg.n_trainable} directions, not {n_l}")
        a = np.asarray(traj.alpha, dtype=np.float64)
        keep = a > 0
        a = a[keep]
        parts.append(pd.DataFrame({"C": a * cfg.N * cfg.K * int(n_l), "n_trainable": int(n_l), "alpha": a,
                                   "samples": a * cfg.N, "eps": traj.mean()[keep]}))
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def curves_at_budgets(curves: pd.DataFrame, budgets) -> pd.DataFrame:
    """Every measured curve eps(C) interpolated linearly in (ln C, ln eps) at the budgets inside
    its own range of C (outside it the curve has no value).

    Parameters
    ----------
    curves : DataFrame with columns C, n_trainable, alpha, samples, eps (``curves_from_trajectories``)
    budgets : budgets C > 0

    Returns
    -------
    DataFrame with columns C, n_trainable, alpha, samples, eps; one row per (curve, covered budget)
    """
    if not isinstance(curves, pd.DataFrame) or not set(COLUMNS) <= set(curves.columns):
        raise ValueError(f"curves must be a DataFrame with the columns {COLUMNS}")
    c = np.unique(np.atleast_1d(np.asarray(budgets, dtype=np.float64)))
    if c.size == 0 or not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("budgets must be finite and > 0")
    parts = []
    for n_l, g in curves.groupby("n_trainable", sort=True):
        g = g[(g["C"] > 0) & (g["eps"] > 0) & np.isfinite(g["eps"])].sort_values("C")
        if len(g) < 2:
            continue
        lc = np.log(g["C"].to_numpy(dtype=float))
        inside = c[(c >= g["C"].min() * (1 - 1e-12)) & (c <= g["C"].max() * (1 + 1e-12))]
        if inside.size == 0:
            continue
        x = np.log(inside)
        cols = {k: np.exp(np.interp(x, lc, np.log(g[k].to_numpy(dtype=float))))
                for k in ("alpha", "samples", "eps")}
        parts.append(pd.DataFrame({"C": inside, "n_trainable": int(n_l), **cols}))
    if not parts:
        raise ValueError("no curve covers any of the budgets")
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def measured_frontier(curves: pd.DataFrame, budgets) -> pd.DataFrame:
    """The lower envelope over N_l of measured curves eps(C) at common budgets (Eq.
    {eq}`eq-cmp-frontier`).

    Every curve is interpolated linearly in (ln C, ln eps) at the budgets inside its own range of
    C (``curves_at_budgets``; outside it the curve does not compete); at every budget the N_l of
    smallest eps wins.

    Parameters
    ----------
    curves : DataFrame with columns C, n_trainable, alpha, samples, eps (``curves_from_trajectories``)
    budgets : budgets C > 0 at which to evaluate the envelope

    Returns
    -------
    DataFrame with columns C, n_trainable (argmin N_l), alpha, samples, eps; one row per budget
    that at least one curve covers
    """
    return envelope(curves_at_budgets(curves, budgets))


def fit_frontier(frontier: pd.DataFrame, window=None) -> dict:
    """Log-log slopes of a frontier against C over a window of budgets.

    Parameters
    ----------
    frontier : DataFrame with columns C, n_trainable, samples, eps (``exact_frontier``,
        ``measured_frontier``)
    window : (C_lo, C_hi), inclusive (e.g. ``theory.frontier.frontier_window``); None: all rows

    Returns
    -------
    dict with the fitted exponents ``n_trainable`` (N_l*), ``samples`` (P*), ``eps`` (eps*) and
    ``points``, the number of budgets in the window
    """
    if not isinstance(frontier, pd.DataFrame) or not {"C", "n_trainable", "samples", "eps"} <= set(frontier.columns):
        raise ValueError("frontier must be a DataFrame with the columns C, n_trainable, samples, eps")
    c = frontier["C"].to_numpy(dtype=float)
    sel = np.ones(c.size, dtype=bool)
    if window is not None:
        lo, hi = (float(w) for w in window)
        if not (0 < lo <= hi):
            raise ValueError(f"window must be (C_lo, C_hi) with 0 < C_lo <= C_hi, got {window}")
        sel = (c >= lo * (1 - 1e-12)) & (c <= hi * (1 + 1e-12))
    if sel.sum() < 3:
        raise ValueError(f"fewer than three budgets in the window {window}")
    out = {k: loglog_fit(c[sel], frontier[k].to_numpy(dtype=float)[sel])[0]
           for k in ("n_trainable", "samples", "eps")}
    out["points"] = int(sel.sum())
    return out


#: The quantities of ``exponent_table`` as the book prints them (TeX between dollars).
QUANTITIES = {"n_trainable": "$N_l^*$", "samples": "$P^*$", "eps": "$\\epsilon^*$"}


def exponent_table(cases, quantities=("n_trainable", "eps")) -> pd.DataFrame:
    """Fitted against predicted exponents of frontiers (the chapter's table, Eq.
    {eq}`eq-cmp-exponents`), one row per (case, quantity).

    Parameters
    ----------
    cases : iterable of dicts with keys ``model`` (a label), ``beta``, ``frontier`` (DataFrame
        with columns C, n_trainable, samples, eps) and ``window`` ((C_lo, C_hi) or None)
    quantities : among ``n_trainable``, ``samples``, ``eps``

    Returns
    -------
    DataFrame with columns model, beta, quantity (N_l*, P*, eps*, as TeX labels: ``QUANTITIES``),
    window (the budgets, as text with TeX: ``"$C$ in [1e+03, 1e+06]"``), predicted
    (``asymptotic_exponents``), fitted (``fit_frontier``)
    """
    bad = [q for q in quantities if q not in QUANTITIES]
    if bad or not quantities:
        raise ValueError(f"quantities must be among {sorted(QUANTITIES)}, got {list(quantities)}")
    rows = []
    for case in cases:
        if not isinstance(case, Mapping) or not {"model", "beta", "frontier", "window"} <= set(case):
            raise ValueError("every case must be a dict with the keys model, beta, frontier, window")
        fit = fit_frontier(case["frontier"], case["window"])
        pred = asymptotic_exponents(case["beta"])
        c = case["frontier"]["C"]
        lo, hi = case["window"] if case["window"] is not None else (c.min(), c.max())
        for q in quantities:
            rows.append({"model": str(case["model"]), "beta": float(case["beta"]), "quantity": QUANTITIES[q],
                         "window": f"$C$ in [{lo:.2g}, {hi:.2g}]", "predicted": pred[q], "fitted": fit[q]})
    if not rows:
        raise ValueError("cases is empty")
    return pd.DataFrame(rows, columns=["model", "beta", "quantity", "window", "predicted", "fitted"])


def compare_frontiers(pairs: Mapping, key: str = "case") -> pd.DataFrame:
    """Measured frontiers against reference frontiers at the same budgets (e.g. SGD against
    theory from the same initial weights), one row per pair.

    Parameters
    ----------
    pairs : mapping label -> dict with ``sim`` and ``theory``, frontiers (DataFrames with columns
        C, n_trainable, eps) evaluated at the same budgets
    key : name of the label column

    Returns
    -------
    DataFrame with columns key, budgets, median and max |d ln eps*| (of |ln(eps*_sim / eps*_theory)|),
    same N_l* (fraction of budgets with the same optimal N_l), max N_l* ratio (largest
    max(a/b, b/a) of the two optimal N_l)
    """
    if not isinstance(pairs, Mapping) or not pairs:
        raise ValueError("pairs must be a non-empty mapping label -> {'sim': frontier, 'theory': frontier}")
    rows = []
    for label, pair in pairs.items():
        sim, th = pair["sim"], pair["theory"]
        if not np.array_equal(sim["C"].to_numpy(), th["C"].to_numpy()):
            raise ValueError(f"pairs[{label!r}]: the two frontiers must share their budgets")
        ns, nt = sim["n_trainable"].to_numpy(dtype=float), th["n_trainable"].to_numpy(dtype=float)
        d = np.abs(np.log(sim["eps"].to_numpy() / th["eps"].to_numpy()))
        rows.append({key: label, "budgets": int(len(sim)), "median |d ln eps*|": float(np.median(d)),
                     "max |d ln eps*|": float(d.max()),
                     "same N_l*": float(np.mean(ns == nt)),
                     "max N_l* ratio": float(np.max(np.maximum(ns / nt, nt / ns)))})
    return pd.DataFrame(rows)
