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
    tr = Trajectory(alpha=alpha, eps_g=e[None], config=c, method="ode", seeds=(0,))
    sgd = Trajectory(alpha=alpha[alpha <= 400], eps_g=e[None, alpha <= 400], config=c, method="sgd", seeds=(0,))
    c2 = c.replace(beta=0.5)
    df = late_exponents({c: tr, c2: tr}, {c: (1.0, 1e5), c2: (1e3, 3e3)}, {c: sgd}, sgd_alpha_max=400.0)
    r = df.iloc[0]
    assert r["escape"] == pytest.approx(40.0, rel=0.02)  # half of the plateau at 0.03
    assert r["fit_lo"] == pytest.approx(3 * r["escape"], rel=1e-12) and r["fit_hi"] == 1e4
    assert r["ode"] == pytest.approx(0.5, abs=1e-9)
    assert r["sgd"] == pytest.approx(0.5, abs=1e-9) and r["sgd_ode"] == pytest.approx(0.5, abs=1e-9)
    assert r["law"] == 0.5 and np.isfinite(r["S"])
    closed = df.iloc[1]  # window [3000, 1000]: nothing to fit
    assert np.isnan(closed["ode"]) and np.isnan(closed["fit_lo"]) and closed["law"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="windows"):
        late_exponents({c: tr}, {})
