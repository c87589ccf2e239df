"""ReLU's O(eta^2) four-point average (``twolayer.gaussian.relu``: an exact reduction to closed
forms and one smooth 1-d integral) against Monte Carlo and exact special cases, and ReLU ODE runs
without RuntimeWarnings.

Measured values are quoted next to each tolerance.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from twolayer import Config, alpha_grid, solve_ode
from twolayer.gaussian import activation_of, covariance
from twolayer.gaussian.quadrature import sqrt_psd
from twolayer.gaussian.relu import four_point, orthant4, relu_delta_moments

MC = 16_000_000  # Monte Carlo samples


def _four_point_estimate(C, K, w, n=MC, seed=0, chunk=2_000_000):
    """Monte Carlo mean and standard error of E[g'(u_i) g'(u_j) (w . g(u))^2] for g = relu,
    u ~ N(0, C), for the pairs i <= j < K (``np.triu_indices(K)`` order).  float32 samples,
    float64 sums (the rounding is far below the statistical error)."""
    A = sqrt_psd(np.asarray(C, dtype=np.float64)).astype(np.float32)
    w = np.asarray(w, dtype=np.float32)
    rng = np.random.default_rng(seed)
    iu = np.triu_indices(K)
    s1, s2 = np.zeros(len(iu[0])), np.zeros(len(iu[0]))
    for _ in range(n // chunk):
        u = rng.standard_normal((chunk, len(w)), dtype=np.float32) @ A.T
        e2 = np.square(np.maximum(u, 0) @ w)
        pos = u[:, :K] > 0
        for k, (i, j) in enumerate(zip(*iu)):
            x = np.where(pos[:, i] & pos[:, j], e2, 0.0)
            s1[k] += x.sum(dtype=np.float64)
            s2[k] += np.square(x, dtype=np.float64).sum()
    m = s1 / n
    return m, np.sqrt((s2 / n - m * m) / n)


def _cov(d, seed, scale=0.8):
    A = np.random.default_rng(seed).standard_normal((d, d)) * scale
    return A @ A.T + 0.1 * np.eye(d)


# two settings where the quasi-Monte Carlo average used before was off by 11.9 and 8.5 standard
# errors of this Monte Carlo (1.1 % and 0.5 %)
MC_CASES = {
    "random K=2 M=2": (_cov(4, 5), 2, [-1.0, -0.5, 1.0, 0.7]),
    "correlated students K=M=2": (covariance(np.array([[0.5, 0.45], [0.45, 0.52]]),
                                             np.array([[0.4, 0.3], [0.35, 0.33]]), np.eye(2)),
                                  2, [-1.0, -1.0, 1.0, 1.0]),
}


@pytest.mark.parametrize("case", list(MC_CASES))
def test_four_point_average_vs_monte_carlo(case, monte_carlo):
    C, K, w = MC_CASES[case]
    val = activation_of("relu").delta_moments(C, K, np.array(w))
    m, se = _four_point_estimate(C, K, w)
    # measured |z| <= 1.8 (random), <= 1.0 (correlated): relative deviations <= 1.4e-3, all statistical
    monte_carlo.estimate(m, se, val[np.triu_indices(K)], case)
    np.testing.assert_allclose(val, val.T, rtol=0, atol=0)


def test_orthant_probability_and_four_point_exact_cases():
    # equicorrelated rho = 1/2: P(z > 0) = 1/(n + 1); two independent pairs: a product of P2
    R = np.full((4, 4), 0.5) + 0.5 * np.eye(4)
    assert orthant4(R[None])[0] == pytest.approx(0.2, abs=1e-14)  # measured 0
    R = np.eye(4)
    R[0, 1] = R[1, 0] = 0.6
    R[2, 3] = R[3, 2] = -0.3
    p2 = lambda r: 0.25 + math.asin(r) / (2 * math.pi)  # noqa: E731
    assert orthant4(R[None])[0] == pytest.approx(p2(0.6) * p2(-0.3), abs=1e-14)  # measured 0
    # independent variables: E[z_p z_q 1(z > 0)] = E[z+]^2 / 4 (p != q), E[z^2 1(z > 0)] / 8 (p = q)
    assert four_point(np.eye(4)[None], 0, 1)[0] == pytest.approx(1 / (8 * math.pi), abs=1e-15)
    assert four_point(np.eye(4)[None], 2, 2)[0] == pytest.approx(1 / 16, abs=1e-15)
    # E_ij for independent pre-activations with variances c: E[g'_i g'_j (w . g)^2] in closed form
    c = np.array([0.7, 1.3, 2.0, 0.4])
    w = np.array([-1.0, -0.5, 1.0, 0.7])
    m1, m2 = np.sqrt(c / (2 * np.pi)), c / 2  # E[relu(u)], E[relu(u)^2]

    def exact(i, j):
        # E[1_i 1_j g_a g_b] = product over the distinct variables k of 1/2 (an indicator only),
        # E[relu(u_k)] (g once) or E[relu(u_k)^2] (g twice)
        tot = 0.0
        for a in range(4):
            for b in range(4):
                n = [(a, b).count(k) for k in range(4)]
                val = np.prod([(0.5, m1[k], m2[k])[n[k]] for k in {i, j, a, b}])
                tot += w[a] * w[b] * val
        return tot

    E = relu_delta_moments(np.diag(c), 2, w)
    for i in range(2):
        for j in range(2):
            assert E[i, j] == pytest.approx(exact(i, j), rel=1e-12)  # measured <= 7e-16


def test_identical_students_singular_and_invalid_covariances(monte_carlo):
    """The symmetric plateau (identical students, a singular covariance): E_01 = E_00 exactly, and
    the average is continuous as the students separate (a square-root modulus: the kink that
    leaves ReLU's plateau without an escape rate with the eta^2 term).  A zero-variance student
    (sigma_J = 0) has g = g' = 0; a covariance with a negative variance (an integrator's trial
    state) gives finite numbers; a non-finite one NaN."""
    b, v = 1 / 3, np.full(2, 1 / math.sqrt(6))
    w = np.array([-1.0, -1.0, 1.0, 1.0])

    def E(d):
        return relu_delta_moments(covariance(np.array([[b, b - d], [b - d, b]]), np.tile(v, (2, 1)), np.eye(2)), 2, w)

    E0 = E(0.0)
    assert E0[0, 1] == E0[0, 0] == E0[1, 1]
    m, se = _four_point_estimate(covariance(np.full((2, 2), b), np.tile(v, (2, 1)), np.eye(2)), 2, w, n=4_000_000)
    monte_carlo.estimate(m, se, E0[np.triu_indices(2)], "identical students")  # measured z = -0.7
    gaps = np.array([E0[0, 0] - E(d)[0, 1] for d in (1e-4, 1e-6, 1e-8)])
    assert np.all(gaps > 0) and np.all(np.diff(gaps) < 0)
    np.testing.assert_allclose(gaps[:-1] / gaps[1:], 10.0, rtol=0.05)  # ~ sqrt(d): measured 9.8, 10.0
    C = covariance(np.array([[0.0, 0.0], [0.0, 0.5]]), np.array([[0.0, 0.0], [0.3, 0.2]]), np.eye(2))
    Ez = relu_delta_moments(C, 2, w)
    assert Ez[0, 0] == Ez[0, 1] == 0.0 and Ez[1, 1] > 0
    C[0, 0] = -5.0
    assert np.all(np.isfinite(relu_delta_moments(C, 2, w)))
    C[0, 0] = np.nan
    assert np.all(np.isnan(relu_delta_moments(C, 2, w)))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("K,L,sigma_J", [(2, 1, 1e-4), (4, 16, 1e-4), (2, 16, 1e-2)])
def test_relu_ode_runs_without_runtime_warnings(K, L, sigma_J):
    """Before: "invalid value encountered in sqrt" from ReLU's E[g g] at the integrator's trial
    states, whose half-step predictor from Q_ii ~ sigma_J^2 can leave the cone of covariances
    (K = 2, L = 1, sigma_J = 1e-4: Q_ii = 1e-8 -> -7e7, a step then rejected).  A negative variance
    is taken as zero variance (relu(0) = relu'(0) = 0), as E[g' g'] and E[g'' g] already did."""
    cfg = Config(N=256, L=L, K=K, M=K, beta=1.0, eta=0.1, sigma_J=sigma_J, activation="relu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = solve_ode(cfg, alpha_grid(200.0, 30, cfg.N, alpha_min=0.05), seeds=0, rtol=1e-3)
    assert np.all(np.isfinite(tr.eps_g)) and tr.eps_g[0, -1] < 0.5 * tr.eps_g[0, 0]
