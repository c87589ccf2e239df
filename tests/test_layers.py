"""The package's layers: the import-linter contract in pyproject.toml is the one order; the
package docstring states it, and every subpackage and top-level module is in it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import twolayer

ROOT = Path(__file__).resolve().parents[1]


def _contract_layers() -> list[list[str]]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [c for c in cfg["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return [[x.strip() for x in layer.split("|")] for layer in reversed(contract["layers"])]


def test_docstring_states_the_contract_order():
    doc = " ".join(twolayer.__doc__.split())
    chain = re.search(r"(problem ->.*?cli \| book)", doc).group(1)
    stated = [[x.strip() for x in part.split("|")] for part in chain.split("->")]
    assert [sorted(x) for x in stated] == [sorted(x) for x in _contract_layers()]


def test_every_module_is_a_layer():
    named = {m for layer in _contract_layers() for m in layer}
    pkg = ROOT / "lib" / "twolayer"
    present = {p.name for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    present |= {p.stem for p in pkg.glob("*.py") if not p.stem.startswith("_")}
    assert present == named


def test_theory_imports_no_data():
    """The block state lives below data and theory: theory needs nothing of the data layer."""
    for path in (ROOT / "lib" / "twolayer" / "theory").glob("*.py"):
        text = path.read_text()
        assert not re.search(r"^from \.\.data\b|^import twolayer\.data", text, re.M), path.name
