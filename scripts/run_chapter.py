#!/usr/bin/env python
"""Execute one chapter and look at the result, without touching anything committed.

    python scripts/run_chapter.py chapters/01_linear.md                # default scale
    python scripts/run_chapter.py chapters/01_linear.md --scale paper  # the paper's sizes

The chapter source (jupytext MyST markdown) is converted to a notebook and executed with
``chapters/`` as the working directory, exactly as ``scripts/record_notebooks.py`` does for the
reference notebooks and the book build does for the pages.  The results go to ``_build/run_chapter/``
(or ``--out DIR``):

* ``NN_name.ipynb``  the executed notebook,
* ``NN_name.html``   the same rendered by nbconvert, to open in a browser,
* ``NN_name.txt``    the printed results only (``digest``: each code cell's text output and
  the values glued for the prose), to compare two runs with ``diff``,
* ``figures/``       the figures the chapter saved (``TWOLAYER_FIGURES`` points here).

At the end it prints the wall time of the run and of its slowest code cells (the executed
notebook keeps every cell's start and end in its metadata).

The committed reference notebook ``chapters/NN_name.ipynb`` and the figures in ``figures/`` are
left alone.  If a cell fails, the notebook and the HTML are still written (with the traceback
in the failing cell's output) and the script exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from record_notebooks import TIMEOUT, coalesce_streams, notebook_client  # noqa: E402  (same execution settings)

#: Seconds per cell at paper scale (05_published's Fig. 6 cell takes about an hour here).
PAPER_TIMEOUT = 4 * 3600

DEFAULT_OUT = ROOT / "_build" / "run_chapter"
SCALES = ("default", "paper")


def to_html(nb, title: str) -> str:
    """The executed notebook as a standalone HTML page (nbconvert's lab template)."""
    try:
        from nbconvert import HTMLExporter
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit("run_chapter.py: the HTML needs nbconvert (python -m pip install nbconvert); "
                         "the executed notebook was written") from exc
    exporter = HTMLExporter()
    with warnings.catch_warnings():
        # glued values (myst-nb's application/papermill.record mimetypes) have no HTML form
        warnings.filterwarnings("ignore", message=".*is not able to be represented", category=UserWarning)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def digest(nb) -> str:
    """The notebook's printed results as plain text: per code cell its streams and text/plain
    results (figures and HTML left out), then the glued values (myst-nb ``glue``)."""
    lines, glued = [], []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        texts = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                texts.append(out.get("text", ""))
            elif kind in ("execute_result", "display_data"):
                data = out.get("data", {})
                name = out.get("metadata", {}).get("scrapbook", {}).get("name")
                if name is not None:
                    value = data.get("application/papermill.record/text/plain", "")
                    glued.append(f"{name} = {value}")
                elif "text/plain" in data and not any(k.startswith("image/") for k in data):
                    texts.append(data["text/plain"] + "\n")
            elif kind == "error":
                texts.append(f"{out.get('ename')}: {out.get('evalue')}\n")
        if texts:
            lines.append(f"--- code cell {i + 1}")
            lines.append("".join(texts).rstrip("\n"))
    if glued:
        lines.append("--- glued values")
        lines.extend(glued)
    return "\n".join(lines) + "\n"


def cell_times(nb) -> list[tuple[float, int, str]]:
    """(seconds, code cell number, first source line) of every executed code cell, from the
    timing metadata nbclient records."""
    from datetime import datetime

    out = []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        t = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in t and "shell.execute_reply" in t:
            t0, t1 = (datetime.fromisoformat(t[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
            lines = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
            out.append(((t1 - t0).total_seconds(), i + 1, lines[0][:60] if lines else ""))
    return out


def run(md: Path, out_dir: Path, kernel: str = "python3", timeout: int = TIMEOUT) -> tuple[Path, Path, bool]:
    """Execute ``md``; write ``out_dir/<stem>.ipynb`` and ``.html``.  Returns both paths and
    whether every cell ran without error."""
    md = md.resolve()
    nb, client = notebook_client(md, kernel, timeout)
    client.record_timing = True  # this notebook is not committed: keep each cell's wall time
    ok = True
    try:
        client.execute()
    except CellExecutionError as exc:
        ok = False
        print(f"run_chapter.py: a cell of {md.name} failed:\n{exc}", file=sys.stderr)
    coalesce_streams(nb)
    out_dir.mkdir(parents=True, exist_ok=True)
    ipynb = out_dir / (md.stem + ".ipynb")
    nbformat.write(nb, ipynb)
    (out_dir / (md.stem + ".txt")).write_text(digest(nb), encoding="utf-8")
    html = out_dir / (md.stem + ".html")
    html.write_text(to_html(nb, md.stem), encoding="utf-8")
    return ipynb, html, ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chapter", type=Path, help="the chapter source, e.g. chapters/01_linear.md")
    ap.add_argument("--scale", choices=SCALES, default=None,
                    help="TWOLAYER_SCALE for this run (default: the environment's, else 'default')")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"output directory (default: {DEFAULT_OUT.relative_to(ROOT)})")
    ap.add_argument("--timeout", type=int, default=None,
                    help=f"seconds per cell (default: {TIMEOUT} at the default scale, {PAPER_TIMEOUT} at paper "
                         "scale, where one cell of 05_published runs ten K = 40 simulations and ODEs)")
    args = ap.parse_args(argv)

    md = args.chapter.with_suffix(".md")
    if not md.is_file():
        ap.error(f"{args.chapter}: no such chapter source")
    out_dir = args.out.resolve()
    committed = {(ROOT / "chapters").resolve(), (ROOT / "figures").resolve()}
    if out_dir in committed or (out_dir / "figures") in committed:
        ap.error(f"--out {args.out}: would overwrite committed files; use scripts/record_notebooks.py for that")

    # the kernel inherits these
    scale = args.scale or os.environ.get("TWOLAYER_SCALE") or "default"
    os.environ["TWOLAYER_SCALE"] = scale
    os.environ["TWOLAYER_FIGURES"] = str(out_dir / "figures")

    t0 = time.perf_counter()
    print(f"executing {md} (TWOLAYER_SCALE={scale}) ...", flush=True)
    timeout = args.timeout if args.timeout is not None else (PAPER_TIMEOUT if scale == "paper" else TIMEOUT)
    ipynb, html, ok = run(md, out_dir, timeout=timeout)
    status = "done" if ok else "FAILED"
    print(f"  {status} in {time.perf_counter() - t0:.1f} s", flush=True)
    slow = sorted(cell_times(nbformat.read(ipynb, as_version=4)), reverse=True)[:6]
    for secs, i, line in slow:
        print(f"    code cell {i:3d}: {secs:7.1f} s  {line}", flush=True)
    print(f"  notebook: {ipynb}\n  html:     {html}\n  figures:  {out_dir / 'figures'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
