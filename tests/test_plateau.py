"""The symmetric plateau (chapter 03_plateau): fixed point, Saad-Solla values, escape rate."""

import numpy as np
import pytest

from twolayer import Config, solve_ode
from twolayer.analysis import escape_time
from twolayer.problem.spectrum import eigenvalues
from twolayer.theory import plateau as P
from twolayer.theory.ode import initial_overlaps


def test_fixed_point_is_a_symmetric_root_of_rhs():
    cfg = Config(N=60, L=6, K=3, M=3, beta=0.5, eta=0.1, sigma_J=0.01)
    t = initial_overlaps(cfg, "sampled", seed=2).t  # a sampled teacher (T not prop. to I)
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
    t = initial_overlaps(cfg, "sampled", seed=0).t
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
    a = np.geomspace(1, 100, 50)
    e = np.where(a < 30, 1.0, 0.1)
    assert 25 < escape_time(a, e, 1.0) <= 31
    assert np.isnan(escape_time(a, np.ones_like(a), 1.0))
    with pytest.raises(ValueError, match="fraction"):
        escape_time(a, e, 1.0, fraction=1.5)
    with pytest.raises(ValueError, match="activation"):
        P.plateau(Config(N=4, L=1, K=2, M=2, activation="linear"))
    with pytest.raises(ValueError, match="t must be finite with shape"):
        P.plateau(Config(N=4, L=2, K=2, M=2), t=np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="no symmetric plateau"):
        P.plateau(Config(N=4, L=1, K=5, M=1))
