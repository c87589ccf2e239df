"""A compiled, counter-based standard-normal source for the SGD engine (the data layer).

Uniform bits: the SplitMix64 finaliser applied to (key + counter * golden gamma), a bijective
64-bit mix that passes BigCrush as a generator (Steele, Lea & Flood 2014).  Every seed owns a
64-bit key drawn from its ``SeedSequence``; the state is the pair (key, counter), passed and
returned explicitly (no global state), so a run is reproducible draw by draw.

Normals: the Marsaglia-Tsang (2000) ziggurat with 256 layers.  The layer index comes from the low
8 bits and the signed 32-bit abscissa from the high 32 bits of the same 64-bit word, so they are
independent (the correlation Doornik 2005 found in the original arises from sharing bits).  The
tail and wedges are sampled exactly.  About 99% of draws cost one hash and one table lookup.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _zig_tables():
    """Tables of the 256-layer ziggurat (r = 3.6541528853610088, layer area v; Marsaglia & Tsang)."""
    n = 256
    m1 = 2147483648.0
    dn = 3.6541528853610088
    tn = dn
    vn = 0.00492867323399
    kn = np.zeros(n, dtype=np.int64)
    wn = np.zeros(n)
    fn = np.zeros(n)
    q = vn / math.exp(-0.5 * dn * dn)
    kn[0] = int((dn / q) * m1)
    kn[1] = 0
    wn[0] = q / m1
    wn[n - 1] = dn / m1
    fn[0] = 1.0
    fn[n - 1] = math.exp(-0.5 * dn * dn)
    for i in range(n - 2, 0, -1):
        dn = math.sqrt(-2.0 * math.log(vn / dn + math.exp(-0.5 * dn * dn)))
        kn[i + 1] = int((dn / tn) * m1)
        tn = dn
        fn[i] = math.exp(-0.5 * dn * dn)
        wn[i] = dn / m1
    return kn, wn, fn


KN, WN, FN = _zig_tables()
_R = 3.6541528853610088


@nb.njit(inline="always")
def _mix(key, counter):
    z = key + counter * _GAMMA
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@nb.njit(inline="always")
def _uniform(key, counter):
    """Uniform in (0, 1) from one 64-bit word."""
    u = _mix(key, counter)
    return (np.float64(u >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@nb.njit
def _normal_slow(key, counter, hz, iz, kn, wn, fn):
    """Tail and wedge of the ziggurat (about 1% of draws).  Returns (value, new counter)."""
    while True:
        x = hz * wn[iz]
        if iz == 0:
            while True:
                xx = -math.log(_uniform(key, counter)) / _R
                counter += np.uint64(1)
                yy = -math.log(_uniform(key, counter))
                counter += np.uint64(1)
                if yy + yy >= xx * xx:
                    break
            return (_R + xx if hz > 0 else -_R - xx), counter
        if fn[iz] + _uniform(key, counter) * (fn[iz - 1] - fn[iz]) < math.exp(-0.5 * x * x):
            counter += np.uint64(1)
            return x, counter
        counter += np.uint64(1)
        u = _mix(key, counter)
        counter += np.uint64(1)
        iz = np.int64(u & np.uint64(255))
        hz = np.int64(np.int32(np.uint32(u >> np.uint64(32))))
        if abs(hz) < kn[iz]:
            return hz * wn[iz], counter


@nb.njit(inline="always")
def fill_main(out, key, counter, kn, wn, words, miss):
    """Passes one and two of ``fill_normal``: word i of ``out`` from counter + i of the main
    stream, hashed into ``words``, then every draw that falls in a rectangle of the ziggurat
    written to ``out``.  Returns the number of misses; their indices are ``miss[:nmiss]`` (in
    order) and ``fill_missed`` finishes them.  Depends on (key, counter) only, so blocks of a
    stream can be filled in any order, on any thread."""
    n = out.shape[0]
    for i in range(n):
        words[i] = _mix(key, counter + np.uint64(i))
    nmiss = 0
    for i in range(n):
        u = words[i]
        iz = np.int64(u & np.uint64(255))
        hz = np.int64(np.int32(np.uint32(u >> np.uint64(32))))
        out[i] = hz * wn[iz]
        miss[nmiss] = i
        nmiss += abs(hz) >= kn[iz]
    return nmiss


@nb.njit(inline="always")
def fill_missed(out, key, counter, miss, nmiss, key2, counter2, kn, wn, fn):
    """Pass three of ``fill_normal``: the draws ``miss[:nmiss]`` of the block filled by
    ``fill_main(out, key, counter, ...)``, in order, from the secondary stream (key2,
    counter2), their words hashed again from the main stream.  Returns the next counter2."""
    for j in range(nmiss):
        i = miss[j]
        u = _mix(key, counter + np.uint64(i))
        iz = np.int64(u & np.uint64(255))
        hz = np.int64(np.int32(np.uint32(u >> np.uint64(32))))
        out[i], counter2 = _normal_slow(key2, counter2, hz, iz, kn, wn, fn)
    return counter2


@nb.njit(inline="always")
def fill_normal(out, key, counter, key2, counter2, kn, wn, fn, words, miss):
    """Fill ``out`` with N(0,1) draws.  Word i of the block comes from counter + i of the main
    stream; the ~1.3% of words that miss the ziggurat's rectangles are finished, in order, from
    the secondary stream (key2, counter2).  ``words`` (uint64) and ``miss`` (int64), both of
    ``out``'s length, are scratch.  Returns both counters.

    Three passes: the hashes alone (a vectorised loop; with the table lookups in the same loop
    the compiler does not vectorise it, as it will not use gathers on some CPUs), the table
    lookups (``fill_main``), the misses (``fill_missed``).  The draws do not depend on the split
    (timings: ``benchmarks/README.md``); only the last pass is sequential in the stream, so a
    block's first two passes may run ahead on another thread."""
    nmiss = fill_main(out, key, counter, kn, wn, words, miss)
    counter2 = fill_missed(out, key, counter, miss, nmiss, key2, counter2, kn, wn, fn)
    return counter + np.uint64(out.shape[0]), counter2


@nb.njit(nogil=True, cache=True)
def _fill_blocks(out, key, counter, key2, counter2, kn, wn, fn):
    words = np.empty(out.shape[1], dtype=np.uint64)
    miss = np.empty(out.shape[1], dtype=np.int64)
    for r in range(out.shape[0]):
        counter, counter2 = fill_normal(out[r], key, counter, key2, counter2, kn, wn, fn, words, miss)
    return counter, counter2


def keys_from_seed(seq: np.random.SeedSequence) -> tuple[int, int]:
    """The two 64-bit keys (main and secondary stream) of a seed stream."""
    k = seq.generate_state(2, dtype=np.uint64)
    return int(k[0]), int(k[1])


def standard_normal(keys, rows, n, counters=(0, 0)):
    """``rows`` blocks of ``n`` N(0,1) draws from the stream ``keys = (key, key2)``.

    The same draws, block by block, that the SGD engine consumes for one input vector of
    dimension n per step.  Returns (array of shape (rows, n), next counters).
    """
    out = np.empty((rows, n), dtype=np.float64)
    c1, c2 = _fill_blocks(
        out, np.uint64(keys[0]), np.uint64(counters[0]), np.uint64(keys[1]), np.uint64(counters[1]), KN, WN, FN
    )
    return out, (int(c1), int(c2))
