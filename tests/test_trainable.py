"""Linear K = M = 1 theory for an arbitrary spectrum with N_l trainable coordinates
(twolayer.theory.trainable, chapter 02_trainable_dims, paper Fig. 3)."""

from __future__ import annotations

import numpy as np
import pytest

from twolayer import images as im
from twolayer.config import Config
from twolayer.data import coordinate_eigenvalues, eigenvalues
from twolayer.models import init_weights
from twolayer.results import alpha_grid
from twolayer.sgd import simulate
from twolayer.theory import linear
from twolayer.theory import trainable as tt


def _cfg(**kw):
    base = dict(N=256, L=64, K=1, M=1, beta=1.0, eta=0.05, sigma_J=0.01, activation="linear")
    base.update(kw)
    return Config(**base)


# --------------------------------------------------------------------------------------------
# generic-spectrum solution = block solution of twolayer.theory.linear on power laws
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("N,L,beta,n_l,eta,sigma_J", [
    (256, 64, 1.0, 98, 0.05, 0.01),    # N_l cuts an eigenvalue block (multiplicity 4)
    (256, 256, 1.0, 32, 0.05, 0.01),   # paper Fig. 3 left
    (128, 32, 0.3, 128, 0.5, 1.0),     # everything trainable, large eta and sigma_J
    (120, 12, 2.0, 7, 0.2, 0.1),
])
def test_generic_spectrum_equals_block_theory(N, L, beta, n_l, eta, sigma_J):
    cfg = _cfg(N=N, L=L, beta=beta, trainable=n_l, eta=eta, sigma_J=sigma_J)
    alpha = alpha_grid(1e4, 40, N)
    seeds = (0, 3)
    ref = linear.exact_curve(cfg, alpha, "sampled", seeds).eps_g
    lam = coordinate_eigenvalues(N, L, beta)
    e0 = np.array([tt.coordinate_errors(*init_weights(cfg, s)) for s in seeds])
    got = tt.exact_curve_spectrum(lam, eta, sigma_J, n_l, alpha, e0)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=0)
    # mean initialisation
    ref_m = linear.exact_curve(cfg, alpha, "mean").eps_g[0]
    np.testing.assert_allclose(tt.exact_curve_spectrum(lam, eta, sigma_J, n_l, alpha), ref_m, rtol=1e-10)
    # without the O(eta^2) term
    ref_1 = linear.exact_curve(cfg.replace(eta2=False), alpha, "mean").eps_g[0]
    np.testing.assert_allclose(tt.exact_curve_spectrum(lam, eta, sigma_J, n_l, alpha, eta2=False),
                               ref_1, rtol=1e-10)
    # reachable error, both initialisations
    np.testing.assert_allclose(tt.reachable_error_spectrum(lam, eta, sigma_J, n_l),
                               linear.reachable_error(cfg), rtol=1e-12)
    np.testing.assert_allclose(tt.reachable_error_spectrum(lam, eta, sigma_J, n_l, e0[1]),
                               linear.reachable_error(cfg, "sampled", seeds[1]), rtol=1e-12)


def test_per_coordinate_errors_and_eps():
    cfg = _cfg(trainable=50)
    J, B = init_weights(cfg, 5)
    e = tt.coordinate_errors(J, B)
    assert e.shape == (cfg.N,)
    np.testing.assert_allclose(e.sum(), np.sum((J - B) ** 2) / cfg.N, rtol=1e-14)
    lam = coordinate_eigenvalues(cfg.N, cfg.L, cfg.beta)
    E = tt.exact_errors_spectrum(lam, cfg.eta, cfg.sigma_J, 50, [0.0, 3.0], e)
    np.testing.assert_allclose(E[0], e, rtol=0, atol=1e-16)  # rounding of the eigen-rotation
    np.testing.assert_array_equal(E[1, 50:], e[50:])  # frozen coordinates do not move
    w = np.linspace(0.5, 2, cfg.N)
    np.testing.assert_allclose(tt.exact_curve_spectrum(lam, cfg.eta, cfg.sigma_J, 50, [3.0], e, weights=w),
                               [0.5 * E[1] @ w], rtol=1e-13)


# --------------------------------------------------------------------------------------------
# eps_inf closed form = long exact run
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_l", [1, 10, 64, 200])
def test_reachable_error_is_the_long_time_limit(n_l):
    rng = np.random.default_rng(7)
    lam = np.sort(rng.pareto(1.5, 256) + 0.01)[::-1]
    lam *= lam.size / lam.sum()
    e0 = rng.exponential(1.0 / 256, size=(3, 256))
    eta = 0.5 * tt.eta_max_spectrum(lam, n_l) if n_l > 1 else 0.3
    # slowest trained mode relaxes as exp(-2 eta lambda_{N_l} alpha (1 - load)): go far beyond it
    alpha_long = 60.0 / (2 * eta * lam[n_l - 1] * 0.5)
    long = tt.exact_curve_spectrum(lam, eta, 0.0, n_l, [alpha_long], e0)[:, 0]
    closed = tt.reachable_error_spectrum(lam, eta, 0.0, n_l, e0)
    np.testing.assert_allclose(long, closed, rtol=1e-10)


def test_reachable_error_paper_fig3_left_long_run():
    cfg = _cfg(N=256, L=256, trainable=32)
    lam = coordinate_eigenvalues(256, 256, 1.0)
    long = linear.exact_curve(cfg, [1e6], "mean").eps_g[0, 0]
    np.testing.assert_allclose(tt.reachable_error_spectrum(lam, 0.05, 0.01, 32), long, rtol=1e-10)
    np.testing.assert_allclose(tt.reachable_error_powerlaw(256, 1.0, 0.05, 0.01, 32), long, rtol=1e-12)


def test_reachable_error_simulation_small():
    """SGD (N = 64, 16 seeds, fully relaxed) agrees with eps_inf of the same initial weights."""
    cfg = _cfg(N=64, L=64, trainable=8)
    seeds = range(16)
    alpha = np.array([400.0, 450.0, 500.0])  # exp(-2 eta lambda_8 alpha) < 1e-8
    sim = simulate(cfg, alpha=alpha, seeds=seeds, workers=1).eps_g.mean(axis=1)
    lam = coordinate_eigenvalues(64, 64, 1.0)
    e0 = np.array([tt.coordinate_errors(*init_weights(cfg, s)) for s in seeds])
    einf = tt.reachable_error_spectrum(lam, cfg.eta, cfg.sigma_J, 8, e0)
    # the frozen part is exact; trained coordinates fluctuate around (eta/N) eps_inf each.
    # Measured: seed mean +0.4 % (sem 0.3 %), single seeds within 3.2 %; the eta correction is 2.4 %.
    dev = sim / einf - 1
    assert np.abs(dev).max() < 0.05, dev
    assert abs(sim.mean() / einf.mean() - 1) < 0.012
    frozen_only = tt.reachable_error_spectrum(lam, cfg.eta, cfg.sigma_J, 8, e0, eta2=False)
    assert abs(sim.mean() / frozen_only.mean() - 1) > 0.012  # the eta correction is resolved


# --------------------------------------------------------------------------------------------
# the N_l^{-beta} law with its finite-L correction
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.3, 1.0, 2.0])
def test_finite_L_law_against_exact_tail(beta):
    L = 256
    n = np.arange(1, L)
    exact = tt.frozen_tail(L, beta, n)
    lam = eigenvalues(L, beta)
    np.testing.assert_allclose(exact[9], lam[10:].sum() / L, rtol=1e-13)
    plain = tt.frozen_tail_continuum(L, beta, n)
    mid = tt.frozen_tail_continuum(L, beta, n, midpoint=True)
    # Euler-Maclaurin: plain integral O(1/N_l), midpoint rule O(1/N_l^2) (f''/24 term).
    # Measured max |rel. err| * N_l: 0.650 (beta 0.3), 1.000 (1), 1.502 (2) ~ (1+beta)/2
    assert np.all(np.abs(plain / exact - 1) <= (1 + beta) / (2 * n) * 1.01)
    assert np.all(np.abs(mid / exact - 1) <= (1 + beta) * (2 + beta) / (24 * n**2) * 1.0001)
    # far from both ends the pure law N_l^{-beta} with the finite-L term is accurate to 1 %
    sel = (n >= 50) & (n <= 200)
    assert np.max(np.abs(plain[sel] / exact[sel] - 1)) < 0.01 * (1 + beta)


def test_fit_scaling_law_recovers_beta():
    L, beta = 256, 1.0
    n = np.arange(8, 129)
    e = tt.reachable_error_powerlaw(L, beta, 0.05, 0.01, n)
    f = tt.fit_scaling_law(n, e, L, midpoint=True)
    assert abs(f["beta"] - beta) < 2e-3
    assert f["slope"] < -1.2  # the finite-L correction steepens the plain log-log slope
    # an exact finite-L law is fitted exactly
    exact = 0.3 * ((n + 0.5) ** -0.4 - (L + 0.5) ** -0.4)
    f = tt.fit_scaling_law(n, exact, L, midpoint=True)
    assert abs(f["beta"] - 0.4) < 1e-6 and abs(f["amplitude"] - 0.3) < 1e-5
    # pure power law: slope = -beta
    assert abs(tt.fit_scaling_law(n, n ** -0.7)["slope"] + 0.7) < 1e-12


# --------------------------------------------------------------------------------------------
# SGD on real inputs read in place = the same steps on gathered copies
# --------------------------------------------------------------------------------------------
def test_indexed_rows_equal_gathered_rows():
    from twolayer.models import init_weights
    from twolayer.sgd import run_given_inputs, run_indexed_inputs

    data = im.patch_dataset(n_patches=3000, size=8, seed=3, holdout=0.2, n_test=400)
    X = np.ascontiguousarray(data.train_pca)
    idx = im.PatchInputs(data, 0).draw_indices(2000)
    for cfg in (Config(N=64, L=1, K=1, M=1, eta=0.05, sigma_J=0.01, activation="linear", trainable=20),
                Config(N=64, L=1, K=2, M=2, eta=0.1, sigma_J=0.01, activation="erf")):
        J, B = init_weights(cfg, 0)
        a, b = J.copy(), J.copy()
        run_indexed_inputs(a, B, X, idx, cfg)
        run_given_inputs(b, B, X[idx], cfg)
        np.testing.assert_array_equal(a, b)
    # chunking of simulate_on_inputs does not matter
    c1 = im.simulate_on_inputs(cfg, data, seeds=(0, 1), alpha=alpha_grid(30, 8, 64), chunk=500, workers=1)
    c2 = im.simulate_on_inputs(cfg, data, seeds=(0, 1), alpha=alpha_grid(30, 8, 64), chunk=333, workers=2)
    np.testing.assert_array_equal(c1.theory.eps_g, c2.theory.eps_g)
    np.testing.assert_array_equal(c1.test.eps_g, c2.test.eps_g)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def test_bad_input_raises_value_error_naming_the_parameter():
    lam = np.ones(8)
    with pytest.raises(ValueError, match="lam"):
        tt.exact_curve_spectrum(-lam, 0.1, 0.0, 4, [1.0])
    with pytest.raises(ValueError, match="eta"):
        tt.exact_curve_spectrum(lam, 0.0, 0.0, 4, [1.0])
    with pytest.raises(ValueError, match="eta_max"):
        tt.exact_curve_spectrum(lam, 3.0, 0.0, 8, [1.0])
    with pytest.raises(ValueError, match="eta_max"):
        tt.reachable_error_spectrum(lam, 3.0, 0.0, 8)
    with pytest.raises(ValueError, match="N_l"):
        tt.reachable_error_spectrum(lam, 0.1, 0.0, 9)
    with pytest.raises(ValueError, match="e0"):
        tt.exact_curve_spectrum(lam, 0.1, 0.0, 4, [1.0], e0=np.ones(7))
    with pytest.raises(ValueError, match="alpha"):
        tt.exact_curve_spectrum(lam, 0.1, 0.0, 4, [-1.0])
    with pytest.raises(ValueError, match="weights"):
        tt.exact_curve_spectrum(lam, 0.1, 0.0, 4, [1.0], weights=np.ones(3))
    with pytest.raises(ValueError, match="N_l"):
        tt.frozen_tail(16, 1.0, 17)
    with pytest.raises(ValueError, match="N_l"):
        tt.frozen_tail(16, 1.0, 2.5)
    with pytest.raises(ValueError, match="L"):
        tt.fit_scaling_law([1, 2, 16], [1.0, 0.5, 0.1], L=16)
    with pytest.raises(ValueError, match="J and B"):
        tt.coordinate_errors(np.ones((2, 4)), np.ones((2, 4)))
    assert tt.eta_max_spectrum(lam, 0) == np.inf
    assert tt.eta_max_spectrum(lam, 4) == pytest.approx(4.0)
