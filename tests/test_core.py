"""Core library: spectrum, Gaussian closed forms vs Monte Carlo, RNG, compiled SGD vs the NumPy
reference, the block ODE's integrator, and the hierarchy form vs the block form."""

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import solve_ivp

from twolayer import fastrng
from twolayer.activations import get_activation
from twolayer.config import Config
from twolayer.data import (
    GaussianInputs,
    coordinate_eigenvalues,
    eigenvalues,
    groups_for,
    lambda_plus,
    make_groups,
)
from twolayer.models import init_weights, output, overlaps
from twolayer.results import alpha_grid
from twolayer.sgd import InputStream, reference_step, run_given_inputs, simulate, simulate_seed
from twolayer.theory import hierarchy, ode
from twolayer.theory.overlaps import (
    block_overlaps,
    covariance,
    delta_delta,
    eps_g,
    global_overlaps,
    stein_coefficients,
)

MC = 1_000_000  # Monte Carlo samples
Z_MAX = 4.0  # closed form must lie within 4 standard errors of the Monte Carlo mean


# ------------------------------------------------------------------------------------------------
# spectrum and data
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("L,beta", [(1, 1.0), (10, 0.25), (256, 0.75), (1024, 1.0)])
def test_spectrum_normalisation(L, beta):
    lam = eigenvalues(L, beta)
    assert abs(lam.mean() - 1.0) < 1e-12
    assert np.all(np.diff(lam) < 0) or L == 1
    np.testing.assert_allclose(lam / lam[0], np.arange(1, L + 1) ** -(1 + beta), rtol=1e-12)
    assert abs(lam[0] - lambda_plus(L, beta)) < 1e-12 * lam[0]
    lam_n = coordinate_eigenvalues(4 * L, L, beta)
    assert abs(lam_n.sum() - 4 * L) < 1e-9 * L  # Tr Sigma = N


def test_groups_split_at_trainable_boundary():
    g = make_groups(12, 3, 1.0, trainable=6)  # blocks of 4: [0,4) train, [4,6) train, [6,8) frozen, [8,12) frozen
    assert list(g.start) == [0, 4, 6, 8] and list(g.stop) == [4, 6, 8, 12]
    assert list(g.trainable) == [True, True, False, False]
    assert abs(g.frac.sum() - 1.0) < 1e-15
    assert list(g.block) == [0, 1, 1, 2]


def test_rotated_inputs_have_the_same_spectrum():
    src = GaussianInputs(64, 8, 0.5, seed=3, rotate=True)
    x = src.sample(200_000)
    C = x.T @ x / len(x)
    ev = np.sort(np.linalg.eigvalsh(C))[::-1]
    expected = coordinate_eigenvalues(64, 8, 0.5)
    # sampling error of a covariance eigenvalue ~ lambda sqrt(2/n) ~ 0.3% here; allow 3%
    np.testing.assert_allclose(ev, expected, rtol=0.03)
    O = src.rotation
    np.testing.assert_allclose(O @ O.T, np.eye(64), atol=1e-12)


def test_alpha_grid_whole_steps():
    a = alpha_grid(100.0, 50, 128)
    assert np.all(np.diff(a) > 0)
    np.testing.assert_allclose(a * 128, np.round(a * 128), atol=1e-9)
    assert a[-1] == 100.0 and a[0] == 1 / 128


# ------------------------------------------------------------------------------------------------
# Gaussian closed forms against Monte Carlo
# ------------------------------------------------------------------------------------------------
def _random_cov(d, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d)) * 0.8
    return A @ A.T + 0.1 * np.eye(d)


def _mc_check(samples, closed, label):
    m = samples.mean()
    se = samples.std(ddof=1) / np.sqrt(len(samples))
    if se == 0:  # a constant integrand (e.g. g' = 1 for linear g)
        assert abs(m - closed) < 1e-12, f"{label}: closed {closed:.6g}, constant {m:.6g}"
        return
    z = abs(m - closed) / se
    assert z < Z_MAX, f"{label}: closed {closed:.6g}, MC {m:.6g} +- {se:.2g} (z = {z:.2f})"


@pytest.mark.parametrize("name", ["erf", "linear"])
def test_pair_averages_vs_monte_carlo(name):
    act = get_activation(name)
    C = _random_cov(2, 1)
    u = np.random.default_rng(2).multivariate_normal(np.zeros(2), C, size=MC)
    a, b = u[:, 0], u[:, 1]
    args = (C[0, 0], C[1, 1], C[0, 1])
    _mc_check(act.g(a) * act.g(b), act.gg(*args), "gg")
    _mc_check(act.dg(a) * act.dg(b), act.dgdg(*args), "dgdg")
    if name == "erf":
        _mc_check(act.d2g(a) * act.g(b), act.d2gg(*args), "d2gg")
        # same variable: E[g''(a) g(a)]
        _mc_check(act.d2g(a) * act.g(a), act.d2gg(C[0, 0], C[0, 0], C[0, 0]), "d2gg diag")


@pytest.mark.parametrize("name", ["erf", "linear"])
def test_i4_vs_monte_carlo(name):
    act = get_activation(name)
    C = _random_cov(4, 5)
    u = np.random.default_rng(6).multivariate_normal(np.zeros(4), C, size=MC)
    val = act.i4(C[0, 0], C[1, 1], C[2, 2], C[3, 3], C[0, 1], C[0, 2], C[0, 3], C[1, 2], C[1, 3], C[2, 3])
    _mc_check(act.dg(u[:, 0]) * act.dg(u[:, 1]) * act.g(u[:, 2]) * act.g(u[:, 3]), val, "i4")


def _committee_mc(cfg, Q, R, T, seed):
    """Samples of (lambda, rho, delta) for given overlaps."""
    C = covariance(Q, R, T)
    u = np.random.default_rng(seed).multivariate_normal(np.zeros(len(C)), C, size=MC)
    act = get_activation(cfg.activation)
    lam, rho = u[:, : cfg.K], u[:, cfg.K:]
    sigma = cfg.a_student * act.g(lam).sum(1)
    y = cfg.a_teacher * act.g(rho).sum(1)
    delta = cfg.a_student * act.dg(lam) * (y - sigma)[:, None]
    return u, sigma, y, delta


@pytest.mark.parametrize("activation,readout", [("erf", "sum"), ("erf", "sqrt"), ("linear", "sum")])
def test_eps_g_stein_and_eta2_terms_vs_monte_carlo(activation, readout):
    cfg = Config(N=6, L=1, K=2, M=3, activation=activation, readout=readout)
    C = _random_cov(5, 11) * 0.5
    Q, R, T = C[:2, :2], C[:2, 2:], C[2:, 2:]
    u, sigma, y, delta = _committee_mc(cfg, Q, R, T, 12)
    _mc_check(0.5 * (sigma - y) ** 2, eps_g(Q, R, T, activation, cfg.a_student, cfg.a_teacher), "eps_g")
    G_lam, G_rho = stein_coefficients(Q, R, T, activation, cfg.a_student, cfg.a_teacher)
    G = np.concatenate([G_lam, G_rho], axis=1)
    assert np.allclose(G_lam, G_lam.T)
    # Stein: E[delta_i u_a] = sum_b C_ab G_ib for every pre-activation u_a
    pred = G @ C
    for i in range(cfg.K):
        for a in range(cfg.K + cfg.M):
            _mc_check(delta[:, i] * u[:, a], pred[i, a], f"stein {i},{a}")
    E = delta_delta(Q, R, T, activation, cfg.a_student, cfg.a_teacher)
    for i in range(cfg.K):
        for j in range(cfg.K):
            _mc_check(delta[:, i] * delta[:, j], E[i, j], f"deltadelta {i},{j}")


def test_eps_g_from_weights_matches_outputs_on_samples():
    cfg = Config(N=64, L=4, K=3, M=2, beta=0.5, sigma_J=0.7)
    J, B = init_weights(cfg, 4)
    x = GaussianInputs(64, 4, 0.5, seed=9).sample(400_000)
    err = 0.5 * (output(J, x, "erf") - output(B, x, "erf")) ** 2
    Q, R, T = overlaps(J, B, coordinate_eigenvalues(64, 4, 0.5))
    _mc_check(err, eps_g(Q, R, T), "eps_g(weights)")


# ------------------------------------------------------------------------------------------------
# random numbers and the compiled SGD engine
# ------------------------------------------------------------------------------------------------
def test_fast_normals_are_standard_normal_and_deterministic():
    x, c = fastrng.standard_normal((11, 22), 1000, 1024)
    x = x.ravel()
    assert abs(x.mean()) < 4 / np.sqrt(x.size)
    assert abs(x.var() - 1) < 4 * np.sqrt(2 / x.size)
    assert abs(stats.kurtosis(x)) < 4 * np.sqrt(24 / x.size)
    assert stats.kstest(x, "norm").pvalue > 1e-3
    # tails: P(|x| > 3) within 4 sigma of the binomial expectation
    p3 = 2 * stats.norm.sf(3)
    assert abs((np.abs(x) > 3).mean() - p3) < 4 * np.sqrt(p3 / x.size)
    y, c2 = fastrng.standard_normal((11, 22), 1000, 1024)
    assert np.array_equal(x, y.ravel()) and c == c2
    # chunking does not change the stream
    a, ca = fastrng.standard_normal((11, 22), 400, 1024)
    b, _ = fastrng.standard_normal((11, 22), 600, 1024, ca)
    assert np.array_equal(np.concatenate([a, b]).ravel(), x)


@pytest.mark.parametrize(
    "kw",
    [
        dict(activation="erf", K=2, M=2),
        dict(activation="erf", K=3, M=2, readout="sqrt", trainable=300),
        dict(activation="linear", K=1, M=1, L=256),
    ],
)
def test_fast_engine_matches_numpy_reference(kw):
    cfg = Config(N=1024, **{"L": 16, "eta": 0.1, "sigma_J": 0.3, **kw})
    J, B = init_weights(cfg, 1)
    X = InputStream(cfg, 1).draw(1000)
    J_fast = J.copy()
    run_given_inputs(J_fast, B, X, cfg)
    J_ref = J.copy()
    for x in X:
        reference_step(J_ref, B, x, cfg.eta, cfg.activation, cfg.a_student, cfg.a_teacher, cfg.n_trainable)
    assert np.max(np.abs(J_fast - J_ref)) / np.max(np.abs(J_ref)) < 1e-10
    assert np.max(np.abs(J_ref - J)) > 1e-3  # the weights did move
    if cfg.trainable is not None:
        assert np.array_equal(J_fast[:, cfg.trainable:], J[:, cfg.trainable:])


def test_generated_inputs_equal_given_inputs_and_runs_are_reproducible():
    cfg = Config(N=256, L=4, K=2, M=2)
    alpha = np.array([1.0, 3.0])
    eps, J, B = simulate_seed(cfg, 5, alpha)
    J0, B0 = init_weights(cfg, 5)
    run_given_inputs(J0, B0, InputStream(cfg, 5).draw(3 * 256), cfg)
    assert np.array_equal(J0, J)
    c1 = simulate(cfg, alpha=alpha, seeds=[5, 6], workers=2)
    c2 = simulate(cfg, alpha=alpha, seeds=[5, 6], workers=1)
    assert np.array_equal(c1.eps_g, c2.eps_g)
    assert np.array_equal(c1.eps_g[0], eps)


# ------------------------------------------------------------------------------------------------
# the block ODE and its integrator
# ------------------------------------------------------------------------------------------------
def test_sampled_initial_overlaps_are_the_simulation_weights():
    cfg = Config(N=120, L=6, K=2, M=3, trainable=50)
    q, r, t = ode.initial_overlaps(cfg, "sampled", 7)
    J, B = init_weights(cfg, 7)
    Q, R, T = overlaps(J, B, coordinate_eigenvalues(120, 6, 1.0))
    Qb, Rb, Tb = global_overlaps(q, r, t, groups_for(cfg).lam)
    np.testing.assert_allclose(Qb, Q, atol=1e-14)
    np.testing.assert_allclose(Rb, R, atol=1e-14)
    np.testing.assert_allclose(Tb, T, atol=1e-14)


def test_frozen_flow_is_exact():
    cfg = Config(N=64, L=4, K=2, M=3, beta=1.0, eta=0.5)
    g = groups_for(cfg)
    q, r, t = ode.initial_overlaps(cfg, "sampled", 1, g)
    r = r + 0.05
    coef = ode.coefficients(q, r, t, g.lam, cfg)

    def f(_, y):
        dq, dr = ode.rhs_frozen(y[: q.size].reshape(q.shape), y[q.size:].reshape(r.shape), t, g, cfg, coef)
        return np.concatenate([dq.ravel(), dr.ravel()])

    sol = solve_ivp(f, (0, 0.7), np.concatenate([q.ravel(), r.ravel()]), rtol=1e-12, atol=1e-15)
    qn, rn = ode.frozen_flow(q, r, t, g, cfg, coef, 0.7)
    assert np.max(np.abs(qn.ravel() - sol.y[: q.size, -1])) < 1e-12
    assert np.max(np.abs(rn.ravel() - sol.y[q.size:, -1])) < 1e-12


def test_block_ode_matches_a_reference_integrator():
    """The exponential integrator against DOP853 on the same right-hand side (erf, eta2 on)."""
    cfg = Config(N=64, L=4, K=2, M=2, beta=1.0, eta=0.3)
    g = groups_for(cfg)
    q, r, t = ode.initial_overlaps(cfg, "sampled", 1, g)
    alpha = alpha_grid(200, 30, 64)

    def f(_, y):
        dq, dr = ode.rhs(y[: q.size].reshape(q.shape), y[q.size:].reshape(r.shape), t, g, cfg)
        return np.concatenate([dq.ravel(), dr.ravel()])

    sol = solve_ivp(f, (0, alpha[-1]), np.concatenate([q.ravel(), r.ravel()]), t_eval=alpha,
                    rtol=1e-11, atol=1e-14, method="DOP853")
    qs = sol.y[: q.size].T.reshape((-1,) + q.shape)
    rs = sol.y[q.size:].T.reshape((-1,) + r.shape)
    ref = eps_g(*global_overlaps(qs, rs, t, g.lam))
    tr = ode.integrate(cfg, alpha, "sampled", 1, rtol=1e-6)
    assert np.max(np.abs(np.log(tr.eps_g() / ref))) < 1e-4


@pytest.mark.parametrize("L", [1, 2, 3, 4])
def test_hierarchy_equals_block_form(L):
    cfg = Config(N=48, L=L, K=2, M=2, beta=1.0, eta=0.2)
    alpha = alpha_grid(300, 25, 48)
    curve, (Qs, Rs) = hierarchy.solve_hierarchy(cfg, alpha, "sampled", 3)
    tr = ode.integrate(cfg, alpha, "sampled", 3, rtol=1e-8)
    # both integrations are converged to ~1e-6; the plateau escape amplifies that to ~1e-5
    assert np.max(np.abs(np.log(curve.eps_g[0] / tr.eps_g()))) < 1e-4
    for k in range(1, L + 1):  # every order of the hierarchy, R^(k) and Q^(k)
        Qk, Rk, _ = tr.overlaps(k)
        scale = np.max(np.abs(Qs[:, k - 1]))
        assert np.max(np.abs(Qk - Qs[:, k - 1])) < 1e-4 * scale
        assert np.max(np.abs(Rk - Rs[:, k - 1])) < 1e-4 * np.max(np.abs(Rs[:, k - 1]))


def test_hierarchy_closure_is_the_minimal_polynomial():
    lam = eigenvalues(4, 1.0)
    c = hierarchy.minimal_polynomial(lam)
    for x in lam:
        assert abs(x**4 + np.dot(c, x ** np.arange(4))) < 1e-9 * lam[0] ** 4


def test_block_overlaps_sum_to_global_overlaps():
    cfg = Config(N=60, L=5, K=2, M=3)
    J, B = init_weights(cfg, 2)
    q, r, t = block_overlaps(J, B, groups_for(cfg))
    lam_n = coordinate_eigenvalues(60, 5, 1.0)
    for k in (1, 2, 3):
        Qk, Rk, Tk = global_overlaps(q, r, t, groups_for(cfg).lam, k)
        np.testing.assert_allclose(Qk, (J * lam_n**k) @ J.T / 60, atol=1e-13)
        np.testing.assert_allclose(Rk, (J * lam_n**k) @ B.T / 60, atol=1e-13)
