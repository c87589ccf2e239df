"""The chapter notebooks: sources and reference outputs are in sync, and nbval really checks them.

Every ``chapters/NN_name.md`` (jupytext MyST source) has an executed twin
``chapters/NN_name.ipynb`` (recorded by ``scripts/record_notebooks.py``) whose outputs
``python -m pytest --nbval chapters/*.ipynb --nbval-sanitize-with tests/nbval_sanitize.cfg``
compares against a fresh execution.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from booktools import reduced_dispatch_env, toc_files

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
QUICKSTART = CHAPTERS / "00_quickstart.ipynb"

SOURCES = sorted(CHAPTERS.glob("*.md"))
NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb"))
RECORD = "python scripts/record_notebooks.py"


def _ids(paths):
    return [p.stem for p in paths]


def _code_sources(nb) -> list[str]:
    return [c.source.strip() for c in nb.cells if c.cell_type == "code"]


def test_there_are_chapters():
    assert SOURCES, "no chapters/*.md found"
    assert QUICKSTART.is_file()


@pytest.mark.parametrize("md", SOURCES, ids=_ids(SOURCES))
def test_source_has_recorded_twin(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.name} missing: run `{RECORD} {md.relative_to(ROOT)}`"
    src = _code_sources(jupytext.read(md))
    ref = _code_sources(nbformat.read(ipynb, as_version=4))
    assert src == ref, (
        f"code cells of {ipynb.name} differ from {md.name}: the reference outputs are stale; "
        f"run `{RECORD} {md.relative_to(ROOT)}`"
    )


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_has_source(ipynb):
    assert ipynb.with_suffix(".md").is_file(), f"{ipynb.name} has no .md source"


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_was_executed_cleanly(ipynb):
    nb = nbformat.read(ipynb, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code]
    assert all(isinstance(n, int) for n in counts), (
        f"{ipynb.name}: cells {[i for i, n in enumerate(counts) if n is None]} were not executed"
    )
    assert counts == list(range(1, len(code) + 1)), (
        f"{ipynb.name}: execution counts {counts} are not 1..n (not one top-to-bottom run)"
    )
    for i, cell in enumerate(code):
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", (
                f"{ipynb.name} code cell {i} has an error output: {out.get('ename')}: {out.get('evalue')}"
            )


def test_every_chapter_is_in_the_toc():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = toc_files(toc)
    for f in files:
        assert any((ROOT / f).with_suffix(s).is_file() for s in (".md", ".ipynb")), (
            f"_toc.yml lists {f} but there is no {f}.md"
        )
    listed = {Path(f).with_suffix("").as_posix() for f in files}
    for md in SOURCES:
        name = md.relative_to(ROOT).with_suffix("").as_posix()
        assert name in listed, f"{name} is not in _toc.yml (add `- file: {name}`)"


# ---------------------------------------------------------------------------------------------
# nbval detects a changed printed number
# ---------------------------------------------------------------------------------------------
def _run_nbval(nb_path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TWOLAYER_FIGURES=str(tmp_path / "figures"))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", nb_path.name,
         "-p", "no:cacheprovider",
         "--nbval-sanitize-with", str(SANITIZE), "-q"],
        cwd=nb_path.parent, env=env, capture_output=True, text=True, timeout=600,
    )


def _alter_last_number(nb: dict) -> tuple[str, str]:
    """Change one digit of the last number printed to a stream; returns (old, new) line."""
    for cell in reversed(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for out in reversed(cell.get("outputs", [])):
            if out.get("output_type") != "stream":
                continue
            text = out["text"] if isinstance(out["text"], str) else "".join(out["text"])
            m = list(re.finditer(r"\d\.\d*[1-9]\d*", text))
            if not m:
                continue
            m = m[-1]
            old = m.group(0)
            last = old[-1]
            new = old[:-1] + ("1" if last != "1" else "2")
            out["text"] = text[: m.start()] + new + text[m.end():]
            return old, new
    raise AssertionError("no printed number found in any stream output")


@pytest.fixture(scope="module")
def quickstart_copies(tmp_path_factory):
    base = tmp_path_factory.mktemp("nbval")
    good = base / "good" / QUICKSTART.name
    bad = base / "bad" / QUICKSTART.name
    good.parent.mkdir()
    bad.parent.mkdir()
    shutil.copy(QUICKSTART, good)
    nb = json.loads(QUICKSTART.read_text())
    old, new = _alter_last_number(nb)
    bad.write_text(json.dumps(nb, indent=1))
    return base, good, bad, old, new


def test_nbval_passes_on_unaltered_reference(quickstart_copies):
    base, good, _, _, _ = quickstart_copies
    res = _run_nbval(good, base)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", res.stdout), res.stdout[-2000:]


def test_nbval_fails_on_altered_number(quickstart_copies):
    base, _, bad, old, new = quickstart_copies
    res = _run_nbval(bad, base)
    assert res.returncode == 1, (
        f"nbval did not catch {old} -> {new}:\n" + res.stdout[-4000:] + res.stderr[-2000:]
    )
    assert "1 failed" in res.stdout, res.stdout[-4000:]
    assert new in res.stdout and old in res.stdout, res.stdout[-4000:]


# ---------------------------------------------------------------------------------------------
# re-recording a chapter reproduces its reference byte for byte
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dispatch", ["native", "reduced"])
def test_rerecording_quickstart_changes_no_tracked_file(dispatch, tmp_path):
    """``scripts/record_notebooks.py chapters/00_quickstart.md`` reproduces the committed notebook
    and the committed figures exactly (deterministic SVG ids, no dates, merged streams), as the
    machine is and under the reduced vector dispatch of ``scripts/reduced-dispatch.env``."""
    env = {k: v for k, v in os.environ.items() if k not in ("TWOLAYER_SCALE", "TWOLAYER_FIGURES")}
    if dispatch == "reduced":
        env.update(reduced_dispatch_env(ROOT))
    env["TWOLAYER_FIGURES"] = str(tmp_path / "figures")
    res = subprocess.run(
        [sys.executable, "scripts/record_notebooks.py", "--out", str(tmp_path), "chapters/00_quickstart.md"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    new_nb = (tmp_path / QUICKSTART.name).read_bytes()
    assert new_nb == QUICKSTART.read_bytes(), "re-recorded 00_quickstart.ipynb differs from the reference"
    for suffix in (".png", ".svg"):
        ref = ROOT / "figures" / f"00_quickstart{suffix}"
        new = tmp_path / "figures" / f"00_quickstart{suffix}"
        assert new.read_bytes() == ref.read_bytes(), f"re-recorded figure {ref.name} differs"


def test_digest_has_printed_results_and_glue_only():
    """``scripts/run_chapter.py`` writes a text digest next to each executed notebook (used to
    keep the paper-scale outputs in ``paper_scale/``): every stream line of the notebook is in
    it, glued values are listed by name, and no figure data is."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from run_chapter import digest

    nb = nbformat.read(CHAPTERS / "06_beyond.ipynb", as_version=4)
    text = digest(nb)
    streams = [line for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if o.get("output_type") == "stream" for line in o["text"].splitlines() if line.strip()]
    assert streams and all(line in text for line in streams)
    assert "--- glued values" in text and "act_rtol_dev = '< 10⁻²'" in text
    assert "image/png" not in text and "<table" not in text


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_printed_lines_fit_the_page(ipynb):
    """Every printed line of a reference notebook (streams and text results) is at most 100
    characters long: wider output hides numbers behind horizontal scrolling in the book."""
    nb = nbformat.read(ipynb, as_version=4)
    wide = []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else \
                out.get("data", {}).get("text/plain", "")
            wide += [(i, len(line)) for line in text.splitlines() if len(line) > 100]
    assert not wide, f"{ipynb.name}: (code cell, characters) of lines wider than 100: {wide}"
