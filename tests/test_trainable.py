"""Linear K = M = 1 theory for an arbitrary spectrum with N_l trainable coordinates
(``twolayer.theory.linear``, chapter 02_trainable_dims, paper Fig. 3)."""

from __future__ import annotations

import numpy as np
import pytest

from twolayer import Config, alpha_grid, simulate, solve_ode
from twolayer.analysis import fit_scaling_law
from twolayer.data import DatasetInputs, GivenInputs, images as im
from twolayer.state import init_weights
from twolayer.data.inputs import RowSource
from twolayer.experiments import simulate_on_data
from twolayer.problem.spectrum import coordinate_eigenvalues, eigenvalues, groups
from twolayer.theory import linear


def _cfg(**kw):
    base = dict(N=256, L=64, K=1, M=1, beta=1.0, eta=0.05, sigma_J=0.01, activation="linear")
    base.update(kw)
    return Config(**base)


def _random_spectrum(N, seed):
    rng = np.random.default_rng(seed)
    lam = np.sort(rng.pareto(1.5, N) + 0.01)[::-1]
    return tuple(lam * (N / lam.sum()))


# --------------------------------------------------------------------------------------------
# any spectrum: grouping reproduces the blocks; a random spectrum against the block ODE
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("N,L,beta,n_l,eta,sigma_J", [
    (256, 64, 1.0, 98, 0.05, 0.01),    # N_l cuts an eigenvalue block (multiplicity 4)
    (256, 256, 1.0, 32, 0.05, 0.01),   # paper Fig. 3 left
    (128, 32, 0.3, 128, 0.5, 1.0),     # everything trainable, large eta and sigma_J
    (120, 12, 2.0, 7, 0.2, 0.1),
])
def test_user_spectrum_equals_block_theory(N, L, beta, n_l, eta, sigma_J):
    cfg = _cfg(N=N, L=L, beta=beta, trainable=n_l, eta=eta, sigma_J=sigma_J)
    user = cfg.replace(spectrum=tuple(coordinate_eigenvalues(cfg)), L=1)
    assert user.L == L and groups(user).size == groups(cfg).size
    alpha = alpha_grid(1e4, 40, N)
    seeds = (0, 3)
    np.testing.assert_allclose(linear.exact_curve(user, alpha, seeds=seeds).eps_g,
                               linear.exact_curve(cfg, alpha, seeds=seeds).eps_g, rtol=1e-10, atol=0)
    np.testing.assert_allclose(linear.reachable_error(user), linear.reachable_error(cfg), rtol=1e-12)


def test_random_spectrum_exact_equals_block_ode():
    cfg = _cfg(N=64, L=1, trainable=20, eta=0.3).replace(spectrum=_random_spectrum(64, 1))
    assert groups(cfg).size == 64  # every coordinate its own group
    a = alpha_grid(200, 30, 64, alpha_min=0.1)
    ode = solve_ode(cfg, a, seeds=2, rtol=1e-8).eps_g[0]
    ex = linear.exact_curve(cfg, a, seeds=2).eps_g[0]
    assert np.max(np.abs(np.log(ode / ex))) < 1e-5


def test_test_weights_evaluate_the_error_on_other_data():
    cfg = _cfg(N=64, L=1, trainable=50).replace(spectrum=_random_spectrum(64, 4))
    J, B = init_weights(cfg, 5)
    e0 = (J - B)[0] ** 2 / cfg.N
    w = np.linspace(0.5, 2, cfg.N)
    got = linear.exact_curve(cfg, [1e-9], seeds=5, test_weights=w).eps_g[0, 0]
    np.testing.assert_allclose(got, 0.5 * e0 @ w, rtol=1e-7)
    with pytest.raises(ValueError, match="test_weights"):
        linear.exact_curve(cfg, [1.0], seeds=5, test_weights=np.ones(3))
    with pytest.raises(ValueError, match="one coordinate per group"):
        linear.exact_curve(_cfg(), [1.0], test_weights=np.ones(256))


# --------------------------------------------------------------------------------------------
# eps_inf closed form = long exact run
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_l", [1, 10, 64, 200])
def test_reachable_error_is_the_long_time_limit(n_l):
    lam = _random_spectrum(256, 7)
    cfg = _cfg(N=256, L=1, trainable=n_l, sigma_J=0.0).replace(spectrum=lam)
    eta = 0.5 * linear.eta_max(cfg) if n_l > 1 else 0.3
    cfg = cfg.replace(eta=eta)
    # slowest trained mode relaxes as exp(-2 eta lambda_{N_l} alpha (1 - load)): go far beyond it
    alpha_long = 60.0 / (2 * eta * lam[n_l - 1] * 0.5)
    for seed in (0, 1, 2):
        long = linear.exact_curve(cfg, [alpha_long], seeds=seed).eps_g[0, 0]
        np.testing.assert_allclose(long, linear.reachable_error(cfg, init="sampled", seed=seed), rtol=1e-10)


def test_reachable_error_paper_fig3_left_long_run():
    cfg = _cfg(N=256, L=256, trainable=32)
    long = linear.exact_curve(cfg, [1e6], init="mean").eps_g[0, 0]
    np.testing.assert_allclose(linear.reachable_error(cfg), long, rtol=1e-10)
    np.testing.assert_allclose(linear.reachable_error_powerlaw(256, 1.0, 0.05, 0.01, 32), long, rtol=1e-12)


def test_reachable_error_simulation_small():
    """SGD (N = 64, 16 seeds, fully relaxed) agrees with eps_inf of the same initial weights."""
    cfg = _cfg(N=64, L=64, trainable=8)
    seeds = range(16)
    alpha = np.array([400.0, 450.0, 500.0])  # exp(-2 eta lambda_8 alpha) < 1e-8
    sim = simulate(cfg, alpha, seeds=seeds, workers=1).eps_g.mean(axis=1)
    einf = np.array([linear.reachable_error(cfg, init="sampled", seed=s) for s in seeds])
    # the frozen part is exact; trained coordinates fluctuate around (eta/N) eps_inf each.
    # Measured: seed mean +0.4 % (sem 0.3 %), single seeds within 3.2 %; the eta correction is 2.4 %.
    dev = sim / einf - 1
    assert np.abs(dev).max() < 0.05, dev
    assert abs(sim.mean() / einf.mean() - 1) < 0.012
    frozen_only = np.array([linear.reachable_error(cfg, init="sampled", seed=s, eta2=False) for s in seeds])
    assert abs(sim.mean() / frozen_only.mean() - 1) > 0.012  # the eta correction is resolved


# --------------------------------------------------------------------------------------------
# the N_l^{-beta} law with its finite-L correction
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.3, 1.0, 2.0])
def test_finite_L_law_against_exact_tail(beta):
    L = 256
    n = np.arange(1, L)
    exact = linear.frozen_tail(L, beta, n)
    lam = eigenvalues(L, beta)
    np.testing.assert_allclose(exact[9], lam[10:].sum() / L, rtol=1e-13)
    plain = linear.frozen_tail_continuum(L, beta, n)
    mid = linear.frozen_tail_continuum(L, beta, n, midpoint=True)
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
    e = linear.reachable_error_powerlaw(L, beta, 0.05, 0.01, n)
    f = fit_scaling_law(n, e, L, midpoint=True)
    assert abs(f["beta"] - beta) < 2e-3
    assert f["slope"] < -1.2  # the finite-L correction steepens the plain log-log slope
    # an exact finite-L law is fitted exactly
    exact = 0.3 * ((n + 0.5) ** -0.4 - (L + 0.5) ** -0.4)
    f = fit_scaling_law(n, exact, L, midpoint=True)
    assert abs(f["beta"] - 0.4) < 1e-6 and abs(f["amplitude"] - 0.3) < 1e-5
    # pure power law: slope = -beta
    assert abs(fit_scaling_law(n, n ** -0.7)["slope"] + 0.7) < 1e-12


# --------------------------------------------------------------------------------------------
# SGD on real inputs read in place = the same steps on gathered copies
# --------------------------------------------------------------------------------------------
def test_dataset_rows_equal_given_rows_and_workers_do_not_matter():
    data = im.patch_dataset(n_patches=3000, size=8, seed=3, holdout=0.2, n_test=400)
    X = np.ascontiguousarray(data.train_pca)
    for kw in (dict(K=1, M=1, eta=0.05, activation="linear", trainable=20), dict(K=2, M=2, eta=0.1, activation="erf")):
        cfg = Config(N=64, spectrum=tuple(data.eigenvalues), sigma_J=0.01, **kw)
        a = alpha_grid(30, 8, 64)
        run = simulate(cfg, a, seeds=0, inputs=DatasetInputs(X), record_weights=True)
        idx = DatasetInputs(X).source(cfg, 0).indices(int(round(a[-1] * 64)))
        given = simulate(cfg, a, seeds=0, inputs=GivenInputs(X[idx]), record_weights=True)
        np.testing.assert_array_equal(run.info["J"], given.info["J"])
    t1, e1 = simulate_on_data(cfg, data, alpha_grid(30, 8, 64), seeds=(0, 1), workers=1)
    t2, e2 = simulate_on_data(cfg, data, alpha_grid(30, 8, 64), seeds=(0, 1), workers=2)
    np.testing.assert_array_equal(t1.eps_g, t2.eps_g)
    np.testing.assert_array_equal(e1, e2)
    assert isinstance(DatasetInputs(X).source(cfg, 0), RowSource)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def test_bad_input_raises_value_error_naming_the_parameter():
    with pytest.raises(ValueError, match="spectrum"):
        Config(N=8, spectrum=-np.ones(8))
    with pytest.raises(ValueError, match="spectrum must hold 8"):
        Config(N=8, spectrum=np.ones(7))
    cfg = Config(N=8, L=1, K=1, M=1, activation="linear", spectrum=tuple(np.ones(8)), trainable=8, eta=3.0)
    with pytest.raises(ValueError, match="eta_max"):
        linear.reachable_error(cfg)
    with pytest.raises(ValueError, match="N_l"):
        Config(N=8, spectrum=tuple(np.ones(8)), trainable=9)
    with pytest.raises(ValueError, match="e0"):
        linear.block_errors(cfg.replace(eta=0.1), [1.0], np.ones(7))
    with pytest.raises(ValueError, match="alpha"):
        linear.exact_curve(cfg.replace(eta=0.1), [-1.0])
    with pytest.raises(ValueError, match="N_l"):
        linear.frozen_tail(16, 1.0, 17)
    with pytest.raises(ValueError, match="N_l"):
        linear.frozen_tail(16, 1.0, 2.5)
    with pytest.raises(ValueError, match="L"):
        fit_scaling_law([1, 2, 16], [1.0, 0.5, 0.1], L=16)
    assert linear.eta_max(cfg.replace(trainable=4)) == pytest.approx(4.0)


# --------------------------------------------------------------------------------------------
# the tail sums of a spectrum and their N_l exponent (chapter 02, the real-image section)
# --------------------------------------------------------------------------------------------
def test_tail_sum_small_example():
    from twolayer.analysis import tail_sum
    lam = np.array([4.0, 3.0, 2.0, 1.0])
    np.testing.assert_allclose(tail_sum(lam, [0, 1, 3, 4]), [10.0, 6.0, 1.0, 0.0], rtol=0, atol=0)
    np.testing.assert_allclose(tail_sum(lam, np.array([2]), weights=[1, 1, 0.5, 2.0]), [3.0])
    with pytest.raises(ValueError):
        tail_sum(lam, [5])
    with pytest.raises(ValueError):
        tail_sum(lam, [1.5])


def test_tail_exponents_pure_power_law_and_steep_end():
    from twolayer.analysis import tail_exponents
    N, beta = 1024, 0.3
    k = np.arange(1, N + 1, dtype=np.float64)
    n = np.unique(np.round(np.geomspace(10, 500, 30)).astype(int))
    pure = tail_exponents(k ** (-(1 + beta)), n, window=(10, 513))
    # exact power law: every eigenvalue fit gives beta to round-off, the tail sums within 1%
    np.testing.assert_allclose(pure["beta"].iloc[:4], beta, rtol=1e-9)
    np.testing.assert_allclose(pure["beta"].iloc[4:], beta, rtol=0.01)
    assert list(pure.loc["eigenvalues, lower half", ["from", "to"]]) == [10, 72]
    # a steeper end above the window (exponent 1.4 there) steepens the tail-sum law only;
    # continuing the window's power law above it restores beta
    steep = np.where(k < 513, k ** (-(1 + beta)), 512 ** (-(1 + beta)) * (k / 512) ** -2.4)
    t = tail_exponents(steep, n, window=(10, 513))
    assert abs(t.at["eigenvalues, whole window", "beta"] - beta) < 1e-9
    assert abs(t.at["eigenvalues above the window", "beta"] - 1.4) < 0.01
    assert t.at["tail sum", "beta"] > beta + 0.04
    assert abs(t.at["tail sum, power law above", "beta"] - beta) < 0.01 * beta
