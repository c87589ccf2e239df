"""The learning rate of the linear network: the O(eta^2) amplification and divergence.

Chapter "Linear activation" (``chapters/01_linear.md``), section "The eta^2 term and the largest
stable learning rate": Eqs. {eq}`eq-lin-sym`, {eq}`eq-lin-eta-max` and {eq}`eq-lin-eps-inf`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..engines.sgd import simulate
from ..problem.checks import check_float, check_int, check_seeds
from ..problem.config import Config
from ..problem.errors import DivergenceError
from ..problem.spectrum import groups
from ..theory import linear as lin

__all__ = ["count_diverged", "eta2_scan"]


def count_diverged(config: Config, alpha, seeds) -> int:
    """How many of ``seeds`` diverge: each seed's online SGD run (``simulate``) on its own, counted
    when it raises ``DivergenceError``.

    Parameters
    ----------
    config, alpha : as for ``simulate``
    seeds : the seeds, each run separately

    Returns
    -------
    int, between 0 and len(seeds)
    """
    n = 0
    for seed in check_seeds(seeds):
        try:
            simulate(config, alpha, seeds=seed)
        except DivergenceError:
            n += 1
    return n


def eta2_scan(config: Config, etas, *, trainable: int, eta_alpha: float = 5.0,
              long_eta_alpha: float = 1e4) -> pd.DataFrame:
    """The O(eta^2) term of the linear network (g(x) = x, K = M = 1, full training in
    ``config``) across learning rates, from the mean initial condition.

    Parameters
    ----------
    config : the full-training setting; its eta is replaced by each of ``etas``
    etas : learning rates in (0, eta_max)
    trainable : N_l of the partially trained setting (1 <= N_l < N) of the reachable error
    eta_alpha : the rescaled time eta * alpha of the ratio full / small-eta (inside the window)
    long_eta_alpha : eta * alpha of the long run that checks the reachable error

    Returns
    -------
    DataFrame, one row per eta: ``eta``; ``full/small (eta alpha=5)``, the exact solution over
    the small-eta closed form at ``eta_alpha`` (column named with its value); ``1/(1-eta/2)``,
    the quasi-equilibrium prediction 1/(1 - eta/eta_max) (Eq. {eq}`eq-lin-quasi`; eta_max = 2 for full
    training); ``slowest rate/(2 eta lam_L)``, minus the eigenvalue of S (Eq. {eq}`eq-lin-sym`) closest
    to zero over its small-eta value; ``eps_inf/eps_fr``, the reachable error with N_l =
    ``trainable`` (Eq. {eq}`eq-lin-eps-inf`) over the frozen error, and ``long run``, the exact solution
    at ``long_eta_alpha`` over the same.
    """
    trainable = check_int("trainable", trainable, 1, config.N - 1)
    eta_alpha = check_float("eta_alpha", eta_alpha, lo=0.0, lo_open=True)
    long_eta_alpha = check_float("long_eta_alpha", long_eta_alpha, lo=0.0, lo_open=True)
    etas = [check_float("eta", e, lo=0.0, lo_open=True) for e in np.atleast_1d(etas)]
    grp = groups(config)
    lam, frac = grp.lam, grp.frac
    frozen = config.replace(trainable=trainable)
    eps_fr = lin.reachable_error(frozen, eta2=False)
    rows = []
    for eta in etas:
        c, cf, a = config.replace(eta=eta), frozen.replace(eta=eta), np.array([eta_alpha / eta])
        full = lin.exact_curve(c, a, init="mean").mean()[0]
        ratio = full / lin.small_eta_curve(c, a, init="mean").mean()[0]
        S = np.diag(-2 * eta * lam) + eta**2 * np.outer(lam, lam) * np.sqrt(np.outer(frac, frac))
        slowest = -np.linalg.eigvalsh(S).max() / (2 * eta * lam[-1])
        longrun = lin.exact_curve(cf, np.array([long_eta_alpha / eta]), init="mean").mean()[0]
        rows.append((eta, ratio, 1 / (1 - eta / 2), slowest, lin.reachable_error(cf) / eps_fr,
                     longrun / eps_fr))
    return pd.DataFrame(rows, columns=["eta", f"full/small (eta alpha={eta_alpha:g})", "1/(1-eta/2)",
                                       "slowest rate/(2 eta lam_L)", "eps_inf/eps_fr", "long run"])
