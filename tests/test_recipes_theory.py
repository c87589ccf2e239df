"""The recipe theory of the linear network (``twolayer.theory.recipes``) and its scans
(``twolayer.analysis.recipes``): chapter "Training recipes"."""

from __future__ import annotations

import numpy as np
import pytest

import twolayer as tl
from twolayer.theory import linear as lin
from twolayer.theory import recipes as rc

LIN = tl.Config(N=128, L=32, K=1, M=1, eta=0.5, activation="linear")


def test_recursion_is_finite_n_curve_without_noise():
    c = tl.Config(N=128, L=128, K=1, M=1, eta=0.7, activation="linear", batch=4, schedule="power:0.5:3")
    a = tl.alpha_grid(30, 20, 128, batch=4)
    np.testing.assert_allclose(rc.recursion_curve(c, a, seeds=[0, 1]).eps_g,
                               lin.finite_n_curve(c, a, seeds=[0, 1]).eps_g, rtol=1e-12)


@pytest.mark.parametrize("recipe", [dict(), dict(batch=8, schedule="power:0.5:10"), dict(schedule="cosine:20")])
def test_recursion_with_noise_matches_sgd(recipe):
    """Label noise sigma = 0.5: seed mean of SGD within 4.5 standard errors of the recursion."""
    c = LIN.replace(noise=0.5, **recipe)
    a = tl.alpha_grid(30, 15, c.N, batch=c.batch, alpha_min=0.5)
    S = 64
    s = tl.simulate(c, a, seeds=range(S))
    th = rc.recursion_curve(c, a, seeds=range(S)).eps_g.mean(0)
    sem = s.eps_g.std(0, ddof=1) / np.sqrt(S)
    assert np.abs((s.eps_g.mean(0) - th) / sem).max() < 4.5


def test_ode_limit_against_closed_forms():
    c = tl.Config(N=4096, L=512, K=1, M=1, eta=0.8, activation="linear")
    a = np.geomspace(0.01, 300, 12)
    np.testing.assert_allclose(rc.ode_limit_curve(c, a, init="mean").eps_g,
                               lin.exact_curve(c, a, init="mean").eps_g, rtol=5e-3)
    cs = c.replace(schedule="wsd:50:200", batch=2)
    np.testing.assert_allclose(rc.ode_limit_curve(cs, a, init="mean", eta2=False).eps_g,
                               lin.small_eta_curve(cs, a, init="mean").eps_g, rtol=1e-12)


def test_noise_floor_and_recursion_floor():
    c = tl.Config(N=4096, L=16, K=1, M=1, eta=0.5, activation="linear", noise=0.5)
    assert rc.noise_floor(0.5, 0.5) == pytest.approx(0.5 * 0.25 / (2 * 1.5))
    assert rc.ode_limit_curve(c, np.array([1e4]), init="mean").eps_g[0, 0] == pytest.approx(1 / 24, rel=1e-6)
    a = tl.alpha_grid(300, 10, 4096)
    assert rc.recursion_curve(c, a, init="mean").eps_g[0, -1] == pytest.approx(1 / 24, rel=3e-3)
    with pytest.raises(ValueError, match="eta \\* load must be < 2"):
        rc.noise_floor(2.0, 0.1)


def test_two_term_curve_late_noise():
    """The two-term form: at late alpha of a power decay the error is the quasi-static noise
    eta f sigma^2 / 4 (all directions learned)."""
    c = tl.Config(N=64, L=16, K=1, M=1, eta=0.5, activation="linear", noise=0.4, schedule="power:0.5:1")
    e = rc.two_term_curve(c, np.array([1e6]))[0]
    assert e == pytest.approx(0.5 * 0.16 / 4 * (1 + 1e6) ** -0.5, rel=1e-3)


def test_exponents_and_best_power():
    assert rc.power_decay_exponent(1.0, 0.0) == pytest.approx(0.5)
    assert rc.power_decay_exponent(1.0, 0.5, noise=True) == pytest.approx(0.25)
    assert rc.power_decay_exponent(1.0, 0.2, noise=True) == pytest.approx(0.2)
    np.testing.assert_allclose(rc.power_decay_exponent(2.0, [0.0, 1.0, 2.0]), [2 / 3, 0.0, 0.0])
    for beta in (0.5, 1.0, 2.0):
        b = rc.best_power(beta)
        assert b["P"] == pytest.approx(beta / (1 + 2 * beta))
        assert rc.power_decay_exponent(beta, b["P"], noise=True) == pytest.approx(b["kappa"])


def test_eta_max_batch():
    c = tl.Config(N=128, L=128, K=1, M=1, activation="linear")
    assert rc.eta_max_batch(c) == pytest.approx(lin.eta_max_finite_n(c), rel=1e-10)
    tops = [rc.eta_max_batch(c.replace(batch=b)) for b in (1, 2, 8, 64, 4096)]
    assert np.all(np.diff(tops) > 0) and tops[1] == pytest.approx(1.5584, abs=1e-3)
    lam_plus = tl.problem.spectrum.lambda_plus(128, 1.0)
    assert tops[-1] == pytest.approx(2 * 128 / lam_plus, rel=2e-3)
    # the recursion is stable just below and diverges just above
    a = tl.alpha_grid(200, 5, 128, batch=8)
    cb = c.replace(batch=8)
    ok = rc.recursion_curve(cb.replace(eta=0.98 * tops[2]), a, init="mean").eps_g[0, -1]
    assert ok < 1.0
    with pytest.raises(tl.problem.divergence.DivergenceError):
        rc.recursion_curve(cb.replace(eta=1.05 * tops[2]), tl.alpha_grid(2000, 5, 128, batch=8), init="mean")


def test_time_changed():
    assert rc.time_changed(tl.Config(schedule="power:0.5:10"), 10.0) == pytest.approx(12.5)
    np.testing.assert_allclose(rc.time_changed(tl.Config(schedule="wsd:5:10"), [3.0, 8.0]), [3.0, np.inf])


def test_scans():
    base = tl.Config(N=1024, L=1024, K=1, M=1, eta=0.5, activation="linear")
    df = tl.analysis.power_decay_scan(base, (1.0,), (0.0, 0.5), a0=0.1)
    assert np.abs(df.fitted - df.two_term).max() < 0.01
    b = tl.analysis.budget_scan(LIN, ("constant", "cosine:20"), (0.5, 1.0), 20.0)
    assert b.shape == (4, 3) and np.all(b.eps > 0)
    s = tl.analysis.batch_scan(LIN, (1, 4), (0.5, 1.0, 2.0), (0.05,), 50.0)
    crit = tl.analysis.critical_batch(s)
    assert crit.B_crit.iloc[0] in (1, 4)
    f = tl.analysis.tuned_frontier(base.replace(N=256, L=256), [1e3, 1e4], (4, 16), (0.5, 1.0))
    assert list(f.columns) == ["C", "n_trainable", "alpha", "samples", "eps", "eta"] and len(f) == 2
