"""The command-line interface ``twolayer`` / ``python -m twolayer`` (``twolayer.cli``).

Runs are tiny (N = 64, alpha <= 5) so that the file takes seconds.  Results written by the CLI
are bit-identical to the library calls they wrap (the CSV stores repr(float)).  Every hostile
input of issue "Core v2", section 3, gives one line on stderr and exit status 2 (bad input) or
3 (divergence), within seconds, never a traceback.
"""

from __future__ import annotations

import csv
import json
import math
import os
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from twolayer import Config, alpha_grid, cli, eps_g, simulate, solve_ode
from twolayer.state import block_overlaps, init_weights
from twolayer.problem.spectrum import groups

SMALL = ["--N", "64", "--alpha-max", "5", "--points", "10"]


def read(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], np.array(rows[1:], dtype=float)


def run_module(*args, cwd=None, timeout=120):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    env.pop("CI", None)
    return subprocess.run([sys.executable, "-m", "twolayer", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


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
    alpha = alpha_grid(5, 10, 64)
    ref = simulate(Config(N=64), alpha, seeds=[3])  # the other parameters are the Fig. 1 defaults
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
    ref = simulate(cfg, alpha_grid(5, 10, 64), seeds=[2])
    np.testing.assert_array_equal(read(tmp_path / "a.csv")[1][:, 1], ref.eps_g[0])


def test_three_seeds_add_the_sem_column(tmp_path, capsys):
    path = tmp_path / "s3.csv"
    code, _, _ = run_main(capsys, "run", *SMALL, "--activation", "linear", "--K", "1", "--M", "1",
                          "--seeds", "3", "--seed", "5", "--out", str(path))
    assert code == 0
    header, data = read(path)
    assert header == ["alpha", "eps_g", "eps_g_sem"]
    ref = simulate(Config(N=64, K=1, M=1, activation="linear"), alpha_grid(5, 10, 64), seeds=[5, 6, 7])
    np.testing.assert_array_equal(data[:, 1], ref.mean())
    np.testing.assert_array_equal(data[:, 2], ref.sem())
    assert np.all(data[:, 2] > 0)


def test_progress_ticks_on_alpha_goes_to_stderr_and_changes_nothing(tmp_path, capsys):
    code_a, out_a, err_a = run_main(capsys, "run", *SMALL, "--seeds", "1", "--progress", "--out", str(tmp_path / "a.csv"))
    code_b, out_b, err_b = run_main(capsys, "run", *SMALL, "--seeds", "1", "--out", str(tmp_path / "b.csv"))
    assert code_a == code_b == 0
    assert "sgd" in err_a and "alpha" in err_a and "/5" in err_a  # one seed: the bar counts alpha, not seeds
    assert err_b == ""  # pytest's captured stderr is not a terminal: no bar by default
    assert out_a.replace("a.csv", "b.csv") == out_b
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    code, _, err = run_main(capsys, "run", "--method", "ode", *SMALL, "--seeds", "2", "--progress",
                            "--out", str(tmp_path / "c.csv"))
    assert code == 0 and "ode" in err and "/10" in err


# --------------------------------------------------------------------------------------------
# run --method ode
# --------------------------------------------------------------------------------------------
def test_ode_matches_solve_ode(tmp_path, capsys):
    path = tmp_path / "ode.csv"
    code, out, err = run_main(capsys, "run", "--method", "ode", *SMALL, "--L", "4", "--rtol", "1e-5",
                              "--seed", "1", "--out", str(path))
    assert code == 0 and err == ""
    header, data = read(path)
    assert header == ["alpha", "eps_g"]
    alpha = alpha_grid(5, 10, 64)
    ref = solve_ode(Config(N=64, L=4), alpha, seeds=[1], rtol=1e-5)
    np.testing.assert_array_equal(data[:, 0], alpha)
    np.testing.assert_array_equal(data[:, 1], ref.eps_g[0])


def test_ode_seeds_average_the_sampled_initialisations(tmp_path, capsys):
    path = tmp_path / "ode3.csv"
    assert cli.main(["run", "--method", "ode", *SMALL, "--L", "2", "--seeds", "3", "--seed", "4",
                     "--no-eta2", "--out", str(path)]) == 0
    capsys.readouterr()
    header, data = read(path)
    assert header == ["alpha", "eps_g", "eps_g_sem"]
    ref = solve_ode(Config(N=64, L=2), alpha_grid(5, 10, 64), seeds=[4, 5, 6], eta2=False)
    np.testing.assert_array_equal(data[:, 1], ref.mean())
    np.testing.assert_array_equal(data[:, 2], ref.sem())


def test_ode_mean_init_is_one_curve(tmp_path, capsys):
    path = tmp_path / "mean.csv"
    assert cli.main(["run", "--method", "ode", *SMALL, "--init", "mean", "--seeds", "4", "--out", str(path)]) == 0
    capsys.readouterr()
    header, data = read(path)
    assert header == ["alpha", "eps_g"]
    np.testing.assert_array_equal(data[:, 1], solve_ode(Config(N=64), alpha_grid(5, 10, 64), init="mean").eps_g[0])


def test_init_from_L1_global_overlaps(tmp_path, capsys):
    Q0 = np.array([[0.30, 0.02], [0.02, 0.25]])
    R0 = np.array([[0.10, -0.05], [0.00, 0.20]])
    T0 = np.array([[1.00, 0.10], [0.10, 0.90]])
    npz = tmp_path / "init1.npz"
    np.savez(npz, Q0=Q0, R0=R0, T0=T0)
    path = tmp_path / "i1.csv"
    code, _, err = run_main(capsys, "run", "--method", "ode", *SMALL, "--init-from", str(npz), "--out", str(path))
    assert code == 0, err
    ref = solve_ode(Config(N=64), alpha_grid(5, 10, 64), init=(Q0[None], R0[None], T0[None])).eps_g[0]
    np.testing.assert_array_equal(read(path)[1][:, 1], ref)
    assert read(path)[1][0, 1] < 0.5  # started from the given overlaps, not from sigma_J = 0.01


def test_init_from_per_group_overlaps_and_readouts(tmp_path, capsys):
    cfg = Config(N=64, L=4, K=2, M=3, trainable=32)  # N_l = 32 = two whole blocks
    J, B = init_weights(cfg.replace(sigma_J=0.3), 7)
    q0, r0, t0 = block_overlaps(J, B, groups(cfg))
    npz = tmp_path / "init4.npz"
    np.savez(npz, q0=q0, r0=r0, t0=t0)
    flags = ["run", "--method", "ode", *SMALL, "--L", "4", "--K", "2", "--M", "3", "--trainable", "32"]
    code, _, err = run_main(capsys, *flags, "--init-from", str(npz), "--out", str(tmp_path / "i4.csv"))
    assert code == 0, err
    ref = solve_ode(cfg, alpha_grid(5, 10, 64), init=(q0, r0, t0)).eps_g[0]
    np.testing.assert_array_equal(read(tmp_path / "i4.csv")[1][:, 1], ref)
    # the sampled overlaps of seed 7 written to a file reproduce --init sampled --seed 7
    np.savez(tmp_path / "s7.npz", **dict(zip(("q0", "r0", "t0"), block_overlaps(*init_weights(cfg, 7), groups(cfg)))))
    assert cli.main([*flags, "--init-from", str(tmp_path / "s7.npz"), "--out", str(tmp_path / "x.csv")]) == 0
    assert cli.main([*flags, "--seed", "7", "--out", str(tmp_path / "y.csv")]) == 0
    capsys.readouterr()
    assert (tmp_path / "x.csv").read_text() == (tmp_path / "y.csv").read_text()
    # v0 and vT: the second layers of student and teacher
    np.savez(tmp_path / "v.npz", q0=q0, r0=r0, t0=t0, v0=np.array([0.5, 1.5]), vT=np.array([1.0, 0.5, 2.0]))
    assert cli.main([*flags, "--init-from", str(tmp_path / "v.npz"), "--out", str(tmp_path / "v.csv")]) == 0
    capsys.readouterr()
    cfg_v = cfg.replace(student_readout=(0.5, 1.5), teacher_readout=(1.0, 0.5, 2.0))
    np.testing.assert_array_equal(read(tmp_path / "v.csv")[1][:, 1],
                                  solve_ode(cfg_v, alpha_grid(5, 10, 64), init=(q0, r0, t0)).eps_g[0])


# --------------------------------------------------------------------------------------------
# beyond the paper: every option for both methods
# --------------------------------------------------------------------------------------------
NEW_OPTIONS = [
    ["--activation", "relu"], ["--activation", "tanh"], ["--train-readout", "--eta-readout", "0.05"],
    ["--readout-weights", "1,0.5", "1.5,0.5"], ["--noise", "0.2"], ["--teacher", "orthogonal"],
    ["--L", "8", "--cluster-width", "0.3"],
]


@pytest.mark.parametrize("opts", NEW_OPTIONS, ids=[" ".join(o) for o in NEW_OPTIONS])
@pytest.mark.parametrize("method", ["sgd", "ode"])
def test_new_options_run_for_both_methods(opts, method, tmp_path, capsys):
    code, out, err = run_main(capsys, "run", "--method", method, *SMALL, "--sigma-J", "0.1", *opts,
                              "--out", str(tmp_path / "x.csv"))
    assert code == 0, err
    eps = read(tmp_path / "x.csv")[1][:, 1]
    assert np.all(np.isfinite(eps)) and np.all(eps >= 0)


def test_spectrum_file(tmp_path, capsys):
    lam = np.linspace(3.0, 0.1, 64)
    np.save(tmp_path / "lam.npy", lam)
    for method in ("sgd", "ode"):
        code, _, err = run_main(capsys, "run", "--method", method, *SMALL, "--spectrum-file", str(tmp_path / "lam.npy"),
                                "--out", str(tmp_path / f"{method}.csv"))
        assert code == 0, err
    ref = solve_ode(Config(N=64, spectrum=tuple(lam)), alpha_grid(5, 10, 64))
    np.testing.assert_array_equal(read(tmp_path / "ode.csv")[1][:, 1], ref.eps_g[0])


# --------------------------------------------------------------------------------------------
# bad input: one line on stderr, exit status 2, never a traceback
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
    "N huge": (["--N", "10000000"], "hours"),
    "beta = 0": (["--beta", "0"], "beta must be"),
    "beta = nan": (["--beta", "nan"], "beta must be"),
    "K = 0": (["--K", "0"], "K must be"),
    "K huge": (["--K", "100000"], "GiB"),
    "unknown activation": (["--activation", "softplus"], "--activation"),
    "unknown readout": (["--readout", "mean"], "--readout"),
    "unknown method": (["--method", "mc"], "--method"),
    "negative eta": (["--eta", "-0.1"], "eta must be"),
    "eta = inf": (["--eta", "inf"], "eta must be"),
    "negative sigma_J": (["--sigma-J", "-0.01"], "sigma_J must be"),
    "sigma_J huge": (["--sigma-J", "1e200"], "sigma_J must be"),
    "trainable > N": (["--N", "64", "--trainable", "65"], "trainable"),
    "seeds = 0": (["--seeds", "0"], "--seeds"),
    "seeds huge": (["--seeds", "10000000"], "GiB"),
    "negative seed": (["--seed", "-1"], "--seed"),
    "points = 1": (["--points", "1"], "points must be"),
    "points 1e9": (["--points", "1e9"], "--points"),
    "points 10**9": (["--points", "1000000000"], "points must be"),
    "alpha_max = 0": (["--alpha-max", "0"], "alpha_max must be"),
    "alpha_max 1e12": (["--alpha-max", "1e12"], "hours"),
    "alpha_max 1e308": (["--alpha-max", "1e308"], "alpha_max must be"),
    "unknown flag": (["--bogus", "1"], "unrecognized arguments"),
    "ode-only flag with sgd": (["--rtol", "1e-4"], "only apply to --method ode"),
    "init mean with sgd": (["--init", "mean"], "only apply to --method ode"),
    "rtol = -1": (["--method", "ode", "--rtol", "-1"], "--rtol"),
    "rtol = 5": (["--method", "ode", "--rtol", "5"], "--rtol"),
    "workers = 0": (["--workers", "0"], "--workers"),
    "workers = 1.5": (["--workers", "1.5"], "--workers"),
    "eta_readout without training": (["--eta-readout", "0.1"], "eta_readout"),
    "readout weights wrong length": (["--readout-weights", "1", "1,1"], "student_readout"),
    "cluster width 2": (["--cluster-width", "2"], "cluster_width"),
    "missing spectrum file": (["--spectrum-file", "/nonexistent/x.npy"], "does not exist"),
    "missing output directory": (["--out", "/nonexistent-dir/x.csv"], "does not exist"),
    "output not writable": (["--out", "/proc/x.csv"], "not writable"),
    "empty output": (["--out", ""], "must not be empty"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_flags_exit_2_with_one_line(case, tmp_path, capsys):
    flags, expect = BAD[case]
    argv = ["run", *flags] + ([] if "--out" in flags else ["--out", str(tmp_path / "x.csv")])
    t0 = time.perf_counter()
    code, out, err = run_main(capsys, *argv)
    assert time.perf_counter() - t0 < 20  # refused up front, not after a run
    assert code == 2, err
    assert out == ""
    assert err.startswith("twolayer: error: ") and err.count("\n") == 1, err
    assert expect in err
    assert not (tmp_path / "x.csv").exists()


def test_bad_flags_in_a_subprocess_have_no_traceback(tmp_path):
    for case in ("L does not divide N", "unknown activation", "trainable > N", "alpha_max 1e12"):
        flags, expect = BAD[case]
        p = run_module("run", *flags, "--out", str(tmp_path / "x.csv"))
        assert p.returncode == 2, (case, p.stderr)
        assert p.stdout == "" and "Traceback" not in p.stderr
        assert p.stderr.count("\n") == 1 and p.stderr.startswith("twolayer: error: ") and expect in p.stderr


def _bad_npz_cases(tmp_path):
    Q, R, T = np.eye(2), np.zeros((2, 2)), np.eye(2)
    q4, r4 = np.stack([np.eye(2)] * 4), np.zeros((4, 2, 2))
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip file")
    npy = tmp_path / "arr.npy"
    np.save(npy, np.eye(2))
    L4 = ["--L", "4"]
    return {
        "Q0 wrong shape": ([], _npz(tmp_path, "a.npz", Q0=np.eye(3), R0=R, T0=T), "Q0 must have shape (2, 2)"),
        "R0 wrong shape": ([], _npz(tmp_path, "b.npz", Q0=Q, R0=np.zeros((2, 3)), T0=T), "R0 must have shape (2, 2)"),
        "missing T0": ([], _npz(tmp_path, "c.npz", Q0=Q, R0=R), "must hold the arrays"),
        "global overlaps for L > 1": (L4, _npz(tmp_path, "d.npz", Q0=Q, R0=R, T0=T), "q0 (G x K x K)"),
        "q0 wrong number of groups": (L4, _npz(tmp_path, "e.npz", q0=q4[:3], r0=r4, t0=q4), "q0 must have shape (4, 2, 2)"),
        "t0 wrong shape": (L4, _npz(tmp_path, "f.npz", q0=q4, r0=r4, t0=np.eye(2)), "t0 must have shape (4, 2, 2)"),
        "non-finite entry": ([], _npz(tmp_path, "g.npz", Q0=Q * np.nan, R0=R, T0=T), "non-finite"),
        "asymmetric Q0": ([], _npz(tmp_path, "h.npz", Q0=np.array([[1.0, 0.2], [0.0, 1.0]]), R0=R, T0=T), "symmetric"),
        "non-PSD T0": ([], _npz(tmp_path, "k.npz", Q0=Q, R0=R, T0=np.array([[1.0, 2.0], [2.0, 1.0]])), "covariance"),
        "negative diagonal": ([], _npz(tmp_path, "l.npz", Q0=-Q, R0=R, T0=T), "covariance"),
        "huge Q0": ([], _npz(tmp_path, "m.npz", Q0=Q * 1e300, R0=R, T0=T), "Q0" if False else "q0"),
        "v0 wrong length": ([], _npz(tmp_path, "n.npz", Q0=Q, R0=R, T0=T, v0=np.ones(3)), "v0 must have shape (2,)"),
        "corrupt npz": ([], str(junk), "cannot read"),
        "a .npy file": ([], str(npy), "cannot read"),
        "missing file": ([], str(tmp_path / "none.npz"), "no such file"),
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


def test_output_may_not_overwrite_an_input(tmp_path, capsys):
    np.savez(tmp_path / "k.npz", Q0=np.eye(2) * 0.1, R0=np.zeros((2, 2)), T0=np.eye(2))
    before = (tmp_path / "k.npz").read_bytes()
    code, _, err = run_main(capsys, "run", "--method", "ode", *SMALL, "--init-from", str(tmp_path / "k.npz"),
                            "--out", str(tmp_path / "k.npz"))
    assert code == 2 and "also an input" in err
    assert (tmp_path / "k.npz").read_bytes() == before


def test_writes_are_atomic(tmp_path, capsys):
    assert cli.main(["run", *SMALL, "--out", str(tmp_path / "a.csv")]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]  # no temporary file left


def test_plateau_without_a_fixed_point_exits_2(capsys):
    code, out, err = run_main(capsys, "plateau", "--K", "5", "--M", "1")
    assert code == 2 and err.count("\n") == 1 and "no symmetric plateau" in err
    code, out, err = run_main(capsys, "plateau", "--K", "1000", "--M", "1000")
    assert code == 2 and "GiB" in err
    code, out, err = run_main(capsys, "plateau", "--K", "6", "--M", "3", "--eta", "5")
    assert code in (0, 2)
    if code == 0:
        assert "eps_p" in out and float(out.split("eps_p       = ")[1].split()[0]) >= 0


# --------------------------------------------------------------------------------------------
# divergence: exit 3 with the alpha where it happened
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["sgd", "ode"])
def test_divergence_exits_3_with_one_line(method, tmp_path, capsys):
    code, out, err = run_main(capsys, "run", "--method", method, "--activation", "linear", "--K", "1", "--M", "1",
                              "--eta", "2.1", "--N", "256", "--alpha-max", "100", "--points", "30",
                              "--out", str(tmp_path / "d.csv"))
    assert code == 3, err
    assert "diverged by alpha = " in err and err.count("\n") == 1
    assert "eta = 2.1 is too large" in err
    assert not (tmp_path / "d.csv").exists()


def test_divergence_is_reported_where_it_happened(tmp_path, capsys):
    code, _, err = run_main(capsys, "run", "--activation", "linear", "--K", "1", "--M", "1", "--eta", "50",
                            "--alpha-max", "3000", "--points", "2", "--out", str(tmp_path / "d.csv"))
    assert code == 3
    alpha = float(err.split("diverged by alpha = ")[1].split()[0])
    assert alpha < 1.0


def test_sigma_J_zero_warns_once(tmp_path, capsys):
    code, out, err = run_main(capsys, "run", *SMALL, "--sigma-J", "0", "--out", str(tmp_path / "z.csv"))
    assert code == 0 and err.count("warning") == 1 and "symmetric" in err


def test_ctrl_c_stops_within_a_second(tmp_path):
    env = dict(os.environ)
    env.pop("CI", None)
    # compile (or load from numba's cache) the engine first: on a fresh clone the first run spends
    # its first seconds in the JIT compiler, where a signal is only handled once compilation ends
    warm = subprocess.run([sys.executable, "-m", "twolayer", "run", "--N", "1024", "--seeds", "4", "--alpha-max", "1",
                           "--points", "2", "--out", str(tmp_path / "warm.csv")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert warm.returncode == 0, warm.stderr
    p = subprocess.Popen([sys.executable, "-m", "twolayer", "run", "--N", "1024", "--seeds", "4", "--alpha-max",
                          "2000", "--progress", "--out", str(tmp_path / "c.csv")], stderr=subprocess.PIPE, env=env,
                         # a shell that starts jobs in the background (CI runners, nohup, &) leaves SIGINT
                         # ignored in its children; a user's terminal does not: restore the default
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # the progress bar appears on stderr once the runs start (after the imports and the JIT
    # cache, which take longer on a loaded machine); then a little more, so that they are under way
    first = b""
    deadline = time.monotonic() + 120
    while not first and time.monotonic() < deadline and p.poll() is None:
        if select.select([p.stderr], [], [], 0.5)[0]:
            first = os.read(p.stderr.fileno(), 4096)
    assert first, "the run printed no progress within 120 s"
    time.sleep(1)
    t0 = time.perf_counter()
    p.send_signal(signal.SIGINT)
    _, rest = p.communicate(timeout=30)
    assert time.perf_counter() - t0 < 1.5
    err = (first + rest).decode()
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "c.csv").exists()


def test_help_and_version(capsys):
    from twolayer import __version__

    assert cli.main(["--version"]) == 0
    assert f"twolayer {__version__}" in capsys.readouterr().out
    assert cli.main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--method", "--init-from", "--trainable", "--no-eta2", "--rtol", "--seeds", "--progress",
                 "--activation", "--train-readout", "--eta-readout", "--readout-weights", "--noise", "--teacher",
                 "--cluster-width", "--spectrum-file", "--max-memory", "--backend"):
        assert flag in text
    assert "1024" in text and "0.01" in text  # defaults come from Config
    assert cli.main([]) == 2  # a subcommand is required
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_options_are_generated_from_config_fields():
    parser = cli.build_parser()
    run = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("run"))
    dests = {a.dest for a in run._actions}
    from dataclasses import fields

    for f in fields(Config):
        assert f.name in dests or f.name in ("spectrum", "student_readout", "teacher_readout"), f.name
    defaults = {a.dest: a.default for a in run._actions}
    for f in fields(Config):
        if f.name in defaults and not isinstance(f.default, bool):
            assert defaults[f.name] == f.default, f.name


# --------------------------------------------------------------------------------------------
# plateau
# --------------------------------------------------------------------------------------------
def test_plateau_json_from_the_library():
    p = run_module("plateau", "--K", "2", "--M", "2", "--L", "4", "--beta", "1", "--eta", "0.1", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert (res["K"], res["M"], res["L"], res["N"]) == (2, 2, 4, 4)
    Q, R, T = (np.array(res[k]) for k in ("Q", "R", "T"))
    assert Q.shape == (2, 2) and R.shape == (2, 2) and T.shape == (2, 2)
    np.testing.assert_allclose(Q, Q.T, rtol=1e-12, atol=1e-15)
    assert math.isfinite(res["escape_rate"]) and math.isfinite(res["eps_p"]) and res["eps_p"] > 0
    assert eps_g(Q, R, T, "erf") == pytest.approx(res["eps_p"], rel=1e-9, abs=1e-14)


def test_plateau_text_output(capsys):
    code, out, err = run_main(capsys, "plateau", "--K", "3", "--M", "2", "--L", "5", "--N", "10", "--no-eta2")
    assert code == 0 and err == ""
    assert "eps_p       = " in out and "escape_rate = " in out and "R = " in out and "eta2=False" in out
    code, _, err = run_main(capsys, "plateau", "--L", "5", "--N", "7")
    assert code == 2 and "L must divide N" in err and err.count("\n") == 1
    code, _, err = run_main(capsys, "plateau", "--K", "0")
    assert code == 2 and "K must be" in err
