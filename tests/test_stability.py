"""The learning rate of the linear network (twolayer.experiments.count_diverged, eta2_scan)."""

import numpy as np
import pytest

import twolayer as tl
from twolayer.experiments import count_diverged, eta2_scan

LIN = tl.Config(N=128, L=8, K=1, M=1, beta=1.0, eta=1.0, sigma_J=1.0, activation="linear")


def test_count_diverged_counts_runs_above_eta_max():
    a = tl.alpha_grid(200, 10, LIN.N, alpha_min=1)
    emax = tl.theory.linear.eta_max(LIN)  # 2 for full training
    assert emax == pytest.approx(2.0, rel=1e-12)
    assert count_diverged(LIN.replace(eta=0.5 * emax), a, (0, 1)) == 0
    assert count_diverged(LIN.replace(eta=1.5 * emax), a, (0, 1, 2)) == 3


def test_eta2_scan_matches_the_quasi_equilibrium_and_the_reachable_error():
    cfg = tl.Config(N=64, L=64, K=1, M=1, beta=1.0, eta=1.0, sigma_J=1.0, activation="linear")
    df = eta2_scan(cfg, (0.01, 0.5), trainable=16)
    assert list(df.columns) == ["eta", "full/small (eta alpha=5)", "1/(1-eta/2)",
                                "slowest rate/(2 eta lam_L)", "eps_inf/eps_fr", "long run"]
    np.testing.assert_allclose(df["1/(1-eta/2)"], [1 / 0.995, 1 / 0.75], rtol=1e-14)
    # small eta: no amplification; the slowest rate stays 2 eta lam_L
    assert df["full/small (eta alpha=5)"][0] == pytest.approx(1.005, abs=2e-3)
    np.testing.assert_allclose(df["slowest rate/(2 eta lam_L)"], 1.0, atol=1e-3)
    # the closed form of the reachable error equals the long run of the exact solution
    np.testing.assert_allclose(df["eps_inf/eps_fr"], df["long run"], rtol=1e-6)
    assert df["eps_inf/eps_fr"][1] > 1.1
    with pytest.raises(ValueError, match="trainable"):
        eta2_scan(cfg, (0.1,), trainable=64)
