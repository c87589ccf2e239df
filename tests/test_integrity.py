"""Integrity of runs and files: one divergence rule for every method, seed counts that cannot
overflow, written files with the usual permissions.

The divergent setting is the linear network at eta = 2.1, N = L = 256 (above the stability limit
of the large-eigenvalue modes): every method must stop with the one message of
``twolayer.problem.divergence`` and the CLI with exit status 3 and one line on stderr.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

import twolayer as tl
from twolayer import cli
from twolayer.io import atomic_write
from twolayer.problem.checks import MAX_SEEDS, check_seeds
from twolayer.problem.divergence import EPS_GROWTH, check_curve, diverged
from twolayer.theory import linear

DIVERGENT = ["--activation", "linear", "--K", "1", "--M", "1", "--eta", "2.1", "--N", "256",
             "--alpha-max", "60", "--points", "30"]
CFG = tl.Config(N=256, L=256, K=1, M=1, activation="linear", eta=2.1)
ALPHA = tl.alpha_grid(60.0, 30, 256)


def _message_ok(err: str, method: str) -> bool:
    return (f"{method} diverged by alpha = " in err and "grew more than" in err or "exploded" in err) \
        and "eta = 2.1 is too large for this setting" in err


@pytest.mark.parametrize("flags,method", [(["--method", "sgd"], "SGD"), (["--method", "ode"], "ODE"),
                                          (["--method", "sgd", "--backend", "torch"], "SGD (torch)")])
def test_cli_every_method_stops_a_divergent_run_with_exit_3(flags, method, tmp_path, capsys):
    out = tmp_path / "x.csv"
    code = cli.main(["run", *flags, *DIVERGENT, "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 3, err
    assert err.startswith("twolayer: error: ") and err.count("\n") == 1, err
    assert _message_ok(err, method), err
    assert not out.exists()


@pytest.mark.parametrize("curve", [linear.exact_curve, linear.finite_n_curve])
def test_closed_forms_apply_the_rule(curve):
    with pytest.raises(tl.DivergenceError, match=r"linear theory .* diverged by alpha = .* too large"):
        curve(CFG, ALPHA)


def test_hierarchy_applies_the_rule():
    cfg = tl.Config(N=64, L=2, K=1, M=1, activation="linear", eta=6.0)
    with pytest.raises(tl.DivergenceError, match="hierarchy diverged by alpha"):
        tl.solve_hierarchy(cfg, tl.alpha_grid(30.0, 20, 64))


def test_a_sweep_passes_the_divergence_on():
    with pytest.raises(tl.DivergenceError, match="ODE diverged by alpha"):
        tl.sweep(CFG, seeds=(0,), method="ode", scheduler="synchronous", alpha=ALPHA)


def test_stable_runs_pass_the_rule():
    cfg = CFG.replace(eta=0.5)
    for traj in (linear.exact_curve(cfg, ALPHA), tl.solve_ode(cfg, ALPHA)):
        assert np.all(np.isfinite(traj.eps_g)) and traj.eps_g.max() < 1.0


def test_check_curve_names_the_first_bad_point():
    alpha = np.array([1.0, 2.0, 3.0, 4.0])
    eps = np.array([[0.5, 0.4, 0.3, 0.2], [0.5, 2.0 * EPS_GROWTH, np.nan, 0.1]])
    with pytest.raises(tl.DivergenceError) as info:
        check_curve("X", 0.1, alpha, eps, [0.5, 0.5])
    assert info.value.alpha == 2.0 and "X diverged by alpha = 2 " in str(info.value)
    with pytest.raises(tl.DivergenceError, match="not finite"):
        check_curve("X", 0.1, alpha, [0.5, np.nan, 0.1, 0.1], 0.5)
    check_curve("X", 0.1, alpha, [3.0 * EPS_GROWTH] * 4, 5.0)  # relative to a start above 1
    assert "Y diverged by alpha = 1.5 (why)" in str(diverged("Y", 0.2, 1.5, "why"))


# --- seeds -----------------------------------------------------------------------------------
def test_astronomical_seed_counts_are_bad_input(tmp_path, capsys):
    for sub in (["run", "--out", str(tmp_path / "r.csv")], ["sweep", "--store", str(tmp_path / "s")]):
        code = cli.main([*sub, "--N", "64", "--alpha-max", "2", "--points", "8",
                         "--seeds", "99999999999999999999999"])
        _, err = capsys.readouterr()
        assert code == 2 and err.count("\n") == 1 and "--seeds must be an integer in [1, " in err, err
    with pytest.raises(ValueError, match="seeds must be an integer in"):
        check_seeds(range(10**23))
    with pytest.raises(ValueError, match=f"at most {MAX_SEEDS} seeds"):
        check_seeds(range(MAX_SEEDS + 1))
    assert check_seeds(range(5, 0, -2)) == (5, 3, 1)


# --- files -------------------------------------------------------------------------------------
def test_written_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    p = atomic_write(tmp_path / "a.txt", "x")
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask
    import matplotlib.pyplot as plt

    from twolayer import plotting

    fig, ax = plt.subplots()
    for f in plotting.save(fig, "fig", tmp_path):
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask
    plt.close(fig)


# --- the book build writes no tracked file ---------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def _tracked_files() -> dict:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    out = {}
    for name in filter(None, names.decode().split("\0")):
        p = ROOT / name
        if p.is_file():
            st = p.stat()
            out[name] = (st.st_mtime_ns, st.st_size)
    return out


def test_every_chapter_writes_its_figures_outside_the_tracked_tree():
    """Every chapter saves its figures to ``RUN.figures`` of its one-call preamble, whose default
    (no TWOLAYER_FIGURES) is the untracked ``../_build/figures``."""
    import re

    import twolayer as tl

    assert tl.book.setup(environ={}).figures == "../_build/figures"
    for md in sorted((ROOT / "chapters").glob("*.md")):
        text = md.read_text()
        assert re.search(r"^RUN = tl\.book\.setup\(", text, re.M), md.name
        calls = re.findall(r"\b(?:save|publish)\(\s*\w+,\s*[^,]+,\s*([^)]+)\)", text)
        assert calls and set(calls) == {"RUN.figures"}, (md.name, calls)


def test_executing_a_chapter_as_the_book_does_writes_no_tracked_file(monkeypatch):
    """The quickstart, executed as the book build executes it (working directory chapters/, no
    TWOLAYER_* variables), leaves every tracked file as it was (mtime and size)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    from nbclient import NotebookClient
    import jupytext

    for k in [k for k in os.environ if k.startswith("TWOLAYER_")]:
        monkeypatch.delenv(k)
    before = _tracked_files()
    nb = jupytext.read(ROOT / "chapters" / "00_quickstart.md")
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "chapters")}}).execute()
    assert (ROOT / "_build" / "figures" / "00_quickstart.svg").is_file()
    after = _tracked_files()
    changed = sorted(k for k in before if after.get(k) != before[k])
    assert not changed, f"tracked files written by a chapter run: {changed}"


# --- a rate that does not exist is not printed -------------------------------------------------
def test_cli_plateau_prints_no_relu_escape_rate(capsys):
    import json

    code = cli.main(["plateau", "--activation", "relu", "--K", "2", "--M", "2", "--L", "16", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(out)
    assert res["escape_rate"] is None and res["escape_rate_reason"]
    code = cli.main(["plateau", "--activation", "relu", "--K", "2", "--M", "2", "--L", "16"])
    out, _ = capsys.readouterr()
    assert code == 0 and "escape_rate = none: " in out
    code = cli.main(["plateau", "--K", "2", "--M", "2", "--L", "16", "--json"])
    res = json.loads(capsys.readouterr()[0])
    assert code == 0 and res["escape_rate"] > 0 and res["escape_rate_reason"] is None
