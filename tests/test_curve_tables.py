"""Learning curves read off at chosen points (twolayer.analysis.curves_at)."""

import numpy as np
import pytest

import twolayer as tl
from twolayer.analysis import curves_at

CFG = tl.Config(N=16, L=4, K=1, M=1, beta=1.0, eta=0.1, sigma_J=0.01, activation="linear")
ALPHA = np.array([0.5, 1.0, 2.0, 4.0])


def _traj(rows):
    return tl.Trajectory(alpha=ALPHA, eps_g=np.array(rows, dtype=float), config=CFG, method="sgd")


def test_curves_at_reads_the_nearest_grid_point_and_the_sem():
    a = _traj([[1.0, 0.5, 0.25, 0.125], [3.0, 1.5, 0.75, 0.375]])
    b = _traj([[2.0, 1.0, 0.5, 0.25]])
    df = curves_at((0.9, 3.5), {"a": a, "b": b}, sem=["a"])
    assert list(df.columns) == ["alpha", "a", "a sem", "b"]
    np.testing.assert_allclose(df["alpha"], [1.0, 4.0], rtol=0, atol=0)
    np.testing.assert_allclose(df["a"], [1.0, 0.25], rtol=1e-15)
    # sem of (0.5, 1.5) is std(ddof=1)/sqrt(2) = 0.5
    np.testing.assert_allclose(df["a sem"], [0.5, 0.125], rtol=1e-12)
    np.testing.assert_allclose(df["b"], [1.0, 0.25], rtol=1e-15)


def test_curves_at_validates_its_inputs():
    a = _traj([[1.0, 0.5, 0.25, 0.125]])
    with pytest.raises(ValueError, match="curves"):
        curves_at((1.0,), {})
    with pytest.raises(ValueError, match="sem"):
        curves_at((1.0,), {"a": a}, sem=["b"])
    other = tl.Trajectory(alpha=ALPHA * 2, eps_g=a.eps_g, config=CFG, method="sgd")
    with pytest.raises(ValueError, match="grid"):
        curves_at((1.0,), {"a": a, "o": other})
