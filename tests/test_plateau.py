"""The symmetric plateau (chapter 03_plateau): fixed point, Saad-Solla values (with a trained
second layer too), escape rate (the proportional shortcut against the secular problem), and the
stationary point of an under-parameterised student."""

import numpy as np
import pytest

from twolayer import Config, resolve, solve_ode
from twolayer.analysis import escape_time, first_below, measure_plateau, paired_escape_times
from twolayer.gaussian import activation_of
from twolayer.problem.config import UserActivation
from twolayer.problem.spectrum import eigenvalues
from twolayer.theory import plateau as P
from twolayer.state import BlockState
from twolayer.theory.blocks import rhs
from twolayer.state import initial_state


def test_fixed_point_is_a_symmetric_root_of_rhs():
    cfg = Config(N=60, L=6, K=3, M=3, beta=0.5, eta=0.1, sigma_J=0.01)
    t = initial_state(cfg, "sampled", seed=2).t  # a sampled teacher (T not prop. to I)
    for tt in (None, t):
        p = P.plateau(cfg, t=tt)
        assert P.residual(p) < 1e-10
        # all students identical: every q^g has equal entries, every r^g has equal rows
        assert np.ptp(p.q, axis=(1, 2)).max() < 1e-14
        assert np.abs(p.r - p.r[:, :1, :]).max() < 1e-14
        assert p.escape_rate > 0


def test_saad_solla_values_K2_L1():
    # erf, K = M = 2, T = I, sum readout, O(eta): Q = C = 1/3, R = 1/sqrt(6)
    cfg = Config(N=20, L=1, K=2, M=2, eta=0.1)
    p = P.plateau(cfg, eta2=False)
    Q, R, T = p.overlaps()
    np.testing.assert_allclose(Q, np.full((2, 2), 1 / 3), atol=1e-12)
    np.testing.assert_allclose(R, np.full((2, 2), 1 / np.sqrt(6)), atol=1e-12)
    np.testing.assert_allclose(p.eps_p, 0.0116108403, rtol=1e-8)
    # closed form for every K
    for K in (3, 5):
        Q, R, _ = P.plateau(Config(N=K, L=1, K=K, M=K, eta=0.1), rate=False, eta2=False).overlaps()
        qk, rk = P.saad_solla(K)
        np.testing.assert_allclose(Q, qk, atol=1e-12)
        np.testing.assert_allclose(R, rk, atol=1e-12)


def test_global_plateau_independent_of_L_and_rate_scales_with_lambda2():
    base = P.plateau(Config(N=16, L=1, K=4, M=4, eta=0.1), eta2=False)
    for L, beta in ((4, 1.0), (16, 0.25)):
        p = P.plateau(Config(N=16, L=L, K=4, M=4, beta=beta, eta=0.1), eta2=False)
        for a, b in zip(p.overlaps(), base.overlaps()):
            np.testing.assert_allclose(a, b, atol=1e-12)
        # Eq. (eq-escape-L): sigma_L = sigma_1 <lambda^2>
        lam2 = np.mean(eigenvalues(L, beta) ** 2)
        np.testing.assert_allclose(p.escape_rate, base.escape_rate * lam2, rtol=1e-8)


def test_secular_rate_equals_dense_jacobian():
    cfg = Config(N=40, L=4, K=3, M=2, beta=1.0, eta=0.1, sigma_J=0.01)
    t = initial_state(cfg, "sampled", seed=0).t
    p = P.plateau(cfg, t=t)
    w = P.spectrum(cfg, p.q, p.r, p.t)
    assert abs(p.escape_rate - w[0].real) < 1e-10


def test_escape_rate_matches_growth_of_perturbation():
    cfg = Config(N=40, L=4, K=2, M=2, beta=1.0, eta=0.5, sigma_J=0.01)
    p = P.plateau(cfg, eta2=False)
    rng = np.random.default_rng(0)
    eps = 1e-9
    dr = eps * rng.standard_normal(p.r.shape) * p.groups.frac[:, None, None]
    q0, r0 = p.q.copy(), p.r + dr
    alpha = np.array([50.0, 100.0, 150.0])
    tr = solve_ode(cfg, alpha, init=(q0, r0, p.t), eta2=False, rtol=1e-9, atol=1e-20, keep_blocks=True)
    dev = np.array([np.abs(tr.info["r"][0, i] - p.r).max() for i in range(len(alpha))])
    assert dev[-1] < 1e-3  # still linear
    rate = np.log(dev[2] / dev[1]) / (alpha[2] - alpha[1])
    assert rate == pytest.approx(p.escape_rate, rel=0.01)  # measured: 2e-4


def test_escape_time_and_bad_input():
    a = np.geomspace(0.1, 100, 200)
    e = np.where(a < 30, 0.5 + 0.5 * np.exp(-a), 0.05 * (30 / a) ** 2)  # a plateau at 0.5, left at 30
    pl = measure_plateau(a, e)
    assert pl.eps_p == pytest.approx(0.5, rel=1e-6) and 25 < pl.alpha_esc <= 31
    assert escape_time(a, e) == pl.alpha_esc
    assert np.array_equal(escape_time(a, np.stack([e, e])), [pl.alpha_esc] * 2)
    flat_start = np.where(a < 30, 1.0, 0.05 * (30 / a) ** 2)  # flat from the start: not a plateau
    assert measure_plateau(a, flat_start).alpha_p > 30   # the flat start is not taken for a plateau
    assert 25 < first_below(a, flat_start, 0.5) <= 31
    assert np.isnan(first_below(a, np.ones_like(a), 0.5))
    with pytest.raises(ValueError, match="level"):
        first_below(a, e, -1.0)
    with pytest.raises(TypeError):   # a plateau height is never passed in: the curve's own is used
        escape_time(a, e, 0.5)
    with pytest.raises(ValueError, match="activation"):
        P.plateau(Config(N=4, L=1, K=2, M=2, activation="linear"))
    with pytest.raises(ValueError, match="t must be finite with shape"):
        P.plateau(Config(N=4, L=2, K=2, M=2), t=np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="no symmetric plateau"):
        P.plateau(Config(N=4, L=1, K=5, M=1))


# ------------------------------------------------------------------------------------------------
# the escape rate exists only where the block ODE is differentiable (ReLU with eta^2: it is not)
# ------------------------------------------------------------------------------------------------
STEPS = (1e-4, 1e-6, 1e-8)  # finite-difference steps of the Jacobian
STEP_RTOL = 1e-6  # every returned rate is the same at all of them (measured: <= 1.1e-7, tanh)


@pytest.mark.parametrize("activation,K", [("erf", 2), ("erf", 4), ("tanh", 2), ("tanh", 4), ("relu", 2),
                                          ("relu", 4)])
def test_every_returned_escape_rate_is_independent_of_the_step(activation, K):
    """A rate the library returns is a property of the ODE, not of the step h of its
    finite-difference Jacobian: at h = 1e-4, 1e-6, 1e-8 it is the same to STEP_RTOL (measured
    maximal relative spread: erf 2.8e-8 (eta2) / 9.8e-8, tanh 3.9e-8 / 1.1e-7, relu without eta2
    1.2e-8).  Where the rate does not exist (ReLU with the eta^2 term: it grew like h^-1/2, 5.5,
    50, 474 at K = M = 4, L = 16) it is None at every h."""
    for eta2 in (True, False):
        for L in (1, 4, 16):
            cfg = Config(N=64, L=L, K=K, M=K, beta=1.0, eta=0.1, activation=activation)
            p = P.plateau(cfg, eta2=eta2, rate=False)
            rates = [P.escape_rate(cfg, p.q, p.r, p.t, eta2=eta2, h=h) for h in STEPS]
            if activation == "relu" and eta2:
                assert rates == [None, None, None]
                continue
            assert all(isinstance(x, float) and x > 0 for x in rates), rates
            assert max(rates) - min(rates) <= STEP_RTOL * rates[1], (activation, eta2, K, L, rates)


def test_relu_plateau_with_eta2_has_no_escape_rate_and_says_why():
    cfg = Config(N=64, L=16, K=4, M=4, beta=1.0, eta=0.1, activation="relu")  # chapter 06's setting
    p = P.plateau(cfg)
    assert p.escape_rate is None
    assert "no linearisation" in p.escape_rate_reason and "kink" in p.escape_rate_reason
    assert p.eps_p > 0 and P.residual(p) < 1e-10  # the fixed point itself exists
    assert P.rate_defect(cfg, p.q, p.r, p.t) == p.escape_rate_reason
    assert P.escape_rate(cfg, p.q, p.r, p.t) is None and P.spectrum(cfg, p.q, p.r, p.t) is None
    assert P.predicted_escape(1e-3, 0.5, p.escape_rate) is None
    # the finite-difference "rate" it used to print depends on the step: no derivative there
    raw = [P._rate(resolve(cfg), p.q, p.r, p.t, True, "auto", None, h) for h in STEPS]
    assert raw[1] > 3 * raw[0] and raw[2] > 3 * raw[1]  # measured 5.0, 32, 298 (ratios 6.4, 9.3)
    # without the eta^2 term the square-root terms cancel and the rate exists
    p1 = P.plateau(cfg, eta2=False)
    assert p1.escape_rate_reason is None and p1.escape_rate == pytest.approx(1.8285, rel=1e-4)  # 1.82850
    # a smooth activation: a rate and no reason; rate=False: nan, "not computed"
    pe = P.plateau(cfg.replace(activation="erf"))
    assert pe.escape_rate > 0 and pe.escape_rate_reason is None
    pn = P.plateau(cfg.replace(activation="erf"), rate=False)
    assert np.isnan(pn.escape_rate) and "not computed" in pn.escape_rate_reason


def test_unknown_smoothness_is_decided_by_the_step_check(monkeypatch):
    """An activation whose smoothness is not known (a user activation: ``smooth`` None) gets a
    rate only if the rates at steps 100 h and h agree: ReLU treated so is caught with the eta^2
    term (0.34 against 1.8 at K = M = 2, L = 4) and gets the same rate as with the a-priori
    criterion without it."""
    cfg = Config(N=16, L=4, K=2, M=2, beta=1.0, eta=0.1, activation="relu")
    known = P.plateau(cfg, eta2=False).escape_rate
    relu = activation_of("relu")
    monkeypatch.setattr(relu, "smooth", None)
    p = P.plateau(cfg)
    assert p.escape_rate is None and "depends on the finite-difference step" in p.escape_rate_reason
    assert P.plateau(cfg, eta2=False).escape_rate == known
    # a smooth user activation passes the check
    soft = UserActivation("softplus", lambda x: np.logaddexp(0.0, x), lambda x: 1.0 / (1.0 + np.exp(-x)))
    ps = P.plateau(cfg.replace(activation=soft), eta2=False)
    assert ps.escape_rate > 0 and ps.escape_rate_reason is None


def test_paired_escape_times_read_the_simulation_at_the_references_level():
    a = np.geomspace(0.1, 100, 200)
    ref = np.where(a < 30, 0.5 + 0.5 * np.exp(-a), 0.05 * (30 / a) ** 2)
    rng = np.random.default_rng(0)
    noisy = ref * np.exp(0.2 * rng.standard_normal((3, a.size)))   # a rough simulation, 3 seeds
    sim, r = paired_escape_times(a, noisy, np.stack([ref] * 3))
    assert np.all(r == measure_plateau(a, ref).alpha_esc)
    assert np.all((sim > 20) & (sim < 35)), sim      # near the reference's escape at 30, not at a noise dip


# ------------------------------------------------------------------------------------------------
# escape rate: proportional shortcut == secular problem
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("K,M,L", [(4, 4, 10), (3, 4, 64)])
def test_proportional_escape_rate_equals_secular(K, M, L):
    cfg = Config(N=L, L=L, K=K, M=M, beta=1.0, eta=0.1, readout="sqrt")
    p = P.plateau(cfg, eta2=False, rate=False)
    prop = P.escape_rate(cfg, p.q, p.r, p.t, eta2=False, method="proportional")
    sec = P.escape_rate(cfg, p.q, p.r, p.t, eta2=False, method="secular")
    auto = P.escape_rate(cfg, p.q, p.r, p.t, eta2=False, method="auto")
    assert prop > 0
    assert prop == pytest.approx(sec, rel=1e-8)  # measured 7.8e-10 (K=M=4), 6.1e-10 (K=3, M=4)
    assert auto == prop  # auto takes the shortcut where it applies


@pytest.mark.parametrize("K,L", [(2, 4), (3, 8)])
def test_auto_escape_rate_falls_back_to_secular_for_relu(K, L):
    cfg = Config(N=L, L=L, K=K, M=K, eta=0.1, activation="relu")
    p = P.plateau(cfg, eta2=False, rate=False)
    with pytest.raises(ValueError, match="not marginal"):
        P.escape_rate(cfg, p.q, p.r, p.t, eta2=False, method="proportional")
    auto = P.escape_rate(cfg, p.q, p.r, p.t, eta2=False, method="auto")
    sec = P.escape_rate(cfg, p.q, p.r, p.t, eta2=False, method="secular")
    assert auto == pytest.approx(sec, rel=1e-12)  # measured: equal
    dense = P.spectrum(cfg, p.q, p.r, p.t, eta2=False)[0].real
    assert auto == pytest.approx(dense, rel=1e-8)  # measured 3e-15


# ------------------------------------------------------------------------------------------------
# stationary point of an under-parameterised student
# ------------------------------------------------------------------------------------------------
def test_stationary_point_at_end_of_long_run_K_below_M():
    cfg = Config(N=256, L=16, K=2, M=4, beta=1.0, eta=0.1, sigma_J=0.01)
    a = np.geomspace(1.0, 20000.0, 30)
    tr = solve_ode(cfg, a, seeds=0, keep_blocks=True)
    q, r, t = tr.info["q"][0, -1], tr.info["r"][0, -1], tr.info["t"][0]
    st = P.stationary_point(cfg, q, r, t)
    e_end = tr.eps_g[0, -1]
    assert abs(st.eps_g / e_end - 1) < 1e-3  # measured 1.6e-6
    assert st.growth_rate < 0  # measured -1.9e-4: a stable (reachable) fixed point
    assert st.residual < 1e-12  # measured 2.9e-17
    # independent of Newton's own residual: the NumPy right-hand side vanishes there ...
    d = rhs(0.0, BlockState(st.q, st.r, st.t, cfg.student_weights), cfg)
    dq, dr = d.q, d.r
    assert max(np.abs(dq).max(), np.abs(dr).max()) < 1e-12
    # ... and the compiled integrator started there stays there
    stay = solve_ode(cfg, [100.0, 1000.0], init=(st.q, st.r, st.t), keep_blocks=True, rtol=1e-8)
    assert np.abs(stay.info["q"][0, -1] - st.q).max() < 1e-8
    assert np.abs(stay.info["r"][0, -1] - st.r).max() < 1e-8
    assert abs(stay.eps_g[0, -1] / st.eps_g - 1) < 1e-8


# ------------------------------------------------------------------------------------------------
# the trained second layer at L = 1: the Saad-Solla plateau
# ------------------------------------------------------------------------------------------------
def test_trained_readout_plateau_is_the_saad_solla_plateau():
    """K = M = 2, erf, L = 1, small-eta ODE: the Saad-Solla plateau (v = 1, Q = 1/3,
    R = 1/sqrt 6) is a fixed point of the ODE with a trained second layer too (the readout drift
    vanishes there), and the symmetric trajectory of the trained-readout ODE ends on it."""
    cfg = Config(N=20, L=1, K=2, M=2, eta=0.1, sigma_J=0.01)
    p = P.plateau(cfg, eta2=False, rate=False)
    qk, rk = P.saad_solla(2)
    Q, R, T = p.overlaps()
    np.testing.assert_allclose(Q, qk, atol=1e-12)
    np.testing.assert_allclose(R, rk, atol=1e-12)
    trained = cfg.replace(train_readout=True)
    d = rhs(0.0, BlockState(p.q, p.r, p.t, np.ones(2)), trained, eta2=False)
    dq, dr, dv = d.q, d.r, d.v
    assert max(np.abs(dq).max(), np.abs(dr).max(), np.abs(dv).max()) < 1e-15  # measured 5.6e-18
    # init="mean" keeps the students exchangeable: the run stays on the symmetric manifold
    tr = solve_ode(trained, [6400.0, 12800.0], init="mean", eta2=False)
    assert abs(tr.eps_g[0, -1] / p.eps_p - 1) < 1e-6  # measured 1.1e-8
    np.testing.assert_allclose(tr.v[0, -1], 1.0, atol=1e-4)  # measured 7e-6
    np.testing.assert_allclose(p.eps_p, 0.0116108403, rtol=1e-8)  # the Saad-Solla value
