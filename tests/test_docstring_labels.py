"""Every {eq}/{ref}/{numref} label cited in a library docstring exists in the book (the chapters
and ``intro.md``)."""

from __future__ import annotations

import glob
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _book_labels():
    labels = set()
    for path in sorted(glob.glob(os.path.join(ROOT, "chapters", "*.md"))) + [os.path.join(ROOT, "intro.md")]:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # jupytext front matter (kernelspec name:)
        labels |= set(re.findall(r"^\s*\(([^()\s]+)\)=\s*$", text, re.M))       # (label)=
        labels |= set(re.findall(r"\$\$\s*\(([^()\s]+)\)\s*$", text, re.M))     # $$ (label)
        labels |= set(re.findall(r"^\s*:?name:\s*(\S+)\s*$", text, re.M))       # figure name: / :name:
        labels |= set(re.findall(r"^\s*:label:\s*(\S+)\s*$", text, re.M))       # {math} :label:
    return labels


def _docstring_refs():
    refs = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "lib", "twolayer", "**", "*.py"), recursive=True)):
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        for m in re.finditer(r"\{(eq|ref|numref)\}`([^`]+)`", text):
            target = m.group(2)
            named = re.search(r"<([^<>]+)>\s*$", target)  # {ref}`text <label>`
            label = (named.group(1) if named else target).strip()
            refs.setdefault(label, set()).add(os.path.relpath(path, ROOT))
    return refs


def test_docstring_labels_exist_in_the_book():
    labels = _book_labels()
    refs = _docstring_refs()
    assert len(refs) > 20 and "eq-dyn-block" in labels  # the scan found something
    missing = {k: sorted(v) for k, v in refs.items() if k not in labels}
    assert not missing, f"labels cited in docstrings but not defined in the book: {missing}"
