"""The linear network's experiments: SGD against the exact solution (linear_vs_sgd) and the
exponents of its power law (linear_powerlaw)."""

import numpy as np
import pytest

import twolayer as tl
from twolayer.experiments import linear_powerlaw, linear_vs_sgd

LIN = dict(K=1, M=1, activation="linear")


def test_linear_vs_sgd_follows_the_exact_solution():
    c = tl.Config(N=64, L=64, beta=0.75, eta=0.1, sigma_J=0.01, **LIN)
    run = linear_vs_sgd(c, tl.alpha_grid(300, 40, c.N), (0, 1))
    s = run.summary()
    assert (s["$N = L$"], s[r"$\eta$"], s["seeds"]) == (64, 0.1, 2)
    assert s[r"$-\beta/(1+\beta)$"] == pytest.approx(-0.75 / 1.75, rel=1e-14)
    assert s[r"max $|\Delta\ln\epsilon_g|$"] < 0.3  # two runs at N = 64 stay close to their theory
    assert s["fit sgd"] == pytest.approx(s["fit theory"], abs=0.05)
    assert -1.0 < s["fit theory"] < s[r"$-\beta/(1+\beta)$"] and -1.0 < s["fit continuum"] < -0.43
    sc = run.scatter()
    lam = tl.problem.spectrum.eigenvalues(64, 0.75)
    assert sc["share of the top coordinate"] == pytest.approx(0.1 * lam[0] / 128, rel=1e-14)
    assert sc["predicted rms"] == pytest.approx(0.05 * np.sqrt(2 * np.sum((lam / 64) ** 2)), rel=1e-12)
    assert 0 < sc["measured rms (per seed)"] < 0.5
    with pytest.raises(ValueError, match="linear"):
        linear_vs_sgd(c.replace(activation="erf"), tl.alpha_grid(10, 5, 64), (0,))


def test_linear_powerlaw_fits_approach_the_asymptotic_exponent_for_large_beta():
    c = tl.Config(N=1024, L=1024, beta=2.0, eta=0.1, sigma_J=0.01, **LIN)
    p = linear_powerlaw(c, points=200)
    a1, aL = p.window
    assert p.alpha[0] == pytest.approx(a1 / 30, rel=1e-12) and p.alpha.shape == (200,)
    f = p.fits()
    assert f[r"$-\beta/(1+\beta)$"] == pytest.approx(-2 / 3, rel=1e-14)
    assert f["gap"] == pytest.approx(f["fit exact"] + 2 / 3, rel=1e-12)
    assert abs(f["gap"]) < 0.02  # beta = 2: the cut-off correction is small
    assert f["fit continuum"] == pytest.approx(f[r"fit small-$\eta$ sum"], abs=5e-3)
    with pytest.raises(ValueError, match="margin"):
        linear_powerlaw(c, margin=0.5)
