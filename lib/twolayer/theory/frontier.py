"""The compute frontier of the linear network: the best error for a compute budget.

Chapter "Scaling laws at fixed compute" (``chapters/07_compute.md``).  Compute counts the
trained parameters touched per sample, C = P K N_l with P = alpha N samples (Eq.
{eq}`eq-cmp-budget`): a student with N_l trained input directions and K hidden units trained for
alpha = C / (N K N_l).  (Counting the N input reads of every sample instead, C' = P N, makes the
cost independent of N_l, and training every direction is then always optimal: no trade-off.)

For eps ~ a N_l^{-beta} + b alpha^{-beta/(1+beta)} the optimum at fixed C is (Eq.
{eq}`eq-cmp-exponents`) N_l* ~ C^{1/(2+beta)}, P* ~ C^{(1+beta)/(2+beta)},
eps* ~ C^{-beta/(2+beta)} (``asymptotic_exponents``).  ``exact_frontier`` minimises the full
closed form (``linear.exact_curve``: finite L = N, finite eta with its O(eta^2) term, the mean
initial errors) over the candidate N_l at every budget (Eq. {eq}`eq-cmp-frontier`), and
``frontier_window`` is the chapter's rule for where the asymptotic exponents may be fitted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..problem.checks import check_bool, check_constant_rate, check_float, check_int
from ..problem.config import Config
from . import linear

__all__ = ["asymptotic_exponents", "budget_alpha", "candidate_grid", "compute_curves", "envelope",
           "exact_frontier", "frontier_window"]

COLUMNS = ["C", "n_trainable", "alpha", "samples", "eps"]


def asymptotic_exponents(beta: float) -> dict:
    """The exponents of the compute-optimal frontier of Eq. {eq}`eq-cmp-exponents`.

    Parameters
    ----------
    beta : the spectral exponent, > 0

    Returns
    -------
    dict with ``n_trainable`` = 1/(2+beta) (N_l*), ``samples`` = (1+beta)/(2+beta) (P*) and
    ``eps`` = -beta/(2+beta) (eps*), the exponents of C.
    """
    beta = check_float("beta", beta, lo=0.0, lo_open=True)
    return {"n_trainable": 1.0 / (2.0 + beta), "samples": (1.0 + beta) / (2.0 + beta),
            "eps": -beta / (2.0 + beta)}


def _budgets(budgets) -> np.ndarray:
    c = np.atleast_1d(np.asarray(budgets, dtype=np.float64))
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("budgets must be a non-empty 1-d array of finite compute budgets > 0")
    return np.unique(c)


def budget_alpha(budget, N: int, K: int, n_trainable) -> np.ndarray:
    """alpha = C / (N K N_l): the training time a budget C buys (Eq. {eq}`eq-cmp-budget`).

    Parameters
    ----------
    budget : compute budget(s) C > 0 (broadcast against ``n_trainable``)
    N, K : input dimension and hidden units of the student (integers >= 1)
    n_trainable : trained input directions N_l >= 1

    Returns
    -------
    numpy array of alpha
    """
    N = check_int("N", N, 1)
    K = check_int("K", K, 1)
    c = np.asarray(budget, dtype=np.float64)
    n = np.asarray(n_trainable, dtype=np.float64)
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("budget must be finite and > 0")
    if not np.all(np.isfinite(n)) or np.any(n < 1):
        raise ValueError("n_trainable must be finite and >= 1")
    return c / (N * K * n)


def candidate_grid(N: int, n_max: int | None = None, ratio: float = 1.05) -> np.ndarray:
    """The candidate N_l of a frontier: every integer up to 20, then a geometric grid of the
    given ratio up to ``n_max`` (default N; N itself always included when n_max = N).

    Parameters
    ----------
    N : input dimension (integer >= 1)
    n_max : largest candidate, in [1, N]
    ratio : ratio of neighbouring candidates above 20, > 1 (1.05: a 5 % staircase in N_l*)

    Returns
    -------
    sorted unique integers
    """
    N = check_int("N", N, 1)
    n_max = N if n_max is None else check_int("n_max", n_max, 1, N)
    ratio = check_float("ratio", ratio, lo=1.0, lo_open=True, hi=10.0)
    small = np.arange(1, min(20, n_max) + 1)
    big = np.geomspace(20, n_max, max(2, int(np.ceil(np.log(max(n_max, 21) / 20) / np.log(ratio))) + 1))
    grid = np.unique(np.concatenate([small, np.round(big[big <= n_max]).astype(int), [n_max]]))
    return grid[(grid >= 1) & (grid <= n_max)]


def _check_linear_config(config):
    if not isinstance(config, Config):
        raise ValueError(f"config must be a Config, got {type(config).__name__}")
    if config.activation != "linear" or config.K != 1 or config.M != 1:
        raise ValueError("the exact frontier needs the linear network with K = M = 1 "
                         f"(got activation={config.activation_name!r}, K={config.K}, M={config.M})")


def _candidates(config, n_trainable):
    if n_trainable is None:
        return candidate_grid(config.N)
    n = np.unique(np.atleast_1d(np.asarray(n_trainable)))
    if n.size == 0 or not np.all([float(x).is_integer() for x in n]) or n.min() < 1 or n.max() > config.N:
        raise ValueError(f"n_trainable must hold integers in [1, N={config.N}]")
    return n.astype(int)


def compute_curves(config: Config, budgets, *, n_trainable=None, eta2: bool = True) -> pd.DataFrame:
    """eps(C) of every candidate N_l at the given budgets, from the exact closed form.

    ``linear.exact_curve(config.replace(trainable=N_l), alpha, init="mean")`` at
    alpha = C / (N N_l) (Eq. {eq}`eq-cmp-budget`): finite L = N, finite eta (with the O(eta^2)
    term unless ``eta2=False``), expected initial errors.  One eigendecomposition of size N_l
    per candidate.

    Parameters
    ----------
    config : linear network, K = M = 1 (its ``trainable`` is ignored)
    budgets : compute budgets C > 0
    n_trainable : candidate N_l (integers in [1, N]); default ``candidate_grid(N)``
    eta2 : keep the O(eta^2) term

    Returns
    -------
    DataFrame with columns C, n_trainable, alpha, samples (= alpha N), eps; one row per
    (budget, candidate)
    """
    check_constant_rate(config, "the compute frontier (compute_curves)")
    _check_linear_config(config)
    c = _budgets(budgets)
    eta2 = check_bool("eta2", eta2)
    cands = _candidates(config, n_trainable)
    em = linear.eta_max(config.replace(trainable=int(cands.max())))
    if config.eta >= em:
        raise ValueError(f"eta must be < eta_max = {em:.4g} of the largest candidate N_l = {cands.max()}, "
                         f"got {config.eta}")
    parts = []
    for n in cands:
        a = budget_alpha(c, config.N, 1, n)
        eps = linear.exact_curve(config.replace(trainable=int(n)), a, init="mean", eta2=eta2).eps_g[0]
        parts.append(pd.DataFrame({"C": c, "n_trainable": int(n), "alpha": a, "samples": a * config.N,
                                   "eps": eps}))
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def envelope(curves: pd.DataFrame) -> pd.DataFrame:
    """The lower envelope of a long table of eps(C, N_l): at every budget C the row of smallest
    eps (ties: the smaller N_l).  Rows with a non-finite eps are ignored.

    Parameters
    ----------
    curves : DataFrame with columns C, n_trainable, alpha, samples, eps

    Returns
    -------
    DataFrame with the same columns, one row per budget, sorted by C
    """
    if not isinstance(curves, pd.DataFrame) or not set(COLUMNS) <= set(curves.columns):
        raise ValueError(f"curves must be a DataFrame with the columns {COLUMNS}")
    ok = curves[np.isfinite(curves["eps"].to_numpy(dtype=float))]
    if ok.empty:
        raise ValueError("curves holds no finite eps")
    ok = ok.sort_values(["C", "eps", "n_trainable"], kind="mergesort")
    return ok.groupby("C", sort=True).head(1).sort_values("C").reset_index(drop=True)[COLUMNS]


def exact_frontier(config: Config, budgets, *, n_trainable=None, eta2: bool = True) -> pd.DataFrame:
    """The compute-optimal frontier of the linear network from the exact closed form (Eq.
    {eq}`eq-cmp-frontier`): at every budget C the N_l minimising eps(C / (N N_l), N_l).

    Parameters
    ----------
    config : linear network, K = M = 1, usually L = N (its ``trainable`` is ignored)
    budgets : compute budgets C = P N_l > 0
    n_trainable : candidate N_l (integers in [1, N]); default ``candidate_grid(N)``; pass
        ``range(1, N + 1)`` for the brute-force minimum over every integer
    eta2 : keep the O(eta^2) term of the closed form

    Returns
    -------
    DataFrame with columns C, n_trainable (N_l*), alpha, samples (P* = alpha N), eps (eps*),
    one row per budget
    """
    check_constant_rate(config, "the compute frontier (exact_frontier)")
    return envelope(compute_curves(config, budgets, n_trainable=n_trainable, eta2=eta2))


def frontier_window(frontier: pd.DataFrame, N: int, beta: float, *, n_min: int = 8,
                    finite_l: float = 0.1) -> tuple[float, float]:
    """The budgets over which the asymptotic exponents are fitted (the chapter's rule, Eq.
    {eq}`eq-cmp-window`): N_l* >= n_min (a power law in N_l, not its first few levels) and
    (N_l*/N)^beta <= finite_l (the finite-L correction of the frozen error, N_l^{-beta} - N^{-beta},
    at most that fraction).

    Parameters
    ----------
    frontier : DataFrame with columns C and n_trainable (``exact_frontier`` or a measured one)
    N : input dimension (= L)
    beta : spectral exponent > 0
    n_min : smallest N_l* in the window (integer >= 1)
    finite_l : largest finite-L correction, in (0, 1)

    Returns
    -------
    (C_lo, C_hi), the smallest and largest budget that satisfy both conditions (ValueError when
    fewer than three do)
    """
    N = check_int("N", N, 1)
    beta = check_float("beta", beta, lo=0.0, lo_open=True)
    n_min = check_int("n_min", n_min, 1)
    finite_l = check_float("finite_l", finite_l, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    if not isinstance(frontier, pd.DataFrame) or not {"C", "n_trainable"} <= set(frontier.columns):
        raise ValueError("frontier must be a DataFrame with the columns C and n_trainable")
    n = frontier["n_trainable"].to_numpy(dtype=float)
    ok = (n >= n_min) & ((n / N) ** beta <= finite_l)
    if ok.sum() < 3:
        raise ValueError(f"fewer than three budgets satisfy N_l* >= {n_min} and (N_l*/N)^beta <= {finite_l}")
    c = frontier["C"].to_numpy(dtype=float)[ok]
    return float(c.min()), float(c.max())
