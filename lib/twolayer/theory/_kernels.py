"""Compiled kernels of the block ODE integrator (``twolayer.theory.ode``).

Chapter "Order-parameter dynamics" (``chapters/00_dynamics.md``), section "The integrator".  Per
group g with rate s_g = eta lambda_g (0 for frozen groups) the block ODEs read

    r' = s (G_h r + G_rho t),
    q' = s (G_h q + q G_h + G_rho r^T + r G_rho^T) + s eta f_g E,

with G_h, G_rho, E the Stein coefficients and the O(eta^2) average at the global overlaps.  Over
one step the coefficients are frozen at the start, G_h = V diag(mu) V^T, and the linear system
is solved exactly in the eigenbasis of G_h (divided differences of the exponential), with
forcings constant or linear in time.

Layout: the block state is stored group-last, q[i, j, g], r[i, n, g], t[n, m, g], so that every
inner loop runs over the groups, elementwise: the compiler vectorises it whatever the vector
width, and since no loop reduces across groups in a width-dependent order (the sums over groups
run sequentially), a trajectory is the same to the last bit on any x86-64 CPU.  No fast-math
flags.  The work per step is O(G K^2 (K + M)); nothing is done in Python per group.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

# ---------------------------------------------------------------------------------------------
# scalar helpers
# ---------------------------------------------------------------------------------------------


@nb.njit(cache=True, inline="always", error_model="numpy")
def _series12(x):
    """(phi1(x), phi2(x)) by their Taylor series (|x| < 0.05: relative error < 1e-15)."""
    p2 = 0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x / 40320.0)))))
    return 1.0 + x * p2, p2


@nb.njit(cache=True, inline="always", error_model="numpy")
def _phi12(ex, x):
    """(phi1(x), phi2(x)) given e^x = ex, phi1 = (e^x - 1)/x, phi2 = (e^x - 1 - x)/x^2; the
    series where the differences would cancel (relative error below ~1e-13 everywhere)."""
    if abs(x) < 0.05:
        return _series12(x)
    em = ex - 1.0
    return em / x, (em - x) / (x * x)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _phi3(x):
    """phi3(x) = (e^x - 1 - x - x^2/2) / x^3."""
    if abs(x) < 0.05:
        return 1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x / 40320.0))))
    return (math.expm1(x) - x - 0.5 * x * x) / (x * x * x)


# ---------------------------------------------------------------------------------------------
# symmetric eigenproblem (cyclic Jacobi): deterministic, no LAPACK
# ---------------------------------------------------------------------------------------------
@nb.njit(cache=True, error_model="numpy")
def jacobi_eigh(A, V, w):
    """Eigen-decomposition of the symmetric K x K matrix A (not modified): A = V diag(w) V^T."""
    K = A.shape[0]
    B = np.empty((K, K))
    for i in range(K):
        for j in range(K):
            B[i, j] = 0.5 * (A[i, j] + A[j, i])
            V[i, j] = 1.0 if i == j else 0.0
    norm = 0.0
    for i in range(K):
        for j in range(K):
            norm += B[i, j] * B[i, j]
    for sweep in range(100):
        off = 0.0
        for i in range(K):
            for j in range(i + 1, K):
                off += B[i, j] * B[i, j]
        if off <= 1e-32 * norm or off == 0.0:
            break
        for p in range(K - 1):
            for q in range(p + 1, K):
                apq = B[p, q]
                if apq == 0.0:
                    continue
                theta = (B[q, q] - B[p, p]) / (2.0 * apq)
                t = (1.0 if theta >= 0.0 else -1.0) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                sn = t * c
                for k in range(K):
                    bkp = B[k, p]
                    bkq = B[k, q]
                    B[k, p] = c * bkp - sn * bkq
                    B[k, q] = sn * bkp + c * bkq
                for k in range(K):
                    bpk = B[p, k]
                    bqk = B[q, k]
                    B[p, k] = c * bpk - sn * bqk
                    B[q, k] = sn * bpk + c * bqk
                for k in range(K):
                    vkp = V[k, p]
                    vkq = V[k, q]
                    V[k, p] = c * vkp - sn * vkq
                    V[k, q] = sn * vkp + c * vkq
    for i in range(K):
        w[i] = B[i, i]


@nb.njit(cache=True, inline="always", error_model="numpy")
def _vt(V, X, out):
    """out = V^T X (fixed summation order)."""
    K = V.shape[0]
    for a in range(K):
        for n in range(X.shape[1]):
            s = 0.0
            for k in range(K):
                s += V[k, a] * X[k, n]
            out[a, n] = s


@nb.njit(cache=True, inline="always", error_model="numpy")
def _vt_v(V, X, out, tmp):
    """out = V^T X V (fixed summation order; tmp a K x K work array)."""
    K = V.shape[0]
    _vt(V, X, tmp)
    for a in range(K):
        for b in range(K):
            s = 0.0
            for l in range(K):
                s += tmp[a, l] * V[l, b]
            out[a, b] = s


@nb.njit(cache=True, error_model="numpy")
def prepare(G_h, G_rho, E, V, mu, Gt, Et):
    """Eigenbasis of the frozen coefficients: G_h = V diag(mu) V^T, Gt = V^T G_rho,
    Et = V^T E V (fixed summation order)."""
    K = G_rho.shape[0]
    jacobi_eigh(G_h, V, mu)
    _vt(V, G_rho, Gt)
    _vt_v(V, E, Et, np.empty((K, K)))


@nb.njit(cache=True, inline="always")
def chunk_range(n, chunk, nchunks):
    """The index range [i0, i1) of chunk ``chunk`` of ``nchunks`` near-equal contiguous chunks of
    range(n).  The per-group kernels work on one chunk of the groups, so that threads can share a
    step; a group's arithmetic does not depend on the chunk it is in, so neither do the results.
    The bounds are unsigned: with signed ones the compiler must allow negative (wrap-around)
    indices and does not vectorise the loops over the groups (measured 4x slower)."""
    return np.uint64((n * chunk) // nchunks), np.uint64((n * (chunk + 1)) // nchunks)


# ---------------------------------------------------------------------------------------------
# products over the groups, register-blocked
# ---------------------------------------------------------------------------------------------
# The per-group products below are all of one kind, out[., ., g] (+)= sum_k c[., k] x[., ., g]
# for every group g.  Each output element is summed over k in order, exactly as a plain loop
# "out += c[k] * x[k]" would (so the bits are those of that loop), but four outputs and four
# terms at a time: each x[k, ., g] is loaded once for four outputs and each output is loaded and
# stored once per four terms.  At K = M = 40 this runs about three times faster than the plain
# loop, which is bound by loading and storing the output at every term (benchmarks/README.md).

@nb.njit(cache=True, inline="always", error_model="numpy")
def _acc4(o, c0, c1, c2, c3, x0, x1, x2, x3):
    """o + c0 x0 + c1 x1 + c2 x2 + c3 x3, added left to right (the order of a plain loop)."""
    o += c0 * x0
    o += c1 * x1
    o += c2 * x2
    o += c3 * x3
    return o


@nb.njit(cache=True, inline="always", error_model="numpy")
def _mul(c, x, out, add, xt, g0, g1):
    """out[i, j, g] (+)= sum_k c[i, k] x[k, j, g] (k in order) for the groups g0 <= g < g1, or
    with x[j, k, g] for ``xt`` True; ``add`` False overwrites out.  Every call site passes ``xt``
    and ``add`` as constants, so that the compiler drops the branches from the inlined loops."""
    I, K = c.shape
    J = x.shape[0] if xt else x.shape[1]
    I4 = I - I % 4
    K4 = K - K % 4
    for j in range(J):
        for i in range(0, I4, 4):
            if not add:
                for g in range(g0, g1):
                    out[i, j, g] = 0.0
                    out[i + 1, j, g] = 0.0
                    out[i + 2, j, g] = 0.0
                    out[i + 3, j, g] = 0.0
            for k in range(0, K4, 4):
                a0, a1, a2, a3 = c[i, k], c[i, k + 1], c[i, k + 2], c[i, k + 3]
                b0, b1, b2, b3 = c[i + 1, k], c[i + 1, k + 1], c[i + 1, k + 2], c[i + 1, k + 3]
                d0, d1, d2, d3 = c[i + 2, k], c[i + 2, k + 1], c[i + 2, k + 2], c[i + 2, k + 3]
                e0, e1, e2, e3 = c[i + 3, k], c[i + 3, k + 1], c[i + 3, k + 2], c[i + 3, k + 3]
                for g in range(g0, g1):
                    if xt:
                        x0, x1, x2, x3 = x[j, k, g], x[j, k + 1, g], x[j, k + 2, g], x[j, k + 3, g]
                    else:
                        x0, x1, x2, x3 = x[k, j, g], x[k + 1, j, g], x[k + 2, j, g], x[k + 3, j, g]
                    out[i, j, g] = _acc4(out[i, j, g], a0, a1, a2, a3, x0, x1, x2, x3)
                    out[i + 1, j, g] = _acc4(out[i + 1, j, g], b0, b1, b2, b3, x0, x1, x2, x3)
                    out[i + 2, j, g] = _acc4(out[i + 2, j, g], d0, d1, d2, d3, x0, x1, x2, x3)
                    out[i + 3, j, g] = _acc4(out[i + 3, j, g], e0, e1, e2, e3, x0, x1, x2, x3)
            for k in range(K4, K):
                a0, b0, d0, e0 = c[i, k], c[i + 1, k], c[i + 2, k], c[i + 3, k]
                for g in range(g0, g1):
                    x0 = x[j, k, g] if xt else x[k, j, g]
                    out[i, j, g] += a0 * x0
                    out[i + 1, j, g] += b0 * x0
                    out[i + 2, j, g] += d0 * x0
                    out[i + 3, j, g] += e0 * x0
        for i in range(I4, I):
            if not add:
                for g in range(g0, g1):
                    out[i, j, g] = 0.0
            for k in range(K):
                a0 = c[i, k]
                for g in range(g0, g1):
                    out[i, j, g] += a0 * (x[j, k, g] if xt else x[k, j, g])


# ---------------------------------------------------------------------------------------------
# work space and basis changes (group-last arrays)
# ---------------------------------------------------------------------------------------------
class Work:
    """Preallocated work arrays of the flow kernels."""

    def __init__(self, K: int, M: int, G: int):
        self.rt = np.empty((K, M, G)); self.a0 = np.empty((K, M, G)); self.a1 = np.empty((K, M, G))
        self.rn = np.empty((K, M, G)); self.qt = np.empty((K, K, G)); self.e0 = np.empty((K, K, G))
        self.e1 = np.empty((K, K, G)); self.qn = np.empty((K, K, G)); self.X = np.empty((K, K, G))
        self.tmp = np.empty((K, K, G)); self.ea = np.empty((K, G)); self.p1a = np.empty((K, G))
        self.p2a = np.empty((K, G)); self.d = np.empty((3, G))
        self.fk = np.empty((6, K, K, G))  # the step's pair factors (``factors``)
        # the predictor (qa, ra) and the corrected state (q1, r1) in the eigenbasis of the step
        self.qa = np.empty((K, K, G)); self.ra = np.empty((K, M, G))
        self.q1 = np.empty((K, K, G)); self.r1 = np.empty((K, M, G))

    def arrays(self):
        return (self.rt, self.a0, self.a1, self.rn, self.qt, self.e0, self.e1, self.qn, self.X, self.tmp,
                self.ea, self.p1a, self.p2a, self.d)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _rot_r(V, x, out, g0, g1):
    """out[a, n, :] = sum_k V[k, a] x[k, n, :]."""
    _mul(V.T, x, out, False, False, g0, g1)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _rot_q(V, x, out, tmp, g0, g1):
    """out = V^T x V per group (tmp[b, k, :] = sum_l V[l, b] x[k, l, :] on the way)."""
    _mul(V.T, x, tmp, False, True, g0, g1)
    _mul(V.T, tmp, out, False, True, g0, g1)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _unrot(V, rn, qn, r_out, q_out, tmp, add, g0, g1):
    """r_out (+)= V rn, q_out (+)= V qn V^T per group (tmp[l, a, :] = sum_b V[l, b] qn[a, b, :]
    on the way)."""
    _mul(V, rn, r_out, add, False, g0, g1)
    _mul(V, qn, tmp, False, True, g0, g1)
    _mul(V, tmp, q_out, add, True, g0, g1)


# ---------------------------------------------------------------------------------------------
# exact flow of the frozen linear system
# ---------------------------------------------------------------------------------------------
@nb.njit(cache=True, nogil=True, error_model="numpy")
def factors(s, mu, h, ea, p1a, p2a, fk, chunk, nchunks):
    """The exponential factors of one step h of the frozen system, in the eigenbasis of G_h
    (eigenvalues mu): per mode a and group g, ea = e^x, p1a = phi1(x), p2a = phi2(x) at
    x = s_g mu_a h; per pair (a, b) and group, fk = (e^k, phi1(k), phi2(k), d0, d1, d2) at
    k = x_a + x_b, with d0, d1, d2 = h exp[k, x_b], h^2 exp[k, x_b, 0], h^3 exp[k, x_b, 0, 0]
    (divided differences of exp).  They depend on (s, mu, h) only, so a predictor and every
    corrector of the step share them.

    The inner loops over groups are branch-free (both the Taylor series and the closed form of
    the phi functions are computed and one is selected), so that they vectorise.  Like every
    per-group kernel it handles the groups of chunk ``chunk`` of ``nchunks`` (``chunk_range``)."""
    K = mu.shape[0]
    G = s.shape[0]
    g0, g1 = chunk_range(G, chunk, nchunks)
    h2 = h * h
    h3 = h2 * h
    for a in range(K):
        for g in range(g0, g1):
            x = s[g] * mu[a] * h
            ex = math.exp(x)
            sp1, sp2 = _series12(x)
            em = ex - 1.0
            small = abs(x) < 0.05
            ea[a, g] = ex
            p1a[a, g] = sp1 if small else em / x
            p2a[a, g] = sp2 if small else (em - x) / (x * x)
    for a in range(K):
        for b in range(K):
            # kap = nua + nub, so kap - nub = nua
            for g in range(g0, g1):
                nua = s[g] * mu[a] * h
                nub = s[g] * mu[b] * h
                kap = nua + nub
                ek = ea[a, g] * ea[b, g]
                sk1, sk2 = _series12(kap)
                emk = ek - 1.0
                smallk = abs(kap) < 0.05
                p1k = sk1 if smallk else emk / kap
                p2k = sk2 if smallk else (emk - kap) / (kap * kap)
                fk[0, a, b, g] = ek
                fk[1, a, b, g] = p1k
                fk[2, a, b, g] = p2k
                fk[3, a, b, g] = h * ea[b, g] * p1a[a, g]
                # the difference quotients, or their limit (derivatives at the midpoint m) when
                # nua is too small for the difference
                m = nub + 0.5 * nua
                close = abs(nua) < 1e-5 * max(1.0, abs(m))
                em_m = ea[b, g] * math.sqrt(ea[a, g]) - 1.0
                sm1, sm2 = _series12(m)
                smallm = abs(m) < 0.05
                p1m = sm1 if smallm else em_m / m
                p2m = sm2 if smallm else (em_m - m) / (m * m)
                den = nua if not close else 1.0
                fk[4, a, b, g] = h2 * (p1m - p2m) if close else h2 * (p1k - p1a[b, g]) / den
                sm3 = 1.0 / 6.0 + m * (1.0 / 24.0 + m * (1.0 / 120.0 + m * (1.0 / 720.0 + m * (1.0 / 5040.0 + m / 40320.0))))
                p3m = sm3 if smallm else (em_m - m - 0.5 * m * m) / (m * m * m)
                fk[5, a, b, g] = h3 * (p2m - 2.0 * p3m) if close else h3 * (p2k - p2a[b, g]) / den


@nb.njit(cache=True, inline="always", error_model="numpy")
def _sym_add(s, X, qn, g0, g1):
    """qn += s (X + X^T) per group."""
    K = X.shape[0]
    for a in range(K):
        for b in range(K):
            for g in range(g0, g1):
                qn[a, b, g] += s[g] * (X[a, b, g] + X[b, a, g])


@nb.njit(cache=True, inline="always", error_model="numpy")
def _flow0(s, Gt, h, rt, qt, a0, e0, ea, p1a, fk, rn, qn, X, g0, g1):
    """In the eigenbasis of G_h, for every group: r' = s mu_a r + a0,
    q' = s (mu_a + mu_b) q + s (Gt r^T + r Gt^T) + e0 (constant forcings), from (rt, qt) at
    tau = 0 to tau = h, with the step's ``factors``.  Results in (rn, qn)."""
    K, M, G = rt.shape
    M4 = M - M % 4
    for a in range(K):
        for n in range(M):
            for g in range(g0, g1):
                rn[a, n, g] = ea[a, g] * rt[a, n, g] + h * p1a[a, g] * a0[a, n, g]
    for b in range(K):  # b outside: rt[b] and a0[b] stay in cache for every a (same sums)
        for a in range(K):
            for g in range(g0, g1):
                qn[a, b, g] = fk[0, a, b, g] * qt[a, b, g] + h * fk[1, a, b, g] * e0[a, b, g]
                X[a, b, g] = 0.0
            for n in range(0, M4, 4):  # four terms per load and store of X (same order)
                c0, c1, c2, c3 = Gt[a, n], Gt[a, n + 1], Gt[a, n + 2], Gt[a, n + 3]
                for g in range(g0, g1):
                    f3 = fk[3, a, b, g]
                    f4 = fk[4, a, b, g]
                    X[a, b, g] = _acc4(X[a, b, g], c0, c1, c2, c3,
                                       f3 * rt[b, n, g] + f4 * a0[b, n, g],
                                       f3 * rt[b, n + 1, g] + f4 * a0[b, n + 1, g],
                                       f3 * rt[b, n + 2, g] + f4 * a0[b, n + 2, g],
                                       f3 * rt[b, n + 3, g] + f4 * a0[b, n + 3, g])
            for n in range(M4, M):
                c = Gt[a, n]
                for g in range(g0, g1):
                    X[a, b, g] += c * (fk[3, a, b, g] * rt[b, n, g] + fk[4, a, b, g] * a0[b, n, g])
    _sym_add(s, X, qn, g0, g1)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _flow1(s, Gt, h, a1, e1, p2a, fk, rn, qn, X, g0, g1):
    """The same flow from zero, forced linearly in time: r' = s mu_a r + a1 tau,
    q' = s (mu_a + mu_b) q + s (Gt r^T + r Gt^T) + e1 tau.  Results in (rn, qn)."""
    K, M, G = a1.shape
    M4 = M - M % 4
    h2 = h * h
    for a in range(K):
        for n in range(M):
            for g in range(g0, g1):
                rn[a, n, g] = h * h * p2a[a, g] * a1[a, n, g]
    for b in range(K):  # b outside: a1[b] stays in cache for every a (same sums)
        for a in range(K):
            for g in range(g0, g1):
                qn[a, b, g] = h2 * fk[2, a, b, g] * e1[a, b, g]
                X[a, b, g] = 0.0
            for n in range(0, M4, 4):  # four terms per load and store of X (same order)
                c0, c1, c2, c3 = Gt[a, n], Gt[a, n + 1], Gt[a, n + 2], Gt[a, n + 3]
                for g in range(g0, g1):
                    f5 = fk[5, a, b, g]
                    X[a, b, g] = _acc4(X[a, b, g], c0, c1, c2, c3, f5 * a1[b, n, g], f5 * a1[b, n + 1, g],
                                       f5 * a1[b, n + 2, g], f5 * a1[b, n + 3, g])
            for n in range(M4, M):
                c = Gt[a, n]
                for g in range(g0, g1):
                    X[a, b, g] += c * (fk[5, a, b, g] * a1[b, n, g])
    _sym_add(s, X, qn, g0, g1)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def predict(q, r, t, s, sef, V, Gt, Et, h, qa_out, ra_out, rt, a0, qt, e0, X, tmp, ea, p1a, fk, chunk, nchunks):
    """Exact solution over h of the block ODEs with the coefficients frozen at the start
    (constant forcings s G_rho t^g and s eta f_g E), given the step's ``factors``; the result
    (qa_out, ra_out) is left in the eigenbasis of G_h (``finish`` rotates back)."""
    K, M, G = r.shape
    g0, g1 = chunk_range(G, chunk, nchunks)
    _rot_r(V, r, rt, g0, g1)
    _rot_q(V, q, qt, tmp, g0, g1)
    _mul(Gt, t, a0, False, False, g0, g1)  # a0[a, n] = s sum_m Gt[a, m] t[m, n]
    for a in range(K):
        for n in range(M):
            for g in range(g0, g1):
                a0[a, n, g] *= s[g]
        for b in range(K):
            c = Et[a, b]
            for g in range(g0, g1):
                e0[a, b, g] = sef[g] * c
    _flow0(s, Gt, h, rt, qt, a0, e0, ea, p1a, fk, ra_out, qa_out, X, g0, g1)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _copy_frozen(s, q, r, q_out, r_out, g0, g1):
    K, M, G = r.shape
    for g in range(g0, g1):
        if s[g] == 0.0:
            for i in range(K):
                for n in range(M):
                    r_out[i, n, g] = r[i, n, g]
                for j in range(K):
                    q_out[i, j, g] = q[i, j, g]


@nb.njit(cache=True, nogil=True, error_model="numpy")
def correct(qa, ra, t, s, sef, dGl, dGr, dE, Gt, h, q1, r1, a1, e1, X, p2a, fk, chunk, nchunks):
    """ETD2RK corrector in the eigenbasis of G_h: (q1, r1) = (qa, ra) + h phi2(h A) (N(u_a) -
    N_0(u_a)), the exact flow from zero of the frozen system forced, linearly in time, by the
    change of the coefficients along the step (dGl = V^T dG_h V, dGr = V^T dG_rho, dE = V^T dE V:
    coefficients at the end minus those at the start, rotated), given the step's ``factors``
    and the predictor (qa, ra) of ``predict``.  Linear in (dGl, dGr, dE); ``finish`` rotates the
    result back."""
    K, M, G = ra.shape
    g0, g1 = chunk_range(G, chunk, nchunks)
    # N(u_a) - N_0(u_a), divided by h: its r part into a1, its q part into e1
    _mul(dGl, ra, a1, False, False, g0, g1)   # a1[a, n] = sum_b dGl[a, b] ra[b, n]
    _mul(dGr, t, a1, True, False, g0, g1)     #         + sum_m dGr[a, m] t[m, n]
    for a in range(K):
        for n in range(M):
            for g in range(g0, g1):
                a1[a, n, g] *= s[g] / h
    _mul(dGl, qa, X, False, False, g0, g1)    # X[a, b] = sum_k dGl[a, k] qa[k, b]
    _mul(dGr, ra, X, True, True, g0, g1)     #         + sum_m dGr[a, m] ra[b, m]
    for a in range(K):
        for b in range(K):
            c = dE[a, b]
            for g in range(g0, g1):
                e1[a, b, g] = (s[g] * (X[a, b, g] + X[b, a, g]) + sef[g] * c) / h
    _flow1(s, Gt, h, a1, e1, p2a, fk, r1, q1, X, g0, g1)
    for a in range(K):
        for n in range(M):
            for g in range(g0, g1):
                r1[a, n, g] += ra[a, n, g]
        for b in range(K):
            for g in range(g0, g1):
                q1[a, b, g] += qa[a, b, g]


class Map:
    """The corrector's global sums as a linear function of the coefficient change (``map_groups``,
    ``map_reduce``, ``map_apply``): contractions over the groups, and the transposed copies they are built from."""

    def __init__(self, K: int, M: int, G: int):
        self.A = np.empty((K, K, M)); self.B = np.empty((M, K, M)); self.C = np.empty((K, K, K))
        self.D = np.empty((K, K, M)); self.F1 = np.empty((K, K, K)); self.F2 = np.empty((K, K, M))
        self.Ew = np.empty((K, K))
        self.wr = np.empty((K, G)); self.W = np.empty((K, K, G)); self.U = np.empty((K, K, G))
        self.raT = np.empty((K, G, M)); self.qaT = np.empty((K, G, K))
        self.Y = np.empty((K, K, G)); self.YT = np.empty((K, G, K)); self.Yt = np.empty((K, M, G))
        self.YtT = np.empty((K, G, M))

    def group_arrays(self):
        """The work arrays of ``map_groups``."""
        return (self.wr, self.W, self.U, self.raT, self.qaT, self.Y, self.YT, self.Yt, self.YtT)

    def arrays(self):
        """The outputs and work arrays of ``map_reduce``."""
        return (self.A, self.B, self.C, self.D, self.F1, self.F2, self.Ew) + self.group_arrays()


@nb.njit(cache=True, inline="always", error_model="numpy")
def _gemm_g(w, x, out):
    """out[a, j] = sum_g w[a, g] x[g, j], summed over g in order (vectorised over j)."""
    K, G = w.shape
    J = x.shape[1]
    G4 = G - G % 4
    for a in range(K):
        for j in range(J):
            out[a, j] = 0.0
    for g in range(0, G4, 4):  # four groups per load and store of out (same order)
        for a in range(K):
            c0, c1, c2, c3 = w[a, g], w[a, g + 1], w[a, g + 2], w[a, g + 3]
            for j in range(J):
                out[a, j] = _acc4(out[a, j], c0, c1, c2, c3, x[g, j], x[g + 1, j], x[g + 2, j], x[g + 3, j])
    for g in range(G4, G):
        for a in range(K):
            c = w[a, g]
            for j in range(J):
                out[a, j] += c * x[g, j]


@nb.njit(cache=True, nogil=True, error_model="numpy")
def map_groups(qa, ra, t, s, lam, Gt, h, p2a, fk, wr, W, U, raT, qaT, Y, YT, Yt, YtT, chunk, nchunks):
    """First half of the corrector's linear map (``map_reduce``), per group: the weights
    wr = lambda s p2a, W = lambda s phi2(kappa), U = lambda s^2 fk5 / h (``factors``), the
    group-first copies raT[b, g, m] = ra[b, m, g], qaT[b, g, k] = qa[k, b, g], and
    Y[a, c, g] = sum_n Gt[a, n] ra[c, n, g], Yt[a, m, g] = sum_n Gt[a, n] t[m, n, g] and their
    group-first copies YT, YtT, for the groups of chunk ``chunk`` of ``nchunks``."""
    K, M, G = ra.shape
    g0, g1 = chunk_range(G, chunk, nchunks)
    for a in range(K):
        for g in range(g0, g1):
            wr[a, g] = lam[g] * s[g] * p2a[a, g]
        for b in range(K):
            for g in range(g0, g1):
                W[a, b, g] = lam[g] * s[g] * fk[2, a, b, g]
                U[a, b, g] = lam[g] * s[g] * s[g] * fk[5, a, b, g] / h
    for b in range(K):
        for m in range(M):
            for g in range(g0, g1):
                raT[b, g, m] = ra[b, m, g]
        for k in range(K):
            for g in range(g0, g1):
                qaT[b, g, k] = qa[k, b, g]
    _mul(Gt, ra, Y, False, True, g0, g1)
    _mul(Gt, t, Yt, False, True, g0, g1)
    for a in range(K):
        for c in range(K):
            for g in range(g0, g1):
                YT[a, g, c] = Y[a, c, g]
        for m in range(M):
            for g in range(g0, g1):
                YtT[a, g, m] = Yt[a, m, g]


@nb.njit(cache=True, nogil=True, error_model="numpy")
def map_reduce(tT, sef, lam, fk, A, B, C, D, F1, F2, Ew, wr, W, U, raT, qaT, Y, YT, Yt, YtT, chunk, nchunks):
    """The global sums (Q1, R1) of ``correct`` are affine in the rotated coefficient change
    (dGl, dGr, dE); this writes the coefficients of that map, contracted over the groups, so that
    each iteration of the implicit corrector costs O(K^2 (K + M)) instead of O(G K^2 (K + M)):

        R1 - Ra = h (sum_b dGl[a, b] A[b, a, n] + sum_m dGr[a, m] B[m, a, n])
        Q1 - Qa = h (P + P^T) + h dE * Ew + Z + Z^T,
        P[a, b] = sum_k dGl[a, k] C[b, a, k] + sum_m dGr[a, m] D[b, a, m],
        Z[a, b] = sum_c dGl[b, c] F1[a, b, c] + sum_m dGr[b, m] F2[a, b, m]

    (``map_apply``), from the arrays of ``map_groups``.  Every sum over the groups runs in order;
    the chunk ``chunk`` of ``nchunks`` is a range of the first index of the outputs, so the
    result does not depend on the chunking."""
    K = A.shape[0]
    M = B.shape[0]
    G = lam.shape[0]
    b0, b1 = chunk_range(K, chunk, nchunks)
    for b in range(b0, b1):
        _gemm_g(wr, raT[b], A[b])                    # A[b, a, n] = sum_g wr[a, g] ra[b, n, g]
        _gemm_g(W[:, b, :], qaT[b], C[b])            # C[b, a, k] = sum_g W[a, b, g] qa[k, b, g]
        _gemm_g(W[:, b, :], raT[b], D[b])            # D[b, a, m] = sum_g W[a, b, g] ra[b, m, g]
    m0, m1 = chunk_range(M, chunk, nchunks)
    for m in range(m0, m1):
        _gemm_g(wr, tT[m], B[m])                     # B[m, a, n] = sum_g wr[a, g] t[m, n, g]
    for a in range(b0, b1):
        _gemm_g(U[a], YT[a], F1[a])                  # F1[a, b, c] = sum_g U[a, b, g] Y[a, c, g]
        _gemm_g(U[a], YtT[a], F2[a])                 # F2[a, b, m] = sum_g U[a, b, g] Yt[a, m, g]
        for b in range(K):
            acc = 0.0
            for g in range(G):
                acc += lam[g] * fk[2, a, b, g] * sef[g]
            Ew[a, b] = acc


@nb.njit(cache=True, nogil=True, error_model="numpy")
def map_apply(dGl, dGr, dE, h, Qa, Ra, A, B, C, D, F1, F2, Ew, Q1, R1):
    """(Q1, R1), the global sums of ``correct`` in the eigenbasis, from the map of
    ``map_reduce`` and the predictor's sums (Qa, Ra)."""
    K, M = dGr.shape
    P = np.empty((K, K))
    Z = np.empty((K, K))
    for a in range(K):
        for n in range(M):
            acc = 0.0
            for b in range(K):
                acc += dGl[a, b] * A[b, a, n]
            for m in range(M):
                acc += dGr[a, m] * B[m, a, n]
            R1[a, n] = Ra[a, n] + h * acc
        for b in range(K):
            acc = 0.0
            for k in range(K):
                acc += dGl[a, k] * C[b, a, k]
            for m in range(M):
                acc += dGr[a, m] * D[b, a, m]
            P[a, b] = acc
            acc = 0.0
            for c in range(K):
                acc += dGl[b, c] * F1[a, b, c]
            for m in range(M):
                acc += dGr[b, m] * F2[a, b, m]
            Z[a, b] = acc
    for a in range(K):
        for b in range(K):
            Q1[a, b] = Qa[a, b] + h * (P[a, b] + P[b, a]) + h * dE[a, b] * Ew[a, b] + Z[a, b] + Z[b, a]


@nb.njit(cache=True, nogil=True, error_model="numpy")
def finish(V, qt, rt, q, r, s, q_out, r_out, tmp, chunk, nchunks):
    """The state (qt, rt) of a step, in the eigenbasis V of G_h, back in the original basis:
    r_out = V rt, q_out = V qt V^T per group; frozen groups (s = 0) are copied from (q, r), the
    state at the start of the step, exactly."""
    g0, g1 = chunk_range(r.shape[2], chunk, nchunks)
    _unrot(V, rt, qt, r_out, q_out, tmp, False, g0, g1)
    _copy_frozen(s, q, r, q_out, r_out, g0, g1)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def rotate_coefficients(V, dGl, dGr, dE, dGlt, dGrt, dEt):
    """dGlt = V^T dGl V, dGrt = V^T dGr, dEt = V^T dE V (fixed summation order)."""
    tmp = np.empty_like(dGl)
    _vt_v(V, dGl, dGlt, tmp)
    _vt(V, dGr, dGrt)
    _vt_v(V, dE, dEt, tmp)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def to_original(V, Qt, Rt, Q, R):
    """Q = V Qt V^T, R = V Rt (global sums from the eigenbasis, fixed summation order)."""
    K, M = Rt.shape
    tmp = np.empty((K, K))
    for k in range(K):
        for n in range(M):
            acc = 0.0
            for a in range(K):
                acc += V[k, a] * Rt[a, n]
            R[k, n] = acc
        for b in range(K):
            acc = 0.0
            for a in range(K):
                acc += V[k, a] * Qt[a, b]
            tmp[k, b] = acc
    for k in range(K):
        for l in range(K):
            acc = 0.0
            for b in range(K):
                acc += tmp[k, b] * V[l, b]
            Q[k, l] = acc


# ---------------------------------------------------------------------------------------------
# sums over groups and norms
# ---------------------------------------------------------------------------------------------
@nb.njit(cache=True, nogil=True, error_model="numpy")
def global_sums(q, r, lam, Q, R):
    """Q = sum_g lambda_g q^g, R = sum_g lambda_g r^g, summed over g in order."""
    K, M, G = r.shape
    for i in range(K):
        for j in range(K):
            acc = 0.0
            for g in range(G):
                acc += lam[g] * q[i, j, g]
            Q[i, j] = acc
        for n in range(M):
            acc = 0.0
            for g in range(G):
                acc += lam[g] * r[i, n, g]
            R[i, n] = acc


@nb.njit(cache=True, nogil=True, error_model="numpy")
def richardson(q1, r1, q2, r2, q, r, rtol, atol, err, scale):
    """Local error of the Richardson pair (one step h: q1, r1; two steps h/2: q2, r2), per group
    relative to atol + rtol * (largest overlap of the group before or after the step).  Writes
    the extrapolated state q2 + (q2 - q1)/3 into (q1, r1) and returns the largest error ratio."""
    K, M, G = r.shape
    for g in range(G):
        err[g] = 0.0
        scale[g] = 0.0
    for i in range(K):
        for j in range(K):
            for g in range(G):
                dd = (q2[i, j, g] - q1[i, j, g]) / 3.0
                err[g] = max(err[g], abs(dd))
                scale[g] = max(scale[g], abs(q[i, j, g]), abs(q2[i, j, g]))
                q1[i, j, g] = q2[i, j, g] + dd
        for n in range(M):
            for g in range(G):
                dd = (r2[i, n, g] - r1[i, n, g]) / 3.0
                err[g] = max(err[g], abs(dd))
                scale[g] = max(scale[g], abs(r[i, n, g]), abs(r2[i, n, g]))
                r1[i, n, g] = r2[i, n, g] + dd
    worst = 0.0
    for g in range(G):
        ratio = err[g] / (atol + rtol * scale[g])
        if not ratio <= worst:  # also catches NaN
            worst = ratio
    return worst


@nb.njit(cache=True, nogil=True, error_model="numpy")
def max_abs(q, r):
    """Largest |entry| of q and r (NaN if any entry is NaN)."""
    m = 0.0
    x = q.ravel()
    for i in range(x.shape[0]):
        a = abs(x[i])
        if not a <= m:
            m = a
    y = r.ravel()
    for i in range(y.shape[0]):
        a = abs(y[i])
        if not a <= m:
            m = a
    return m


# ---------------------------------------------------------------------------------------------
# Anderson acceleration of the implicit corrector (deterministic, no LAPACK/BLAS)
# ---------------------------------------------------------------------------------------------
@nb.njit(cache=True, nogil=True, error_model="numpy")
def anderson_next(dF, dG, f, g, out):
    """out = g - dG gamma with gamma the least-squares solution of dF gamma = f (dF, dG: p x m
    differences of successive residuals and images).  Modified Gram-Schmidt, two passes, in a
    fixed summation order; a column that is (numerically) a combination of the earlier ones gets
    gamma = 0."""
    p, m = dF.shape
    Qm = dF.copy()
    R = np.zeros((m, m))
    keep = np.zeros(m, dtype=np.bool_)
    for j in range(m):
        n0 = 0.0
        for k in range(p):
            n0 += Qm[k, j] * Qm[k, j]
        for _ in range(2):
            for i in range(j):
                if not keep[i]:
                    continue
                c = 0.0
                for k in range(p):
                    c += Qm[k, i] * Qm[k, j]
                R[i, j] += c
                for k in range(p):
                    Qm[k, j] -= c * Qm[k, i]
        n1 = 0.0
        for k in range(p):
            n1 += Qm[k, j] * Qm[k, j]
        if n1 > 1e-26 * n0 and n1 > 0.0:
            nrm = math.sqrt(n1)
            R[j, j] = nrm
            for k in range(p):
                Qm[k, j] /= nrm
            keep[j] = True
    rhs = np.zeros(m)
    for j in range(m):
        if keep[j]:
            c = 0.0
            for k in range(p):
                c += Qm[k, j] * f[k]
            rhs[j] = c
    gamma = np.zeros(m)
    for j in range(m - 1, -1, -1):
        if not keep[j]:
            continue
        c = rhs[j]
        for i in range(j + 1, m):
            c -= R[j, i] * gamma[i]
        gamma[j] = c / R[j, j]
    for k in range(p):
        c = g[k]
        for j in range(m):
            c -= dG[k, j] * gamma[j]
        out[k] = c
