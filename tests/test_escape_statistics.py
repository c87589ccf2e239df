"""Escape statistics of paired runs (experiments.escape_by_seed) and the end of a run that is to
cover the specialisation phase (analysis.run_end)."""

import numpy as np
import pytest

import twolayer as tl
from twolayer.analysis import escape_time, paired_escape_times, run_end
from twolayer.experiments import escape_by_seed


def test_run_end_is_factor_times_the_first_alpha_below_the_level():
    alpha = np.array([1.0, 10.0, 100.0, 1000.0])
    eps = np.array([0.5, 0.1, 0.01, 0.001])
    assert run_end(alpha, eps, 0.05) == pytest.approx(150.0, rel=1e-12)        # 1.5 x 100
    assert run_end(alpha, eps, 0.05, factor=3) == pytest.approx(300.0, rel=1e-12)
    assert run_end(alpha, eps, 0.002, factor=3) == pytest.approx(1000.0, rel=1e-12)  # capped
    assert run_end(alpha, eps, 1e-6) == pytest.approx(1000.0, rel=1e-12)       # never below
    with pytest.raises(ValueError, match="level"):
        run_end(alpha, eps, 0.0)
    with pytest.raises(ValueError, match="factor"):
        run_end(alpha, eps, 0.05, factor=0.5)
    with pytest.raises(ValueError, match="same length"):
        run_end(alpha, eps[:2], 0.05)


@pytest.fixture(scope="module")
def paired_run():
    cfg = tl.Config(N=64, L=4, K=2, M=2, beta=0.25, eta=0.1, sigma_J=0.01)
    alpha = tl.alpha_grid(3000, 120, cfg.N, alpha_min=0.05)
    ode = tl.solve_ode(cfg, alpha, seeds=(0, 1), rtol=1e-5)
    sgd = tl.simulate(cfg, alpha, seeds=(1,))
    return cfg, ode, sgd


def test_escape_by_seed_pairs_each_seed_with_its_own_ode(paired_run):
    cfg, ode, sgd = paired_run
    df = escape_by_seed(cfg, ode, sgd, seeds=(0, 1), sgd_seeds=(1,))
    assert list(df["seed"]) == [0, 1]
    assert list(df.columns) == ["seed", "sigma", "esc_ode", "esc_sgd", "lin", "dev_before", "at_start"]
    # the ODE's escape is the book's one definition, SGD is read at the ODE's plateau level
    np.testing.assert_allclose(df["esc_ode"], escape_time(ode.alpha, ode.eps_g), rtol=1e-12)
    a_s, _ = paired_escape_times(sgd.alpha, sgd.eps_g[0], ode.eps_g[1])
    assert df.at[1, "esc_sgd"] == pytest.approx(a_s[0], rel=1e-12)
    assert np.isnan(df.at[0, "esc_sgd"]) and np.isnan(df.at[0, "dev_before"])  # no SGD for seed 0
    # measured numbers of this setting (N = 64: SGD's noise shortens seed 1's plateau by 11 %)
    assert not df["at_start"].any()
    np.testing.assert_allclose(df["sigma"], [0.008612, 0.009367], rtol=1e-3)
    np.testing.assert_allclose(df["esc_ode"], [671.4, 970.3], rtol=1e-3)
    np.testing.assert_allclose(df["lin"], [638.9, 976.0], rtol=1e-3)   # ln(R_p/a_u)/sigma
    assert df.at[1, "esc_sgd"] == pytest.approx(867.6, rel=0.02)
    assert df.at[1, "dev_before"] == pytest.approx(0.055, abs=0.01)


def test_escape_by_seed_validates_its_seeds(paired_run):
    cfg, ode, sgd = paired_run
    with pytest.raises(ValueError, match="subset"):
        escape_by_seed(cfg, ode, sgd, seeds=(0, 1), sgd_seeds=(2,))
    with pytest.raises(ValueError, match="one row per seed"):
        escape_by_seed(cfg, ode, sgd, seeds=(0,), sgd_seeds=(0,))
    with pytest.raises(ValueError, match="before"):
        escape_by_seed(cfg, ode, seeds=(0, 1), before=1.5)


def test_escape_split_of_a_synthetic_exponential_growth():
    from twolayer.analysis import escape_split
    alpha = np.linspace(0.0, 1000.0, 2001)
    a = 1e-4 * np.exp(np.clip(0.02 * (alpha - 100.0), 0.0, None))   # grows from alpha = 100
    R = np.stack([0.3 + a, 0.3 - a], axis=-1)[:, :, None]               # (P, K=2, M=1)
    eps = np.where(alpha < 800.0, 0.02, 0.001)
    d = escape_split(alpha, R, eps, level=0.01, R_p=0.3)
    assert d["a0"] == pytest.approx(1e-4, rel=1e-12)
    assert d["rate"] == pytest.approx(0.02, rel=1e-9)
    assert d["approach"] == pytest.approx(100.0, rel=1e-7)
    assert d["growth"] == pytest.approx(np.log(0.3 / 1e-4) / 0.02, rel=1e-9)   # 400.3
    assert d["escape"] == pytest.approx(800.0, abs=0.5)
    assert d["eps_grown"] == 0.02    # a reaches 0.03 at alpha = 100 + ln(300) / 0.02 = 385
    assert d["approach"] + d["growth"] + d["tail"] == pytest.approx(d["escape"], rel=1e-12)
    with pytest.raises(ValueError, match="does not grow"):
        escape_split(alpha, R, eps, level=0.01, R_p=0.3, grow_from=1e12)
    with pytest.raises(ValueError, match="share the grid"):
        escape_split(alpha[:-1], R, eps, level=0.01, R_p=0.3)


@pytest.mark.parametrize("teacher, rate, escape", [("orthogonal", 0.009066, 634.3),
                                                    ("random", 0.008463, 671.3)])
def test_escape_split_rate_is_the_fixed_point_rate_on_a_flat_plateau(teacher, rate, escape):
    # a flat plateau (N = 64, L = 4): the asymmetry grows at the escape rate of the fixed point of
    # the run's own teacher (within 2.5 per cent), and the tail after the growth is short
    from twolayer.analysis import escape_split
    cfg = tl.Config(N=64, L=4, K=2, M=2, beta=0.25, eta=0.1, sigma_J=0.01, teacher=teacher)
    alpha = tl.alpha_grid(3000, 120, cfg.N, alpha_min=0.05)
    ode = tl.solve_ode(cfg, alpha, seeds=0, rtol=1e-5)
    p = tl.theory.plateau.plateau(cfg, t=tl.initial_state(cfg, "sampled", seed=0).t)
    R_p = float(np.abs(p.overlaps()[1]).mean())
    d = escape_split(alpha, ode.R[0], ode.eps_g[0], p.eps_p / 2, R_p)
    assert d["rate"] == pytest.approx(p.escape_rate, rel=0.025)
    assert d["rate"] == pytest.approx(rate, rel=1e-3)
    assert d["escape"] == pytest.approx(escape, rel=1e-3)
    assert d["escape"] == pytest.approx(escape_time(alpha, ode.eps_g[0]), rel=1e-3)
    assert 0 < d["tail"] < 0.05 * d["escape"] and 0 < d["approach"] < 0.06 * d["escape"]
