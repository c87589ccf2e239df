"""The paper's hierarchy of higher-order order parameters, closed by the minimal polynomial.

Chapter "Order-parameter dynamics" (``chapters/00_dynamics.md``), Eq. {eq}`eq-dyn-hierarchy`.
With R^(k) = J Sigma^k B^T / N, Q^(k) = J Sigma^k J^T / N, T^(k) = B Sigma^k B^T / N, summing the
block ODEs with weights lambda_g^k gives

    dR^(k)/dalpha = eta ( G_h R^(k+1) + G_rho T^(k+1) )
    dQ^(k)/dalpha = eta ( G_h Q^(k+1) + G_rho R^(k+1)T + transpose ) + eta^2 (Tr Sigma^(k+1) / N) E[delta delta^T]

for k = 1, 2, ...: order k couples to order k+1.  Sigma has L distinct eigenvalues, so its minimal
polynomial p(x) = prod_l (x - lambda_l) = x^L + sum_{j<L} c_j x^j has degree L and
Sigma^(L+1) = -sum_{j<L} c_j Sigma^(j+1): R^(L+1) = -sum_j c_j R^(j+1) closes the hierarchy at
k = L.  The map from the block overlaps is a Vandermonde matrix, whose condition number grows
exponentially with L; that is why the library integrates the equivalent block form.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from ..problem.checks import (
    check_alpha,
    check_bool,
    check_constant_rate,
    check_float,
    check_seed,
)
from ..problem.divergence import check_curve
from ..problem.errors import IntegrationError
from ..problem.trajectory import Trajectory
from ..state.blocks import global_overlaps
from ..state.setting import Setting, resolve
from ..state.weights import initial_state

__all__ = ["minimal_polynomial", "solve_hierarchy", "to_hierarchy"]


def minimal_polynomial(lam) -> np.ndarray:
    """Coefficients c_0..c_{L-1} of prod_l (x - lambda_l) = x^L + sum_j c_j x^j."""
    c = np.poly(np.asarray(lam, dtype=np.float64))  # highest power first, c[0] = 1
    return c[::-1][:-1]


def to_hierarchy(q, r, t, lam):
    """Block overlaps -> (Qh, Rh, Th), each stacked over the orders k = 1..L (shape (L, ., .))."""
    L = len(lam)
    orders = [global_overlaps(q, r, t, lam, k) for k in range(1, L + 1)]
    return tuple(np.stack([o[i] for o in orders]) for i in range(3))


def _rhs(Qh, Rh, Th, c, tr_next, st: Setting, eta2: bool):
    def next_order(X):  # X^(k+1) for k = 1..L; the last from the minimal polynomial
        top = -np.tensordot(c, X, axes=(0, 0))
        return np.concatenate([X[1:], top[None]], axis=0)

    Q, R, T = Qh[0], Rh[0], Th[0]
    G_h, G_rho = st.stein(Q, R, T)
    E = st.delta_delta(Q, R, T) if eta2 else np.zeros_like(Q)
    Qn, Rn, Tn = next_order(Qh), next_order(Rh), next_order(Th)
    eta = st.eta
    dR = eta * (G_h @ Rn + G_rho @ Tn)
    A = G_h @ Qn + G_rho @ np.swapaxes(Rn, -1, -2)
    dQ = eta * (A + np.swapaxes(A, -1, -2)) + eta**2 * tr_next[:, None, None] * E
    return dQ, dR


def solve_hierarchy(config, alpha, *, init="sampled", seed: int = 0, eta2: bool = True,
                    rtol: float = 1e-10, atol: float = 1e-13) -> Trajectory:
    """Integrate the closed hierarchy (orders 1..L, Eq. {eq}`eq-dyn-hierarchy`) with an explicit
    Runge-Kutta method (DOP853), from the same initial overlaps as ``solve_ode``.

    Only for full training (no N_l), fixed second layers and small L.  Returns a Trajectory
    (method ``"hierarchy"``) with Q, R, T; ``info["Qh"]``, ``info["Rh"]`` hold all orders,
    shapes (P, L, K, K) and (P, L, K, M).  Raises ``IntegrationError`` when the integrator
    fails (as it does for L >~ 12, where the Vandermonde map loses the slow blocks)."""
    check_constant_rate(config, "the order-parameter hierarchy (solve_hierarchy)")
    setting = resolve(config)
    config = setting.config
    if config.trainable is not None and config.trainable < config.N:
        raise ValueError("the hierarchy form needs full training (trainable=None)")
    if config.train_readout:
        raise ValueError("the hierarchy form is written for fixed second layers (train_readout=False)")
    alpha = check_alpha(alpha)
    seed = check_seed(seed)
    eta2 = check_bool("eta2", eta2)
    rtol = check_float("rtol", rtol, lo=1e-14, hi=0.1)
    atol = check_float("atol", atol, lo=0.0, hi=1.0)
    grp = setting.groups
    lam = grp.lam
    st = initial_state(setting, init, seed)
    Qh, Rh, Th = to_hierarchy(st.q, st.r, st.t, lam)
    L = len(lam)
    c = minimal_polynomial(lam)
    tr_next = np.array([np.sum(grp.frac * lam ** (k + 1)) for k in range(1, L + 1)])
    shq, shr = Qh.shape, Rh.shape

    def f(_, y):
        dQ, dR = _rhs(y[: Qh.size].reshape(shq), y[Qh.size:].reshape(shr), Th, c, tr_next, setting, eta2)
        return np.concatenate([dQ.ravel(), dR.ravel()])

    with np.errstate(all="ignore"):
        sol = solve_ivp(f, (0.0, float(alpha[-1])), np.concatenate([Qh.ravel(), Rh.ravel()]), t_eval=alpha,
                        method="DOP853", rtol=rtol, atol=atol)
    Qs = sol.y[: Qh.size].T.reshape((-1,) + shq)
    Rs = sol.y[Qh.size:].T.reshape((-1,) + shr)
    T = np.broadcast_to(Th[0], (Qs.shape[0],) + Th[0].shape)
    with np.errstate(all="ignore"):
        eps = setting.eps_g(Qs[:, 0], Rs[:, 0], T)
    eps0 = setting.eps_g(Qh[0], Rh[0], Th[0])
    check_curve("hierarchy", config.eta, alpha[: len(eps)], eps, eps0)  # the points reached
    if not sol.success or not np.all(np.isfinite(sol.y)):
        raise IntegrationError(f"hierarchy integration failed: {sol.message}")
    return Trajectory(alpha=alpha, eps_g=eps[None], config=config, method="hierarchy", Q=Qs[None, :, 0],
                      R=Rs[None, :, 0], T=T[None], seeds=(seed,) if init == "sampled" else None,
                      info={"Qh": Qs, "Rh": Rs})
