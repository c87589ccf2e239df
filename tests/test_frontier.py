"""The compute frontier (chapter "Scaling laws at fixed compute"): closed form against brute
force, the asymptotic exponents, the measured envelope, the window rule and the CLI."""

import numpy as np
import pandas as pd
import pytest

import twolayer as tl
from twolayer.analysis import curves_from_trajectories, fit_frontier, measured_frontier
from twolayer.cli import main
from twolayer.problem.spectrum import coordinate_eigenvalues
from twolayer.theory import frontier as fr
from twolayer.theory import linear


def small_config(beta=1.0, N=64, eta=0.5):
    return tl.Config(N=N, L=N, K=1, M=1, beta=beta, eta=eta, sigma_J=0.01, activation="linear")


BUDGETS = np.geomspace(20, 2e5, 13)


def test_asymptotic_exponents_values_and_sum():
    ex = fr.asymptotic_exponents(1.0)
    assert ex["n_trainable"] == pytest.approx(1 / 3, abs=1e-15)
    assert ex["samples"] == pytest.approx(2 / 3, abs=1e-15)
    assert ex["eps"] == pytest.approx(-1 / 3, abs=1e-15)
    for beta in (0.3, 0.5, 2.0):
        ex = fr.asymptotic_exponents(beta)
        assert ex["n_trainable"] + ex["samples"] == pytest.approx(1.0, abs=1e-15)  # C = P N_l
        assert ex["eps"] == pytest.approx(-beta * ex["n_trainable"], abs=1e-15)


def test_asymptotic_exponents_from_brute_force_minimum_of_the_additive_form():
    # eps = a n^-beta + b (C/n)^-(beta/(1+beta)) minimised over a fine continuous n grid
    beta, a, b = 0.7, 0.3, 2.0
    n = np.geomspace(1, 1e9, 200_001)
    C = np.geomspace(1e6, 1e14, 9)
    eps = a * n[None, :] ** -beta + b * (C[:, None] / n[None, :]) ** (-beta / (1 + beta))
    k = eps.argmin(axis=1)
    ex = fr.asymptotic_exponents(beta)
    assert np.polyfit(np.log(C), np.log(n[k]), 1)[0] == pytest.approx(ex["n_trainable"], abs=2e-4)
    assert np.polyfit(np.log(C), np.log(eps[np.arange(C.size), k]), 1)[0] == pytest.approx(ex["eps"], abs=2e-4)


def test_budget_alpha():
    assert fr.budget_alpha(1e4, 100, 2, 5) == pytest.approx(10.0, rel=1e-15)
    with pytest.raises(ValueError, match="budget"):
        fr.budget_alpha(-1.0, 100, 1, 5)
    with pytest.raises(ValueError, match="n_trainable"):
        fr.budget_alpha(1.0, 100, 1, 0)


def test_candidate_grid():
    g = fr.candidate_grid(1000)
    assert list(g[:20]) == list(range(1, 21)) and g[-1] == 1000
    assert np.all(np.diff(g[19:]) <= np.ceil(0.05 * g[19:-1]) + 1)  # the 5 % staircase (plus rounding)
    assert list(fr.candidate_grid(8)) == list(range(1, 9))
    with pytest.raises(ValueError, match="n_max"):
        fr.candidate_grid(10, 11)


def test_exact_frontier_equals_brute_force_over_every_integer_small_eta():
    # independent evaluation: (1/2) sum_i lambda_i e_i(0) exp(-2 eta lambda_i alpha) over the trained
    # coordinates plus the frozen tail, minimised over every integer N_l
    cfg = small_config()
    lam = coordinate_eigenvalues(cfg)
    e0 = linear.initial_block_errors(cfg, "mean")
    f = fr.exact_frontier(cfg, BUDGETS, n_trainable=range(1, cfg.N + 1), eta2=False)
    for C, row in zip(BUDGETS, f.itertuples()):
        best = []
        for n in range(1, cfg.N + 1):
            a = C / (cfg.N * n)
            w = np.where(np.arange(cfg.N) < n, np.exp(-2 * cfg.eta * lam * a), 1.0)
            best.append(0.5 * np.sum(lam * e0 * w))
        assert row.n_trainable == int(np.argmin(best)) + 1
        assert row.eps == pytest.approx(min(best), rel=1e-10)
        assert row.alpha == pytest.approx(C / (cfg.N * row.n_trainable), rel=1e-14)
        assert row.samples == pytest.approx(row.alpha * cfg.N, rel=1e-14)


def test_exact_frontier_with_eta2_equals_brute_force_and_default_grid_is_close():
    cfg = small_config(beta=0.5, N=32)
    every = range(1, cfg.N + 1)
    budgets = BUDGETS[::3]
    f = fr.exact_frontier(cfg, budgets, n_trainable=every)
    table = np.array([[linear.exact_curve(cfg.replace(trainable=n), [C / (cfg.N * n)], init="mean").eps_g[0, 0]
                       for n in every] for C in budgets])
    assert np.array_equal(f["n_trainable"].to_numpy(), table.argmin(axis=1) + 1)
    np.testing.assert_allclose(f["eps"].to_numpy(), table.min(axis=1), rtol=1e-12)
    # the O(eta^2) term raises the error at every budget
    f1 = fr.exact_frontier(cfg, budgets, n_trainable=every, eta2=False)
    assert np.all(f["eps"].to_numpy() > f1["eps"].to_numpy())


def test_exact_frontier_default_grid_within_a_percent_of_every_integer():
    cfg = small_config(beta=1.0, N=200)
    C = np.geomspace(1e3, 1e5, 4)  # N_l* <= 60: every integer up to 100 is the brute force
    exact = fr.exact_frontier(cfg, C, n_trainable=range(1, 101))
    assert exact["n_trainable"].max() < 100
    grid = fr.exact_frontier(cfg, C, n_trainable=fr.candidate_grid(200, 100))
    ratio = grid["eps"].to_numpy() / exact["eps"].to_numpy()
    assert np.all(ratio >= 1 - 1e-12) and np.all(ratio < 1.01)


def test_exact_frontier_validation():
    cfg = small_config()
    with pytest.raises(ValueError, match="budgets"):
        fr.exact_frontier(cfg, [1.0, -2.0])
    with pytest.raises(ValueError, match="n_trainable"):
        fr.exact_frontier(cfg, [10.0], n_trainable=[0, 3])
    with pytest.raises(ValueError, match="n_trainable"):
        fr.exact_frontier(cfg, [10.0], n_trainable=[2.5])
    with pytest.raises(ValueError, match="K = M = 1"):
        fr.exact_frontier(cfg.replace(activation="erf"), [10.0])
    with pytest.raises(ValueError, match="eta must be < eta_max"):
        fr.exact_frontier(cfg.replace(eta=2.5), [10.0])
    with pytest.raises(ValueError, match="beta"):
        fr.asymptotic_exponents(0.0)


def test_measured_frontier_of_exact_curves_matches_exact_frontier():
    cfg = small_config(beta=1.0, N=64)
    cands = (2, 4, 8, 16, 32, 64)
    trajs = {n: linear.exact_curve(cfg.replace(trainable=n), np.geomspace(1e-2, 1e4, 400), init="mean")
             for n in cands}
    curves = curves_from_trajectories(trajs)
    assert set(curves.columns) == {"C", "n_trainable", "alpha", "samples", "eps"}
    np.testing.assert_allclose(curves["C"], curves["alpha"] * cfg.N * curves["n_trainable"], rtol=1e-15)
    C = np.geomspace(100, 1e5, 10)
    meas = measured_frontier(curves, C)
    exact = fr.exact_frontier(cfg, C, n_trainable=cands)
    assert np.array_equal(meas["n_trainable"].to_numpy(), exact["n_trainable"].to_numpy())
    np.testing.assert_allclose(meas["eps"], exact["eps"], rtol=2e-3)  # log-log interpolation, 400 points
    np.testing.assert_allclose(meas["alpha"], exact["alpha"], rtol=1e-10)


def test_measured_frontier_outside_every_curve_and_validation():
    df = pd.DataFrame({"C": [1.0, 10.0], "n_trainable": [1, 1], "alpha": [1.0, 10.0], "samples": [1.0, 10.0],
                       "eps": [1.0, 0.1]})
    m = measured_frontier(df, [3.0, 100.0])  # 100 lies beyond the curve: left out
    assert list(m["C"]) == [3.0] and m["eps"].iloc[0] == pytest.approx(3.0 ** -1, rel=1e-12)
    with pytest.raises(ValueError, match="no curve covers"):
        measured_frontier(df, [1e3])
    with pytest.raises(ValueError, match="columns"):
        measured_frontier(df.drop(columns="eps"), [3.0])
    with pytest.raises(ValueError, match="Trajectory"):
        curves_from_trajectories({1: "x"})


def test_fit_frontier_recovers_exact_power_laws_and_window_rule():
    C = np.geomspace(1e2, 1e8, 25)
    n = np.round(2 * C**0.25).astype(int)
    f = pd.DataFrame({"C": C, "n_trainable": n, "samples": C / n, "eps": 3 * C**-0.4})
    fit = fit_frontier(f)
    assert fit["eps"] == pytest.approx(-0.4, abs=1e-12) and fit["points"] == 25
    assert fit["n_trainable"] == pytest.approx(0.25, abs=0.005)  # rounding to integers
    assert fit["n_trainable"] + fit["samples"] == pytest.approx(1.0, abs=1e-12)
    lo, hi = fr.frontier_window(f, N=10_000, beta=1.0)  # N_l* >= 8 and N_l* <= 1000
    sel = (n >= 8) & (n <= 1000)
    assert (lo, hi) == (C[sel].min(), C[sel].max())
    assert fit_frontier(f, (lo, hi))["points"] == int(sel.sum())
    with pytest.raises(ValueError, match="fewer than three"):
        fr.frontier_window(f, N=20, beta=1.0)
    with pytest.raises(ValueError, match="finite_l"):
        fr.frontier_window(f, N=10_000, beta=1.0, finite_l=1.5)
    with pytest.raises(ValueError, match="window"):
        fit_frontier(f, (10.0, 1.0))


def test_exact_frontier_reaches_the_asymptotic_exponents_beta_2():
    # the chapter's rule at N = 1024, beta = 2 (a short budget range): within 0.02 of 1/4 and -1/2
    cfg = small_config(beta=2.0, N=1024)
    f = fr.exact_frontier(cfg, np.geomspace(3e3, 3e6, 10), n_trainable=fr.candidate_grid(1024, 60, 1.1))
    assert f["n_trainable"].max() < 60
    fit = fit_frontier(f, fr.frontier_window(f, 1024, 2.0))
    assert fit["n_trainable"] == pytest.approx(0.25, abs=0.02)
    assert fit["eps"] == pytest.approx(-0.5, abs=0.02)


# ------------------------------------------------------------------------------------------ CLI
def test_cli_frontier_prints_the_library_table(capsys):
    code = main(["frontier", "--beta", "1", "--N", "64", "--eta", "0.5", "--budgets", "1e3,1e4"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    f = fr.exact_frontier(small_config(), [1e3, 1e4], n_trainable=fr.candidate_grid(64))
    assert "N_l* ~ C^0.3333" in out
    assert f"{f['eps'].iloc[1]:.6g}" in out
    assert out.splitlines()[2].split() == ["C", "n_trainable", "alpha", "samples", "eps"]


def test_cli_frontier_writes_csv(tmp_path, capsys):
    path = tmp_path / "front.csv"
    code = main(["frontier", "--beta", "0.5", "--N", "32", "--budgets", "100,1000,10000", "--out", str(path)])
    assert code == 0 and "wrote" in capsys.readouterr().out
    got = pd.read_csv(path)
    f = fr.exact_frontier(small_config(beta=0.5, N=32), [100, 1000, 10000])
    assert list(got.columns) == ["C", "n_trainable", "alpha", "samples", "eps"]
    assert list(got["n_trainable"]) == list(f["n_trainable"])
    np.testing.assert_allclose(got["eps"], f["eps"], rtol=1e-9)


@pytest.mark.parametrize("args, text", [
    (["--beta", "0", "--N", "32"], "--beta"),
    (["--beta", "1", "--N", "1"], "--N"),
    (["--beta", "1", "--N", "32", "--budgets", "1,-3"], "--budgets"),
    (["--beta", "1", "--N", "32", "--eta", "3"], "eta_max"),
    (["--beta", "1", "--N", "32", "--n-max", "40"], "n_max"),
])
def test_cli_frontier_bad_input_exits_2_with_one_line(capsys, args, text):
    code = main(["frontier", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and text in err


def test_exponent_table():
    C = np.geomspace(1e2, 1e8, 25)
    f = pd.DataFrame({"C": C, "n_trainable": C ** (1 / 3), "samples": C ** (2 / 3), "eps": C ** (-1 / 3)})
    t = tl.analysis.exponent_table([{"model": "m", "beta": 1.0, "frontier": f, "window": (1e3, 1e6)}])
    assert list(t.columns) == ["model", "beta", "quantity", "window", "predicted", "fitted"]
    assert list(t["quantity"]) == ["$N_l^*$", "$\\epsilon^*$"]
    assert t["window"].iloc[0] == "$C$ in [1e+03, 1e+06]"
    np.testing.assert_allclose(t["fitted"], t["predicted"], atol=1e-12)
    with pytest.raises(ValueError, match="quantities"):
        tl.analysis.exponent_table([], quantities=("x",))


def test_compare_frontiers():
    a = pd.DataFrame({"C": [1.0, 2.0], "n_trainable": [2, 4], "eps": [1.0, 0.5]})
    b = pd.DataFrame({"C": [1.0, 2.0], "n_trainable": [2, 8], "eps": [1.0, 0.5 * np.e]})
    t = tl.analysis.compare_frontiers({1.0: {"sim": a, "theory": b}}, key="beta")
    assert list(t.columns) == ["beta", "budgets", "median |d ln eps*|", "max |d ln eps*|", "same N_l*",
                               "max N_l* ratio"]
    assert t["max |d ln eps*|"].iloc[0] == pytest.approx(1.0, abs=1e-12)
    assert t["same N_l*"].iloc[0] == 0.5 and t["max N_l* ratio"].iloc[0] == 2.0
    with pytest.raises(ValueError, match="share their budgets"):
        tl.analysis.compare_frontiers({1: {"sim": a, "theory": b.assign(C=[1.0, 3.0])}})
