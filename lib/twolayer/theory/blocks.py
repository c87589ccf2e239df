"""The block ODE's right-hand side in plain NumPy, for the linearisations of the plateau and the
asymptotic phase and for checks (the integrator uses the compiled kernels of ``_kernels``).

Chapter "Order-parameter dynamics", Eq. {eq}`eq-dyn-block`; every function takes block overlaps
group-first: q (G, K, K), r (G, K, M), t (G, M, M).
"""

from __future__ import annotations

import numpy as np

from ..data.weights import global_overlaps
from ..gaussian.averages import delta_delta, stein_coefficients
from ..problem.config import Config
from ..problem.spectrum import Groups

__all__ = ["coefficients", "rhs_frozen"]


def coefficients(q, r, t, lam, config: Config, eta2: bool = True, v=None):
    """(G_h, G_rho, E) at the global overlaps of the block state (q, r, t)."""
    Q, R, T = global_overlaps(q, r, t, lam)
    v = config.student_weights if v is None else v
    G_h, G_rho = stein_coefficients(Q, R, T, config, v, config.teacher_weights)
    if eta2:
        E = delta_delta(Q, R, T, config, v, config.teacher_weights, config.noise)
    else:
        E = np.zeros_like(Q)
    return G_h, G_rho, E


def rhs_frozen(q, r, t, grp: Groups, config: Config, coef):
    """(dq/dalpha, dr/dalpha) of the block ODEs with the coefficients ``coef`` held fixed."""
    G_h, G_rho, E = coef
    s = config.eta * grp.lam * grp.trainable
    dr = s[:, None, None] * (G_h @ r + G_rho @ t)
    A = G_h @ q + G_rho @ np.swapaxes(r, -1, -2)
    dq = s[:, None, None] * (A + np.swapaxes(A, -1, -2) + config.eta * grp.frac[:, None, None] * E)
    return dq, dr
