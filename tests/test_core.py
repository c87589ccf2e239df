"""Core library: spectrum, Gaussian closed forms vs Monte Carlo, RNG, compiled SGD vs the NumPy
reference, the block ODE's integrator, and the hierarchy form vs the block form."""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import solve_ivp

from twolayer import Config, alpha_grid, eps_g, simulate, solve_hierarchy, solve_ode
from twolayer.data import GivenInputs, block_overlaps, global_overlaps, init_weights, overlaps
from twolayer.data import rng as fastrng
from twolayer.data.inputs import GaussianInputs
from twolayer.engines.reference import reference_step
from twolayer.gaussian import activation_of, covariance, delta_delta, stein_coefficients
from twolayer.problem.spectrum import coordinate_eigenvalues, eigenvalues, groups, lambda_plus, make_groups
from twolayer.theory import hierarchy
from twolayer.theory import _kernels as kn
from twolayer.theory.blocks import coefficients, rhs_frozen
from twolayer.theory.ode import initial_overlaps, rhs

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
    lam_n = coordinate_eigenvalues(Config(N=4 * L, L=L, beta=beta))
    assert abs(lam_n.sum() - 4 * L) < 1e-9 * L  # Tr Sigma = N


def test_groups_split_at_trainable_boundary():
    g = groups(Config(N=12, L=3, trainable=6))  # blocks of 4: [0,4) train, [4,6) train, [6,8) frozen, [8,12) frozen
    assert list(g.start) == [0, 4, 6, 8] and list(g.stop) == [4, 6, 8, 12]
    assert list(g.trainable) == [True, True, False, False]
    assert abs(g.frac.sum() - 1.0) < 1e-15
    assert list(g.level) == [0, 1, 1, 2]


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
    act = activation_of(name)
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
    act = activation_of(name)
    C = _random_cov(4, 5)
    u = np.random.default_rng(6).multivariate_normal(np.zeros(4), C, size=MC)
    # delta_moments with w = (0, 0, 1, 0) on an augmented covariance gives one I4 average
    C5 = np.zeros((5, 5))
    C5[:4, :4] = C
    w = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    val = act.delta_moments(C5, 2, w)[0, 1]
    s = act.dg(u[:, 0]) * act.dg(u[:, 1]) * (act.g(u[:, 2]) + act.g(u[:, 3])) ** 2
    _mc_check(s, val, "i4")


def _committee_mc(cfg, Q, R, T, seed):
    """Samples of (u = (h, rho), sigma, y, delta) for given overlaps."""
    C = covariance(Q, R, T)
    u = np.random.default_rng(seed).multivariate_normal(np.zeros(len(C)), C, size=MC)
    act = activation_of(cfg)
    lam, rho = u[:, : cfg.K], u[:, cfg.K:]
    sigma = act.g(lam) @ cfg.student_weights
    y = act.g(rho) @ cfg.teacher_weights
    delta = cfg.student_weights * act.dg(lam) * (y - sigma)[:, None]
    return u, sigma, y, delta


@pytest.mark.parametrize("activation,readout", [("erf", "sum"), ("erf", "sqrt"), ("linear", "sum")])
def test_eps_g_stein_and_eta2_terms_vs_monte_carlo(activation, readout):
    cfg = Config(N=6, L=1, K=2, M=3, activation=activation, readout=readout)
    C = _random_cov(5, 11) * 0.5
    Q, R, T = C[:2, :2], C[:2, 2:], C[2:, 2:]
    v, vT = cfg.student_weights, cfg.teacher_weights
    u, sigma, y, delta = _committee_mc(cfg, Q, R, T, 12)
    _mc_check(0.5 * (sigma - y) ** 2, eps_g(Q, R, T, activation, v, vT), "eps_g")
    G_h, G_rho = stein_coefficients(Q, R, T, activation, v, vT)
    G = np.concatenate([G_h, G_rho], axis=1)
    assert np.allclose(G_h, G_h.T)
    # Stein: E[delta_i u_a] = sum_b C_ab G_ib for every pre-activation u_a
    pred = G @ C
    for i in range(cfg.K):
        for a in range(cfg.K + cfg.M):
            _mc_check(delta[:, i] * u[:, a], pred[i, a], f"stein {i},{a}")
    E = delta_delta(Q, R, T, activation, v, vT)
    for i in range(cfg.K):
        for j in range(cfg.K):
            _mc_check(delta[:, i] * delta[:, j], E[i, j], f"deltadelta {i},{j}")


def test_eps_g_from_weights_matches_outputs_on_samples():
    cfg = Config(N=64, L=4, K=3, M=2, beta=0.5, sigma_J=0.7)
    J, B = init_weights(cfg, 4)
    src = GaussianInputs().source(cfg, 9)
    x = src.draw(400_000)
    act = activation_of("erf")
    err = 0.5 * (act.g(x @ J.T / 8.0).sum(1) - act.g(x @ B.T / 8.0).sum(1)) ** 2
    Q, R, T = overlaps(J, B, coordinate_eigenvalues(cfg))
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
    X = GaussianInputs().source(cfg, 1).draw(1000)
    tr = simulate(cfg, [1000 / 1024], seeds=1, inputs=GivenInputs(X), record_weights=True)
    J_fast = tr.info["J"][0, -1]
    J_ref = J.copy()
    for x in X:
        reference_step(J_ref, B, x, cfg)
    assert np.max(np.abs(J_fast - J_ref)) / np.max(np.abs(J_ref)) < 1e-10
    assert np.max(np.abs(J_ref - J)) > 1e-3  # the weights did move
    if cfg.trainable is not None:
        assert np.array_equal(J_fast[:, cfg.trainable:], J[:, cfg.trainable:])


def test_generated_inputs_equal_given_inputs_and_runs_are_reproducible():
    cfg = Config(N=256, L=4, K=2, M=2)
    alpha = np.array([1.0, 3.0])
    run = simulate(cfg, alpha, seeds=5, record_weights=True)
    given = simulate(cfg, alpha, seeds=5, inputs=GivenInputs(GaussianInputs().source(cfg, 5).draw(3 * 256)),
                     record_weights=True)
    # The two input paths inline the same step into different loops, and the engine lets the
    # compiler reassociate sums (fastmath "reassoc"): equal to round-off, not bit for bit.  Bitwise
    # reproducibility is promised for one path whatever the workers (below), not across paths.
    J_given, J_gen = given.info["J"], run.info["J"]
    assert np.max(np.abs(J_given - J_gen)) <= 1e-13 * np.max(np.abs(J_gen))
    assert np.allclose(given.eps_g, run.eps_g, rtol=1e-12, atol=0)
    c1 = simulate(cfg, alpha, seeds=[5, 6], workers=2)
    c2 = simulate(cfg, alpha, seeds=[5, 6], workers=1)
    assert np.array_equal(c1.eps_g, c2.eps_g)
    assert np.array_equal(c1.eps_g[0], run.eps_g[0])
    assert np.array_equal(c1.Q, c2.Q)  # SGD records the order parameters too


# ------------------------------------------------------------------------------------------------
# the block ODE and its integrator
# ------------------------------------------------------------------------------------------------
def test_sampled_initial_overlaps_are_the_simulation_weights():
    cfg = Config(N=120, L=6, K=2, M=3, trainable=50)
    st = initial_overlaps(cfg, "sampled", 7)
    J, B = init_weights(cfg, 7)
    Q, R, T = overlaps(J, B, coordinate_eigenvalues(cfg))
    Qb, Rb, Tb = global_overlaps(st.q, st.r, st.t, groups(cfg).lam)
    np.testing.assert_allclose(Qb, Q, atol=1e-14)
    np.testing.assert_allclose(Rb, R, atol=1e-14)
    np.testing.assert_allclose(Tb, T, atol=1e-14)


def _group_last(x):
    return np.ascontiguousarray(np.moveaxis(x, 0, -1))


def test_frozen_flow_is_exact():
    cfg = Config(N=64, L=4, K=2, M=3, beta=1.0, eta=0.5)
    g = groups(cfg)
    st = initial_overlaps(cfg, "sampled", 1)
    q, r, t = st.q, st.r + 0.05, st.t
    coef = coefficients(q, r, t, g.lam, cfg)

    def f(_, y):
        dq, dr = rhs_frozen(y[: q.size].reshape(q.shape), y[q.size:].reshape(r.shape), t, g, cfg, coef)
        return np.concatenate([dq.ravel(), dr.ravel()])

    sol = solve_ivp(f, (0, 0.7), np.concatenate([q.ravel(), r.ravel()]), rtol=1e-12, atol=1e-15)
    K, M = cfg.K, cfg.M
    V, mu, Gt, Et = np.empty((K, K)), np.empty(K), np.empty((K, M)), np.empty((K, K))
    kn.prepare(*coef, V, mu, Gt, Et)
    s = cfg.eta * g.lam * g.trainable
    qn, rn = np.empty_like(_group_last(q)), np.empty_like(_group_last(r))
    kn.predictor(_group_last(q), _group_last(r), _group_last(t), s, s * cfg.eta * g.frac, V, mu, Gt, Et, 0.7, qn, rn,
                 *kn.Work(K, M, g.size).arrays())
    assert np.max(np.abs(np.moveaxis(qn, -1, 0).ravel() - sol.y[: q.size, -1])) < 1e-12
    assert np.max(np.abs(np.moveaxis(rn, -1, 0).ravel() - sol.y[q.size:, -1])) < 1e-12


def test_block_ode_matches_a_reference_integrator():
    """The exponential integrator against DOP853 on the same right-hand side (erf, eta2 on)."""
    cfg = Config(N=64, L=4, K=2, M=2, beta=1.0, eta=0.3)
    st = initial_overlaps(cfg, "sampled", 1)
    q, r, t, v = st.q, st.r, st.t, st.v
    alpha = alpha_grid(200, 30, 64)

    def f(_, y):
        dq, dr, _ = rhs(y[: q.size].reshape(q.shape), y[q.size:].reshape(r.shape), t, v, cfg)
        return np.concatenate([dq.ravel(), dr.ravel()])

    sol = solve_ivp(f, (0, alpha[-1]), np.concatenate([q.ravel(), r.ravel()]), t_eval=alpha,
                    rtol=1e-11, atol=1e-14, method="DOP853")
    qs = sol.y[: q.size].T.reshape((-1,) + q.shape)
    rs = sol.y[q.size:].T.reshape((-1,) + r.shape)
    lam = groups(cfg).lam
    ref = eps_g(np.einsum("g,pgij->pij", lam, qs), np.einsum("g,pgij->pij", lam, rs), np.einsum("g,gij->ij", lam, t))
    tr = solve_ode(cfg, alpha, seeds=1, rtol=1e-6)
    assert np.max(np.abs(np.log(tr.eps_g[0] / ref))) < 1e-4


@pytest.mark.parametrize("L", [1, 2, 3, 4])
def test_hierarchy_equals_block_form(L):
    cfg = Config(N=48, L=L, K=2, M=2, beta=1.0, eta=0.2)
    alpha = alpha_grid(300, 25, 48)
    hi = solve_hierarchy(cfg, alpha, init="sampled", seed=3)
    tr = solve_ode(cfg, alpha, seeds=3, rtol=1e-8, keep_blocks=True)
    # both integrations are converged to ~1e-6; the plateau escape amplifies that to ~1e-5
    assert np.max(np.abs(np.log(hi.eps_g[0] / tr.eps_g[0]))) < 1e-4
    Qs, Rs = hi.info["Qh"], hi.info["Rh"]
    lam = groups(cfg).lam
    for k in range(1, L + 1):  # every order of the hierarchy, R^(k) and Q^(k)
        Qk = np.einsum("g,pgij->pij", lam**k, tr.info["q"][0])
        Rk = np.einsum("g,pgij->pij", lam**k, tr.info["r"][0])
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
    q, r, t = block_overlaps(J, B, groups(cfg))
    lam_n = coordinate_eigenvalues(cfg)
    for k in (1, 2, 3):
        Qk, Rk, Tk = global_overlaps(q, r, t, groups(cfg).lam, k)
        np.testing.assert_allclose(Qk, (J * lam_n**k) @ J.T / 60, atol=1e-13)
        np.testing.assert_allclose(Rk, (J * lam_n**k) @ B.T / 60, atol=1e-13)
