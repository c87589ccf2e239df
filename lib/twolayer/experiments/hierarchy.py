"""The paper's hierarchy form against the library's block form, from the same sampled weights.

Chapter "Order-parameter dynamics" (``chapters/00_dynamics.md``), section "The hierarchy and its
closure": Eq. {eq}`eq-dyn-hierarchy` (closed at order L) against Eq. {eq}`eq-dyn-block`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.curves import log_deviation
from ..problem.checks import check_float, check_int, check_seed
from ..problem.config import Config
from ..problem.errors import IntegrationError
from ..problem.spectrum import groups
from ..theory.hierarchy import solve_hierarchy
from ..theory.ode import solve_ode

__all__ = ["hierarchy_vs_blocks"]


def hierarchy_vs_blocks(config: Config, alpha, Ls, *, seed: int = 0, rtol: float = 1e-8) -> pd.DataFrame:
    """Integrate the hierarchy (DOP853, tolerance 1e-10) and the block form (tolerance ``rtol``)
    of ``config`` with L replaced by each of ``Ls``, both from the weights of ``seed``.

    Parameters
    ----------
    config : a setting the hierarchy accepts (full training, fixed second layers)
    alpha : the common alpha grid
    Ls : numbers of distinct eigenvalues (each >= 1)
    seed : the initial weights of both forms
    rtol : tolerance of the block form (``solve_ode``)

    Returns
    -------
    DataFrame, one row per L: ``L``; ``max |d ln eps_g|`` between the two forms; ``max rel. dev.
    R^(k)``, the largest over k <= L of max |R^(k)_blocks - R^(k)_hierarchy| / max |R^(k)_hierarchy|
    (both nan where the hierarchy's integrator gives up); ``eps_g(end)``, the block form's
    eps_g at the last grid point.
    """
    Ls = [check_int("L", L, 1) for L in np.atleast_1d(Ls)]
    seed = check_seed(seed)
    rtol = check_float("rtol", rtol, lo=1e-14, hi=0.1)
    rows = []
    for L in Ls:
        c = config.replace(L=L)
        bl = solve_ode(c, alpha, seeds=seed, rtol=rtol, keep_blocks=True)
        try:
            hi = solve_hierarchy(c, alpha, init="sampled", seed=seed)
        except (IntegrationError, ValueError):
            rows.append((L, np.nan, np.nan, bl.eps_g[0, -1]))
            continue
        lam, Rh = groups(c).lam, hi.info["Rh"]
        dev_R = max(np.max(np.abs(np.einsum("g,pgij->pij", lam**k, bl.info["r"][0]) - Rh[:, k - 1]))
                    / np.max(np.abs(Rh[:, k - 1])) for k in range(1, L + 1))
        rows.append((L, log_deviation(hi.eps_g[0], bl.eps_g[0]), dev_R, bl.eps_g[0, -1]))
    return pd.DataFrame(rows, columns=["L", "max |d ln eps_g|", "max rel. dev. R^(k)", "eps_g(end)"])
