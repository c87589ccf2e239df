"""The chapters hold story, parameters and plots; every computation lives in the library
(contributor notes, "A chapter"): checked on the MyST sources chapters/*.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
MAX_CELL_LINES = 30
MAX_LINE = 92
#: chapters 00-06 together (the paper's reproduction), non-blank code lines.  Raised from 1600
#: to 1750 on 2026-12-06 for the analyses the reader review asked for (the escape-time split of
#: paper Fig. 5 (left), the tail sums of the image spectrum, ten-seed exponents with S(alpha)),
#: 1712 lines at that commit; the next change should bring it back down, not up.
MAX_CODE_LINES_00_06 = 1750
IMPORTS = {"import numpy as np", "import pandas as pd", "import matplotlib.pyplot as plt", "import twolayer as tl"}


def code_cells(path: Path) -> list[list[str]]:
    """The non-blank source lines of every code cell; the cell's options (``:tags:`` lines or
    the YAML block between ``---`` lines that opens a cell: tags, figure captions) left out."""
    cells, cell, options = [], None, False
    for line in path.read_text().splitlines():
        if line.startswith("```{code-cell}"):
            cell, options, first = [], False, True
            continue
        if cell is None:
            continue
        if line.startswith("```"):
            cells.append(cell)
            cell = None
        elif first and line.strip() == "---":
            options, first = True, False
        elif options:
            options = line.strip() != "---"
        elif line.strip() and not re.match(r"^:\w+:", line):
            cell.append(line)
            first = False
    return cells


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_defines_no_functions_and_keeps_cells_short(path):
    for i, cell in enumerate(code_cells(path)):
        assert len(cell) <= MAX_CELL_LINES, f"cell {i}: {len(cell)} lines (at most {MAX_CELL_LINES})"
        for line in cell:
            assert len(line) <= MAX_LINE, f"cell {i}: a line of {len(line)} characters: {line[:60]}..."
        tree = ast.parse("\n".join(line for line in cell if not line.lstrip().startswith("%")))
        defined = [type(n).__name__ for n in ast.walk(tree)
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))]
        assert not defined, f"cell {i} defines {defined}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_imports_only_the_public_api_and_starts_with_the_preamble(path):
    cells = code_cells(path)
    imports = {line.strip() for cell in cells for line in cell if re.match(r"\s*(import|from)\s", line)}
    assert imports <= IMPORTS, f"imports beyond numpy, pandas, matplotlib and twolayer as tl: {sorted(imports - IMPORTS)}"
    assert any("tl.book.setup(" in line for cell in cells[:3] for line in cell), "no RUN = tl.book.setup(...) preamble"


def test_chapters_00_to_06_fit_the_line_budget():
    n = sum(len(cell) for path in CHAPTERS if re.match(r"0[0-6]_", path.name) for cell in code_cells(path))
    assert n <= MAX_CODE_LINES_00_06, f"chapters 00-06 hold {n} code lines (at most {MAX_CODE_LINES_00_06})"
