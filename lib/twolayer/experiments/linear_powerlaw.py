"""The power law of the linear network's learning curve and what bends it at finite L.

Chapter "Linear activation" (``chapters/01_linear.md``), section "The power law and its window":
exponents fitted to the exact solution, the continuum law {eq}`eq-lin-continuum` and the
small-eta sum, against -beta/(1+beta) (Eq. {eq}`eq-lin-powerlaw`) and the centre slope
(Eq. {eq}`eq-lin-centre-slope`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.curves import fit_slope
from ..problem.checks import check_float, check_int
from ..problem.config import Config
from ..theory import linear as lin
from ..theory.spectral import centre_slope, powerlaw_exponent

__all__ = ["LinearPowerlaw", "linear_powerlaw"]


@dataclass(frozen=True)
class LinearPowerlaw:
    """The exact learning curve (mean initial condition, with the eta^2 term) of ``config`` on
    ``alpha``, and its power-law window (alpha_1, alpha_L)."""

    config: Config
    alpha: np.ndarray
    exact: np.ndarray
    window: tuple

    def fits(self) -> dict:
        """Exponents fitted over the inner window [10 alpha_1, alpha_L / 10], keyed by table
        headers (TeX in dollars): ``$-\\beta/(1+\\beta)$`` (the asymptotic law), ``fit exact``,
        ``gap`` (fit exact + beta/(1+beta)), ``fit continuum`` (the continuum law with its
        cut-offs), ``centre slope`` (Eq. {eq}`eq-lin-centre-slope`) and ``fit small-$\\eta$
        sum`` (the small-eta closed form)."""
        c, a, (a1, aL) = self.config, self.alpha, self.window
        small = lin.small_eta_curve(c, a, init="mean").mean()
        ex, co, sm = [fit_slope(a, y, (10 * a1, aL / 10))
                      for y in (self.exact, lin.continuum_curve(c, a), small)]
        s = powerlaw_exponent(c.beta)
        return {"$-\\beta/(1+\\beta)$": -s, "fit exact": ex, "gap": ex + s, "fit continuum": co,
                "centre slope": centre_slope(c.L, c.beta), "fit small-$\\eta$ sum": sm}


def linear_powerlaw(config: Config, *, points: int = 300, margin: float = 30.0) -> LinearPowerlaw:
    """The exact solution of the linear network from the mean initial condition on a log grid
    that extends the power-law window [alpha_1, alpha_L] by ``margin`` on both sides.

    Parameters
    ----------
    config : a linear setting with K = M = 1 (every coordinate trained)
    points : grid points (>= 10)
    margin : the grid is [alpha_1 / margin, alpha_L * margin] (>= 1)

    Returns
    -------
    LinearPowerlaw (``fits()`` gives the exponents)
    """
    points = check_int("points", points, 10)
    margin = check_float("margin", margin, lo=1.0)
    a1, aL = lin.powerlaw_window(config)
    alpha = np.geomspace(a1 / margin, aL * margin, points)
    exact = lin.exact_curve(config, alpha, init="mean").mean()
    return LinearPowerlaw(config, alpha, exact, (a1, aL))
