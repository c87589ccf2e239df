"""Gaussian averages of every activation (``twolayer.gaussian``) against independent references.

* erf, linear, ReLU, tanh against Monte Carlo (the ``monte_carlo`` check of ``conftest.py``):
  the pair averages E[g g], E[g' g'], E[g'' g]; the four-point average of the O(eta^2) term;
  eps_g, the Stein coefficients and E[delta delta^T] of a committee; eps_g from the weights
  against the outputs on sampled inputs;
* ReLU's closed forms and tanh's trapezoidal averages against adaptive quadrature.

ReLU's four-point average (an exact reduction) has its own tests: ``tests/test_relu.py``.
Measured values are quoted next to each tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from twolayer import Config, eps_g
from twolayer.state import init_weights, overlaps
from twolayer.data.inputs import GaussianInputs
from twolayer.gaussian import activation_of, covariance, delta_delta, stein_coefficients
from twolayer.problem.spectrum import coordinate_eigenvalues

MC = 1_000_000  # Monte Carlo samples


def _cov(d, seed, scale=0.8):
    A = np.random.default_rng(seed).standard_normal((d, d)) * scale
    return A @ A.T + 0.1 * np.eye(d)


# ------------------------------------------------------------------------------------------------
# pair averages
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["erf", "linear", "relu", "tanh"])
def test_pair_averages_vs_monte_carlo(name, monte_carlo):
    act = activation_of(name)
    C = _cov(2, 1)
    u = np.random.default_rng(2).multivariate_normal(np.zeros(2), C, size=MC)
    a, b = u[:, 0], u[:, 1]
    args = (C[0, 0], C[1, 1], C[0, 1])
    monte_carlo(act.g(a) * act.g(b), act.gg(*args), "gg")
    monte_carlo(act.dg(a) * act.dg(b), act.dgdg(*args), "dgdg")
    if name == "relu":  # relu'' is a delta: Stein's lemma E[a g'(a) g(b)] = caa E[g''(a) g(b)] + cab E[g'(a) g'(b)]
        monte_carlo((a * act.dg(a) * act.g(b) - C[0, 1] * act.dg(a) * act.dg(b)) / C[0, 0], act.d2gg(*args), "d2gg")
    elif name != "linear":
        monte_carlo(act.d2g(a) * act.g(b), act.d2gg(*args), "d2gg")
    if name == "erf":  # same variable: E[g''(a) g(a)]
        monte_carlo(act.d2g(a) * act.g(a), act.d2gg(C[0, 0], C[0, 0], C[0, 0]), "d2gg diag")


# ------------------------------------------------------------------------------------------------
# four-point average of the O(eta^2) term
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["erf", "linear"])
def test_four_point_average_vs_monte_carlo_erf_linear(name, monte_carlo):
    act = activation_of(name)
    C = _cov(4, 5)
    u = np.random.default_rng(6).multivariate_normal(np.zeros(4), C, size=MC)
    # delta_moments with w = (0, 0, 1, 0) on an augmented covariance gives one I4 average
    C5 = np.zeros((5, 5))
    C5[:4, :4] = C
    w = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    val = act.delta_moments(C5, 2, w)[0, 1]
    s = act.dg(u[:, 0]) * act.dg(u[:, 1]) * (act.g(u[:, 2]) + act.g(u[:, 3])) ** 2
    monte_carlo(s, val, "i4")


@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_four_point_average_vs_monte_carlo_relu_tanh(name, monte_carlo):
    """delta_moments (quasi-Monte Carlo over the joint Gaussian) for two of the K = 2 students and
    a teacher unit: E[g'(u_i) g'(u_j) (w . g(u))^2]."""
    act = activation_of(name)
    C = _cov(4, 5)
    w = np.array([-1.0, -0.5, 1.0, 0.7])
    val = act.delta_moments(C, 2, w)
    u = np.random.default_rng(6).multivariate_normal(np.zeros(4), C, size=MC)
    e2 = (act.g(u) @ w) ** 2
    D = act.dg(u[:, :2])
    for i in range(2):
        for j in range(2):
            monte_carlo(D[:, i] * D[:, j] * e2, val[i, j], f"I4 {i}{j}")


# ------------------------------------------------------------------------------------------------
# eps_g, Stein coefficients and E[delta delta^T] of a committee
# ------------------------------------------------------------------------------------------------
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
def test_committee_averages_vs_monte_carlo_erf_linear(activation, readout, monte_carlo):
    cfg = Config(N=6, L=1, K=2, M=3, activation=activation, readout=readout)
    C = _cov(5, 11) * 0.5
    Q, R, T = C[:2, :2], C[:2, 2:], C[2:, 2:]
    v, vT = cfg.student_weights, cfg.teacher_weights
    u, sigma, y, delta = _committee_mc(cfg, Q, R, T, 12)
    monte_carlo(0.5 * (sigma - y) ** 2, eps_g(Q, R, T, activation, v, vT), "eps_g")
    G_h, G_rho = stein_coefficients(Q, R, T, activation, v, vT)
    G = np.concatenate([G_h, G_rho], axis=1)
    assert np.allclose(G_h, G_h.T)
    # Stein: E[delta_i u_a] = sum_b C_ab G_ib for every pre-activation u_a
    pred = G @ C
    for i in range(cfg.K):
        for a in range(cfg.K + cfg.M):
            monte_carlo(delta[:, i] * u[:, a], pred[i, a], f"stein {i},{a}")
    E = delta_delta(Q, R, T, activation, v, vT)
    for i in range(cfg.K):
        for j in range(cfg.K):
            monte_carlo(delta[:, i] * delta[:, j], E[i, j], f"deltadelta {i},{j}")


@pytest.mark.parametrize("readout", ["sum", "sqrt"])
@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_committee_averages_vs_monte_carlo_relu_tanh(name, readout, monte_carlo):
    """eps_g, the Stein coefficients (3-point averages E[g'(h_i) u_a g(u_b)]) and
    E[delta delta^T] (with label noise) of a K = 2, M = 3 committee."""
    cfg = Config(N=6, L=1, K=2, M=3, activation=name, readout=readout)
    C = _cov(5, 11) * 0.5
    Q, R, T = C[:2, :2], C[:2, 2:], C[2:, 2:]
    v, vT = cfg.student_weights, cfg.teacher_weights
    act = activation_of(cfg)
    u = np.random.default_rng(12).multivariate_normal(np.zeros(5), covariance(Q, R, T), size=MC)
    lam, rho = u[:, :2], u[:, 2:]
    sigma, y = act.g(lam) @ v, act.g(rho) @ vT
    delta = v * act.dg(lam) * (y - sigma)[:, None]
    monte_carlo(0.5 * (sigma - y) ** 2, eps_g(Q, R, T, name, v, vT), "eps_g")
    G_h, G_rho = stein_coefficients(Q, R, T, name, v, vT)
    pred = np.concatenate([G_h, G_rho], axis=1) @ C
    for i in range(2):
        for a in range(5):
            monte_carlo(delta[:, i] * u[:, a], pred[i, a], f"stein {i},{a}")
    noise = 0.3
    xi = np.random.default_rng(13).standard_normal(MC)
    dn = v * act.dg(lam) * (y + noise * xi - sigma)[:, None]
    E = delta_delta(Q, R, T, name, v, vT, noise)
    for i in range(2):
        for j in range(2):
            monte_carlo(dn[:, i] * dn[:, j], E[i, j], f"deltadelta {i},{j}")


def test_eps_g_from_weights_matches_outputs_on_samples(monte_carlo):
    cfg = Config(N=64, L=4, K=3, M=2, beta=0.5, sigma_J=0.7)
    J, B = init_weights(cfg, 4)
    src = GaussianInputs().source(cfg, 9)
    x = src.draw(400_000)
    act = activation_of("erf")
    err = 0.5 * (act.g(x @ J.T / 8.0).sum(1) - act.g(x @ B.T / 8.0).sum(1)) ** 2
    Q, R, T = overlaps(J, B, coordinate_eigenvalues(cfg))
    monte_carlo(err, eps_g(Q, R, T), "eps_g(weights)")


# ------------------------------------------------------------------------------------------------
# ReLU and tanh against adaptive quadrature
# ------------------------------------------------------------------------------------------------
def _relu_pair_by_quadrature(caa, cbb, cab):
    """E[relu(a) relu(b)] and E[relu'(a) relu'(b)] by adaptive 1-d quadrature: b given a is
    Gaussian, and E[relu(m + s z)] = m Phi(m/s) + s phi(m/s)."""
    sa, sb = math.sqrt(caa), math.sqrt(cbb)
    rho = cab / (sa * sb)
    s = sb * math.sqrt(1 - rho**2)
    phi, Phi = stats.norm.pdf, stats.norm.cdf
    gg = integrate.quad(lambda z: sa * z * phi(z) * (sb * rho * z * Phi(sb * rho * z / s) + s * phi(sb * rho * z / s)),
                        0, np.inf, epsabs=1e-15, epsrel=1e-13)[0]
    dd = integrate.quad(lambda z: phi(z) * Phi(sb * rho * z / s), 0, np.inf, epsabs=1e-15, epsrel=1e-13)[0]
    return gg, dd


@pytest.mark.parametrize("caa,cbb,cab", [(1.0, 0.5, 0.3), (0.7, 2.0, -0.9), (0.01, 0.02, 0.0141), (3.0, 1.0, 0.0)])
def test_relu_closed_forms_vs_quadrature(caa, cbb, cab):
    relu = activation_of("relu")
    gg, dd = _relu_pair_by_quadrature(caa, cbb, cab)
    assert abs(relu.gg(caa, cbb, cab) - gg) < 1e-8 * max(1.0, abs(gg))  # measured <= 6e-17
    assert abs(relu.dgdg(caa, cbb, cab) - dd) < 1e-8  # measured <= 6e-17
    # Stein (see above), with E[a relu'(a) relu(b)] = E[relu(a) relu(b)]
    assert abs(relu.d2gg(caa, cbb, cab) - (gg - cab * dd) / caa) < 1e-8  # measured <= 1.1e-16


@pytest.mark.parametrize("caa,cbb,cab", [(1.0, 0.5, 0.3), (0.7, 2.0, -0.9), (4.0, 3.0, 1.0)])
def test_tanh_trapezoidal_averages_vs_adaptive_quadrature(caa, cbb, cab):
    """The trapezoidal rule of ``gaussian.quadrature`` (claimed ~1e-12) against nested adaptive
    quadrature in the conditional variables."""
    tanh = activation_of("tanh")
    sa, sb = math.sqrt(caa), math.sqrt(cbb)
    rho = cab / (sa * sb)
    s = sb * math.sqrt(1 - rho**2)
    phi = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731

    def pair(f1, f2):
        inner = lambda z1: integrate.quad(lambda z2: phi(z2) * f2(sb * rho * z1 + s * z2), -12, 12,  # noqa: E731
                                          epsabs=1e-14, epsrel=1e-13, limit=200)[0]
        return integrate.quad(lambda z1: phi(z1) * f1(sa * z1) * inner(z1), -12, 12, epsabs=1e-14, epsrel=1e-13,
                              limit=200)[0]

    g = math.tanh
    dg = lambda x: 1 - math.tanh(x) ** 2  # noqa: E731
    d2g = lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2)  # noqa: E731
    assert abs(tanh.gg(caa, cbb, cab) - pair(g, g)) < 1e-10  # measured <= 2.3e-15
    assert abs(tanh.dgdg(caa, cbb, cab) - pair(dg, dg)) < 1e-10  # measured <= 1.1e-13
    assert abs(tanh.d2gg(caa, cbb, cab) - pair(d2g, g)) < 1e-10  # measured <= 8.6e-13
