#!/usr/bin/env python
"""Execute chapter sources and record them as the reference notebooks.

    python scripts/record_notebooks.py                       # every chapters/*.md
    python scripts/record_notebooks.py chapters/01_linear.md # one chapter

Each ``chapters/NN_name.md`` (jupytext MyST markdown, the source) is converted to a notebook,
executed with ``chapters/`` as the working directory (as the book build and nbval do) and
written to ``chapters/NN_name.ipynb``: the committed reference outputs that
``tests/test_notebooks.py`` and ``pytest --nbval`` check.  Cell ids are made deterministic, no
timing metadata is stored and consecutive stream outputs are merged, so re-recording an unchanged
chapter reproduces its notebook byte for byte (tested in ``tests/test_notebooks.py``).

The reference outputs are recorded at the default scale.  With ``TWOLAYER_SCALE`` set to
anything else, ``--out DIR`` is required so that the references are not overwritten; with
``--out DIR`` the chapters' figures go to ``DIR/figures``, without it to the committed ``figures/``
(unless ``TWOLAYER_FIGURES`` is set); a chapter executed any other way (the book build, nbval)
writes its figures to the untracked ``_build/figures``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
TIMEOUT = 1800  # seconds per cell, as in _config.yml


def chapter_sources() -> list[Path]:
    return sorted(CHAPTERS.glob("*.md"))


def coalesce_streams(nb) -> None:
    """Merge consecutive stream outputs of the same stream (stdout, stderr) of every code cell.

    How a kernel chunks a cell's printed text into messages depends on timing (flushes while
    the cell computes); merging makes the recorded notebook independent of it."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.get("outputs", []):
            if (out.get("output_type") == "stream" and merged
                    and merged[-1].get("output_type") == "stream"
                    and merged[-1].get("name") == out.get("name")):
                merged[-1]["text"] = "".join(merged[-1]["text"]) + "".join(out["text"])
            else:
                merged.append(out)
        cell["outputs"] = merged


def notebook_client(md: Path, kernel: str = "python3", timeout: int = TIMEOUT):
    """(notebook, client) for executing the chapter source ``md`` as the book does: deterministic
    cell ids, no timing metadata, working directory ``chapters/`` (shared with run_chapter.py)."""
    nb = jupytext.read(md)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                          "name": kernel})
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        record_timing=False,
        resources={"metadata": {"path": str(md.parent)}},  # cwd = chapters/
    )
    return nb, client


def record(md: Path, out_dir: Path | None = None, kernel: str = "python3") -> Path:
    """Execute ``md`` and write its .ipynb twin; returns the notebook path."""
    md = md.resolve()
    nb, client = notebook_client(md, kernel)
    client.execute()
    coalesce_streams(nb)
    out = (out_dir or md.parent) / (md.stem + ".ipynb")
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    jupytext.write(nb, out, fmt="ipynb")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", type=Path, help="chapter .md files (default: all)")
    ap.add_argument("--out", type=Path, default=None,
                    help="write the executed notebooks here instead of next to the sources")
    args = ap.parse_args(argv)

    scale = os.environ.get("TWOLAYER_SCALE", "")
    if scale not in ("", "default") and args.out is None:
        ap.error(f"TWOLAYER_SCALE={scale!r}: reference notebooks are recorded at the default "
                 "scale; pass --out DIR to write these runs elsewhere")

    if "TWOLAYER_FIGURES" not in os.environ:
        # the committed reference figures (figures/) are written here and nowhere else: a chapter
        # run as the book build runs it writes its figures to the untracked _build/figures
        fig_dir = ROOT / "figures" if args.out is None else args.out / "figures"
        os.environ["TWOLAYER_FIGURES"] = str(fig_dir.resolve())
    paths = args.paths or chapter_sources()
    if not paths:
        print("no chapters found", file=sys.stderr)
        return 1
    for p in paths:
        p = p.with_suffix(".md")
        if not p.is_file():
            ap.error(f"{p}: no such chapter source")
    for p in paths:
        p = p.with_suffix(".md")
        t0 = time.perf_counter()
        print(f"executing {p} ...", flush=True)
        out = record(p, args.out)
        print(f"  wrote {out} ({time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
