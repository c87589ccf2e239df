"""Agreement of paired runs: online SGD against the block ODE from the same initial weights,
configuration by configuration.

Chapter "Beyond the paper" (``chapters/06_beyond.md``): each section sweeps a list of
configurations both ways (``paired_sweep``: ``tl.sweep(configs, method=("sgd", "ode"),
alpha=alpha_grids(...))``, paired per configuration by ``paired_results``) and tabulates their
agreement (``agreement``): the seed mean of max |Delta ln eps_g| over alpha >= 1 and the escape
times of both, SGD read at the level of the ODE from the same weights
(``paired_escape_times``, the book's one escape-time definition).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..problem.config import Config
from ..problem.trajectory import alpha_grid
from .paired import Paired

__all__ = ["agreement", "alpha_grids", "paired_results", "paired_sweep"]


def alpha_grids(configs, alpha_max, points: int = 120, alpha_min: float | None = None) -> dict:
    """One log-spaced grid of whole SGD steps per configuration (``alpha_grid`` at its ``N``).

    Parameters
    ----------
    configs : list of ``Config``
    alpha_max : float, or a mapping configuration -> float (each configuration's run length)
    points : grid points per curve (>= 2)
    alpha_min : the grid's first alpha (default one step, 1/N)

    Returns
    -------
    dict configuration -> grid (P,), as ``tl.sweep(..., alpha=...)`` takes it
    """
    configs = list(configs)
    if not configs or not all(isinstance(c, Config) for c in configs):
        raise ValueError("configs must be a non-empty list of Configs")
    if isinstance(alpha_max, Mapping):
        missing = [c for c in configs if c not in alpha_max]
        if missing:
            raise ValueError(f"alpha_max must name every configuration; {len(missing)} missing")
        return {c: alpha_grid(alpha_max[c], points, c.N, alpha_min=alpha_min, batch=c.batch) for c in configs}
    return {c: alpha_grid(alpha_max, points, c.N, alpha_min=alpha_min, batch=c.batch) for c in configs}


def paired_results(result) -> dict:
    """The SGD and ODE runs of a sweep with ``method=("sgd", "ode")``, paired per configuration.

    Parameters
    ----------
    result : a ``tl.sweep`` result (anything with ``configs`` and ``trajectory(config, method)``)

    Returns
    -------
    dict configuration -> ``Paired`` (sgd, ode), in the sweep's grid order
    """
    if not hasattr(result, "configs") or not hasattr(result, "trajectory"):
        raise ValueError("result must be a sweep result (with configs and trajectory(config, method))")
    return {c: Paired(result.trajectory(c, "sgd"), result.trajectory(c, "ode")) for c in result.configs}


def _finite_mean(x: np.ndarray) -> float:
    ok = np.isfinite(x)
    return float(np.mean(x[ok])) if ok.any() else float("nan")


def agreement(pairs: Mapping, fields=(), window=(1.0, np.inf)) -> pd.DataFrame:
    """How closely SGD follows the block ODE from the same weights, one row per configuration.

    Parameters
    ----------
    pairs : mapping configuration -> ``Paired`` (e.g. from ``paired_results``)
    fields : ``Config`` fields to lead the table with (the ones the configurations vary)
    window : the alpha range of the deviation (default alpha >= 1, after the initial drop)

    Returns
    -------
    DataFrame with the columns ``fields`` and
    ``esc_ode``, ``esc_sgd``: seed means of the escape times (``Paired.escape_times``) over the
    seeds that escape on the grid (nan: none does);
    ``ratio``: seed mean of esc_sgd / esc_ode over the seeds that escape in both (nan: none);
    ``dev``: seed mean of max |ln eps_sgd - ln eps_ode| over ``window``;
    ``end_ode``, ``end_sgd``: the seed-mean eps_g at the last grid point.
    """
    if not isinstance(pairs, Mapping) or not pairs:
        raise ValueError("pairs must be a non-empty mapping configuration -> Paired")
    fields = tuple(fields)
    unknown = [f for f in fields if f not in Config.field_names()]
    if unknown:
        raise ValueError(f"fields must be Config fields; unknown: {unknown}")
    rows = []
    for c, pr in pairs.items():
        if not isinstance(pr, Paired):
            raise ValueError(f"pairs must map to Paired, got {type(pr).__name__}")
        a_s, a_o = pr.escape_times()
        ok = np.isfinite(a_s) & np.isfinite(a_o)
        rows.append({**{f: getattr(c, f) for f in fields},
                     "esc_ode": _finite_mean(a_o), "esc_sgd": _finite_mean(a_s),
                     "ratio": float(np.mean(a_s[ok] / a_o[ok])) if ok.any() else float("nan"),
                     "dev": float(pr.deviation(window=window).mean()),
                     "end_ode": float(pr.ode.mean()[-1]), "end_sgd": float(pr.sgd.mean()[-1])})
    return pd.DataFrame(rows)
