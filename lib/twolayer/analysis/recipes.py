"""Scans over training recipes of the linear network and their tables: late exponents under a
power decay, the error at a sample budget per schedule and peak eta, the samples a mini-batch
needs to reach a target, and the compute frontier with a tuned learning rate.

Chapter "Training recipes" (``chapters/08_recipes.md``).  Everything is computed from
``twolayer.theory.recipes`` (the exact finite-N recursion or its N -> infinity ODE).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..problem.config import Config
from ..problem.divergence import DivergenceError
from ..problem.trajectory import alpha_grid
from ..theory import recipes as rth
from ..problem.spectrum import groups
from .curves import fit_slope
from .events import first_below

__all__ = ["batch_scan", "budget_scan", "critical_batch", "power_decay_scan", "tuned_frontier"]


def power_decay_scan(base: Config, betas, powers, *, a0: float, window=(10.0, 0.1), points: int = 80,
                     per_decade: int = 40) -> pd.DataFrame:
    """Predicted and fitted late exponents of eps_g under f = (1 + alpha/A0)^-P (Eq.
    {eq}`eq-rec-kappa`), from the N -> infinity ODE (``ode_limit_curve``, mean initial errors).

    The fit window in the accumulated rate tau lies inside the power-law window of the constant
    rate, tau in [w0 / (2 eta_s lambda_+), w1 / (2 eta_s lambda_L)] (``window`` = (w0, w1)), mapped
    to alpha by the schedule and opened only at alpha >= 10 A0 (where f is a power law).

    Parameters
    ----------
    base : linear Config (K = M = 1; its beta and schedule are replaced, its noise kept)
    betas, powers : spectral exponents and decay exponents P < 1
    a0 : A0 of the schedule
    window : (w0, w1) of the tau window
    points : grid points of each curve in the window
    per_decade : integration points per decade

    Returns
    -------
    DataFrame with columns beta, P, predicted (the late exponent), two_term (the slope of
    ``two_term_curve`` over the window), fitted, alpha_lo, alpha_hi (nan where the window is
    closed)."""
    rows = []
    noisy = base.noise > 0
    for beta in betas:
        for P in powers:
            cfg = base.replace(beta=float(beta), schedule=f"power:{float(P)!r}:{float(a0)!r}")
            grp = groups(cfg)
            eta_s = cfg.eta / cfg.batch
            t_lo = window[0] / (2 * eta_s * float(grp.lam.max()))
            t_hi = window[1] / (2 * eta_s * float(grp.lam.min()))
            lo = max(float(rth.time_changed(cfg, t_lo)), 10.0 * a0)
            hi = float(rth.time_changed(cfg, t_hi))
            pred = rth.power_decay_exponent(float(beta), float(P), noise=noisy)
            fit = two = np.nan
            if np.isfinite(hi) and hi > 3 * lo:
                a = np.geomspace(lo, hi, points)
                e = rth.ode_limit_curve(cfg, a, init="mean", per_decade=per_decade).eps_g[0]
                fit = -fit_slope(a, e)
                two = -fit_slope(a, rth.two_term_curve(cfg, a))
            rows.append(dict(beta=float(beta), P=float(P), predicted=pred, two_term=two, fitted=fit,
                             alpha_lo=lo, alpha_hi=hi))
    return pd.DataFrame(rows)


def budget_scan(base: Config, schedules, etas, budget: float, *, seeds=None) -> pd.DataFrame:
    """The error at a sample budget alpha = ``budget`` for every schedule SPEC and peak eta, from
    the exact finite-N recursion (``recursion_curve``; mean initial errors, or the mean over
    ``seeds``' initial weights); inf where the run diverges.

    Parameters
    ----------
    base : linear Config (K = M = 1)
    schedules : SPEC strings
    etas : peak learning rates
    budget : alpha at the end of the run
    seeds : None for the mean initial errors, else the seeds to average over

    Returns
    -------
    DataFrame with columns schedule, eta, eps."""
    rows = []
    a = alpha_grid(budget, 2, base.N, alpha_min=budget / 2, batch=base.batch)
    for spec in schedules:
        for eta in etas:
            cfg = base.replace(schedule=spec, eta=float(eta))
            try:
                tr = rth.recursion_curve(cfg, a, init="mean" if seeds is None else "sampled", seeds=seeds)
                eps = float(tr.eps_g[:, -1].mean())
            except DivergenceError:
                eps = np.inf
            rows.append(dict(schedule=spec, eta=float(eta), eps=eps if np.isfinite(eps) else np.inf))
    return pd.DataFrame(rows)


def batch_scan(base: Config, batches, etas, targets, alpha_max: float, points: int = 200) -> pd.DataFrame:
    """Samples (alpha) and steps a mini-batch needs to first reach each target error, for every
    batch B and learning rate eta (per step), from the exact finite-N recursion (mean initial
    errors); an eta at or above ``eta_max_batch`` is left out, a target not reached by
    ``alpha_max`` gives inf.

    Parameters
    ----------
    base : linear Config (K = M = 1)
    batches, etas : batch sizes and learning rates
    targets : target errors
    alpha_max : run length
    points : grid points

    Returns
    -------
    DataFrame with columns B, eta, target, alpha, steps."""
    rows = []
    for B in batches:
        cfg0 = base.replace(batch=int(B))
        top = rth.eta_max_batch(cfg0)
        a = alpha_grid(alpha_max, points, base.N, batch=int(B))
        for eta in etas:
            if eta >= top:
                continue
            try:
                e = rth.recursion_curve(cfg0.replace(eta=float(eta)), a, init="mean").eps_g[0]
            except DivergenceError:
                continue
            for t in targets:
                x = first_below(a, e, float(t))
                x = np.inf if not np.isfinite(x) else x
                rows.append(dict(B=int(B), eta=float(eta), target=float(t), alpha=x, steps=x * base.N / B))
    return pd.DataFrame(rows)


def critical_batch(scan: pd.DataFrame, tol: float = 0.1) -> pd.DataFrame:
    """The critical batch size per target (Eq. {eq}`eq-rec-bcrit`): with eta tuned for every B,
    the largest B whose samples to the target are at most (1 + ``tol``) times those of B = 1
    (the smallest batch of the scan).

    Parameters
    ----------
    scan : ``batch_scan`` output
    tol : allowed relative excess of samples

    Returns
    -------
    DataFrame with columns target, alpha_1 (samples of the smallest B), B_crit, steps_ratio (steps
    of B_crit over steps of the smallest B)."""
    best = scan.loc[scan.groupby(["target", "B"]).alpha.idxmin()]
    rows = []
    for t, g in best.groupby("target"):
        g = g.sort_values("B")
        ref = g.iloc[0]
        ok = g[g.alpha <= (1 + tol) * ref.alpha]
        top = ok.iloc[-1] if np.isfinite(ref.alpha) else ref
        rows.append(dict(target=t, alpha_1=ref.alpha, B_crit=int(top.B), steps_ratio=top.steps / ref.steps))
    return pd.DataFrame(rows)


def tuned_frontier(base: Config, budgets, n_trainable, etas, *, per_decade: int = 30) -> pd.DataFrame:
    """The compute frontier (Eq. {eq}`eq-cmp-frontier`) with the learning rate tuned as well: at
    every budget C the (N_l, eta) of smallest eps(C / (N N_l)), from the N -> infinity ODE
    (``ode_limit_curve``, mean initial errors) with ``base``'s schedule, batch and label noise.

    Parameters
    ----------
    base : linear Config (K = M = 1); its trainable and eta are replaced
    budgets : compute budgets C
    n_trainable : candidate N_l
    etas : candidate peak learning rates
    per_decade : integration points per decade

    Returns
    -------
    DataFrame with columns C, n_trainable, alpha, samples, eps, eta (one row per budget)."""
    budgets = np.asarray(budgets, dtype=np.float64)
    parts = []
    for n in n_trainable:
        a = budgets / (base.N * int(n))
        for eta in etas:
            cfg = base.replace(trainable=int(n), eta=float(eta))
            try:
                e = rth.ode_limit_curve(cfg, a, init="mean", per_decade=per_decade).eps_g[0]
            except DivergenceError:
                continue
            parts.append(pd.DataFrame(dict(C=budgets, n_trainable=int(n), alpha=a, samples=a * base.N, eps=e,
                                           eta=float(eta))))
    allc = pd.concat(parts, ignore_index=True)
    allc = allc[np.isfinite(allc.eps)].sort_values(["C", "eps", "n_trainable"], kind="mergesort")
    return allc.groupby("C", sort=True).head(1).sort_values("C").reset_index(drop=True)
