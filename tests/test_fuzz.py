"""Property tests (Hypothesis, derandomized: the same examples on every run).

* random ``Config`` keyword arguments, valid and invalid: either a one-line ``ValueError`` that
  names a parameter that was given, or a tiny ``simulate`` and ``solve_ode`` run with finite,
  non-negative eps_g;
* random flag lists of ``twolayer run`` (the CLI's ``main`` in-process): exit status 0, 2 or 3,
  never an exception; status 2 and 3 print one line ``twolayer: error: ...``;
* random initial overlaps (asymmetric, not positive semi-definite, non-finite, huge): rejected
  with a ``ValueError`` naming them, or a run with finite, non-negative eps_g.

A diverging run (``DivergenceError``, exit status 3) is a clean outcome too; the outcome counts
are printed when the module finishes (lines ``fuzz outcomes, ...``, shown even under capture).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import tempfile
from collections import Counter

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402

# no .hypothesis/ directory (example database, failure patches) in the work tree
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "twolayer-hypothesis"))

from twolayer import Config, DivergenceError, alpha_grid, cli, simulate, solve_ode  # noqa: E402
from twolayer.problem.spectrum import groups  # noqa: E402

FUZZ = settings(max_examples=50, deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
COUNTS: dict[str, Counter] = {}
NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    yield
    lines = [f"fuzz outcomes, {name}: {sum(c.values())} examples, "
             + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) for name, c in sorted(COUNTS.items())]
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
        print("\n" + "\n".join(lines))


def _count(test, outcome):
    COUNTS.setdefault(test, Counter())[outcome] += 1


def _names(msg, names):
    return [n for n in names if re.search(rf"(?<![A-Za-z_]){re.escape(n)}(?![A-Za-z_])", msg)]


def _finite_nonneg(traj):
    return bool(np.all(np.isfinite(traj.eps_g)) and np.all(traj.eps_g >= 0))


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------
def _either(valid, invalid):
    return st.one_of(valid, invalid) if invalid is not None else valid


FIELDS = {
    "N": (st.sampled_from([4, 8, 12, 16, 32]), st.sampled_from([0, -8, 1.5, 16.0, "16", True, 10**9])),
    "L": (st.sampled_from([1, 2, 4, 8]), st.sampled_from([0, 3, 64, 2.0, None])),
    "K": (st.integers(1, 3), st.sampled_from([0, -1, 2.5, "2", 10**6])),
    "M": (st.integers(1, 3), st.sampled_from([0, -2, 1.0, False])),
    "beta": (st.floats(0.05, 3.0), st.sampled_from([0.0, -0.5, NAN, INF, "1", True, 1e4])),
    "eta": (st.floats(0.01, 0.5), st.sampled_from([0.0, -0.1, NAN, INF, 1e7, "0.1"])),
    "sigma_J": (st.floats(0.0, 1.5), st.sampled_from([-0.01, NAN, INF, 1e200, None])),
    "activation": (st.sampled_from(["linear", "erf", "relu", "tanh"]), st.sampled_from(["ERF", "softplus", 3, None])),
    "readout": (st.sampled_from(["sum", "sqrt"]), st.sampled_from(["mean", "", 1])),
    "trainable": (st.one_of(st.none(), st.integers(1, 8)), st.sampled_from([0, -1, 3.5, 10**6, "4"])),
    "train_readout": (st.booleans(), st.sampled_from(["false", 1, None])),
    "eta_readout": (st.one_of(st.none(), st.floats(0.0, 0.3)), st.sampled_from([-1.0, NAN, "0.1"])),
    "noise": (st.sampled_from([0.0, 0.1, 0.5]), st.sampled_from([-0.1, NAN, INF, "0"])),
    "teacher": (st.sampled_from(["random", "orthogonal"]), st.sampled_from(["fixed", None, 0])),
    "cluster_width": (st.sampled_from([0.0, 0.3, 1.9]), st.sampled_from([-0.1, 2.0, NAN, "0"])),
    "student_readout": (st.one_of(st.none(), st.lists(st.floats(-2, 2), min_size=1, max_size=3).map(tuple)),
                        st.sampled_from(["1,1", (1.0, NAN), ((1.0,),), 5])),
    "teacher_readout": (st.one_of(st.none(), st.lists(st.floats(-2, 2), min_size=1, max_size=3).map(tuple)),
                        st.sampled_from(["1", (INF,), ()])),
}


@st.composite
def config_kwargs(draw):
    """About half the examples are meant to be valid (every drawn value in range; a few
    combinations still clash, e.g. L not dividing N), the others carry one to three invalid
    values."""
    n_bad = draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))
    bad = set(draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=n_bad, max_size=n_bad, unique=True)))
    kw = {}
    for name, (valid, invalid) in FIELDS.items():
        if name in bad:
            kw[name] = draw(invalid)
        elif draw(st.booleans()):
            kw[name] = draw(valid)
    K, M = kw.get("K", 2), kw.get("M", 2)
    for name, units in (("student_readout", K), ("teacher_readout", M)):  # valid readouts have K (M) values
        if name not in bad and kw.get(name) is not None and isinstance(units, int) and 1 <= units <= 3:
            kw[name] = tuple(draw(st.lists(st.floats(-2, 2), min_size=units, max_size=units)))
    if "eta_readout" not in bad and kw.get("eta_readout") is not None and "train_readout" not in bad:
        kw["train_readout"] = True
    if "N" not in kw:
        kw["N"] = draw(st.sampled_from([8, 16]))  # keep the default N = 1024 out of a fuzz run
    if "L" not in bad and isinstance(kw.get("L"), int) and isinstance(kw["N"], int) and kw["N"] > 0 \
            and not draw(st.integers(0, 4)) == 0:
        kw["L"] = math.gcd(kw["L"], kw["N"])  # mostly a divisor of N
    if "trainable" not in bad and isinstance(kw.get("trainable"), int) and isinstance(kw["N"], int) and kw["N"] > 0:
        kw["trainable"] = min(kw["trainable"], kw["N"])
    if draw(st.integers(0, 5)) == 0 and isinstance(kw["N"], int) and not isinstance(kw["N"], bool) \
            and 0 < kw["N"] <= 32:  # a user spectrum, sometimes malformed
        n = kw["N"] if draw(st.booleans()) else kw["N"] + 1
        kw["spectrum"] = tuple(draw(st.lists(st.floats(0.0, 5.0), min_size=n, max_size=n)))
        if draw(st.booleans()):
            kw.pop("L", None)
            kw.pop("cluster_width", None)
    return kw


@FUZZ
@given(kw=config_kwargs())
def test_random_config_is_rejected_cleanly_or_runs(kw):
    try:
        cfg = Config(**kw)
    except ValueError as e:
        msg = str(e)
        assert "\n" not in msg, msg
        assert _names(msg, list(kw)), f"no given parameter named in {msg!r} (given {sorted(kw)})"
        _count("config", "ValueError")
        return
    alpha = alpha_grid(1.0, 4, cfg.N)
    try:
        sgd = simulate(cfg, alpha, seeds=(0, 1))
        ode = solve_ode(cfg, alpha, seeds=0)
    except ValueError as e:  # accepted by Config, refused by a driver (e.g. an orthogonal teacher on a null space)
        msg = str(e)
        assert "\n" not in msg and _names(msg, list(kw)), f"{msg!r} (given {kw})"
        _count("config", "ValueError from a driver")
        return
    except DivergenceError as e:
        assert e.alpha is not None and e.alpha <= alpha[-1] * (1 + 1e-12)
        _count("config", "DivergenceError")
        return
    assert _finite_nonneg(sgd), (kw, sgd.eps_g)
    assert _finite_nonneg(ode), (kw, ode.eps_g)
    assert sgd.eps_g.shape == (2, len(alpha)) and ode.eps_g.shape == (1, len(alpha))
    _count("config", "ran")


# --------------------------------------------------------------------------------------------
# the CLI: twolayer run
# --------------------------------------------------------------------------------------------
CLI_FLAGS = {
    "--method": ["sgd", "ode", "mc", ""],
    "--N": ["16", "32", "0", "-4", "1.5", "x"],
    "--L": ["1", "2", "4", "3", "0", "64"],
    "--K": ["1", "2", "3", "0", "2.5"],
    "--M": ["1", "2", "0"],
    "--beta": ["0.5", "1", "0", "nan", "-inf", "abc"],
    "--eta": ["0.05", "0.3", "-0.1", "inf", "0", "50"],
    "--sigma-J": ["0", "0.1", "-1", "1e300"],
    "--activation": ["erf", "relu", "tanh", "linear", "softplus"],
    "--readout": ["sum", "sqrt", "mean"],
    "--trainable": ["4", "16", "0", "1000"],
    "--eta-readout": ["0.1", "-1"],
    "--noise": ["0.1", "-0.1", "nan"],
    "--teacher": ["random", "orthogonal", "fixed"],
    "--cluster-width": ["0.3", "2", "-1"],
    "--alpha-max": ["1", "3", "0", "-1", "1e308", "1e12", "nan"],
    "--points": ["4", "8", "1", "0", "1e9", "x"],
    "--seeds": ["1", "2", "0", "-1"],
    "--seed": ["0", "3", "-1", "1.5"],
    "--init": ["sampled", "mean", "random"],
    "--rtol": ["1e-5", "1e-3", "-1", "5", "0"],
    "--workers": ["1", "2", "0", "1.5"],
    "--backend": ["numba", "torch", "cuda"],
    "--device": ["cpu", "gpu"],
    "--max-memory": ["0.000001", "4", "-1"],
    "--max-hours": ["1", "0", "-1"],
    "--readout-weights": [["1,0.5", "1,1"], ["1", "1,1"], ["a", "b"]],
    "--spectrum-file": ["/nonexistent/lam.npy"],
    "--init-from": ["/nonexistent/init.npz"],
    "--bogus": ["1"],
}
SWITCHES = ["--train-readout", "--no-eta2", "--progress", "--no-progress"]


@st.composite
def cli_argv(draw):
    argv = ["run", "--N", "16", "--alpha-max", "2", "--points", "6"]  # small defaults; flags below may override
    for _ in range(draw(st.integers(0, 7))):
        if draw(st.integers(0, 5)) == 0:
            argv.append(draw(st.sampled_from(SWITCHES)))
            continue
        flag = draw(st.sampled_from(sorted(CLI_FLAGS)))
        value = draw(st.sampled_from(CLI_FLAGS[flag]))
        argv += [flag, *value] if isinstance(value, list) else [flag, value]
    return argv


@FUZZ
@given(argv=cli_argv(), out_mode=st.sampled_from(["file", "file", "file", "missing-dir", "none"]))
def test_random_cli_flags_exit_cleanly(argv, out_mode):
    with tempfile.TemporaryDirectory() as tmp:
        out = {"file": [os.path.join(tmp, "x.csv")], "missing-dir": ["--out", "/nonexistent-dir/x.csv"],
               "none": []}[out_mode]
        full = argv + (["--out", *out] if out_mode == "file" else out)
        o, e = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
            code = cli.main(full)  # an exception here is the traceback the CLI must never show
        stdout, stderr = o.getvalue(), e.getvalue()
        assert code in (0, 2, 3), (full, code, stderr)
        assert "Traceback" not in stderr and "Traceback" not in stdout
        if code == 0:
            assert out_mode == "file" and stdout.startswith("wrote ")
            data = np.loadtxt(out[0], delimiter=",", skiprows=1, ndmin=2)
            assert np.all(np.isfinite(data)) and np.all(data[:, 1] >= 0), (full, data)
        else:
            lines = stderr.splitlines()
            assert lines and lines[-1].startswith("twolayer: error: "), (full, stderr)
            assert sum(line.startswith("twolayer: error:") for line in lines) == 1, (full, stderr)
            if "--progress" not in full and "warning" not in stderr:
                assert len(lines) == 1 and stderr.endswith("\n"), (full, stderr)
            assert not any(f.endswith(".csv") for f in os.listdir(tmp)), full  # nothing written
    _count("cli", f"exit {code}")


# --------------------------------------------------------------------------------------------
# initial overlaps
# --------------------------------------------------------------------------------------------
@st.composite
def overlaps_case(draw):
    K, M = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    L = draw(st.sampled_from([1, 2, 4]))
    cfg = Config(N=8, L=L, K=K, M=M, activation=draw(st.sampled_from(["erf", "erf", "linear"])),
                 eta=draw(st.sampled_from([0.05, 0.2])))
    G = groups(cfg).size
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["psd", "psd", "psd", "singular", "symmetric", "asymmetric", "nan", "huge",
                                 "negative-diag", "wrong-shape"]))
    if kind == "asymmetric" and K == 1 and M == 1:
        kind = "psd"  # 1 x 1 blocks cannot be asymmetric
    scale = draw(st.sampled_from([1e-6, 0.1, 1.0, 10.0]))
    d = K + M
    if kind in ("psd", "singular", "asymmetric", "nan", "huge", "negative-diag", "wrong-shape"):
        A = rng.standard_normal((G, d, d if kind != "singular" else 1))
        C = scale * A @ np.swapaxes(A, -1, -2) / d
    else:  # a random symmetric matrix: usually indefinite
        A = rng.standard_normal((G, d, d))
        C = scale * (A + np.swapaxes(A, -1, -2)) / 2
    q, r, t = C[:, :K, :K].copy(), C[:, :K, K:].copy(), C[:, K:, K:].copy()
    if kind == "asymmetric" and K > 1:
        q[0, 0, 1] += 0.5 * scale + 0.1
    elif kind == "asymmetric":
        t = t + 0.0
        t[0] = t[0] + np.triu(np.ones((M, M)), 1) * (0.5 * scale + 0.1)
    elif kind == "nan":
        r[0, 0, 0] = NAN
    elif kind == "huge":
        q = q * 1e14
    elif kind == "negative-diag":
        q[0, 0, 0] = -abs(q[0, 0, 0]) - scale
    elif kind == "wrong-shape":
        q = q[:, :, :1] if K > 1 else np.concatenate([q, q], axis=-1)
    return cfg, (q, r, t), kind


@FUZZ
@given(case=overlaps_case())
def test_random_initial_overlaps_rejected_or_run(case):
    cfg, init, kind = case
    alpha = alpha_grid(2.0, 5, cfg.N)
    try:
        tr = solve_ode(cfg, alpha, init=init)
    except ValueError as e:
        msg = str(e)
        assert "\n" not in msg
        assert _names(msg, ["q0", "r0", "t0"]) or "covariance" in msg, msg
        assert kind != "psd" or not all(np.all(np.isfinite(x)) for x in init), (kind, msg)  # real overlaps pass
        _count("init", "ValueError")
        return
    except DivergenceError:
        _count("init", "DivergenceError")
        return
    assert kind not in ("nan", "wrong-shape", "asymmetric", "negative-diag"), (kind, tr.eps_g)
    assert _finite_nonneg(tr), (kind, tr.eps_g)
    _count("init", "ran")


def test_large_valid_overlaps_do_not_crash_the_compiled_erf_averages():
    """The example the overlap fuzz found (shrunk): a positive definite initial state with
    Q = 5.3e8 (entries above 1e6 are now rejected by the validation) must end in a clean error or a
    run, not in a ZeroDivisionError from the compiled Saad-Solla I4 (whose terms of size Q^3
    cancel to zero in float64)."""
    cfg = Config(N=8, L=1, K=1, M=1, eta=0.05)
    init = (np.array([[[5.34838731e8]]]), np.array([[[1.15216743e-6]]]), np.array([[[2.48584486e-7]]]))
    try:
        tr = solve_ode(cfg, alpha_grid(2.0, 5, cfg.N), init=init)
    except (ValueError, DivergenceError):
        return
    assert _finite_nonneg(tr)
