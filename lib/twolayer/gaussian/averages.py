"""The averages that drive the order-parameter dynamics, as functions of the global overlaps.

Chapter "Order-parameter dynamics" (``chapters/00_dynamics.md``), Eqs. {eq}`eq-dyn-stein` and
{eq}`eq-dyn-block`; chapter "Beyond the paper" for unequal and trained second layers and label
noise.  With the student's pre-activations h_i = J_i . x / sqrt N, the teacher's
rho_n = B_n . x / sqrt N (covariance ``covariance(Q, R, T)``), second layers v (student) and v*
(teacher), the output error y - sigma = sum_n v*_n g(rho_n) - sum_i v_i g(h_i) + noise xi and
delta_i = v_i g'(h_i) (y - sigma):

    eps_g          = 1/2 E[(sigma - y_clean)^2]          (label noise excluded)
    G_ia           = E[d delta_i / d u_a]                 (Stein coefficients, u = (h, rho))
    E[delta delta] = v_i v_j E[g'(h_i) g'(h_j) ((y - sigma)^2)]   (O(eta^2) term)
    F_i            = E[g(h_i) (y - sigma)]           (drift of a trained second layer)

All functions broadcast over leading dimensions of Q, R, T (except ``delta_delta``).
"""

from __future__ import annotations

import numpy as np

from .activations import activation_of

__all__ = ["covariance", "delta_delta", "eps_g", "readout_drift", "stein_coefficients"]


def _diag(A):
    return np.diagonal(A, axis1=-2, axis2=-1)


def _weights(v, vT, K, M):
    v = np.ones(K) if v is None else np.asarray(v, dtype=np.float64)
    vT = np.ones(M) if vT is None else np.asarray(vT, dtype=np.float64)
    return v, vT


def covariance(Q, R, T) -> np.ndarray:
    """Covariance of the pre-activations (h_1..K, rho_1..M): [[Q, R], [R^T, T]]."""
    Q, R, T = (np.asarray(A, dtype=np.float64) for A in (Q, R, T))
    top = np.concatenate([Q, R], axis=-1)
    bot = np.concatenate([np.swapaxes(R, -1, -2), T], axis=-1)
    return np.concatenate([top, bot], axis=-2)


def eps_g(Q, R, T, activation="erf", v=None, vT=None) -> np.ndarray:
    """Generalisation error 1/2 E[(sigma - y)^2] without label noise, exact in Q, R, T
    (Eq. {eq}`eq-dyn-epsg`); ``v``, ``vT``: second layers (default all ones).

    Mathematically >= 0; a round-off residue below zero is returned as 0."""
    act = activation_of(activation)
    Q, R, T = (np.asarray(A, dtype=np.float64) for A in (Q, R, T))
    v, vT = _weights(v, vT, Q.shape[-1], T.shape[-1])
    dQ, dT = _diag(Q), _diag(T)
    if v.ndim == 1:
        vv, tt, vt = np.outer(v, v), np.outer(vT, vT), np.outer(v, vT)
    else:  # per-row second layers (..., K)
        vv = v[..., :, None] * v[..., None, :]
        tt = np.outer(vT, vT)
        vt = v[..., :, None] * vT[None, :]
    qq = (vv * act.gg(dQ[..., :, None], dQ[..., None, :], Q)).sum(axis=(-2, -1))
    ss = (tt * act.gg(dT[..., :, None], dT[..., None, :], T)).sum(axis=(-2, -1))
    rr = (vt * act.gg(dQ[..., :, None], dT[..., None, :], R)).sum(axis=(-2, -1))
    return np.maximum(0.5 * (qq + ss - 2.0 * rr), 0.0)


def stein_coefficients(Q, R, T, activation="erf", v=None, vT=None):
    """(G_h (K x K, symmetric), G_rho (K x M)): G_ia = E[d delta_i / d u_a] (Eq.
    {eq}`eq-dyn-stein`), so that E[delta_i w] = sum_a Cov(w, u_a) G_ia for any Gaussian w."""
    act = activation_of(activation)
    Q, R, T = (np.asarray(A, dtype=np.float64) for A in (Q, R, T))
    K, M = Q.shape[-1], T.shape[-1]
    v, vT = _weights(v, vT, K, M)
    dQ, dT = _diag(Q), _diag(T)
    _, P_ss, H_ss = act.pair_averages(dQ[..., :, None], dQ[..., None, :], Q)
    _, P_st, H_st = act.pair_averages(dQ[..., :, None], dT[..., None, :], R)
    # s_i = E[g''(h_i) (y - sigma)]
    s = (H_st * vT).sum(-1) - (H_ss * v).sum(-1)
    G_h = -(v[:, None] * v[None, :]) * P_ss
    idx = np.arange(K)
    G_h[..., idx, idx] += v * s
    G_rho = (v[:, None] * vT[None, :]) * P_st
    return G_h, G_rho


def delta_delta(Q, R, T, activation="erf", v=None, vT=None, noise: float = 0.0) -> np.ndarray:
    """E[delta_i delta_j] (K x K), the source of the O(eta^2) term (Eq. {eq}`eq-dyn-block`);
    with label noise of standard deviation ``noise`` it gains v_i v_j noise^2 E[g' g']."""
    act = activation_of(activation)
    Q, R, T = (np.asarray(A, dtype=np.float64) for A in (Q, R, T))
    K, M = Q.shape[-1], T.shape[-1]
    v, vT = _weights(v, vT, K, M)
    w = np.concatenate([-v, vT])
    E = act.delta_moments(covariance(Q, R, T), K, w)
    if noise:
        dQ = np.diag(Q)
        E = E + noise**2 * act.dgdg(dQ[:, None], dQ[None, :], Q)
    return np.outer(v, v) * E


def readout_drift(Q, R, T, activation="erf", v=None, vT=None) -> np.ndarray:
    """F_i = E[g(h_i) (y - sigma)], the drift dv_i/dalpha = eta_v F_i of a trained student
    second layer (chapter "Beyond the paper", Eq. {eq}`eq-beyond-readout`)."""
    act = activation_of(activation)
    Q, R, T = (np.asarray(A, dtype=np.float64) for A in (Q, R, T))
    K, M = Q.shape[-1], T.shape[-1]
    v, vT = _weights(v, vT, K, M)
    dQ, dT = _diag(Q), _diag(T)
    return (act.gg(dQ[..., :, None], dT[..., None, :], R) * vT).sum(-1) \
        - (act.gg(dQ[..., :, None], dQ[..., None, :], Q) * v).sum(-1)
