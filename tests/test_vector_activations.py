"""The vectorisable erf and exp of the wide-layer SGD step (``twolayer.gaussian._vector``,
``activations.g_dg_into``) against the C library's, in units in the last place (ulp)."""

import math

import numba as nb
import numpy as np
import pytest

from twolayer.gaussian import _vector
from twolayer.gaussian.activations import Code, dg_of, g_dg_into, g_of


@nb.njit
def _erf_all(x, out):
    for i in range(x.shape[0]):
        out[i] = _vector.erf(x[i])


@nb.njit
def _exp_all(y, out):
    for i in range(y.shape[0]):
        out[i] = _vector.exp_neg(y[i])


def _ulps(got, ref):
    return np.abs(got - ref) / np.spacing(np.abs(ref))


def test_erf_within_two_ulp_of_the_c_library():
    """On 400 001 evenly spaced points of [-7, 7] and 40 000 log-spaced magnitudes from 1e-300 to
    7 of either sign (the branch point |x| = 1, the clamp at 6 and tiny arguments included)."""
    mags = np.geomspace(1e-300, 7.0, 20_000)
    x = np.concatenate([np.linspace(-7.0, 7.0, 400_001), mags, -mags, [0.0, -0.0, 1.0, -1.0, np.nextafter(1.0, 0.0)]])
    got = np.empty_like(x)
    _erf_all(x, got)
    ref = np.array([math.erf(v) for v in x])
    assert np.max(_ulps(got, ref)[ref != 0]) <= 2.0
    assert np.all(got[ref == 0] == 0)
    assert np.mean(got == ref) > 0.9  # most values are the C library's to the bit


def test_erf_limits_and_nan():
    x = np.array([6.0, 6.5, 30.0, np.inf, -6.0, -np.inf, np.nan])
    got = np.empty_like(x)
    _erf_all(x, got)
    assert np.array_equal(got[:6], [1.0, 1.0, 1.0, 1.0, -1.0, -1.0])
    assert np.isnan(got[6])


def test_exp_within_one_ulp_of_the_c_library():
    y = -np.concatenate([np.linspace(0.0, 700.0, 300_001), np.geomspace(1e-300, 700.0, 10_000)])
    got = np.empty_like(y)
    _exp_all(y, got)
    ref = np.exp(y)
    assert np.max(_ulps(got, ref)) <= 1.0
    tail = np.empty(3)
    _exp_all(np.array([-800.0, -np.inf, np.nan]), tail)
    assert 0.0 < tail[0] == tail[1] <= math.exp(-700.0) and np.isnan(tail[2])


@pytest.mark.parametrize("code", [int(c) for c in (Code.ERF, Code.LINEAR, Code.RELU, Code.TANH)])
def test_layer_form_equals_the_unit_by_unit_form(code):
    """g_dg_into over a layer against g_of/dg_of per unit: erf within 2 ulp (g) and 1 ulp of exp
    (g'), the other activations' g to the bit and g' to round-off (tanh's 1 - t^2 may be one fused
    multiply-add in the compiled loop)."""
    rng = np.random.default_rng(3)
    u, h = rng.standard_normal(37) * 2.0, rng.standard_normal(41) * 2.0
    g_u, g_h, dg_h = np.empty(37), np.empty(41), np.empty(41)
    g_dg_into(u, g_u, h, g_h, dg_h, 37, 41, code)
    ref_u = np.array([g_of(a, code) for a in u])
    ref_h = np.array([g_of(a, code) for a in h])
    ref_dg = np.array([dg_of(a, code) for a in h])
    if code == int(Code.ERF):
        assert np.max(_ulps(g_u, ref_u)) <= 2 and np.max(_ulps(g_h, ref_h)) <= 2
        assert np.max(np.abs(dg_h - ref_dg) / ref_dg) <= 3e-16
    else:
        assert np.array_equal(g_u, ref_u) and np.array_equal(g_h, ref_h)
        assert np.max(np.abs(dg_h - ref_dg)) <= 2.3e-16
