"""The escape-rate law of the plateau against the full secular problem.

Chapter "Beyond the paper", section "ReLU and tanh": for erf the O(eta) escape rate of the
expected teacher's plateau at L levels is sigma_L = sigma_1 <lambda^2>
(Eq. {eq}`eq-plateau-rate-L`), because erf's difference modes are marginal (g'' = -x g'); other
activations are held against it through the ratio computed here.
"""

from __future__ import annotations

import numpy as np

from ..problem.config import Config
from ..problem.spectrum import groups
from ..theory.plateau import escape_rate, plateau

__all__ = ["rate_law_ratio"]


def rate_law_ratio(config: Config) -> float:
    """sigma_L / (sigma_1 <lambda^2>): the O(eta) escape rate of the expected teacher's plateau
    from the full secular problem at ``config``'s spectrum, over the proportional law of
    Eq. {eq}`eq-plateau-rate-L` (the rate at L = 1 times the mean squared eigenvalue).

    Parameters
    ----------
    config : the setting (its ``L`` >= 1; the L = 1 reference keeps every other field)

    Returns
    -------
    float: 1 where the law holds (erf), otherwise the factor by which it misses
    """
    if not isinstance(config, Config):
        raise ValueError(f"config must be a Config, got {type(config).__name__}")
    p1 = plateau(config.replace(L=1), eta2=False)
    pL = plateau(config, eta2=False, rate=False)
    sL = escape_rate(config, pL.q, pL.r, pL.t, eta2=False, method="secular")
    lam2 = float(np.mean(groups(config).lam ** 2))
    return float(sL / (p1.escape_rate * lam2))
