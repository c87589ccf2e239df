"""Helpers shared by the book tests (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations


def toc_files(node) -> list[str]:
    """Every ``file:`` / ``root:`` entry of a parsed ``_toc.yml``, in order."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("file", "root") and isinstance(v, str):
                out.append(v)
            else:
                out.extend(toc_files(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(toc_files(v))
    return out
