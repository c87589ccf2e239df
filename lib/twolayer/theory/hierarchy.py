"""The paper's hierarchy of higher-order order parameters, closed by the minimal polynomial.

Chapter "Order-parameter dynamics", Eqs. (hier-R), (hier-Q), (closure).  With
R^(k) = J Sigma^k B^T / N, Q^(k) = J Sigma^k J^T / N, T^(k) = B Sigma^k B^T / N, summing the block
ODEs with weights lambda_g^k gives

    dR^(k)/dalpha = eta ( G_lam R^(k+1) + G_rho T^(k+1) )
    dQ^(k)/dalpha = eta ( G_lam Q^(k+1) + G_rho R^(k+1)T + transpose ) + eta^2 (Tr Sigma^(k+1) / N) E[delta delta^T]

for k = 1, 2, ...: order k couples to order k+1.  Sigma has L distinct eigenvalues, so its minimal
polynomial p(x) = prod_l (x - lambda_l) = x^L + sum_{j<L} c_j x^j has degree L and
Sigma^(L+1) = -sum_{j<L} c_j Sigma^(j+1): R^(L+1) = -sum_j c_j R^(j+1) closes the hierarchy at
k = L.  The map from the block overlaps is a Vandermonde matrix, whose condition number grows
exponentially with L; that is why the library integrates the (equivalent) block form.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from ..config import Config
from ..data import groups_for
from ..results import LearningCurve
from .ode import coefficients, initial_overlaps
from .overlaps import eps_g, global_overlaps


def minimal_polynomial(lam) -> np.ndarray:
    """Coefficients c_0..c_{L-1} of prod_l (x - lambda_l) = x^L + sum_j c_j x^j."""
    c = np.poly(np.asarray(lam, dtype=float))  # highest power first, c[0] = 1
    return c[::-1][:-1]


def to_hierarchy(q, r, t, lam):
    """Block overlaps -> (Qh, Rh, Th), each stacked over orders k = 1..L (shape (L, ., .))."""
    L = len(lam)
    Qh = np.stack([global_overlaps(q, r, t, lam, k)[0] for k in range(1, L + 1)])
    Rh = np.stack([global_overlaps(q, r, t, lam, k)[1] for k in range(1, L + 1)])
    Th = np.stack([global_overlaps(q, r, t, lam, k)[2] for k in range(1, L + 1)])
    return Qh, Rh, Th


def hierarchy_rhs(Qh, Rh, Th, lam, tr_next, cfg: Config):
    """Right-hand side of Eqs. (hier-R), (hier-Q) for orders 1..L with the closure (Eq. closure).

    ``tr_next[k-1] = Tr Sigma^(k+1) / N`` for k = 1..L.
    """
    c = minimal_polynomial(lam)
    L = len(lam)

    def next_order(X):
        # X^(k+1) for k = 1..L; the last one from the minimal polynomial
        top = -np.tensordot(c, X, axes=(0, 0))  # X^(L+1) = -sum_j c_j X^(j+1)
        return np.concatenate([X[1:], top[None]], axis=0)

    Q, R, T = Qh[0], Rh[0], Th[0]
    G_lam, G_rho, E = coefficients(Q[None], R[None], T[None], np.ones(1), cfg)
    Qn, Rn, Tn = next_order(Qh), next_order(Rh), next_order(Th)
    dR = cfg.eta * (G_lam @ Rn + G_rho @ Tn)
    A = G_lam @ Qn + G_rho @ np.swapaxes(Rn, -1, -2)
    dQ = cfg.eta * (A + np.swapaxes(A, -1, -2)) + cfg.eta**2 * tr_next[:, None, None] * E
    assert dQ.shape[0] == L
    return dQ, dR


def solve_hierarchy(cfg: Config, alpha, init="sampled", seed: int = 0, rtol=1e-10, atol=1e-13):
    """Integrate the closed hierarchy (orders 1..L) with an explicit Runge-Kutta method (DOP853).

    Only for full training (no N_l mask) and small L.  Returns (LearningCurve, (Qh, Rh) at the
    grid points, shapes (P, L, K, K) and (P, L, K, M)).
    """
    if cfg.trainable is not None and cfg.trainable < cfg.N:
        raise ValueError("the hierarchy form needs full training (trainable=None)")
    groups = groups_for(cfg)
    lam = groups.lam
    q, r, t = initial_overlaps(cfg, init, seed, groups)
    Qh, Rh, Th = to_hierarchy(q, r, t, lam)
    L = len(lam)
    tr_next = np.array([np.sum(groups.frac * lam ** (k + 1)) for k in range(1, L + 1)])
    shq, shr = Qh.shape, Rh.shape

    def f(_, y):
        Qy = y[: Qh.size].reshape(shq)
        Ry = y[Qh.size:].reshape(shr)
        dQ, dR = hierarchy_rhs(Qy, Ry, Th, lam, tr_next, cfg)
        return np.concatenate([dQ.ravel(), dR.ravel()])

    alpha = np.asarray(alpha, dtype=float)
    sol = solve_ivp(
        f, (0.0, alpha[-1]), np.concatenate([Qh.ravel(), Rh.ravel()]), t_eval=alpha,
        method="DOP853", rtol=rtol, atol=atol,
    )
    if not sol.success:
        raise RuntimeError(f"hierarchy integration failed: {sol.message}")
    Qs = sol.y[: Qh.size].T.reshape((-1,) + shq)
    Rs = sol.y[Qh.size:].T.reshape((-1,) + shr)
    eps = eps_g(Qs[:, 0], Rs[:, 0], Th[0], cfg.activation, cfg.a_student, cfg.a_teacher)
    return LearningCurve(alpha=alpha, eps_g=eps[None], method="hierarchy"), (Qs, Rs)
