"""Compiled (numba) Gaussian averages of the built-in erf and linear activations, for the ODE
integrator's inner loop.  Activations are known here by their ``Code``
(``twolayer.gaussian.activations``, which also holds the compiled pointwise g and g').

Same formulas as ``twolayer.gaussian.activations`` / ``averages`` (chapter "Order-parameter
dynamics", Eqs. {eq}`eq-dyn-stein`, {eq}`eq-dyn-block`), written as plain loops without fast-math
flags: every sum runs in a fixed order, so the results are the same to the last bit on any
x86-64 CPU and vector width (the adaptive integrator's step decisions depend on them).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .activations import Code

__all__ = ["COMPILED_CODES", "coefficients", "delta_delta"]

#: Activations with compiled Gaussian averages.
COMPILED_CODES = (Code.LINEAR, Code.ERF)

_2PI = 2.0 / math.pi
_4PI2 = 4.0 / math.pi**2
# a plain int: numba freezes it as a constant of the kernels
_LINEAR = int(Code.LINEAR)


@nb.njit(cache=True, nogil=True)
def _pair(code, kind, caa, cbb, cab):
    """kind 0: E[g g]; 1: E[g' g']; 2: E[g'' g]."""
    if code == _LINEAR:
        if kind == 0:
            return cab
        if kind == 1:
            return 1.0
        return 0.0
    if kind == 0:
        x = cab / math.sqrt((1.0 + caa) * (1.0 + cbb))
        return _2PI * math.asin(min(1.0, max(-1.0, x)))
    det = (1.0 + caa) * (1.0 + cbb) - cab * cab
    if kind == 1:
        return _2PI / math.sqrt(det)
    return -_2PI * cab / ((1.0 + caa) * math.sqrt(det))


@nb.njit(cache=True, nogil=True)
def _i4_erf(c11, c22, c33, c44, c12, c13, c14, c23, c24, c34):
    lam4 = (1.0 + c11) * (1.0 + c22) - c12 * c12
    lam0 = lam4 * c34 - c23 * c24 * (1.0 + c11) - c13 * c14 * (1.0 + c22) + c12 * c13 * c24 + c12 * c14 * c23
    lam1 = lam4 * (1.0 + c33) - c23 * c23 * (1.0 + c11) - c13 * c13 * (1.0 + c22) + 2.0 * c12 * c13 * c23
    lam2 = lam4 * (1.0 + c44) - c24 * c24 * (1.0 + c11) - c14 * c14 * (1.0 + c22) + 2.0 * c12 * c14 * c24
    x = lam0 / math.sqrt(lam1 * lam2)
    return _4PI2 / math.sqrt(lam4) * math.asin(min(1.0, max(-1.0, x)))


@nb.njit(cache=True, nogil=True)
def coefficients(code, Q, R, T, v, vT, eta2, noise2, G_h, G_rho, E, F):
    """Fill G_h (K, K), G_rho (K, M), E (K, K) = E[delta delta^T] (zeros unless ``eta2``) and
    F (K,) = E[g(h_i)(y - sigma)] at the global overlaps, for ``code`` 0 (linear) or 1 (erf).
    ``noise2`` is the label-noise variance."""
    K = Q.shape[0]
    M = T.shape[0]
    for i in range(K):
        h = 0.0
        f = 0.0
        for n in range(M):
            h += vT[n] * _pair(code, 2, Q[i, i], T[n, n], R[i, n])
            f += vT[n] * _pair(code, 0, Q[i, i], T[n, n], R[i, n])
            G_rho[i, n] = v[i] * vT[n] * _pair(code, 1, Q[i, i], T[n, n], R[i, n])
        for j in range(K):
            h -= v[j] * _pair(code, 2, Q[i, i], Q[j, j], Q[i, j])
            f -= v[j] * _pair(code, 0, Q[i, i], Q[j, j], Q[i, j])
            G_h[i, j] = -v[i] * v[j] * _pair(code, 1, Q[i, i], Q[j, j], Q[i, j])
        G_h[i, i] += v[i] * h
        F[i] = f
    if eta2:
        delta_delta(code, Q, R, T, v, vT, noise2, E, 0, 1)
    else:
        for i in range(K):
            for j in range(K):
                E[i, j] = 0.0


@nb.njit(cache=True, nogil=True)
def delta_delta(code, Q, R, T, v, vT, noise2, E, chunk, nchunks):
    """E[delta delta^T] (K, K) with label noise of variance ``noise2``, for ``code`` 0 (linear)
    or 1 (erf); only the rows i of chunk ``chunk`` of ``nchunks`` (near-equal numbers of pairs
    j >= i, mirrored to E[j, i]), so that threads can share it.  Every entry is computed the same
    way whatever the chunking."""
    K = Q.shape[0]
    M = T.shape[0]
    total = K * (K + 1) // 2
    lo, hi = (total * chunk) // nchunks, (total * (chunk + 1)) // nchunks
    i0 = i1 = K
    seen = 0
    for i in range(K):  # rows [i0, i1): those whose first pair index lies in [lo, hi)
        if seen >= lo and i0 == K:
            i0 = i
        if seen >= hi:
            i1 = i
            break
        seen += K - i
    if i0 > i1:
        i0 = i1
    P = K + M
    C = np.empty((P, P))
    w = np.empty(P)
    for a in range(P):
        w[a] = -v[a] if a < K else vT[a - K]
        for b in range(P):
            if a < K and b < K:
                C[a, b] = Q[a, b]
            elif a < K:
                C[a, b] = R[a, b - K]
            elif b < K:
                C[a, b] = R[b, a - K]
            else:
                C[a, b] = T[a - K, b - K]
    if code == _LINEAR:
        s = 0.0
        for a in range(P):
            for b in range(P):
                s += w[a] * w[b] * C[a, b]
        for i in range(i0, i1):
            for j in range(i, K):
                E[i, j] = v[i] * v[j] * (s + noise2)
                E[j, i] = E[i, j]
        return
    for i in range(i0, i1):
        for j in range(i, K):
            s = 0.0
            for a in range(P):
                # b = a term, then the pairs b > a twice
                s += w[a] * w[a] * _i4_erf(C[i, i], C[j, j], C[a, a], C[a, a], C[i, j], C[i, a], C[i, a],
                                           C[j, a], C[j, a], C[a, a])
                for b in range(a + 1, P):
                    s += 2.0 * w[a] * w[b] * _i4_erf(C[i, i], C[j, j], C[a, a], C[b, b], C[i, j], C[i, a],
                                                     C[i, b], C[j, a], C[j, b], C[a, b])
            if noise2 != 0.0:
                s += noise2 * _pair(code, 1, C[i, i], C[j, j], C[i, j])
            E[i, j] = v[i] * v[j] * s
            E[j, i] = E[i, j]
