"""The late phase against its predictions (twolayer.analysis.late_phase): the expected
teacher's time scales and the late exponent fitted inside the power-law window."""

import numpy as np
import pytest

import twolayer as tl
from twolayer.analysis import expected_timescales, late_exponents
from twolayer.problem.trajectory import Trajectory


def test_expected_timescales_match_the_window_formula():
    c = tl.Config(N=64, L=8, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01)
    df = expected_timescales([c, c.replace(beta=0.5)])
    assert list(df.columns) == ["beta", "eps_p", "sigma", "p_min", "p_max", "window_lo", "window_hi"]
    assert list(df["beta"]) == [1.0, 0.5]
    lam = tl.problem.spectrum.groups(c).lam
    row = df.iloc[0]
    assert row["window_lo"] == pytest.approx(1 / (2 * 0.1 * row["p_min"] * lam.max()), rel=1e-12)
    assert row["window_hi"] == pytest.approx(1 / (2 * 0.1 * row["p_max"] * lam.min()), rel=1e-12)
    assert row["eps_p"] == pytest.approx(tl.theory.plateau.plateau(c, eta2=False).eps_p, rel=1e-12)
    assert 0 < row["p_min"] <= row["p_max"] and row["sigma"] > 0
    with pytest.raises(ValueError, match="fields"):
        expected_timescales([c], fields=("nope",))


def test_late_exponents_of_an_exact_power_law():
    c = tl.Config(N=256, L=256, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01)
    alpha = np.geomspace(0.1, 1e4, 300)
    e = np.where(alpha < 10, 0.03 * (1 + 2 * np.exp(-3 * alpha)), 0.03 * (alpha / 10) ** -0.5)
    e2 = np.where(alpha < 20, 0.03 * (1 + 2 * np.exp(-3 * alpha)), 0.03 * (alpha / 20) ** -0.7)
    tr = Trajectory(alpha=alpha, eps_g=np.stack([e, e2]), config=c, method="ode", seeds=(0, 1))
    sgd = Trajectory(alpha=alpha[alpha <= 400], eps_g=e[None, alpha <= 400], config=c, method="sgd", seeds=(0,))
    c2 = c.replace(beta=0.5)
    df = late_exponents({c: tr, c2: tr}, {c: (1.0, 1e5), c2: (1e3, 3e3)}, {c: sgd}, sgd_alpha_max=400.0)
    r = df.iloc[0]
    assert r["seeds"] == 2
    esc = [40.0, 20.0 * 2 ** (1 / 0.7)]  # the half-plateau crossings of the two seeds
    assert r["escape"] == pytest.approx(np.mean(esc), rel=0.02)  # their median
    assert r["fit_lo"] == pytest.approx(3 * r["escape"], rel=1e-12) and r["fit_hi"] == 1e4
    assert r["ode"] == pytest.approx(0.6, abs=1e-9)  # each seed on its own window: 0.5 and 0.7
    assert r["ode_sem"] == pytest.approx(0.1, abs=1e-9)  # std 0.1414 / sqrt(2)
    assert r["sgd"] == pytest.approx(0.5, abs=1e-9) and r["sgd_ode"] == pytest.approx(0.5, abs=1e-9)
    assert r["law"] == 0.5 and np.isfinite(r["S"]) and np.isfinite(r["S_sem"])
    got = [tl.analysis.measure_plateau(alpha, x).alpha_esc for x in (e, e2)]
    S = [-tl.analysis.fit_slope(alpha, tl.theory.asymptotic.decoupled_curve(c, alpha, seed=s),
                                window=(3 * a, 1e4)) for s, a in zip((0, 1), got)]
    assert r["S"] == pytest.approx(np.mean(S), rel=1e-12)  # every seed's S on its own window
    assert r["S_sem"] == pytest.approx(abs(S[0] - S[1]) / 2, rel=1e-9)
    closed = df.iloc[1]  # window [3000, 1000]: nothing to fit
    assert closed["seeds"] == 0 and np.isnan(closed["ode"]) and np.isnan(closed["fit_lo"])
    assert closed["law"] == pytest.approx(1 / 3)
    one = late_exponents({c: Trajectory(alpha=alpha, eps_g=e[None], config=c, method="ode", seeds=(0,))},
                         {c: (1.0, 1e5)}).iloc[0]
    assert one["ode"] == pytest.approx(0.5, abs=1e-9) and np.isnan(one["ode_sem"])
    with pytest.raises(ValueError, match="windows"):
        late_exponents({c: tr}, {})


def test_decoupled_exponents_match_the_fit_of_S():
    c = tl.Config(N=512, L=512, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01)
    df = tl.analysis.decoupled_exponents(c, [0.25, 1.0, 2.0], 25.0, seeds=(0, 1), alpha_max=2000.0)
    assert list(df.columns) == ["beta", "fit_lo", "fit_hi", "S", "law"]
    c1 = c.replace(beta=1.0)
    lo, hi = tl.theory.asymptotic.powerlaw_window(
        c1, np.linalg.eigvalsh(tl.theory.asymptotic.fixed_point_P(c1, init="mean")))
    assert df["fit_lo"][1] == max(25.0, 3 * lo) and df["fit_hi"][1] == min(hi / 3, 2000.0)
    assert np.isnan(df["S"][0]) and df["fit_hi"][0] < 50.0  # beta = 0.25: alpha_hi / 3 below 2 x 25
    a = np.geomspace(df["fit_lo"][1], df["fit_hi"][1], 40)
    want = np.mean([-tl.analysis.fit_slope(a, tl.theory.asymptotic.decoupled_curve(c1, a, seed=s))
                    for s in (0, 1)])
    assert df["S"][1] == pytest.approx(want, rel=1e-12)
    # at L = 512 the finite window bends S: steeper than 0.5 at beta = 1
    assert df["S"][1] == pytest.approx(0.653, abs=2e-3) and df["S"][2] == pytest.approx(0.603, abs=2e-3)
    assert df["law"].tolist() == pytest.approx([0.2, 0.5, 2 / 3], rel=1e-12)
    with pytest.raises(ValueError, match="fit_lo"):
        tl.analysis.decoupled_exponents(c, [1.0], 0.0)
