"""ReLU's O(eta^2) four-point average, reduced exactly to closed forms and one smooth
one-dimensional integral.

Chapter "Beyond the paper", section "Other activations".  The O(eta^2) term needs, for students
i, j and pre-activations a, b (students or teachers),

    F(i, j, a, b) = E[g'(u_i) g'(u_j) g(u_a) g(u_b)] = E[u_a u_b 1(u_k > 0 for k in S)],

g = relu, g' = 1(x > 0) (g'(0) = 0), S = {i, j, a, b} (repeated indices count once).  With
z = u / sd(u) of correlation R (a variable of zero variance gives F = 0, as g(0) = g'(0) = 0):

* Stein's lemma twice (E[z_p h(z)] = sum_c R_pc E[d_c h(z)], the derivative of an indicator a
  delta function) gives, for |S| = 4 and slots p, q of a and b,

      E[z_p z_q 1_S] = R_pq P4(R) + (1 / 2 pi) sum_{c != q} R_pc sum_{r != c}
                       (R_qr - R_qc R_rc) / sqrt(1 - R_rc^2) * P2(rho_{mn.cr}),

  {m, n} = S \\ {c, r}, P2(rho) = 1/4 + asin(rho) / (2 pi) the orthant probability of two
  variables, rho_{mn.cr} their partial correlation given z_c, z_r.
* The orthant probability of four variables, P4 = P(z > 0), has no closed form.  Plackett's
  identity dP4/dR_kl = phi2(0, 0; R_kl) P2(rho_{mn.kl}), integrated along R(t) = (1 - t) I + t R
  with the substitution u = asin(t R_kl), gives

      P4 = 1/16 + (1 / 8 pi) sum_{k<l} asin R_kl
           + (1 / 4 pi^2) sum_{k<l} int_0^{asin R_kl} asin(rho_{mn.kl}(R(sin(u) / R_kl))) du,

  an integral of a bounded function; its only non-smooth point is a square-root behaviour at
  t = 1 when R is (nearly) singular, which the substitution u = asin(R_kl) (1 - v^2) removes:
  Gauss-Legendre in v with ``NODES`` nodes (P4 of 200 random, nearly singular and singular
  correlation matrices: <= 2e-8 absolute from 2000 nodes; equicorrelation 1/2: 1/5 exactly).
* Repeated indices (i = j, a = b, a = i, ...) are merged exactly: the repeated slot becomes an
  independent dummy variable, whose indicator contributes a factor 1/2, so one formula for four
  variables covers every case.  So are (anti-)parallel variables (|correlation| within ``MERGE``
  of 1: identical students at the symmetric plateau), for which the formulas would divide by a
  vanishing partial variance.

Other singular covariances (a student in the span of the teachers) are regularised,
R -> (R + REG I) / (1 + REG): F is continuous in R (with a square-root modulus where R is
singular), and the conditional variances keep their round-off below ~1e-6.  Accuracy (relative,
measured on random K = M = 3 covariances, plain and with students nearly or exactly parallel to
each other, to a teacher and in the teachers' span): NODES = 32 against 400 nodes <= 3e-7, REG =
1e-10 against 1e-12 <= 5e-6 (near-singular), ~1e-10 otherwise; exact special cases (independent
variables, equicorrelation) to 1e-15; against 1.6e7-sample Monte Carlo within its statistical
error (``tests/test_relu.py``).  Cost: compiled, one smooth integral per combination
(i <= j, a <= b): it grows like K^2 (K + M)^2 (timings: ``benchmarks/README.md``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba as nb
import numpy as np

from .quadrature import project_psd

__all__ = ["MERGE", "NODES", "REG", "four_point", "orthant4", "relu_delta_moments"]

#: Gauss-Legendre nodes of the orthant integral, the relative regularisation of R, and the
#: distance 1 - |correlation| below which two variables are taken as (anti-)parallel.
NODES = 32
REG = 1e-10
MERGE = 1e-12

_2PI = 2.0 * math.pi
# the six pairs {k, l} of four slots, each with the complementary pair {m, n}
_PAIRS_A = np.array([(0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2), (1, 2, 0, 3), (1, 3, 0, 2), (2, 3, 0, 1)],
                    dtype=np.int64)


@lru_cache(maxsize=4)
def _nodes(n: int):
    """Nodes f(v) = 1 - v^2 in (0, 1) and weights 2 v w_GL of the substituted integral."""
    x, w = np.polynomial.legendre.leggauss(n)
    v, w = 0.5 * (x + 1.0), 0.5 * w
    return np.ascontiguousarray(1.0 - v * v), np.ascontiguousarray(2.0 * v * w)


@nb.njit(cache=True, nogil=True)
def _partial(R, t, k, l, m, n):
    """Partial correlation of z_m, z_n given z_k, z_l for the correlation matrix with the
    off-diagonal entries t R (4, 4)."""
    rkl = t * R[k, l]
    det = 1.0 - rkl * rkl
    rmk, rml, rnk, rnl = t * R[m, k], t * R[m, l], t * R[n, k], t * R[n, l]
    smm = 1.0 - (rmk * (rmk - rkl * rml) + rml * (rml - rkl * rmk)) / det
    snn = 1.0 - (rnk * (rnk - rkl * rnl) + rnl * (rnl - rkl * rnk)) / det
    smn = t * R[m, n] - (rmk * (rnk - rkl * rnl) + rml * (rnl - rkl * rnk)) / det
    x = smn / math.sqrt(max(smm * snn, 1e-300))
    return min(1.0, max(-1.0, x))


@nb.njit(cache=True, nogil=True)
def _orthant4(R, f, w):
    """P(z > 0), z ~ N(0, R), R (4, 4) a positive definite correlation matrix."""
    out = 1.0 / 16.0
    for s in range(6):
        k, l, m, n = _PAIRS_A[s, 0], _PAIRS_A[s, 1], _PAIRS_A[s, 2], _PAIRS_A[s, 3]
        rkl = R[k, l]
        umax = math.asin(min(1.0, max(-1.0, rkl)))
        out += umax / (8.0 * math.pi)
        if abs(rkl) < 1e-300:
            continue
        acc = 0.0
        for i in range(f.shape[0]):
            t = math.sin(umax * f[i]) / rkl
            acc += w[i] * math.asin(_partial(R, t, k, l, m, n))
        out += umax * acc / (4.0 * math.pi * math.pi)
    return out


@nb.njit(cache=True, nogil=True)
def _four_point(R, p, q, f, w):
    """E[z_p z_q 1(z > 0)], z ~ N(0, R), R (4, 4) a positive definite correlation matrix."""
    res = R[p, q] * _orthant4(R, f, w)
    P2 = np.empty((4, 4))
    for s in range(6):
        k, l, m, n = _PAIRS_A[s, 0], _PAIRS_A[s, 1], _PAIRS_A[s, 2], _PAIRS_A[s, 3]
        P2[k, l] = P2[l, k] = 0.25 + math.asin(_partial(R, 1.0, k, l, m, n)) / _2PI
    for c in range(4):
        if c == q:
            continue
        for r in range(4):
            if r == c:
                continue
            rrc = R[r, c]
            coef = (R[q, r] - R[q, c] * rrc) / math.sqrt(max(1.0 - rrc * rrc, 1e-300))
            res += R[p, c] * coef * P2[c, r] / _2PI
    return res


@nb.njit(cache=True, nogil=True)
def _batch(R, idx, dup, p, q, reg, f, w, out):
    """out[n] = E[z_p z_q 1(z > 0)] for the 4 x 4 correlation matrix of the variables idx[n]
    (of R), the duplicated slots (dup) replaced by independent dummies, regularised by reg."""
    R4 = np.empty((4, 4))
    for n in range(idx.shape[0]):
        for a in range(4):
            for b in range(4):
                if a == b:
                    R4[a, b] = 1.0
                elif dup[n, a] or dup[n, b]:
                    R4[a, b] = 0.0
                else:
                    R4[a, b] = R[idx[n, a], idx[n, b]] / (1.0 + reg)
        out[n] = _four_point(R4, p[n], q[n], f, w)


def orthant4(R, nodes: int = NODES) -> np.ndarray:
    """P(z_1..4 > 0) for z ~ N(0, R), R (B, 4, 4) positive definite correlation matrices."""
    R = np.ascontiguousarray(R, dtype=np.float64).reshape(-1, 4, 4)
    f, w = _nodes(nodes)
    return np.array([_orthant4(r, f, w) for r in R])


def four_point(R, p, q, nodes: int = NODES) -> np.ndarray:
    """E[z_p z_q 1(z_1..4 > 0)] for z ~ N(0, R), R (B, 4, 4) positive definite correlation
    matrices, p, q (B,) slot indices (p = q allowed)."""
    R = np.ascontiguousarray(R, dtype=np.float64).reshape(-1, 4, 4)
    p, q = np.broadcast_to(p, R.shape[:1]), np.broadcast_to(q, R.shape[:1])
    f, w = _nodes(nodes)
    return np.array([_four_point(r, int(a), int(b), f, w) for r, a, b in zip(R, p, q)])


def relu_delta_moments(C, K: int, w) -> np.ndarray:
    """E[g'(u_i) g'(u_j) (sum_a w_a g(u_a))^2] (K x K) for g = relu, u ~ N(0, C), C (P, P).

    A covariance that is not positive semi-definite (an integrator's trial state) is first
    projected onto the cone (its negative eigenvalues set to zero), so the result is finite."""
    C = np.asarray(C, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    out = np.zeros((K, K))
    if not np.all(np.isfinite(C)) or not np.all(np.isfinite(w)):
        return np.full((K, K), np.nan)
    C = project_psd(C)
    sd = np.sqrt(np.clip(np.diagonal(C), 0.0, None))
    live = sd > 1e-150 * max(1.0, float(sd.max(initial=0.0)))  # g = g' = 0 on a variable that is zero
    inv = np.where(live, 1.0 / np.where(live, sd, 1.0), 0.0)
    R = np.clip(C * inv[:, None] * inv[None, :], -1.0, 1.0)  # the correlation matrix
    # (anti-)parallel variables (identical students at the symmetric plateau): u_l = (sd_l / sd_k) u_k,
    # so l is replaced by k (exact; the formulas would divide by their vanishing partial variance),
    # and a combination holding both of an anti-parallel pair vanishes (1(u_k > 0) 1(-u_k > 0) = 0)
    par = R >= 1.0 - MERGE
    rep = np.argmax(par, axis=1)  # the first variable parallel to each (itself at the latest)
    anti = np.triu(R <= -1.0 + MERGE, 1)
    # the combinations i <= j < K, a <= b with w_a w_b != 0 and all four variables alive
    ii, jj = np.triu_indices(K)
    nz = np.flatnonzero((w != 0) & live)
    aa, bb = np.triu_indices(len(nz))
    aa, bb = nz[aa], nz[bb]
    I = np.repeat(ii, len(aa))
    J = np.repeat(jj, len(aa))
    A = np.tile(aa, len(ii))
    Bv = np.tile(bb, len(ii))
    keep = live[I] & live[J]
    I, J, A, Bv = I[keep], J[keep], A[keep], Bv[keep]
    orig = np.stack([I, J, A, Bv], axis=1)
    if anti.any():
        k, l = np.nonzero(anti)
        has = lambda x: np.any(orig[:, :, None] == x[None, None, :], axis=1)  # noqa: E731 - (n, pairs)
        zero = np.any(has(k) & has(l), axis=1)
        orig, I, J, A, Bv = orig[~zero], I[~zero], J[~zero], A[~zero], Bv[~zero]
    weight = w[A] * w[Bv] * np.where(A == Bv, 1.0, 2.0) * sd[A] * sd[Bv]
    slots = rep[orig]
    A, Bv = slots[:, 2], slots[:, 3]
    # repeated indices: the later slot becomes a dummy (independent; its indicator is a factor 1/2)
    dup = np.zeros(slots.shape, dtype=bool)
    for s in range(1, 4):
        dup[:, s] = np.any(slots[:, :s] == slots[:, s:s + 1], axis=1)
    p = np.argmax(slots == A[:, None], axis=1)  # first slot holding a
    q = np.argmax(slots == Bv[:, None], axis=1)
    factor = weight * 2.0 ** dup.sum(axis=1)
    vals = np.empty(len(I))
    f, wq = _nodes(NODES)
    # R + REG I, renormalised to unit diagonal: off-diagonal entries / (1 + REG)
    _batch(np.ascontiguousarray(R), np.ascontiguousarray(slots), np.ascontiguousarray(dup), p.astype(np.int64),
           q.astype(np.int64), REG, f, wq, vals)
    np.add.at(out, (I, J), factor * vals)
    out = np.triu(out) + np.triu(out, 1).T
    return out
