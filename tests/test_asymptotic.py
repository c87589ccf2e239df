"""Asymptotic phase (chapter 04), the noise floor with label noise, and the ODE-vs-SGD escape
times of the core setting.

Setting of the paper's Fig. 1: erf, K = M = 2, N = 1024, eta = 0.1, beta = 1, sigma_J = 0.01.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from twolayer import Config, simulate, solve_ode
from twolayer.analysis import first_below, fit_exponential_rate, fit_slope, measure_plateau
from twolayer.theory import asymptotic as asy
from twolayer.theory import spectral

CFG = Config(N=1024, L=1, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01, activation="erf")


# ---------------------------------------------------------------------------------------------
# core requirement: escape time of SGD within 5% of the ODE, per seed, L in {1, 16}
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def escapes():
    out = {}
    for L in (1, 16):
        cfg = CFG.replace(L=L)
        a = np.geomspace(0.5, 1600.0 if L == 1 else 400.0, 200)  # escape: ~1200 (L=1), ~200 (L=16)
        ode = solve_ode(cfg, a, seeds=(0, 1), rtol=1e-6)
        for i, seed in enumerate((0, 1)):
            pl = measure_plateau(a, ode.eps_g[i])
            grid = np.unique(np.round(np.linspace(0.6, 1.3, 141) * pl.alpha_esc * cfg.N)) / cfg.N
            out[(L, seed)] = (pl, grid)
        # both seeds' SGD on one grid each, in parallel threads
        for seed in (0, 1):
            pl, grid = out[(L, seed)]
            sgd = simulate(cfg, grid, seeds=seed)
            out[(L, seed)] = (pl, first_below(grid, sgd.eps_g[0], 0.5 * pl.eps_p))  # the ODE's level
    return out


@pytest.mark.parametrize("L", [1, 16])
def test_sgd_escape_time_matches_ode(escapes, L):
    rows = []
    for seed in (0, 1):
        pl, esc_sgd = escapes[(L, seed)]
        rel = (esc_sgd - pl.alpha_esc) / pl.alpha_esc
        rows.append((seed, pl.eps_p, pl.alpha_esc, esc_sgd, rel))
    msg = "; ".join(
        f"L={L} seed={s}: plateau eps={ep:.4g}, escape ode={ao:.1f} sgd={as_:.1f} rel.dev={r:+.4f}"
        for s, ep, ao, as_, r in rows
    )
    print(msg)
    for s, ep, ao, as_, r in rows:
        assert math.isfinite(as_), msg
        assert abs(r) < 0.05, msg


# ---------------------------------------------------------------------------------------------
# linearisation at the specialised point
# ---------------------------------------------------------------------------------------------
def test_P_matches_closed_form_at_T_identity():
    p = np.linalg.eigvalsh(asy.fixed_point_P(CFG, init="mean"))
    # E[g'(u) g'(v)] = (2/pi) / sqrt((1 + 1)^2 - 0) off the diagonal, (2/pi)/sqrt(3) on it
    d, o = 2 / math.pi / math.sqrt(3), 1 / math.pi
    np.testing.assert_allclose(p, [d - o, d + o], rtol=1e-12)


def test_jacobian_block_triangular_and_w_rates_without_eta2():
    # without the O(eta^2) term the w block is the Lyapunov operator eta (P w + w P); eta2 is a
    # solver keyword, so the linearisation of the small-eta ODE is taken directly
    from twolayer.theory.plateau import jacobian_matrix

    q0, r0, t = asy.specialised_point(CFG, init="mean")
    J = jacobian_matrix(CFG, q0, r0, t, eta2=False)
    rates_full = asy.relaxation_rates(CFG, init="mean")
    p = rates_full.p
    assert rates_full.coupling_wd < 1e-8
    w = np.sort(-np.linalg.eigvals(J).real)
    for target in cfg_rates(p):
        assert np.min(np.abs(w - target)) < 1e-6 * target
    # the global coupling slows the slowest d-mode below eta p_min
    assert rates_full.mu[0] < CFG.eta * p[0]


def cfg_rates(p):
    return CFG.eta * np.array([2 * p[0], p[0] + p[1], 2 * p[1]])


def test_L1_exponential_rate_of_ode():
    rates = asy.relaxation_rates(CFG, init="sampled", seed=0)
    a = np.linspace(1500.0, 4500.0, 31)
    e = solve_ode(CFG, a, seeds=0, rtol=1e-7, h_max=20.0).eps_g[0]
    kappa = fit_exponential_rate(a, e, eps_range=(1e-12, 1e-5))
    assert abs(kappa / rates.kappa - 1) < 0.02, (kappa, rates.kappa)


def test_decoupled_sum_approaches_continuum_power_law():
    cfg = CFG.replace(L=1024)
    p = np.linalg.eigvalsh(asy.fixed_point_P(cfg, init="mean"))
    lo, hi = asy.powerlaw_window(cfg, p)
    a = np.geomspace(3 * lo, hi, 40)
    S = asy.decoupled_curve(cfg, a, init="mean")
    # the block sum is its continuum limit with the two cutoffs ...
    np.testing.assert_allclose(S / asy.continuum_curve(cfg, a, p), 1.0, atol=0.005)
    # ... and a power law with exponent beta/(1+beta) well inside the window
    inner = (a > 10 * lo) & (a < hi / 100)
    gamma = -fit_slope(a[inner], S[inner])
    assert abs(gamma - spectral.powerlaw_exponent(cfg.beta)) < 0.02, gamma


def test_evaluation_floor_is_at_rounding_level():
    fw, fo = asy.evaluation_floor(CFG, seed=0, samples=16)
    assert fw < 1e-14 and fo < 1e-14


def test_bad_inputs():
    with pytest.raises(ValueError, match="activation"):
        asy.specialised_point(CFG.replace(activation="linear"))
    with pytest.raises(ValueError, match="beta"):
        spectral.powerlaw_exponent(0.0)
    with pytest.raises(ValueError, match="fit range"):
        fit_slope(np.arange(1.0, 5.0), np.ones(4), (10.0, 20.0))


def test_slope_window_after_cuts_the_curve_first():
    """``slope_window(..., after=x)`` searches only alpha >= x: a power law alpha^-1/2 after a flat
    stretch is found with or without the cut, the flat stretch (slope 0) only without it."""
    from twolayer.analysis import slope_window

    a = np.geomspace(1.0, 1e4, 200)
    eps = np.where(a < 100.0, 1.0, np.sqrt(100.0 / a))
    lo, hi = slope_window(a, eps, -0.5, 0.1, after=100.0)
    assert 100.0 <= lo < 150.0 and hi == pytest.approx(1e4)
    assert slope_window(a, eps, 0.0, 0.1)[0] == pytest.approx(1.0)
    assert np.isnan(slope_window(a, eps, 0.0, 0.1, after=200.0)[0])
    with pytest.raises(ValueError, match="after"):
        slope_window(a, eps, -0.5, 0.1, after=float("nan"))


# ------------------------------------------------------------------------------------------------
# noise floor
# ------------------------------------------------------------------------------------------------
def _ode_floor(noise):
    cfg = Config(N=1024, L=1, K=2, M=2, eta=0.1, sigma_J=0.01, noise=noise)
    tr = solve_ode(cfg, [4000.0, 8000.0, 16000.0], seeds=0, rtol=1e-8)
    assert abs(tr.eps_g[0, -1] / tr.eps_g[0, -2] - 1) < 1e-6  # stationary
    return cfg, tr.eps_g[0, -1]


def test_noise_floor_matches_long_ode_run():
    devs = []
    for noise in (0.1, 0.05):
        cfg, e = _ode_floor(noise)
        nf = asy.noise_floor(cfg, seed=0)
        devs.append(e / nf - 1)
    # the linearisation is exact to leading order: the deviation is O(noise^2)
    assert abs(devs[0]) < 0.01  # measured 3.7e-3 (noise 0.1)
    assert 3.5 < devs[0] / devs[1] < 4.5  # measured 4.00 (3.7e-3 vs 9.3e-4)


def test_noise_floor_leading_order():
    cfg = Config(N=1024, L=1, K=2, M=2, eta=0.1, noise=0.1)
    Pm = asy.fixed_point_P(cfg, seed=0)
    lead = asy.noise_floor(cfg, seed=0, leading=True)
    assert lead == pytest.approx(0.1 * 0.1**2 * np.trace(Pm) / 4, rel=1e-14)
    # same value for every spectrum at T = I: tr P at the mean teacher does not depend on L
    lead16 = asy.noise_floor(cfg.replace(L=16), init="mean", leading=True)
    assert lead16 == pytest.approx(asy.noise_floor(cfg, init="mean", leading=True), rel=1e-12)
    # the full floor approaches the leading order with a relative correction O(eta)
    rel = []
    for eta in (0.05, 0.025):
        c = cfg.replace(eta=eta)
        rel.append(asy.noise_floor(c, seed=0) / asy.noise_floor(c, seed=0, leading=True) - 1)
    assert 0 < rel[1] < rel[0] < 0.05  # measured 2.0e-2, 9.9e-3
    assert 1.8 < rel[0] / rel[1] < 2.2  # measured 2.02
    assert asy.noise_floor(cfg.replace(noise=0.0), seed=0) == 0.0
