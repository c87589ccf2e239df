"""Nearly degenerate spectra: when a spectrum of L clusters stops acting as L levels.

Chapter "Beyond the paper", section "Nearly degenerate spectra": every level of a power-law
spectrum split into N/L values over a relative width delta (``Config.cluster_width``); the
relaxations exp(-2 eta lambda alpha) resolve the values of level lambda from
alpha_lambda = 1 / (2 eta lambda delta) on (``spectral.resolved_levels``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..problem.checks import check_float
from ..problem.config import Config
from ..problem.spectrum import coordinate_eigenvalues, groups
from ..theory.spectral import resolved_levels

__all__ = ["cluster_resolution"]


def _first(alpha: np.ndarray, hit: np.ndarray) -> float:
    return float(alpha[np.flatnonzero(hit)[0]]) if hit.any() else float("nan")


def cluster_resolution(curves: Mapping, alpha, reference, tol: float = 0.01,
                       early: float = 100.0) -> pd.DataFrame:
    """Where clustered spectra depart from their L-level version, one row per configuration.

    Parameters
    ----------
    curves : mapping ``Config`` (with ``cluster_width`` > 0) -> its eps_g on ``alpha`` (P,)
    alpha : the common grid (P,)
    reference : eps_g of the same setting with ``cluster_width = 0`` (the L-block ODE), (P,)
    tol : the deviation |ln eps - ln eps_ref| that counts as a departure (> 0)
    early : the deviation is also reported as its maximum over alpha <= ``early``

    Returns
    -------
    DataFrame with the columns ``delta`` (cluster width), ``groups`` (of the exact block ODE),
    ``alpha_dev`` (first grid alpha with deviation > tol; nan: not on the grid), ``alpha_res``
    (first grid alpha at which more than L values are resolved; nan: not on the grid),
    ``alpha_1``, ``alpha_L`` (1 / (2 eta lambda delta) of the largest and smallest level),
    ``dev_early`` and ``L_eff_end`` (resolved values at the last alpha).
    """
    tol = check_float("tol", tol, lo=0.0, lo_open=True)
    alpha = np.asarray(alpha, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if alpha.ndim != 1 or reference.shape != alpha.shape:
        raise ValueError(f"reference must have the shape of alpha {alpha.shape}, got {reference.shape}")
    rows = []
    for c, eps in curves.items():
        if not isinstance(c, Config) or not c.cluster_width > 0:
            raise ValueError("curves must be keyed by Configs with cluster_width > 0")
        dev = np.abs(np.log(np.asarray(eps, dtype=np.float64) / reference))
        if dev.shape != alpha.shape:
            raise ValueError(f"every curve must have the shape of alpha {alpha.shape}, got {dev.shape}")
        L_eff = resolved_levels(coordinate_eigenvalues(c), 2 * c.eta, alpha)
        levels = groups(c.replace(cluster_width=0.0)).lam  # the L levels before the split
        rows.append({"delta": c.cluster_width, "groups": groups(c).size,
                     "alpha_dev": _first(alpha, dev > tol), "alpha_res": _first(alpha, L_eff > c.L),
                     "alpha_1": 1.0 / (2 * c.eta * levels.max() * c.cluster_width),
                     "alpha_L": 1.0 / (2 * c.eta * levels.min() * c.cluster_width),
                     "dev_early": float(dev[alpha <= early].max()), "L_eff_end": int(L_eff[-1])})
    return pd.DataFrame(rows)
