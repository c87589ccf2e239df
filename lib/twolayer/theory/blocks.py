"""The block ODE's right-hand side in plain NumPy: ``rhs(alpha, state, setting)``.

Chapter "Order-parameter dynamics", Eq. {eq}`eq-dyn-block`.  For every group g (rate s_g, the
O(eta^2) weight eta f_g: ``twolayer.state.Setting``)

    dr^g/dalpha = s_g ( G_h r^g + G_rho t^g )
    dq^g/dalpha = s_g ( G_h q^g + G_rho r^gT + [..]^T + eta f_g E[delta delta^T] )
    dv/dalpha   = eta_v F

with the coefficients at the global overlaps.  Used by the linearisations of the plateau and the
asymptotic phase and by checks; the integrator (``twolayer.theory.ode``) runs the same equations
in compiled kernels.
"""

from __future__ import annotations

import numpy as np

from ..state.blocks import BlockState, global_overlaps
from ..state.setting import Setting, resolve

__all__ = ["coefficients", "drift", "rhs", "rhs_frozen"]


def coefficients(q, r, t, setting: Setting, *, eta2: bool = True, v=None):
    """(G_h, G_rho, E) at the global overlaps of the block overlaps (q, r, t); E = 0 without
    ``eta2``; ``v`` a student second layer other than the setting's."""
    Q, R, T = global_overlaps(q, r, t, setting.lam)
    G_h, G_rho = setting.stein(Q, R, T, v)
    E = setting.delta_delta(Q, R, T, v) if eta2 else np.zeros_like(Q)
    return G_h, G_rho, E


def drift(q, r, t, coef, second_order):
    """The bracket of Eq. {eq}`eq-dyn-block` per group, before the rate s_g: (G_h r + G_rho t,
    G_h q + G_rho r^T + [..]^T + eta f_g E) with the coefficients ``coef`` held fixed;
    ``second_order`` the weight eta f_g per group (zeros: without the O(eta^2) term)."""
    G_h, G_rho, E = coef
    dr = G_h @ r + G_rho @ t
    A = G_h @ q + G_rho @ np.swapaxes(r, -1, -2)
    dq = A + np.swapaxes(A, -1, -2) + np.asarray(second_order)[:, None, None] * E
    return dq, dr


def rhs_frozen(q, r, t, setting: Setting, coef):
    """(dq/dalpha, dr/dalpha) of the block ODEs with the coefficients ``coef`` held fixed."""
    dq, dr = drift(q, r, t, coef, setting.second_order)
    s = setting.rate[:, None, None]
    return s * dq, s * dr


def rhs(alpha: float, state: BlockState, setting, *, eta2: bool = True) -> BlockState:
    """d state / d alpha of the block ODEs (Eq. {eq}`eq-dyn-block`) at ``alpha``.

    Parameters
    ----------
    alpha : the time (the rates do not depend on it for a constant learning rate)
    state : block overlaps (q, r, t) group-first and the student's second layer v
    setting : Setting or Config
    eta2 : keep the O(eta^2) term

    Returns
    -------
    BlockState of derivatives (dt = 0: the teacher does not move)
    """
    setting = resolve(setting)
    v = np.asarray(state.v, dtype=np.float64)
    coef = coefficients(state.q, state.r, state.t, setting, eta2=eta2, v=v)
    dq, dr = rhs_frozen(state.q, state.r, state.t, setting, coef)
    Q, R, T = global_overlaps(state.q, state.r, state.t, setting.lam)
    return BlockState(dq, dr, np.zeros_like(np.asarray(state.t, dtype=np.float64)),
                      setting.eta_v * setting.drift(Q, R, T, v))
