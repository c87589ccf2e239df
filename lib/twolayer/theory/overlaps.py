"""Order parameters and the Gaussian averages that drive their dynamics.

Chapter "Order-parameter dynamics".  Global overlaps Q = J Sigma J^T / N (K x K),
R = J Sigma B^T / N (K x M), T = B Sigma B^T / N (M x M); per eigenvalue group g the block
overlaps q^g = J_g J_g^T / N, r^g = J_g B_g^T / N, t^g = B_g B_g^T / N over the coordinates of
that group, so that Q = sum_g lambda_g q^g and the higher orders are
Q^(k) = J Sigma^k J^T / N = sum_g lambda_g^k q^g (likewise R^(k), T^(k)).

Everything here is a pure function of order parameters; leading batch dimensions broadcast.
"""

from __future__ import annotations

import numpy as np

from ..activations import Activation, get_activation
from ..data import Groups


def _act(activation) -> Activation:
    return activation if isinstance(activation, Activation) else get_activation(activation)


def _diag(A):
    return np.diagonal(A, axis1=-2, axis2=-1)


def eps_g(Q, R, T, activation="erf", a_student=1.0, a_teacher=1.0):
    """Generalisation error  eps_g = 1/2 E[(sigma - y)^2]  (Eq. eps_g), exact in Q, R, T.

    sigma = a_student sum_i g(lambda_i), y = a_teacher sum_n g(rho_n).
    """
    act = _act(activation)
    Q, R, T = (np.asarray(A, dtype=float) for A in (Q, R, T))
    dQ, dT = _diag(Q), _diag(T)
    qq = act.gg(dQ[..., :, None], dQ[..., None, :], Q).sum(axis=(-2, -1))
    tt = act.gg(dT[..., :, None], dT[..., None, :], T).sum(axis=(-2, -1))
    rr = act.gg(dQ[..., :, None], dT[..., None, :], R).sum(axis=(-2, -1))
    return 0.5 * (a_student**2 * qq + a_teacher**2 * tt - 2.0 * a_student * a_teacher * rr)


def stein_coefficients(Q, R, T, activation="erf", a_student=1.0, a_teacher=1.0):
    """G_ia = E[d delta_i / d u_a] for u = (lambda_1..K, rho_1..M)  (Eq. Stein).

    delta_i = a_S g'(lambda_i) (y - sigma).  By Stein's lemma, for any Gaussian w jointly
    distributed with u:  E[delta_i w] = sum_a Cov(w, u_a) G_ia.  Returns (G_lam (K x K, symmetric),
    G_rho (K x M)).
    """
    act = _act(activation)
    aS, aT = a_student, a_teacher
    dQ, dT = _diag(Q), _diag(T)
    # E[g'(lambda_i) g'(lambda_j)], E[g'(lambda_i) g'(rho_m)]
    P_ss = act.dgdg(dQ[..., :, None], dQ[..., None, :], Q)
    P_st = act.dgdg(dQ[..., :, None], dT[..., None, :], R)
    # E[g''(lambda_i) (y - sigma)]
    h = aT * act.d2gg(dQ[..., :, None], dT[..., None, :], R).sum(-1) - aS * act.d2gg(
        dQ[..., :, None], dQ[..., None, :], Q
    ).sum(-1)
    G_lam = aS * (-aS * P_ss)
    idx = np.arange(Q.shape[-1])
    G_lam[..., idx, idx] += aS * h
    G_rho = aS * aT * P_st
    return G_lam, G_rho


def delta_delta(Q, R, T, activation="erf", a_student=1.0, a_teacher=1.0):
    """E[delta_i delta_j] (K x K), the source of the O(eta^2) term  (Eq. I4-sum)."""
    act = _act(activation)
    Q, R, T = (np.asarray(A, dtype=float) for A in (Q, R, T))
    K, M = Q.shape[-1], T.shape[-1]
    C = covariance(Q, R, T)
    w = np.concatenate([-a_student * np.ones(K), a_teacher * np.ones(M)])  # y - sigma weights
    d = _diag(C)
    i = np.arange(K)[:, None, None, None]
    j = np.arange(K)[None, :, None, None]
    a = np.arange(K + M)[None, None, :, None]
    b = np.arange(K + M)[None, None, None, :]
    val = act.i4(
        d[..., i], d[..., j], d[..., a], d[..., b],
        C[..., i, j], C[..., i, a], C[..., i, b], C[..., j, a], C[..., j, b], C[..., a, b],
    )
    ww = w[:, None] * w[None, :]
    return a_student**2 * np.einsum("...ijab,ab->...ij", val, ww)


def covariance(Q, R, T):
    """Covariance of the pre-activations (lambda_1..K, rho_1..M)."""
    Q, R, T = (np.asarray(A, dtype=float) for A in (Q, R, T))
    top = np.concatenate([Q, R], axis=-1)
    bot = np.concatenate([np.swapaxes(R, -1, -2), T], axis=-1)
    return np.concatenate([top, bot], axis=-2)


def block_overlaps(J, B, groups: Groups):
    """Per-group overlaps (q, r, t) of weights given in the eigenbasis.

    J is (K, N) or (S, K, N), B is (M, N) or (S, M, N).  Returns arrays of shape
    (..., G, K, K), (..., G, K, M), (..., G, M, M).
    """
    J = np.asarray(J, dtype=float)
    B = np.asarray(B, dtype=float)
    N = J.shape[-1]
    q, r, t = [], [], []
    for sl in groups.slices():
        Jg, Bg = J[..., sl], B[..., sl]
        q.append(Jg @ np.swapaxes(Jg, -1, -2) / N)
        r.append(Jg @ np.swapaxes(Bg, -1, -2) / N)
        t.append(Bg @ np.swapaxes(Bg, -1, -2) / N)
    return np.stack(q, axis=-3), np.stack(r, axis=-3), np.stack(t, axis=-3)


def global_overlaps(q, r, t, lam, power: int = 1):
    """Q^(k), R^(k), T^(k) = sum_g lambda_g^k (q^g, r^g, t^g); k = ``power`` (k=1: Q, R, T)."""
    w = np.asarray(lam, dtype=float) ** power
    return (
        np.einsum("g,...gij->...ij", w, q),
        np.einsum("g,...gij->...ij", w, r),
        np.einsum("g,...gij->...ij", w, t),
    )


def expected_block_overlaps(groups: Groups, K: int, M: int, sigma_J: float):
    """E over the initialisation: q^g = sigma_J^2 f_g I, r^g = 0, t^g = f_g I (``init="mean"``)."""
    f = groups.frac[:, None, None]
    q = sigma_J**2 * f * np.eye(K)
    r = np.zeros((groups.size, K, M))
    t = f * np.eye(M)
    return q, r, t
