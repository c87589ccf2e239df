"""Agreement of paired runs (twolayer.experiments.agreement): grids, pairing, the tidy table."""

import numpy as np
import pytest

import twolayer as tl
from twolayer.experiments import (
    Paired,
    agreement,
    alpha_grids,
    paired_results,
)
from twolayer.problem.trajectory import Trajectory

CFG = tl.Config(N=64, L=4, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01)


def _curve(alpha, eps_p, alpha_esc):
    """A plateau at eps_p up to alpha_esc, then a fast power-law fall (tanh step in ln alpha)."""
    step = 0.5 * (1 + np.tanh(4 * np.log(alpha / alpha_esc)))
    return eps_p * (1.0 - 0.2 * np.exp(-alpha)) * (1.0 - step) + 1e-2 * eps_p * step


def _pair(scale=1.1, shift=1.2):
    alpha = np.geomspace(0.05, 1e4, 200)
    ode = np.stack([_curve(alpha, 0.03, 300.0), _curve(alpha, 0.03, 600.0)])
    sgd = np.stack([scale * _curve(alpha, 0.03, 300.0 * shift), scale * _curve(alpha, 0.03, 600.0 * shift)])
    mk = lambda e, m: Trajectory(alpha=alpha, eps_g=e, config=CFG, method=m, seeds=(0, 1))
    return Paired(mk(sgd, "sgd"), mk(ode, "ode"))


def test_alpha_grids_per_configuration_and_mapping():
    cfgs = [CFG, CFG.replace(N=128)]
    g = alpha_grids(cfgs, 100.0, points=50, alpha_min=0.05)
    assert set(g) == set(cfgs)
    np.testing.assert_array_equal(g[CFG], tl.alpha_grid(100.0, 50, 64, alpha_min=0.05))
    assert g[cfgs[1]][-1] == pytest.approx(100.0, rel=1e-12)
    g2 = alpha_grids(cfgs, {cfgs[0]: 10.0, cfgs[1]: 20.0}, points=20)
    assert g2[cfgs[0]][-1] == pytest.approx(10.0, rel=1e-12)
    assert g2[cfgs[1]][-1] == pytest.approx(20.0, rel=1e-12)
    with pytest.raises(ValueError, match="alpha_max"):
        alpha_grids(cfgs, {cfgs[0]: 10.0})
    with pytest.raises(ValueError, match="configs"):
        alpha_grids([], 10.0)


def test_agreement_of_a_constant_ratio_and_a_known_delay():
    pr = _pair(scale=1.1, shift=1.0)
    df = agreement({CFG: pr}, fields=("K", "L"))
    assert list(df.columns) == ["K", "L", "esc_ode", "esc_sgd", "ratio", "dev", "end_ode", "end_sgd"]
    assert (df["K"][0], df["L"][0]) == (2, 4)
    assert df["dev"][0] == pytest.approx(np.log(1.1), abs=1e-12)  # |ln 1.1| everywhere
    # the ODE escapes (half its plateau) a little after alpha_esc; SGD, 10 % above it, later still
    a_s, a_o = pr.escape_times()
    assert df["esc_ode"][0] == pytest.approx(np.mean(a_o), rel=1e-12)
    assert df["ratio"][0] == pytest.approx(np.mean(a_s / a_o), rel=1e-12)
    assert 1.0 < df["ratio"][0] < 1.05
    assert df["end_sgd"][0] / df["end_ode"][0] == pytest.approx(1.1, rel=1e-12)


def test_agreement_reads_a_delayed_sgd_escape():
    df = agreement({CFG: _pair(scale=1.0, shift=1.2)})
    assert df["ratio"][0] == pytest.approx(1.2, rel=0.02)
    assert 300.0 < df["esc_ode"][0] < 600.0


def test_agreement_without_escape_gives_nan():
    alpha = np.geomspace(0.05, 10.0, 50)
    flat = np.full((1, alpha.size), 0.03)
    tr = lambda m: Trajectory(alpha=alpha, eps_g=flat, config=CFG, method=m, seeds=(0,))
    df = agreement({CFG: Paired(tr("sgd"), tr("ode"))})
    assert np.isnan(df["esc_ode"][0]) and np.isnan(df["esc_sgd"][0]) and np.isnan(df["ratio"][0])
    assert df["dev"][0] == 0.0


def test_agreement_validates():
    with pytest.raises(ValueError, match="pairs"):
        agreement({})
    with pytest.raises(ValueError, match="fields"):
        agreement({CFG: _pair()}, fields=("nope",))
    with pytest.raises(ValueError, match="Paired"):
        agreement({CFG: 1})


def test_paired_sweep_pairs_sgd_and_ode_from_the_same_weights():
    cfgs = [CFG, CFG.replace(sigma_J=0.1)]
    pairs = tl.sweeps.paired_sweep(cfgs, 5.0, seeds=(0, 1), points=12, alpha_min=0.05,
                         rtol=1e-6, scheduler="synchronous")
    assert list(pairs) == cfgs
    for c, pr in pairs.items():
        assert pr.sgd.method == "sgd" and pr.ode.method == "ode" and pr.sgd.seeds == (0, 1)
        np.testing.assert_array_equal(pr.sgd.alpha, tl.alpha_grid(5.0, 12, c.N, alpha_min=0.05))
        # the same initial weights: the first points agree to the finite-N fluctuation
        np.testing.assert_allclose(pr.sgd.eps_g[:, 0], pr.ode.eps_g[:, 0], rtol=0.05)
    res = tl.sweep(cfgs, seeds=(0,), method=("sgd", "ode"), alpha=np.array([1.0, 5.0]), scheduler="synchronous")
    assert list(paired_results(res)) == cfgs
    with pytest.raises(ValueError, match="method"):
        tl.sweeps.paired_sweep(cfgs, 5.0, method="sgd")
    with pytest.raises(ValueError, match="sweep result"):
        paired_results(object())
