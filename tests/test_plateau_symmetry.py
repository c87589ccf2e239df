"""The symmetry of the plateau: the spread of the overlaps over the teacher units
(analysis.overlap_spread) and the escape-rate law against the secular problem
(analysis.rate_law_ratio)."""

import numpy as np
import pytest

import twolayer as tl
from twolayer.analysis import overlap_spread, rate_law_ratio


def test_overlap_spread_of_known_overlaps():
    R = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])  # R_n = (1, 2): std 0.5, mean 1.5
    assert overlap_spread(R) == pytest.approx(1 / 3, rel=1e-12)
    stack = np.stack([R, np.ones((3, 2))])
    np.testing.assert_allclose(overlap_spread(stack), [1 / 3, 0.0], atol=1e-15)
    with pytest.raises(ValueError, match="R"):
        overlap_spread(np.ones(3))


def test_rate_law_holds_for_erf_and_misses_for_relu():
    base = tl.Config(N=256, L=16, K=4, M=4, beta=1.0, eta=0.1, sigma_J=0.01)
    assert rate_law_ratio(base) == pytest.approx(1.0, abs=1e-3)  # chapter 06: 1.000
    assert rate_law_ratio(base.replace(activation="relu")) == pytest.approx(1.464, abs=1e-3)
    with pytest.raises(ValueError, match="config"):
        rate_law_ratio("erf")
