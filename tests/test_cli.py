"""The command-line interface ``twolayer`` / ``python -m twolayer`` (twolayer.cli).

Runs are tiny (N = 64, alpha <= 5) so that the whole file takes a few seconds.  Results written
by the CLI must be *bit-identical* to the library calls they wrap (the CSV stores repr(float)).
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from twolayer import cli
from twolayer.config import Config
from twolayer.data import groups_for
from twolayer.models import init_weights
from twolayer.results import alpha_grid
from twolayer.sgd import simulate
from twolayer.theory import ode
from twolayer.theory.overlaps import block_overlaps

SMALL = ["--N", "64", "--alpha-max", "5", "--points", "10"]


def read(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], np.array(rows[1:], dtype=float)


def run_module(*args, cwd=None):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "twolayer", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def run_main(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------
# run --method sgd
# --------------------------------------------------------------------------------------------
def test_sgd_csv_matches_simulate_exactly(tmp_path, capsys):
    path = tmp_path / "sgd.csv"
    code, out, err = run_main(capsys, "run", *SMALL, "--seed", "3", "--out", str(path))
    assert code == 0 and err == ""
    assert out.startswith(f"wrote {path}: sgd, ")
    header, data = read(path)
    assert header == ["alpha", "eps_g"]
    cfg = Config(N=64)  # the other parameters are the Fig. 1 defaults
    alpha = alpha_grid(5, 10, 64)
    ref = simulate(cfg, alpha=alpha, seeds=[3])
    assert data.shape == (len(alpha), 2)
    np.testing.assert_array_equal(data[:, 0], alpha)
    np.testing.assert_array_equal(data[:, 1], ref.eps_g[0])


def test_subprocess_equals_in_process(tmp_path, capsys):
    args = [*SMALL, "--L", "4", "--beta", "0.5", "--eta", "0.2", "--sigma-J", "0.1", "--K", "3", "--M", "1",
            "--readout", "sqrt", "--trainable", "40", "--seed", "2"]
    p = run_module("run", *args, "--out", str(tmp_path / "a.csv"))
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""  # no progress bar when stderr is not a terminal
    assert cli.main(["run", *args, "--out", str(tmp_path / "b.csv")]) == 0
    capsys.readouterr()
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    cfg = Config(N=64, L=4, beta=0.5, eta=0.2, sigma_J=0.1, K=3, M=1, readout="sqrt", trainable=40)
    ref = simulate(cfg, alpha=alpha_grid(5, 10, 64), seeds=[2])
    np.testing.assert_array_equal(read(tmp_path / "a.csv")[1][:, 1], ref.eps_g[0])


def test_three_seeds_add_the_sem_column(tmp_path, capsys):
    path = tmp_path / "s3.csv"
    code, _, _ = run_main(capsys, "run", *SMALL, "--activation", "linear", "--K", "1", "--M", "1",
                          "--seeds", "3", "--seed", "5", "--out", str(path))
    assert code == 0
    header, data = read(path)
    assert header == ["alpha", "eps_g", "eps_g_sem"]
    ref = simulate(Config(N=64, K=1, M=1, activation="linear"), alpha=alpha_grid(5, 10, 64), seeds=[5, 6, 7])
    assert ref.n_seeds == 3
    np.testing.assert_array_equal(data[:, 1], ref.mean)
    np.testing.assert_array_equal(data[:, 2], ref.sem)
    assert np.all(data[:, 2] > 0)


def test_progress_bar_goes_to_stderr_and_changes_nothing(tmp_path, capsys):
    code_a, out_a, err_a = run_main(capsys, "run", *SMALL, "--seeds", "2", "--progress", "--out", str(tmp_path / "a.csv"))
    code_b, out_b, err_b = run_main(capsys, "run", *SMALL, "--seeds", "2", "--out", str(tmp_path / "b.csv"))
    assert code_a == code_b == 0
    assert "sgd seeds" in err_a and "/2" in err_a
    assert err_b == ""  # pytest's captured stderr is not a terminal: no bar by default
    assert out_a.replace("a.csv", "b.csv") == out_b
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    code, _, err = run_main(capsys, "run", "--method", "ode", *SMALL, "--seeds", "2", "--progress",
                            "--out", str(tmp_path / "c.csv"))
    assert code == 0 and "ode" in err and "/2" in err


# --------------------------------------------------------------------------------------------
# run --method ode
# --------------------------------------------------------------------------------------------
def test_ode_matches_solve(tmp_path, capsys):
    path = tmp_path / "ode.csv"
    code, out, err = run_main(capsys, "run", "--method", "ode", *SMALL, "--L", "4", "--rtol", "1e-5",
                              "--seed", "1", "--out", str(path))
    assert code == 0 and err == ""
    header, data = read(path)
    assert header == ["alpha", "eps_g"]
    cfg = Config(N=64, L=4)
    alpha = alpha_grid(5, 10, 64)
    ref = ode.solve(cfg, alpha, "sampled", seeds=[1], rtol=1e-5)
    np.testing.assert_array_equal(data[:, 0], alpha)
    np.testing.assert_array_equal(data[:, 1], ref.eps_g[0])


def test_ode_seeds_average_the_sampled_initialisations(tmp_path, capsys):
    path = tmp_path / "ode3.csv"
    assert cli.main(["run", "--method", "ode", *SMALL, "--L", "2", "--seeds", "3", "--seed", "4",
                     "--no-eta2", "--out", str(path)]) == 0
    capsys.readouterr()
    header, data = read(path)
    assert header == ["alpha", "eps_g", "eps_g_sem"]
    cfg = Config(N=64, L=2, eta2=False)
    ref = ode.solve(cfg, alpha_grid(5, 10, 64), "sampled", seeds=[4, 5, 6])
    assert ref.n_seeds == 3
    np.testing.assert_array_equal(data[:, 1], ref.mean)
    np.testing.assert_array_equal(data[:, 2], ref.sem)


def test_ode_mean_init_is_one_curve(tmp_path, capsys):
    path = tmp_path / "mean.csv"
    assert cli.main(["run", "--method", "ode", *SMALL, "--init", "mean", "--seeds", "4", "--out", str(path)]) == 0
    capsys.readouterr()
    header, data = read(path)
    assert header == ["alpha", "eps_g"]
    ref = ode.integrate(Config(N=64), alpha_grid(5, 10, 64), init="mean").eps_g()
    np.testing.assert_array_equal(data[:, 1], ref)


def test_init_from_L1_global_overlaps(tmp_path, capsys):
    Q0 = np.array([[0.30, 0.02], [0.02, 0.25]])
    R0 = np.array([[0.10, -0.05], [0.00, 0.20]])
    T0 = np.array([[1.00, 0.10], [0.10, 0.90]])
    npz = tmp_path / "init1.npz"
    np.savez(npz, Q0=Q0, R0=R0, T0=T0)
    path = tmp_path / "i1.csv"
    code, _, err = run_main(capsys, "run", "--method", "ode", *SMALL, "--init-from", str(npz), "--out", str(path))
    assert code == 0, err
    cfg = Config(N=64)
    ref = ode.integrate(cfg, alpha_grid(5, 10, 64), init=(Q0[None], R0[None], T0[None])).eps_g()
    np.testing.assert_array_equal(read(path)[1][:, 1], ref)
    assert read(path)[1][0, 1] < 0.5  # started from the given overlaps, not from sigma_J = 0.01


def test_init_from_per_block_overlaps(tmp_path, capsys):
    cfg = Config(N=64, L=4, K=2, M=3, trainable=32)  # N_l = 32 = two whole blocks: groups == blocks
    J, B = init_weights(cfg.replace(sigma_J=0.3), 7)
    q0, r0, t0 = block_overlaps(J, B, groups_for(cfg))
    assert q0.shape == (4, 2, 2) and r0.shape == (4, 2, 3) and t0.shape == (4, 3, 3)
    npz = tmp_path / "init4.npz"
    np.savez(npz, q0=q0, r0=r0, t0=t0)
    path = tmp_path / "i4.csv"
    flags = ["run", "--method", "ode", *SMALL, "--L", "4", "--K", "2", "--M", "3", "--trainable", "32"]
    code, _, err = run_main(capsys, *flags, "--init-from", str(npz), "--out", str(path))
    assert code == 0, err
    ref = ode.integrate(cfg, alpha_grid(5, 10, 64), init=(q0, r0, t0)).eps_g()
    np.testing.assert_array_equal(read(path)[1][:, 1], ref)
    # the sampled overlaps of seed 7 written to a file reproduce --init sampled --seed 7
    q7, r7, t7 = block_overlaps(*init_weights(cfg, 7), groups_for(cfg))
    np.savez(npz, q0=q7, r0=r7, t0=t7)
    assert cli.main([*flags, "--init-from", str(npz), "--out", str(tmp_path / "x.csv")]) == 0
    assert cli.main([*flags, "--seed", "7", "--out", str(tmp_path / "y.csv")]) == 0
    capsys.readouterr()
    assert (tmp_path / "x.csv").read_text() == (tmp_path / "y.csv").read_text()


# --------------------------------------------------------------------------------------------
# bad flags: one line on stderr, exit status 2, never a traceback
# --------------------------------------------------------------------------------------------
def _npz(tmp_path, name, **arrays):
    p = tmp_path / name
    np.savez(p, **arrays)
    return str(p)


BAD = {
    "L does not divide N": (["--L", "3"], "L must divide N"),
    "L > N": (["--N", "4", "--L", "8"], "L must be"),
    "N = 0": (["--N", "0"], "N must be"),
    "N not an integer": (["--N", "1.5"], "--N"),
    "beta = 0": (["--beta", "0"], "beta must be"),
    "beta < 0": (["--beta", "-1"], "beta must be"),
    "beta = nan": (["--beta", "nan"], "beta must be"),
    "K = 0": (["--K", "0"], "K must be"),
    "M = 0": (["--M", "0"], "M must be"),
    "unknown activation": (["--activation", "relu"], "--activation"),
    "unknown readout": (["--readout", "mean"], "--readout"),
    "unknown method": (["--method", "mc"], "--method"),
    "negative eta": (["--eta", "-0.1"], "eta must be"),
    "eta = inf": (["--eta", "inf"], "eta must be"),
    "negative sigma_J": (["--sigma-J", "-0.01"], "sigma_J must be"),
    "trainable > N": (["--N", "64", "--trainable", "65"], "trainable"),
    "trainable = 0": (["--trainable", "0"], "trainable"),
    "seeds = 0": (["--seeds", "0"], "--seeds"),
    "negative seed": (["--seed", "-1"], "--seed"),
    "points = 1": (["--points", "1"], "points must be"),
    "alpha_max = 0": (["--alpha-max", "0"], "alpha_max must be"),
    "unknown flag": (["--bogus", "1"], "unrecognized arguments"),
    "ode-only flag with sgd": (["--rtol", "1e-4"], "only apply to --method ode"),
    "init mean with sgd": (["--init", "mean"], "only apply to --method ode"),
    "bad rtol": (["--method", "ode", "--rtol", "-1"], "--rtol"),
    "missing output directory": (["--out", "/nonexistent-dir/x.csv"], "does not exist"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_flags_exit_2_with_one_line(case, tmp_path, capsys):
    flags, expect = BAD[case]
    argv = ["run", *flags] + ([] if "--out" in flags else ["--out", str(tmp_path / "x.csv")])
    code, out, err = run_main(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("twolayer: error: ") and err.count("\n") == 1, err
    assert expect in err
    assert not (tmp_path / "x.csv").exists()


def test_bad_flags_in_a_subprocess_have_no_traceback(tmp_path):
    # (in-process runs above cover every case; a traceback there would fail the test too)
    for case in ("L does not divide N", "unknown activation", "trainable > N"):
        flags, expect = BAD[case]
        p = run_module("run", *flags, "--out", str(tmp_path / "x.csv"))
        assert p.returncode == 2, (case, p.stderr)
        assert p.stdout == "" and "Traceback" not in p.stderr
        assert p.stderr.count("\n") == 1 and p.stderr.startswith("twolayer: error: ") and expect in p.stderr


def _bad_npz_cases(tmp_path):
    Q = np.eye(2)
    R = np.zeros((2, 2))
    T = np.eye(2)
    q4 = np.stack([np.eye(2)] * 4)
    r4 = np.zeros((4, 2, 2))
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip file")
    L4 = ["--L", "4"]
    return {
        "Q0 wrong shape": ([], _npz(tmp_path, "a.npz", Q0=np.eye(3), R0=R, T0=T), "Q0 must have shape (2, 2)"),
        "R0 wrong shape": ([], _npz(tmp_path, "b.npz", Q0=Q, R0=np.zeros((2, 3)), T0=T), "R0 must have shape (2, 2)"),
        "missing T0": ([], _npz(tmp_path, "c.npz", Q0=Q, R0=R), "must hold arrays Q0"),
        "global overlaps for L > 1": (L4, _npz(tmp_path, "d.npz", Q0=Q, R0=R, T0=T), "q0 (L x K x K)"),
        "q0 wrong number of blocks": (L4, _npz(tmp_path, "e.npz", q0=q4[:3], r0=r4, t0=q4), "q0 must have shape (4, 2, 2)"),
        "t0 wrong shape": (L4, _npz(tmp_path, "f.npz", q0=q4, r0=r4, t0=np.eye(2)), "t0 must have shape (4, 2, 2)"),
        "non-finite entry": ([], _npz(tmp_path, "g.npz", Q0=Q * np.nan, R0=R, T0=T), "non-finite"),
        "asymmetric Q0": ([], _npz(tmp_path, "h.npz", Q0=np.array([[1.0, 0.2], [0.0, 1.0]]), R0=R, T0=T), "symmetric"),
        "not an npz": ([], str(junk), "cannot read"),
        "missing file": ([], str(tmp_path / "none.npz"), "no such file"),
        "trainable cuts a block": (L4 + ["--trainable", "20"], _npz(tmp_path, "i.npz", q0=q4, r0=r4, t0=q4), "cuts a block"),
        "with --method sgd": (["--method", "sgd"], _npz(tmp_path, "j.npz", Q0=Q, R0=R, T0=T), "only apply to --method ode"),
    }


def test_malformed_init_files_exit_2(tmp_path, capsys):
    for case, (flags, npz, expect) in _bad_npz_cases(tmp_path).items():
        method = [] if "--method" in flags else ["--method", "ode"]
        argv = ["run", *method, *SMALL, *flags, "--init-from", npz, "--out", str(tmp_path / "x.csv")]
        code, out, err = run_main(capsys, *argv)
        assert code == 2, (case, err)
        assert err.startswith("twolayer: error: ") and err.count("\n") == 1, (case, err)
        assert expect in err, (case, err)
        assert not (tmp_path / "x.csv").exists()
    p = run_module("run", "--method", "ode", *SMALL, "--init-from", str(tmp_path / "a.npz"), "--out",
                   str(tmp_path / "x.csv"))
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.count("\n") == 1


def test_divergence_exits_3_with_one_line(tmp_path, capsys):
    code, out, err = run_main(capsys, "run", "--N", "64", "--K", "1", "--M", "1", "--activation", "linear",
                              "--eta", "5", "--alpha-max", "50", "--points", "5", "--out", str(tmp_path / "d.csv"))
    assert code == 3
    assert err.startswith("twolayer: error: SGD diverged by alpha = ") and err.count("\n") == 1
    assert "eta = 5.0 is too large" in err
    assert not (tmp_path / "d.csv").exists()


def test_ode_blow_up_exits_3(tmp_path, capsys, monkeypatch):
    """An ODE curve that leaves [0, 1e6] (unstable eta) is reported like a diverged SGD run."""
    alpha = alpha_grid(5, 10, 64)

    def exploding(cfg, alpha_, init="sampled", seeds=(0,), **kw):
        eps = np.exp(10.0 * np.asarray(alpha_))[None, :].repeat(len(seeds), 0)
        return ode.LearningCurve(alpha=alpha_, eps_g=eps, method="ode")

    monkeypatch.setattr(ode, "solve", exploding)
    code, out, err = run_main(capsys, "run", "--method", "ode", *SMALL, "--out", str(tmp_path / "o.csv"))
    assert code == 3 and out == ""
    first = alpha[np.argmax(np.exp(10.0 * alpha) > cli.EPS_G_DIVERGED)]
    assert err == (f"twolayer: error: ODE: eps_g blew up (non-finite or > 1e+06) by alpha = {first:.4g}; "
                   "eta = 0.1 is too large for this setting\n")
    assert not (tmp_path / "o.csv").exists()


def test_help_and_version(capsys):
    assert cli.main(["--version"]) == 0
    assert "twolayer 0.1.0" in capsys.readouterr().out
    assert cli.main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--method", "--init-from", "--trainable", "--no-eta2", "--rtol", "--seeds", "--progress"):
        assert flag in text
    assert cli.main([]) == 2  # a subcommand is required
    assert capsys.readouterr().err.count("\n") == 1


# --------------------------------------------------------------------------------------------
# plateau
# --------------------------------------------------------------------------------------------
def test_plateau_json_from_the_library():
    """Against the real twolayer.theory.plateau (written separately)."""
    p = run_module("plateau", "--K", "2", "--M", "2", "--L", "4", "--beta", "1", "--eta", "0.1", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert (res["K"], res["M"], res["L"], res["N"]) == (2, 2, 4, 4)
    Q, R, T = (np.array(res[k]) for k in ("Q", "R", "T"))
    assert Q.shape == (2, 2) and R.shape == (2, 2) and T.shape == (2, 2)
    np.testing.assert_allclose(Q, Q.T, rtol=1e-12, atol=1e-15)
    assert math.isfinite(res["escape_rate"]) and math.isfinite(res["eps_p"]) and res["eps_p"] > 0
    # eps_p is the generalisation error at the fixed point's overlaps
    from twolayer.theory.overlaps import eps_g

    assert eps_g(Q, R, T, "erf") == pytest.approx(res["eps_p"], rel=1e-9, abs=1e-14)


class _FakePlateau:
    def __init__(self, cfg):
        K, M = cfg.K, cfg.M
        self.cfg = cfg
        self.eps_p, self.escape_rate = 0.0125, 0.031
        self.q = np.full((cfg.L, K, K), 0.5)
        self.r = np.full((cfg.L, K, M), 0.25)
        self.t = np.ones((cfg.L, M, M))

    def overlaps(self, power=1):
        return self.q.sum(0), self.r.sum(0), self.t.sum(0)


def test_plateau_output_format(monkeypatch, capsys):
    """The subcommand's formatting and config, independent of the plateau solver."""
    seen = []
    fake = types.ModuleType("twolayer.theory.plateau")
    fake.plateau = lambda cfg: seen.append(cfg) or _FakePlateau(cfg)
    monkeypatch.setitem(sys.modules, "twolayer.theory.plateau", fake)
    code, out, err = run_main(capsys, "plateau", "--K", "3", "--M", "2", "--L", "5", "--beta", "0.25",
                              "--eta", "0.05", "--readout", "sqrt", "--no-eta2", "--json")
    assert code == 0 and err == ""
    cfg = seen[-1]
    assert (cfg.N, cfg.L, cfg.K, cfg.M, cfg.beta, cfg.eta, cfg.readout, cfg.eta2, cfg.activation) == (
        5, 5, 3, 2, 0.25, 0.05, "sqrt", False, "erf")
    res = json.loads(out)
    assert res["eps_p"] == 0.0125 and res["escape_rate"] == 0.031
    assert np.array(res["Q"]).shape == (3, 3) and np.array(res["R"]).shape == (3, 2)
    assert res["R"][0][0] == pytest.approx(1.25)
    code, out, _ = run_main(capsys, "plateau", "--K", "3", "--M", "2", "--L", "5", "--N", "10")
    assert code == 0 and seen[-1].N == 10
    assert "eps_p       = 0.0125" in out and "escape_rate = 0.031" in out and "R = " in out
    code, _, err = run_main(capsys, "plateau", "--L", "5", "--N", "7")
    assert code == 2 and "L must divide N" in err and err.count("\n") == 1
    code, _, err = run_main(capsys, "plateau", "--K", "0")
    assert code == 2 and "K must be" in err
