"""Nearly degenerate spectra (twolayer.analysis.clusters.cluster_resolution)."""

import numpy as np
import pytest

import twolayer as tl
from twolayer.analysis import cluster_resolution


def test_cluster_resolution_of_a_known_deviation():
    c = tl.Config(N=256, L=4, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01, cluster_width=0.1)
    alpha = tl.alpha_grid(1e4, 120, c.N, alpha_min=0.05)
    ref = 0.05 / (1 + alpha)
    eps = ref * np.exp(1e-3 * alpha)  # |d ln eps| = alpha / 1000: above 1 % from alpha = 10
    df = cluster_resolution({c: eps}, alpha, ref, tol=0.01, early=100.0)
    row = df.iloc[0]
    assert row["delta"] == 0.1 and row["groups"] == 256
    assert row["alpha_dev"] == alpha[np.flatnonzero(alpha > 10.0)[0]]
    assert row["dev_early"] == pytest.approx(1e-3 * alpha[alpha <= 100.0][-1], rel=1e-12)
    lam = tl.problem.spectrum.groups(c.replace(cluster_width=0.0)).lam
    assert row["alpha_1"] == pytest.approx(1 / (2 * 0.1 * lam.max() * 0.1), rel=1e-12)
    assert row["alpha_L"] == pytest.approx(1 / (2 * 0.1 * lam.min() * 0.1), rel=1e-12)
    # chapter 06, section 4: at delta = 0.1 more than L values are resolved from alpha ~ 32
    assert row["alpha_res"] == pytest.approx(32.0, rel=0.05)
    assert 4 < row["L_eff_end"] <= 256


def test_cluster_resolution_validates():
    c = tl.Config(N=64, L=4, K=2, M=2, cluster_width=0.1)
    alpha = np.geomspace(0.1, 10, 5)
    with pytest.raises(ValueError, match="cluster_width"):
        cluster_resolution({c.replace(cluster_width=0.0): alpha}, alpha, alpha)
    with pytest.raises(ValueError, match="reference"):
        cluster_resolution({c: alpha}, alpha, alpha[:3])
    with pytest.raises(ValueError, match="tol"):
        cluster_resolution({c: alpha}, alpha, alpha, tol=0.0)
