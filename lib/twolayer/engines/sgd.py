"""Online SGD of the student: the compiled engine and its driver.

Chapter "Setting" (introduction), the SGD rule; chapter "Beyond the paper" for unequal or
trained second layers and label noise (the step is written out in
``twolayer.engines.reference``, which the tests hold this engine against on identical inputs).
One driver, ``simulate``, runs any input source of ``twolayer.data.inputs`` (fresh Gaussian
inputs, a given sequence, rows of a data set) for several seeds, and records at every point of
the alpha grid the order parameters Q, R, T (and v) computed from the weights, and eps_g
exactly from them (no test set).

The compiled loop keeps the weights in float64 and draws each input from the counter-based
normal source of ``twolayer.data.rng``.  With K >= 2 hidden units and Gaussian inputs it runs
the same steps in blocks of 4 or 8 (``_run_gaussian_blocked``): the products of a block's inputs
with the block's first weights, the teacher's products and the inputs' Gram matrix are
register-blocked matrix products, the steps then run on K x T numbers, and the weights get the
block's updates in one pass (a delayed update; equal to the step-by-step loop up to round-off,
about 1e-15 relative; the speed-ups are in benchmarks/README.md).  Its dot products use fast-math reassociation (the
vector width decides their summation order), so two CPUs agree to round-off, not bit for bit;
the same CPU gives the same bits for any number of threads.  Seeds run in parallel threads (the
loop releases the GIL), in chunks of ~0.05 s, so that progress ticks on alpha and Ctrl-C stops
the run within a fraction of a second.  Drawing the input is most of a step at small K, and it
does not depend on the weights: a seed alone on two cores shares its draws between two threads
while it steps on one of them (``_run_seed_pipelined``), and ``simulate_shared`` runs several
configurations of one seed on inputs drawn once (the sweeps' units).  Both replay the draws from
a buffer and stop only where a block ends anyway, so they give the same bits as the plain loop.
From ``VECTOR_MIN_K`` students the step evaluates the activations of a layer at once
(``gaussian.activations.g_dg_into``).

Divergence follows the package's one rule (``twolayer.problem.divergence``: eps_g at a grid point
above 1e4 times max(1, its start)); inside a chunk the loop stops early on a squared output error
above 1e8 times its start or a weight above 1e6 times its start, with the same message.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

import numba as nb
import numpy as np

from ..data import rng as fastrng
from ..data.inputs import GaussianInputs, GaussianSource, RowSource, normal_keys
from ..gaussian.activations import dg_of, g_dg_into, g_of
from ..problem.checks import check_bool, check_int, check_seeds, check_steps
from ..problem.config import Config
from ..problem.divergence import check_curve, diverged
from ..problem.progress import make_progress
from ..problem.resources import Budget, check_budget, sgd_estimate
from ..problem.schedule import factor_scalar
from ..problem.spectrum import coordinate_eigenvalues
from ..problem.trajectory import Trajectory
from ..state.setting import resolve
from ..state.weights import check_weights_shape, init_weights, overlaps
from .reference import reference_step

__all__ = ["simulate", "simulate_shared"]

_FM = {"reassoc", "contract", "nsz", "arcp"}

#: Early stops inside a chunk (relative to the start of the run); the rule itself, on eps_g at
#: the grid points, is ``twolayer.problem.divergence``.
ERR2_GROWTH = 1e8      # squared output error of one step
WEIGHT_GROWTH = 1e6    # largest |J_ic|

#: Wall time of one compiled chunk (progress and Ctrl-C granularity).
CHUNK_SECONDS = 0.05


# ---------------------------------------------------------------------------------------------
# compiled kernels
# ---------------------------------------------------------------------------------------------
@nb.njit(inline="always", fastmath=_FM)
def _step(J, B, v, vT, x, hs, gs, eta_n, inv_sqrt_n, act, n_train, eta_v_n, xi):
    """One step (see ``reference.reference_step``); returns the output error y - sigma."""
    K, N = J.shape
    M = B.shape[0]
    y = xi
    for m in range(M):
        acc = 0.0
        for c in range(N):
            acc += B[m, c] * x[c]
        y += vT[m] * g_of(acc * inv_sqrt_n, act)
    sig = 0.0
    for k in range(K):
        acc = 0.0
        for c in range(N):
            acc += J[k, c] * x[c]
        hs[k] = acc * inv_sqrt_n
        gs[k] = g_of(hs[k], act)
        sig += v[k] * gs[k]
    err = y - sig
    for k in range(K):
        coef = eta_n * v[k] * dg_of(hs[k], act) * err
        for c in range(n_train):
            J[k, c] += coef * x[c]
    if eta_v_n != 0.0:
        for k in range(K):
            v[k] += eta_v_n * gs[k] * err
    return err


# ---------------------------------------------------------------------------------------------
# blocked steps (K >= BLOCK_MIN_K): T consecutive steps with one pass over the weights
# ---------------------------------------------------------------------------------------------
#: The smallest K that takes the blocked path (``_run_gaussian_blocked``).
BLOCK_MIN_K = 2


#: From this many students the blocked step evaluates g and g' of a whole layer at once
#: (``twolayer.gaussian.activations.g_dg_into``: vectorised loops, erf and exp as polynomials)
#: instead of calling the C library unit by unit.  At K = M = 40, N = 512 the calls took 0.63 us
#: of a 4.5 us step; at K = M <= 8 the activations cost a few per cent of a step, and the runs
#: keep the bits of the C library's erf (benchmarks/README.md).
VECTOR_MIN_K = 16


def block_steps(K: int) -> int:
    """Steps per block of the blocked path: the Gram matrix of a block's inputs costs (T-1)/2
    multiply-adds per coordinate and step, against 3K for the step itself, so small K take
    short blocks (measured: benchmarks/README.md)."""
    return 4 if K <= 8 else 8


@nb.njit(inline="always", fastmath=_FM)
def _dots(A, k0, k1, X, s0, s1, n, out):
    """out[k, s] = A[k, :n] . X[s, :n] for k0 <= k < k1 and s0 <= s < s1.  Register blocked:
    four rows of A against two rows of X per pass over c (eight sums from six loads), so that the
    products run at the multiply-add rate, not at the rate the cache delivers the operands."""
    k = k0
    while k + 4 <= k1:
        s = s0
        while s + 4 <= s1:
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = 0.0
            d0 = d1 = d2 = d3 = e0 = e1 = e2 = e3 = 0.0
            for c in range(n):
                x0 = X[s, c]
                x1 = X[s + 1, c]
                x2 = X[s + 2, c]
                x3 = X[s + 3, c]
                j0 = A[k, c]
                j1 = A[k + 1, c]
                j2 = A[k + 2, c]
                j3 = A[k + 3, c]
                a0 += j0 * x0
                a1 += j1 * x0
                a2 += j2 * x0
                a3 += j3 * x0
                b0 += j0 * x1
                b1 += j1 * x1
                b2 += j2 * x1
                b3 += j3 * x1
                d0 += j0 * x2
                d1 += j1 * x2
                d2 += j2 * x2
                d3 += j3 * x2
                e0 += j0 * x3
                e1 += j1 * x3
                e2 += j2 * x3
                e3 += j3 * x3
            out[k, s] = a0
            out[k + 1, s] = a1
            out[k + 2, s] = a2
            out[k + 3, s] = a3
            out[k, s + 1] = b0
            out[k + 1, s + 1] = b1
            out[k + 2, s + 1] = b2
            out[k + 3, s + 1] = b3
            out[k, s + 2] = d0
            out[k + 1, s + 2] = d1
            out[k + 2, s + 2] = d2
            out[k + 3, s + 2] = d3
            out[k, s + 3] = e0
            out[k + 1, s + 3] = e1
            out[k + 2, s + 3] = e2
            out[k + 3, s + 3] = e3
            s += 4
        while s + 2 <= s1:
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = 0.0
            for c in range(n):
                x0 = X[s, c]
                x1 = X[s + 1, c]
                j0 = A[k, c]
                j1 = A[k + 1, c]
                j2 = A[k + 2, c]
                j3 = A[k + 3, c]
                a0 += j0 * x0
                a1 += j1 * x0
                a2 += j2 * x0
                a3 += j3 * x0
                b0 += j0 * x1
                b1 += j1 * x1
                b2 += j2 * x1
                b3 += j3 * x1
            out[k, s] = a0
            out[k + 1, s] = a1
            out[k + 2, s] = a2
            out[k + 3, s] = a3
            out[k, s + 1] = b0
            out[k + 1, s + 1] = b1
            out[k + 2, s + 1] = b2
            out[k + 3, s + 1] = b3
            s += 2
        if s < s1:
            a0 = a1 = a2 = a3 = 0.0
            for c in range(n):
                x0 = X[s, c]
                a0 += A[k, c] * x0
                a1 += A[k + 1, c] * x0
                a2 += A[k + 2, c] * x0
                a3 += A[k + 3, c] * x0
            out[k, s] = a0
            out[k + 1, s] = a1
            out[k + 2, s] = a2
            out[k + 3, s] = a3
        k += 4
    while k < k1:
        s = s0
        while s + 4 <= s1:
            a0 = a1 = a2 = a3 = 0.0
            for c in range(n):
                j0 = A[k, c]
                a0 += j0 * X[s, c]
                a1 += j0 * X[s + 1, c]
                a2 += j0 * X[s + 2, c]
                a3 += j0 * X[s + 3, c]
            out[k, s] = a0
            out[k, s + 1] = a1
            out[k, s + 2] = a2
            out[k, s + 3] = a3
            s += 4
        while s < s1:
            a0 = 0.0
            for c in range(n):
                a0 += A[k, c] * X[s, c]
            out[k, s] = a0
            s += 1
        k += 1


@nb.njit(inline="always", fastmath=_FM)
def _gram4(X, u, n, G):
    """The six products X[a, :n] . X[b, :n] of u <= a < b < u + 4, in one pass over c."""
    p01 = p02 = p03 = p12 = p13 = p23 = 0.0
    for c in range(n):
        x0 = X[u, c]
        x1 = X[u + 1, c]
        x2 = X[u + 2, c]
        x3 = X[u + 3, c]
        p01 += x0 * x1
        p02 += x0 * x2
        p03 += x0 * x3
        p12 += x1 * x2
        p13 += x1 * x3
        p23 += x2 * x3
    G[u, u + 1] = p01
    G[u, u + 2] = p02
    G[u, u + 3] = p03
    G[u + 1, u + 2] = p12
    G[u + 1, u + 3] = p13
    G[u + 2, u + 3] = p23


@nb.njit(inline="always", fastmath=_FM)
def _gram(X, T, n, G):
    """G[u, s] = X[u, :n] . X[s, :n] for u < s < T (the upper triangle): groups of four rows,
    each against itself (``_gram4``) and against the later rows (``_dots``)."""
    u = 0
    while u + 4 <= T:
        _gram4(X, u, n, G)
        if u + 4 < T:
            _dots(X, u, u + 4, X, u + 4, T, n, G)
        u += 4
    for a in range(u, T - 1):
        _dots(X, a, a + 1, X, a + 1, T, n, G)


@nb.njit(inline="always", fastmath=_FM)
def _rank_update(J, C, X, T, n):
    """J[k, :n] += sum_{s < T} C[k, s] X[s, :n]: the T updates of a block in one pass over J
    (four rows of J against four inputs per pass over c; each J element is loaded and stored
    T/4 times)."""
    K = J.shape[0]
    k = 0
    if T == 8:  # a whole block of eight in one pass, two rows at a time
        while k + 2 <= K:
            c00, c01, c02, c03, c04, c05, c06, c07 = C[k, 0], C[k, 1], C[k, 2], C[k, 3], C[k, 4], C[k, 5], C[k, 6], C[k, 7]
            c10, c11, c12, c13 = C[k + 1, 0], C[k + 1, 1], C[k + 1, 2], C[k + 1, 3]
            c14, c15, c16, c17 = C[k + 1, 4], C[k + 1, 5], C[k + 1, 6], C[k + 1, 7]
            for c in range(n):
                x0 = X[0, c]
                x1 = X[1, c]
                x2 = X[2, c]
                x3 = X[3, c]
                x4 = X[4, c]
                x5 = X[5, c]
                x6 = X[6, c]
                x7 = X[7, c]
                J[k, c] += (c00 * x0 + c01 * x1 + c02 * x2 + c03 * x3) + (c04 * x4 + c05 * x5 + c06 * x6 + c07 * x7)
                J[k + 1, c] += (c10 * x0 + c11 * x1 + c12 * x2 + c13 * x3) + (c14 * x4 + c15 * x5 + c16 * x6 + c17 * x7)
            k += 2
    while k + 4 <= K:
        s = 0
        while s + 4 <= T:
            # the coefficients in locals: J may alias C for all the compiler knows
            c00, c01, c02, c03 = C[k, s], C[k, s + 1], C[k, s + 2], C[k, s + 3]
            c10, c11, c12, c13 = C[k + 1, s], C[k + 1, s + 1], C[k + 1, s + 2], C[k + 1, s + 3]
            c20, c21, c22, c23 = C[k + 2, s], C[k + 2, s + 1], C[k + 2, s + 2], C[k + 2, s + 3]
            c30, c31, c32, c33 = C[k + 3, s], C[k + 3, s + 1], C[k + 3, s + 2], C[k + 3, s + 3]
            for c in range(n):
                x0 = X[s, c]
                x1 = X[s + 1, c]
                x2 = X[s + 2, c]
                x3 = X[s + 3, c]
                J[k, c] += c00 * x0 + c01 * x1 + c02 * x2 + c03 * x3
                J[k + 1, c] += c10 * x0 + c11 * x1 + c12 * x2 + c13 * x3
                J[k + 2, c] += c20 * x0 + c21 * x1 + c22 * x2 + c23 * x3
                J[k + 3, c] += c30 * x0 + c31 * x1 + c32 * x2 + c33 * x3
            s += 4
        while s < T:
            c00, c10, c20, c30 = C[k, s], C[k + 1, s], C[k + 2, s], C[k + 3, s]
            for c in range(n):
                x0 = X[s, c]
                J[k, c] += c00 * x0
                J[k + 1, c] += c10 * x0
                J[k + 2, c] += c20 * x0
                J[k + 3, c] += c30 * x0
            s += 1
        k += 4
    while k < K:
        s = 0
        while s + 4 <= T:
            c0 = C[k, s]
            c1 = C[k, s + 1]
            c2 = C[k, s + 2]
            c3 = C[k, s + 3]
            for c in range(n):
                J[k, c] += c0 * X[s, c] + c1 * X[s + 1, c] + c2 * X[s + 2, c] + c3 * X[s + 3, c]
            s += 4
        while s < T:
            c0 = C[k, s]
            for c in range(n):
                J[k, c] += c0 * X[s, c]
            s += 1
        k += 1


@nb.njit(inline="always", fastmath=_FM)
def _block(J, B, v, vT, X, T, xis, eta_n, inv_sqrt_n, act, n_train, eta_v_n, lim2, H, Y, G, C, hs, gs, W):
    """T steps of ``_step`` on the inputs X[:T] (noise xis[:T]) with one pass over J and B for
    the products and one for the update (a delayed update).  Since J after u < s steps of the
    block is J + sum_u C[:, u] X[u, :n_train], the student pre-activation of step s is
    J.X[s] + sum_{u<s} C[:, u] (X[u, :n_train] . X[s, :n_train]): the products of all T steps
    with the block's first J, the teacher's products and the inputs' Gram matrix are matrix
    products that run at the CPU's multiply-add rate; then the steps run one after the other on
    K x T numbers, and J gets the T updates at once.  The same steps as ``_step`` up to
    round-off.  Returns (steps done, status): status 1 if a step's squared error exceeded lim2
    (J is then left at the block's start; the run is abandoned)."""
    K = J.shape[0]
    M = B.shape[0]
    _dots(B, 0, M, X, 0, T, B.shape[1], Y)
    _dots(J, 0, K, X, 0, T, J.shape[1], H)
    _gram(X, T, n_train, G)
    for s in range(T):
        if K >= VECTOR_MIN_K:  # the activations of all units at once (W: scratch rows)
            for m in range(M):
                W[0, m] = Y[m, s] * inv_sqrt_n
            for k in range(K):
                h = H[k, s]
                for u in range(s):
                    h += C[k, u] * G[u, s]
                hs[k] = h * inv_sqrt_n
            g_dg_into(W[0], W[1], hs, gs, W[2], M, K, act)
            y = xis[s]
            for m in range(M):
                y += vT[m] * W[1, m]
            sig = 0.0
            for k in range(K):
                sig += v[k] * gs[k]
            err = y - sig
            for k in range(K):
                C[k, s] = eta_n * v[k] * W[2, k] * err
        else:  # unit by unit, calling the C library's erf and exp; g' stays inside the product
            # of C (fast-math may reassociate it there: storing it first would change the bits)
            y = xis[s]
            for m in range(M):
                y += vT[m] * g_of(Y[m, s] * inv_sqrt_n, act)
            sig = 0.0
            for k in range(K):
                h = H[k, s]
                for u in range(s):
                    h += C[k, u] * G[u, s]
                hs[k] = h * inv_sqrt_n
                gs[k] = g_of(hs[k], act)
                sig += v[k] * gs[k]
            err = y - sig
            for k in range(K):
                C[k, s] = eta_n * v[k] * dg_of(hs[k], act) * err
        if eta_v_n != 0.0:
            for k in range(K):
                v[k] += eta_v_n * gs[k] * err
        if not err * err <= lim2:
            return s + 1, 1
    _rank_update(J, C, X, T, n_train)
    return T, 0


@nb.njit(inline="always")
def _max_abs(J):
    m = 0.0
    for k in range(J.shape[0]):
        for c in range(J.shape[1]):
            a = abs(J[k, c])
            if not a <= m:  # also propagates NaN
                m = a
    return m


@nb.njit(inline="always", fastmath=_FM)
def _draw(out, st, words, miss):
    """The next ``len(out)`` N(0,1) draws of the stream state ``st`` = [key, counter, key2,
    counter2] into ``out`` (``st`` updated; ``words``, ``miss``: scratch of ``out``'s length).
    Every draw of the engine goes through here, with the kernels' fast-math flags: the ziggurat's
    rare tail and wedge draws (``rng._normal_slow``) round differently without them."""
    c1, c2 = fastrng.fill_normal(out, st[0], st[1], st[2], st[3], fastrng.KN, fastrng.WN, fastrng.FN, words, miss)
    st[1] = c1
    st[3] = c2


@nb.njit(inline="always", fastmath=_FM)
def _input(x, Z, r, st, sqrt_lam, words, miss):
    """x = sqrt(lambda) z for the next step: z from row r of ``Z`` (drawn beforehand by
    ``_draw_inputs``), or, with ``Z`` empty, drawn now from ``st``."""
    if Z.shape[0]:  # the seed's z of this step, drawn once for several runs or on another thread
        for c in range(x.shape[0]):
            x[c] = Z[r, c] * sqrt_lam[c]
    else:
        _draw(x, st, words, miss)
        for c in range(x.shape[0]):
            x[c] *= sqrt_lam[c]


@nb.njit(nogil=True, cache=True, fastmath=_FM)
def _run_gaussian_blocked(J, B, v, vT, sqrt_lam, n_steps, eta, eta_v, act, n_train, ctr, noise, nctr,
                          lim2, wlim, check_every, step0, Z, z0, TB):
    """``_run_gaussian`` in blocks of ``TB`` steps (``_block``; ``TB = block_steps(K)``).  The inputs of a block
    are drawn first, in the stream's order, so the draws are the same.  Blocks end at multiples
    of TB and of check_every counted from the start of the run (so the weight check
    sees the same steps, and the split does not depend on how the run is chunked, except
    where a chunk ends inside a block, e.g. at a grid point off a multiple of TB).  ``Z``, ``z0``:
    see ``_run_gaussian``."""
    N = J.shape[1]
    inv = 1.0 / math.sqrt(N)
    K = J.shape[0]
    M = B.shape[0]
    hs = np.empty(K)
    gs = np.empty(K)
    X = np.empty((TB, N))
    xis = np.zeros(TB)
    H = np.empty((K, TB))
    Y = np.empty((M, TB))
    G = np.empty((TB, TB))
    C = np.empty((K, TB))
    W = np.empty((3, max(K, M)))
    words = np.empty(N, dtype=np.uint64)
    miss = np.empty(N, dtype=np.int64)
    nz = np.empty(1)
    nwords = np.empty(1, dtype=np.uint64)
    nmiss = np.empty(1, dtype=np.int64)
    s = 0
    while s < n_steps:
        pos = step0 + s
        T = min(TB - pos % TB, check_every - pos % check_every, n_steps - s)
        for i in range(T):
            _input(X[i], Z, pos + i - z0, ctr, sqrt_lam, words, miss)
            if noise != 0.0:
                _draw(nz, nctr, nwords, nmiss)
                xis[i] = noise * nz[0]
        done, status = _block(J, B, v, vT, X, T, xis, eta * inv, inv, act, n_train, eta_v / N, lim2, H, Y, G, C, hs, gs, W)
        if status:
            return s + done, status
        s += T
        if (step0 + s) % check_every == 0:
            if not _max_abs(J) <= wlim:
                return s, 2
    return n_steps, 0


@nb.njit(nogil=True, cache=True, fastmath=_FM)
def _run_gaussian(J, B, v, vT, sqrt_lam, n_steps, eta, eta_v, act, n_train, ctr, noise, nctr,
                  lim2, wlim, check_every, step0, Z, z0):
    """``n_steps`` steps on fresh inputs x = sqrt(lambda) z.  ``ctr`` = [key, counter, key2,
    counter2] of the input stream (updated in place), ``nctr`` the same for the noise stream.
    ``Z``: empty (0 rows), or the seed's z of steps z0, z0 + 1, ... drawn beforehand by
    ``_draw_inputs`` (the numbers the stream gives here; ``ctr`` is then left alone).
    Returns (steps done, status): status 0 ok, 1 output error exploded, 2 weights exploded."""
    N = J.shape[1]
    inv = 1.0 / math.sqrt(N)
    K = J.shape[0]
    hs = np.empty(K)
    gs = np.empty(K)
    z = np.empty(N)
    words = np.empty(N, dtype=np.uint64)
    miss = np.empty(N, dtype=np.int64)
    nz = np.empty(1)
    nwords = np.empty(1, dtype=np.uint64)
    nmiss = np.empty(1, dtype=np.int64)
    for s in range(n_steps):
        _input(z, Z, step0 + s - z0, ctr, sqrt_lam, words, miss)
        xi = 0.0
        if noise != 0.0:
            _draw(nz, nctr, nwords, nmiss)
            xi = noise * nz[0]
        err = _step(J, B, v, vT, z, hs, gs, eta * inv, inv, act, n_train, eta_v / N, xi)
        if not err * err <= lim2:
            return s + 1, 1
        if (step0 + s + 1) % check_every == 0:
            if not _max_abs(J) <= wlim:
                return s + 1, 2
    return n_steps, 0


@nb.njit(nogil=True, cache=True, fastmath=_FM)
def _run_rows(J, B, v, vT, X, idx, eta, eta_v, act, n_train, noise, nctr, lim2, wlim, check_every, step0):
    """SGD over the rows X[idx[s]] (read in place); same returns as ``_run_gaussian``."""
    N = J.shape[1]
    inv = 1.0 / math.sqrt(N)
    K = J.shape[0]
    hs = np.empty(K)
    gs = np.empty(K)
    nz = np.empty(1)
    nwords = np.empty(1, dtype=np.uint64)
    nmiss = np.empty(1, dtype=np.int64)
    for s in range(idx.shape[0]):
        xi = 0.0
        if noise != 0.0:
            _draw(nz, nctr, nwords, nmiss)
            xi = noise * nz[0]
        err = _step(J, B, v, vT, X[idx[s]], hs, gs, eta * inv, inv, act, n_train, eta_v / N, xi)
        if not err * err <= lim2:
            return s + 1, 1
        if (step0 + s + 1) % check_every == 0:
            if not _max_abs(J) <= wlim:
                return s + 1, 2
    return idx.shape[0], 0


_factor = nb.njit(inline="always")(factor_scalar)


@nb.njit(nogil=True, cache=True, fastmath=_FM)
def _run_gaussian_recipe(J, B, v, vT, sqrt_lam, n_steps, eta, eta_v, act, n_train, ctr, noise, nctr,
                         lim2, wlim, check_every, step0, batch, code, p0, p1, p2):
    """``n_steps`` steps of a mini-batch of ``batch`` fresh inputs each, with the learning rate
    eta f(alpha) of the schedule (code, p0, p1, p2) at the alpha where the step starts: the mean
    gradient over the batch, taken at the weights before the step.  The inputs are drawn in order
    from the same stream as ``_run_gaussian`` (one step of a batch of 1 draws what one step there
    does).  ``step0`` counts the steps of ``batch`` done before; same returns."""
    N = J.shape[1]
    inv = 1.0 / math.sqrt(N)
    K = J.shape[0]
    M = B.shape[0]
    hs = np.empty(K)
    gs = np.empty(K)
    z = np.empty(N)
    dJ = np.empty((K, n_train))
    dv = np.empty(K)
    words = np.empty(N, dtype=np.uint64)
    miss = np.empty(N, dtype=np.int64)
    nz = np.empty(1)
    nwords = np.empty(1, dtype=np.uint64)
    nmiss = np.empty(1, dtype=np.int64)
    for s in range(n_steps):
        f = _factor(code, p0, p1, p2, (step0 + s) * batch / N)
        dJ[:, :] = 0.0
        dv[:] = 0.0
        for b in range(batch):
            _draw(z, ctr, words, miss)
            for c in range(N):
                z[c] *= sqrt_lam[c]
            y = 0.0
            if noise != 0.0:
                _draw(nz, nctr, nwords, nmiss)
                y = noise * nz[0]
            for m in range(M):
                acc = 0.0
                for c in range(N):
                    acc += B[m, c] * z[c]
                y += vT[m] * g_of(acc * inv, act)
            sig = 0.0
            for k in range(K):
                acc = 0.0
                for c in range(N):
                    acc += J[k, c] * z[c]
                hs[k] = acc * inv
                gs[k] = g_of(hs[k], act)
                sig += v[k] * gs[k]
            err = y - sig
            if not err * err <= lim2:
                return s + 1, 1
            for k in range(K):
                coef = v[k] * dg_of(hs[k], act) * err
                for c in range(n_train):
                    dJ[k, c] += coef * z[c]
                dv[k] += gs[k] * err
        scale = f * eta * inv / batch
        for k in range(K):
            for c in range(n_train):
                J[k, c] += scale * dJ[k, c]
        if eta_v != 0.0:
            sv = f * eta_v / N / batch
            for k in range(K):
                v[k] += sv * dv[k]
        if ((step0 + s + 1) * batch) % check_every < batch:
            if not _max_abs(J) <= wlim:
                return s + 1, 2
    return n_steps, 0


@nb.njit(nogil=True, cache=True, fastmath=_FM)
def _draw_inputs(Z, ctr):
    """Fill the rows of Z with the z of as many steps from the stream state ``ctr`` (updated in
    place), as the kernels draw them (``_draw``), for ``_input`` to replay."""
    N = Z.shape[1]
    words = np.empty(N, dtype=np.uint64)
    miss = np.empty(N, dtype=np.int64)
    for r in range(Z.shape[0]):
        _draw(Z[r], ctr, words, miss)


@nb.njit(nogil=True, cache=True, fastmath=_FM)
def _draw_rows_main(Z, r0, r1, key, counter, MI, NM):
    """The first two passes of ``_draw`` (``rng.fill_main``) for the rows r0 <= r < r1 of Z, row r
    from the main stream's counter + r N: what does not depend on the draws before it, so
    that both threads can do it.  The misses of row r go to MI[r, :NM[r]]; ``_draw_rows_missed``
    finishes them."""
    N = Z.shape[1]
    words = np.empty(N, dtype=np.uint64)
    for r in range(r0, r1):
        NM[r] = fastrng.fill_main(Z[r], key, counter + np.uint64(r * N), fastrng.KN, fastrng.WN, words, MI[r])


@nb.njit(nogil=True, cache=True, fastmath=_FM)
def _draw_rows_missed(Z, MI, NM, ctr):
    """The last pass of ``_draw`` for every row of Z after ``_draw_rows_main`` from the stream
    state ``ctr`` (whose main counter is that of row 0; updated in place as ``_draw_inputs``
    would leave it): the misses, row after row, from the secondary stream."""
    N = Z.shape[1]
    for r in range(Z.shape[0]):
        c = ctr[1] + np.uint64(r * N)
        ctr[3] = fastrng.fill_missed(Z[r], ctr[0], c, MI[r], NM[r], ctr[2], ctr[3], fastrng.KN, fastrng.WN,
                                     fastrng.FN)
    ctr[1] += np.uint64(Z.shape[0] * N)


#: No replayed inputs (``_SeedRun.advance``): the kernels draw their own.
_NO_Z = np.empty((0, 1))


def _state(keys):
    return np.array([keys[0], 0, keys[1], 0], dtype=np.uint64)


# ---------------------------------------------------------------------------------------------
# one seed
# ---------------------------------------------------------------------------------------------
class _Cancelled(Exception):
    pass


class _SeedRun:
    """One seed of one configuration, advanced chunk by chunk: ``stop()`` is the end of the next
    chunk (about 0.05 s of steps, cut at the grid points), ``advance(n)`` runs n steps of it and
    records at the grid point it reaches.  ``_run_seed`` runs one alone; ``simulate_shared``
    advances several that share their inputs, replaying the seed's z from one buffer (``Z``)."""

    def __init__(self, config: Config, seed: int, steps: np.ndarray, spec, weights, record_weights: bool, tick):
        self.config, self.steps, self.record_weights, self.tick = config, steps, record_weights, tick
        self.setting = resolve(config)
        self.act = self.setting.activation
        if weights is None:
            J, B = init_weights(config, seed)
        else:
            J, B = weights
        self.J = np.array(J, dtype=np.float64, order="C", copy=True)
        self.B = np.array(B, dtype=np.float64, order="C", copy=True)
        self.v = config.student_weights.copy()
        self.vT = config.teacher_weights
        self.lam = np.ascontiguousarray(coordinate_eigenvalues(config))
        N, K, M = config.N, config.K, config.M
        self.src = spec.source(config, seed)
        self.noise_state = _state(normal_keys(seed, "noise"))
        P = steps.shape[0]
        self.Qs, self.Rs, self.Ts = np.empty((P, K, K)), np.empty((P, K, M)), np.empty((P, M, M))
        self.vs = np.empty((P, K))
        self.Js = np.empty((P, K, N)) if record_weights else None
        Q0, R0, T0 = overlaps(self.J, self.B, self.lam)
        self.eps0 = float(self.setting.eps_g(Q0, R0, T0, self.v))
        self.lim2 = ERR2_GROWTH * max(1.0, 2.0 * self.eps0)
        self.wlim = WEIGHT_GROWTH * max(1.0, float(np.abs(self.J).max(initial=0.0)),
                                        float(np.abs(self.B).max(initial=0.0)))
        per_step = 1.5e-9 * (3 * N + (2 * K + M) * N) + 1e-8
        self.chunk = max(1, int(CHUNK_SECONDS / per_step))
        self.recipe = not config.default_recipe
        if self.recipe:
            self.chunk = max(config.batch, self.chunk - self.chunk % config.batch)  # whole mini-batches
        if self.act.code < 0:
            self.chunk = max(1, min(self.chunk, 2000))
        self.done = 0        # steps done
        self.p = 0           # the next grid point
        self.chunk_end = 0   # the end of the current chunk (a later call may stop short of it)

    @property
    def finished(self) -> bool:
        return self.p >= self.steps.shape[0]

    def stop(self) -> int:
        """The step at which the current chunk ends."""
        if self.done >= self.chunk_end:
            self.chunk_end = int(min(self.done + self.chunk, self.steps[self.p]))
        return self.chunk_end

    def advance(self, n: int, Z=_NO_Z, z0: int = 0) -> None:
        """Run n steps (at most to ``stop()``); with ``Z``, the z of steps z0, z0 + 1, ... come
        from its rows instead of the stream."""
        config, act, J, B, v, vT, N = self.config, self.act, self.J, self.B, self.v, self.vT, self.config.N
        src, noise_state, done = self.src, self.noise_state, self.done
        status = 0
        if act.code < 0:  # a user activation: the NumPy step
            X = src.draw(n)
            for s in range(n):
                xi = 0.0
                if config.noise:
                    z, c = fastrng.standard_normal((int(noise_state[0]), int(noise_state[2])), 1, 1,
                                                   (int(noise_state[1]), int(noise_state[3])))
                    noise_state[1], noise_state[3] = c
                    xi = float(z[0, 0])
                reference_step(J, B, X[s], config, v=v, xi=xi)
                if not np.all(np.isfinite(J)) or np.abs(J).max() > self.wlim:
                    n_done, status = s + 1, 2
                    break
            else:
                n_done = n
        elif self.recipe:  # a schedule or mini-batches (Gaussian inputs, checked by ``simulate``)
            Bsz = config.batch
            code, p0, p1, p2 = config.lr_schedule.scalars
            st = np.array([src.keys[0], src.counters[0], src.keys[1], src.counters[1]], dtype=np.uint64)
            n_b, status = _run_gaussian_recipe(J, B, v, vT, src.sqrt_lam, n // Bsz, config.eta, config.eta_v,
                                               int(act.code), config.n_trainable, st, config.noise, noise_state,
                                               self.lim2, self.wlim, N, done // Bsz, Bsz, code, p0, p1, p2)
            n_done = int(n_b) * Bsz
            src.counters = (int(st[1]), int(st[3]))
        elif isinstance(src, GaussianSource):
            K = config.K
            st = np.array([src.keys[0], src.counters[0], src.keys[1], src.counters[1]], dtype=np.uint64)
            run = _run_gaussian_blocked if K >= BLOCK_MIN_K else _run_gaussian
            n_done, status = run(J, B, v, vT, src.sqrt_lam, n, config.eta, config.eta_v, int(act.code),
                                 config.n_trainable, st, config.noise, noise_state, self.lim2, self.wlim, N, done,
                                 Z, z0, *((block_steps(K),) if K >= BLOCK_MIN_K else ()))
            src.counters = (int(st[1]), int(st[3]))
        elif isinstance(src, RowSource):
            idx = src.indices(n)
            n_done, status = _run_rows(J, B, v, vT, src.X, idx, config.eta, config.eta_v, int(act.code),
                                       config.n_trainable, config.noise, noise_state, self.lim2, self.wlim, N, done)
        else:  # pragma: no cover - sources are made by the specs of twolayer.data.inputs
            raise TypeError(f"unknown input source {type(src).__name__}")
        self.done = done = done + int(n_done)
        self.tick(n_done / N)
        if status:
            why = "output error exploded" if status == 1 else "weights exploded"
            raise diverged("SGD", config.eta, done / N, why)
        if done == self.steps[self.p]:
            self._record()

    def replay(self, Z, b0: int) -> None:
        """Advance through the steps b0, b0 + 1, ... whose z are the rows of ``Z``, chunk by chunk
        as alone, stopping also at the buffer's end (a multiple of 8 steps: the end of a block
        anyway, ``buffer_rows``), so the bits are those of the run alone."""
        end = b0 + Z.shape[0]
        while not self.finished and self.done < end:
            self.advance(min(self.stop(), end) - self.done, Z, b0)

    def _record(self) -> None:
        p, target, J, v = self.p, self.steps[self.p], self.J, self.v
        self.Qs[p], self.Rs[p], self.Ts[p] = overlaps(J, self.B, self.lam)
        self.vs[p] = v
        if self.record_weights:
            self.Js[p] = J
        if not (np.all(np.isfinite(J)) and np.all(np.isfinite(v))):
            raise diverged("SGD", self.config.eta, target / self.config.N, "non-finite weights")
        check_curve("SGD", self.config.eta, [target / self.config.N],
                    [float(self.setting.eps_g(self.Qs[p], self.Rs[p], self.Ts[p], v))], self.eps0)
        self.p += 1

    def result(self) -> dict:
        config = self.config
        eps = self.setting.eps_g(self.Qs, self.Rs, self.Ts, self.vs if config.train_readout else self.v)
        return dict(eps=eps, Q=self.Qs, R=self.Rs, T=self.Ts, v=self.vs, J=self.Js, B=self.B)


def _run_seed(config: Config, seed: int, steps: np.ndarray, spec, weights, record_weights: bool,
              cancel: threading.Event, tick) -> dict:
    run = _SeedRun(config, seed, steps, spec, weights, record_weights, tick)
    while not run.finished:
        if cancel.is_set():
            raise _Cancelled
        run.advance(run.stop() - run.done)
    return run.result()


#: Doubles per input buffer of a pipelined seed (8 MiB: the draws of a few milliseconds, so that
#: handing a buffer from one thread to the other costs little; larger ones run slower, measured
#: at N = 7000, K = 4).
PIPELINE_BUFFER = 1 << 20
#: Doubles per share of a buffer's first two draw passes that a thread takes at a time.
PIPELINE_SHARE = 1 << 17
#: Buffers a run must fill at least to be pipelined (shorter ones run faster alone than they take
#: to allocate the buffers).
PIPELINE_MIN_BUFFERS = 16


def replays_inputs(config: Config) -> bool:
    """Whether runs of ``config`` on fresh Gaussian inputs can take their z from a buffer drawn
    beforehand (``simulate_shared``, a seed on two threads): the default recipe (constant eta,
    batch 1) with a built-in activation, the kernels that read such a buffer."""
    return config.default_recipe and resolve(config).activation.code >= 0


class _Fill:
    """One input buffer of a pipelined seed: the z of the steps b S, b S + 1, ..., its rows'
    misses (``_draw_rows_main``), the shares of its first two draw passes taken and done, and
    whether its last pass is done."""

    def __init__(self, S: int, N: int, share: int):
        self.Z = np.empty((S, N))
        self.MI = np.empty((S, N), dtype=np.int64)
        self.NM = np.empty(S, dtype=np.int64)
        self.share = share
        self.b = -1        # the buffer it holds, -1 while free
        self.rows = 0
        self.taken = self.done = self.shares = 0
        self.missed = False

    def hold(self, b: int, rows: int) -> None:
        self.b, self.rows, self.taken, self.done, self.missed = b, rows, 0, 0, False
        self.shares = -(-rows // self.share)


def _run_seed_pipelined(config: Config, seed: int, steps: np.ndarray, spec, weights, record_weights: bool,
                        cancel: threading.Event, tick) -> dict:
    """``_run_seed`` on two threads, with the same bits.  The seed's z are drawn into buffers of
    ``buffer_rows(N, PIPELINE_BUFFER)`` steps, three in turn.  A buffer's first two draw passes
    (the hashes and the ziggurat's rectangles, ``_draw_rows_main``) depend only on where they
    are in the stream, so they are cut into shares that either thread takes.  The last pass (the
    ~1.3 % of draws that miss the rectangles, from the secondary stream, ``_draw_rows_missed``)
    runs buffer after buffer, by whichever thread finds the next buffer's shares done; the
    stepping thread replays each buffer in turn (``_SeedRun.replay``).  The other thread fills
    buffers ahead; the stepping thread helps with the buffer it needs next (or, while its last
    share is being drawn, the one after), so the two share the draws, most of a step at small K."""
    N = config.N
    S = buffer_rows(N, PIPELINE_BUFFER)
    share = max(1, PIPELINE_SHARE // N)
    total = int(steps[-1])
    n_buf = -(-total // S)
    if n_buf < PIPELINE_MIN_BUFFERS:
        return _run_seed(config, seed, steps, spec, weights, record_weights, cancel, tick)
    run = _SeedRun(config, seed, steps, spec, weights, record_weights, tick)
    ctr = _state(normal_keys(seed, "inputs"))  # its secondary counter: the last pass's, in order
    key = ctr[0]
    fills = [_Fill(S, N, share) for _ in range(3)]
    cv = threading.Condition()
    stop, failed = threading.Event(), []
    last = {"next": 0, "busy": False}  # the buffer whose last pass is next, and whether it runs

    def finish() -> bool:
        """Run the last pass of as many buffers in a row as have their shares done; False if
        there was none to run."""
        ran = False
        while True:
            with cv:
                f = fills[last["next"] % 3]
                if last["busy"] or f.b != last["next"] or f.done < f.shares:
                    return ran
                last["busy"] = ran = True
            ok = False
            try:
                _draw_rows_missed(f.Z[:f.rows], f.MI, f.NM, ctr)
                ok = True
            finally:
                with cv:
                    if ok:
                        f.missed = True
                        last["next"] += 1
                    last["busy"] = False
                    cv.notify_all()

    def work(f: _Fill) -> bool:
        """Take and do one share of f's first passes; False when none is left."""
        with cv:
            if f.taken == f.shares:
                return False
            k = f.taken
            f.taken += 1
        r0 = k * f.share
        _draw_rows_main(f.Z, r0, min(r0 + f.share, f.rows), key, np.uint64(f.b * S * N), f.MI, f.NM)
        with cv:
            f.done += 1
            cv.notify_all()
        return True

    def produce():
        try:
            for b in range(n_buf):
                f = fills[b % 3]
                while True:  # ahead of the stepping thread: run the last passes meanwhile
                    with cv:
                        if stop.is_set():
                            return
                        if f.b == -1:
                            f.hold(b, min(S, total - b * S))
                            cv.notify_all()
                            break
                    if not finish():
                        with cv:
                            if f.b != -1 and not stop.is_set():
                                cv.wait(0.1)
                while not stop.is_set() and work(f):
                    pass
        except BaseException as e:  # noqa: BLE001 - handed to the stepping thread
            failed.append(e)
            with cv:
                cv.notify_all()

    producer = threading.Thread(target=produce, name="twolayer-draws", daemon=True)
    producer.start()
    try:
        for b in range(n_buf):
            if run.finished:
                break
            f, ahead = fills[b % 3], fills[(b + 1) % 3]
            while True:  # help with the buffer needed next, or while it is being finished, the one after
                if cancel.is_set():
                    raise _Cancelled
                if failed:
                    raise failed[0]
                with cv:
                    if f.b == b and f.missed:
                        break
                    ready = f.b == b and f.done == f.shares
                    mine = f if f.b == b and f.taken < f.shares else None
                    if mine is None and ahead.b == b + 1 and ahead.taken < ahead.shares:
                        mine = ahead
                if ready and finish():
                    continue
                if not ready and mine is not None and work(mine):
                    continue
                with cv:
                    if not (f.b == b and f.missed):
                        cv.wait(0.1)
            if cancel.is_set():
                raise _Cancelled
            run.replay(f.Z[:f.rows], b * S)
            with cv:
                f.b = -1
                cv.notify_all()
    finally:
        stop.set()
        with cv:
            cv.notify_all()
        producer.join()
    return run.result()


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------
def simulate(config: Config, alpha, *, seeds=(0,), inputs=None, weights=None, workers: int | None = None,
             progress=None, record_weights: bool = False, budget: Budget | None = None,
             backend: str = "numba", device=None, dtype: str = "float64") -> Trajectory:
    """Online SGD learning curves, one row per seed (book introduction, the SGD rule).

    Parameters
    ----------
    config : the setting
    alpha : grid of alpha = steps / N, strictly increasing, each a whole number of steps
        (``alpha_grid`` makes such grids)
    seeds : one seed or several; each seed draws its teacher, student and inputs
    inputs : an input specification of ``twolayer.data.inputs`` (default ``GaussianInputs()``)
    weights : optional (J, B) to start every seed from (then seeds only drive the inputs)
    workers : threads (default: this machine's cores); seeds run in parallel on min(#seeds,
        workers) of them, and where there are at least two threads per seed (a seed alone on two
        cores, or the seeds left over after the last full round, e.g. the 15th of 15 on two)
        each such seed runs on two threads that share its draws (``_run_seed_pipelined``; fresh
        Gaussian inputs, constant eta, batch 1, a built-in activation); the results do not
        depend on it
    progress : ``True`` for a bar on stderr that ticks on alpha, or a tqdm-like object
    record_weights : keep J at every grid point (``info["J"]``, shape (S, P, K, N)) and the
        teachers (``info["B"]``, (S, M, N))
    budget : memory/time limits (``twolayer.problem.resources.Budget``)
    backend : ``"numba"`` (the compiled engine, default) or ``"torch"``: all seeds advance as one
        batched tensor program (``engines.torch_backend.simulate_torch``; its random inputs come
        from ``torch.Generator`` and differ from the compiled engine's)
    device, dtype : torch backend only: device (default CUDA if available) and ``"float64"`` or
        ``"float32"``

    Returns
    -------
    Trajectory with method ``"sgd"`` (``"sgd-torch"`` for the torch backend): eps_g (S, P) and Q, R, T (and v when the second layer is
    trained) at every grid point.

    Raises ``DivergenceError`` (with the alpha where it happened) when a run blows up.
    """
    if backend not in ("numba", "torch"):
        raise ValueError(f"backend must be 'numba' or 'torch', got {backend!r}")
    if backend == "torch":
        if weights is not None or record_weights or workers is not None:
            raise ValueError("weights, record_weights and workers apply to backend='numba' only")
        # PyTorch is optional and slow to import: loaded only when asked for (same layer)
        from .torch_backend import simulate_torch

        return simulate_torch(config, alpha, seeds=seeds, inputs=inputs, device=device, dtype=dtype,
                              progress=progress, budget=budget)
    if device is not None or dtype != "float64":
        raise ValueError("device and dtype apply to backend='torch' only")
    if not isinstance(config, Config):
        raise ValueError(f"config must be a Config, got {type(config).__name__}")
    alpha, steps = check_steps(alpha, config.N)
    if config.batch > 1 and np.any(steps % config.batch):
        raise ValueError(f"alpha must be whole mini-batches: alpha N a multiple of batch = {config.batch} "
                         f"(use alpha_grid(..., batch={config.batch}))")
    seeds = check_seeds(seeds)
    record_weights = check_bool("record_weights", record_weights)
    workers = (os.cpu_count() or 1) if workers is None else check_int("workers", workers, 1, 1024)
    spec = GaussianInputs() if inputs is None else inputs
    if not hasattr(spec, "source"):
        raise ValueError(f"inputs must be an input specification of twolayer.data.inputs, got {inputs!r}")
    if not config.default_recipe and (not isinstance(spec, GaussianInputs) or resolve(config).activation.code < 0):
        raise ValueError("a learning-rate schedule or batch > 1 needs fresh Gaussian inputs and a built-in "
                         "activation in the compiled SGD engine")
    if weights is not None:
        if not (isinstance(weights, (tuple, list)) and len(weights) == 2):
            raise ValueError("weights must be a pair (J, B)")
        weights = check_weights_shape(config, *weights)
    mem, secs = sgd_estimate(config.N, config.K, config.M, float(steps[-1]) * len(seeds), len(alpha),
                             len(seeds), min(workers, len(seeds)), record_weights)
    check_budget(f"SGD with N={config.N}, K={config.K}, M={config.M} to alpha={alpha[-1]:g} for "
                 f"{len(seeds)} seeds", mem, secs, budget)
    if resolve(config).activation.code < 0:
        workers = 1  # the NumPy step holds the GIL
    bar = make_progress(progress, float(alpha[-1]) * len(seeds), "sgd")
    lock = threading.Lock()

    def tick(x):
        with lock:
            bar.update(x)

    cancel = threading.Event()
    try:
        # seeds run on the threads in rounds of ``workers``; with at least two threads per seed
        # (a seed alone, or the seeds left over by the last round) each seed runs on two
        # (``_run_seed_pipelined``), where the inputs allow it
        can_pipe = isinstance(spec, GaussianInputs) and replays_inputs(config) and workers >= 2
        n_tail = len(seeds) % workers if len(seeds) > workers else len(seeds)
        if not (can_pipe and workers >= 2 * n_tail):
            n_tail = 0
        bulk, tail = seeds[:len(seeds) - n_tail], seeds[len(seeds) - n_tail:]
        rows = _run_seeds(_run_seed, bulk, workers, config, steps, spec, weights, record_weights, cancel, tick)
        rows += _run_seeds(_run_seed_pipelined, tail, workers // 2, config, steps, spec, weights, record_weights,
                           cancel, tick)
    finally:
        bar.close()
    return _trajectory(config, alpha, seeds, rows, record_weights)


def _run_seeds(one, seeds, workers: int, config, steps, spec, weights, record_weights: bool, cancel, tick) -> list:
    """``one(config, seed, ...)`` for every seed, on min(#seeds, workers) threads; the first
    error stops the other seeds (within one chunk) and is raised."""
    if workers <= 1 or len(seeds) <= 1:
        return [one(config, s, steps, spec, weights, record_weights, cancel, tick) for s in seeds]
    with ThreadPoolExecutor(min(workers, len(seeds))) as pool:
        futs = [pool.submit(one, config, s, steps, spec, weights, record_weights, cancel, tick) for s in seeds]
        ok = False
        try:
            while True:  # a timeout, so that Ctrl-C reaches this thread promptly
                done, pending = wait(futs, timeout=0.1, return_when=FIRST_EXCEPTION)
                if not pending or any(f.exception() is not None for f in done):
                    break
            ok = not pending and all(f.exception() is None for f in done)
        finally:
            if not ok:
                cancel.set()  # stops the other seeds within one chunk
    errors = [f.exception() for f in futs if f.exception() is not None]
    real = [e for e in errors if not isinstance(e, _Cancelled)]
    if real:
        raise real[0]
    return [f.result() for f in futs]


def _trajectory(config: Config, alpha, seeds, rows, record_weights: bool) -> Trajectory:
    info = {}
    if record_weights:
        info = {"J": np.stack([r["J"] for r in rows]), "B": np.stack([r["B"] for r in rows])}
    return Trajectory(
        alpha=alpha, eps_g=np.stack([r["eps"] for r in rows]), config=config, method="sgd",
        Q=np.stack([r["Q"] for r in rows]), R=np.stack([r["R"] for r in rows]),
        T=np.stack([r["T"] for r in rows]), seeds=seeds,
        v=np.stack([r["v"] for r in rows]) if config.train_readout else None, info=info,
    )


#: Doubles of the input buffer of ``simulate_shared`` (1 MiB: it stays in the L2 cache while
#: the runs replay it).
SHARED_BUFFER = 1 << 17


def buffer_rows(N: int, doubles: int) -> int:
    """Rows (steps) of an input buffer of about ``doubles`` numbers: a multiple of 8, so that
    its ends are ends of blocks of 4 and 8 steps (``block_steps``)."""
    return max(8, doubles // N // 8 * 8)


def simulate_shared(configs, alphas, seed: int, *, record_weights: bool = False) -> list[Trajectory]:
    """``simulate(config, alpha, seeds=seed)`` for several configurations of the same N at once,
    drawing the seed's inputs once for all of them (the sweeps' SGD tasks, ``twolayer.sweeps``).

    Every configuration of one seed sees the same z of its stream (x = sqrt(lambda) z, whatever
    L, beta, K, M, the activation or eta), and drawing z costs most of a step at small K.  Here
    the z of a stretch of ``buffer_rows(N, SHARED_BUFFER)`` steps are drawn into a buffer that stays
    in cache, and each run replays them (``_SeedRun.replay``), chunk by chunk as ``simulate`` runs
    it, stopping in addition at the buffer's ends, which are ends of blocks anyway.  So each trajectory is the one
    ``simulate`` gives, bit for bit (tested), and the draws cost that of the longest run alone.

    Parameters
    ----------
    configs : configurations with the same N, fresh Gaussian inputs of the default recipe
        (constant eta, batch 1) and a built-in activation
    alphas : one alpha grid per configuration (as for ``simulate``)
    seed : the seed of all runs
    record_weights : as for ``simulate``

    Returns
    -------
    One ``Trajectory`` per configuration, as ``simulate`` returns it.
    """
    configs = list(configs)
    if not configs or not all(isinstance(c, Config) for c in configs):
        raise ValueError("configs must be a non-empty list of Configs")
    if len(alphas) != len(configs):
        raise ValueError(f"alphas must hold one grid per configuration ({len(configs)}), got {len(alphas)}")
    N = configs[0].N
    for c in configs:
        if c.N != N:
            raise ValueError(f"configs must share N: got N = {N} and N = {c.N}")
        if not replays_inputs(c):
            raise ValueError("simulate_shared runs the default recipe (constant eta, batch 1) with a built-in "
                             "activation; run other configurations with simulate")
    (seed,) = check_seeds(seed)
    record_weights = check_bool("record_weights", record_weights)
    grids = [check_steps(a, N) for a in alphas]
    spec = GaussianInputs()
    runs = [_SeedRun(c, seed, steps, spec, None, record_weights, lambda x: None) for c, (_, steps) in zip(configs, grids)]
    Z = np.empty((buffer_rows(N, SHARED_BUFFER), N))
    ctr = _state(normal_keys(seed, "inputs"))
    b0 = 0
    while not all(r.finished for r in runs):
        _draw_inputs(Z, ctr)
        for r in runs:
            r.replay(Z, b0)
        b0 += Z.shape[0]
    return [_trajectory(c, a, (seed,), [r.result()], record_weights) for c, (a, _), r in zip(configs, grids, runs)]
