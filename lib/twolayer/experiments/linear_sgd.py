"""Online SGD of the linear network against its exact solution from the same initial weights.

Chapter "Linear activation" (``chapters/01_linear.md``), section "Paper Fig. 2 (right)":
the deviation over the power-law window, the fitted exponents (Eqs. {eq}`eq-lin-powerlaw`,
{eq}`eq-lin-continuum`) and the predicted scatter of single runs (Eq. {eq}`eq-lin-quasi`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.curves import fit_slope, log_deviation
from ..engines.sgd import simulate
from ..problem.checks import check_seeds
from ..problem.config import Config
from ..problem.spectrum import groups
from ..problem.trajectory import Trajectory
from ..theory import linear as lin
from ..theory.spectral import powerlaw_exponent

__all__ = ["LinearRun", "linear_vs_sgd"]


@dataclass(frozen=True)
class LinearRun:
    """SGD runs of the linear network and the exact solution from each run's initial weights,
    on the same grid; ``window`` is the power-law window (alpha_1, alpha_L) of ``config``."""

    config: Config
    sgd: Trajectory
    theory: Trajectory
    window: tuple

    def summary(self) -> dict:
        """The setting and how SGD follows the theory, keyed by table headers (TeX in dollars):
        ``$N = L$``, ``$\\eta$``, ``seeds``; ``max $|\\Delta\\ln\\epsilon_g|$``, the largest
        |ln eps_sgd - ln eps_theory| of the seed means over [10 alpha_1, alpha_L]; the exponents
        fitted over the inner window [10 alpha_1, alpha_L / 10] to SGD (``fit sgd``), the exact
        solution (``fit theory``) and the finite-L continuum law (``fit continuum``); and the
        asymptotic exponent ``$-\\beta/(1+\\beta)$``."""
        c, a, (a1, aL) = self.config, self.sgd.alpha, self.window
        sgd, th = self.sgd.mean(), self.theory.mean()
        fits = [fit_slope(a, y, (10 * a1, aL / 10)) for y in (sgd, th, lin.continuum_curve(c, a))]
        return {"$N = L$": c.N, "$\\eta$": c.eta, "seeds": self.sgd.n_seeds,
                "max $|\\Delta\\ln\\epsilon_g|$": log_deviation(sgd, th, a, (10 * a1, aL)),
                "fit sgd": fits[0], "fit theory": fits[1], "fit continuum": fits[2],
                "$-\\beta/(1+\\beta)$": -powerlaw_exponent(c.beta)}

    def scatter(self) -> dict:
        """The scatter of single runs about their theory over [100 alpha_1, alpha_L]: ``share of
        the top coordinate`` of eps_g, eta lambda_+ / 2N; the ``predicted rms`` of ln eps_g,
        (eta / 2) (2 sum_l f_l^2 lambda_l^2)^(1/2); and the ``measured rms (per seed)``, the rms
        over the window of ln eps_sgd - ln eps_theory, averaged over the seeds."""
        c, (a1, aL) = self.config, self.window
        grp = groups(c)
        rms = log_deviation(self.sgd.eps_g, self.theory.eps_g, self.sgd.alpha, (100 * a1, aL),
                            reduce="rms")
        return {"share of the top coordinate": c.eta * grp.lam[0] / (2 * c.N),
                "predicted rms": c.eta / 2 * np.sqrt(2 * np.sum((grp.lam * grp.frac) ** 2)),
                "measured rms (per seed)": float(np.mean(rms))}


def linear_vs_sgd(config: Config, alpha, seeds) -> LinearRun:
    """Online SGD of the linear network (g(x) = x, K = M = 1) for every seed, and the exact
    solution (``theory.linear.exact_curve``) from each seed's initial weights.

    Parameters
    ----------
    config : a linear setting with K = M = 1
    alpha : the grid of alpha (whole SGD steps, ``alpha_grid``)
    seeds : the seeds of the runs

    Returns
    -------
    LinearRun (``summary()`` and ``scatter()`` give the comparisons as numbers)
    """
    if not isinstance(config, Config) or config.activation != "linear" or config.K != 1 or config.M != 1:
        raise ValueError("config must be a linear Config with K = M = 1")
    seeds = check_seeds(seeds)
    sgd = simulate(config, alpha, seeds=seeds)
    theory = lin.exact_curve(config, alpha, seeds=seeds)
    return LinearRun(config, sgd, theory, tuple(lin.powerlaw_window(config)))
