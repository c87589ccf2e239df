"""The counter-based Gaussian random numbers of ``twolayer.data.rng``: their distribution,
determinism and chunking, and the compiled ziggurat against a plain-Python transcription."""

import math

import numpy as np
from scipy import stats

from twolayer.data import rng as fastrng


def test_fast_normals_are_standard_normal_and_deterministic(monte_carlo):
    x, c = fastrng.standard_normal((11, 22), 1000, 1024)
    x = x.ravel()
    # mean, variance and excess kurtosis within 4 standard errors of a normal sample's
    monte_carlo.estimate(x.mean(), 1 / np.sqrt(x.size), 0.0, "mean")
    monte_carlo.estimate(x.var(), np.sqrt(2 / x.size), 1.0, "variance")
    monte_carlo.estimate(stats.kurtosis(x), np.sqrt(24 / x.size), 0.0, "excess kurtosis")
    assert stats.kstest(x, "norm").pvalue > 1e-3
    # tails: P(|x| > 3) within 4 sigma of the binomial expectation
    p3 = 2 * stats.norm.sf(3)
    monte_carlo.estimate((np.abs(x) > 3).mean(), np.sqrt(p3 / x.size), p3, "P(|x| > 3)")
    y, c2 = fastrng.standard_normal((11, 22), 1000, 1024)
    assert np.array_equal(x, y.ravel()) and c == c2
    # chunking does not change the stream
    a, ca = fastrng.standard_normal((11, 22), 400, 1024)
    b, _ = fastrng.standard_normal((11, 22), 600, 1024, ca)
    assert np.array_equal(np.concatenate([a, b]).ravel(), x)


def _normals_by_hand(keys, n):
    """The ziggurat of ``twolayer.data.rng`` transcribed in plain Python (one pass per draw, misses
    finished from the secondary stream in order): the reference for the compiled passes."""
    mask = (1 << 64) - 1

    def mix(key, counter):
        z = (key + counter * 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    def uniform(key, counter):
        return ((mix(key, counter) >> 11) + 0.5) / 2.0**53

    def split(u):
        hz = (u >> 32) & 0xFFFFFFFF
        return u & 255, hz - (1 << 32) if hz >= 1 << 31 else hz

    kn, wn, fn, r = fastrng.KN, fastrng.WN, fastrng.FN, fastrng._R
    key, key2 = keys
    c2, out = 0, []
    for i in range(n):
        iz, hz = split(mix(key, i))
        if abs(hz) < kn[iz]:
            out.append(hz * wn[iz])
            continue
        while True:  # tail and wedges, from the secondary stream
            x = hz * wn[iz]
            if iz == 0:
                while True:
                    xx = -math.log(uniform(key2, c2)) / r
                    yy = -math.log(uniform(key2, c2 + 1))
                    c2 += 2
                    if yy + yy >= xx * xx:
                        break
                out.append(r + xx if hz > 0 else -r - xx)
                break
            accept = fn[iz] + uniform(key2, c2) * (fn[iz - 1] - fn[iz]) < math.exp(-0.5 * x * x)
            c2 += 1
            if accept:
                out.append(x)
                break
            iz, hz = split(mix(key2, c2))
            c2 += 1
            if abs(hz) < kn[iz]:
                out.append(hz * wn[iz])
                break
    return np.array(out), (n, c2)


def test_fast_normals_follow_the_algorithm_draw_by_draw():
    """The compiled fill (hashes, lookups and misses in separate passes) against the plain-Python
    ziggurat: the same draws (to 1 ulp: the tail uses exp and log; equal bits here, with two
    tail draws among the 4000) and the same counters."""
    keys = (0x0123456789ABCDEF, 0xFEDCBA9876543210)
    x, c = fastrng.standard_normal(keys, 4, 1000)
    ref, c_ref = _normals_by_hand(keys, 4000)
    assert c == c_ref and c[1] > 50  # the misses (about 1.3 %) took words of the secondary stream
    np.testing.assert_allclose(x.ravel(), ref, rtol=4e-16, atol=0)
