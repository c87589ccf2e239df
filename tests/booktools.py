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


def reduced_dispatch_env(root) -> dict[str, str]:
    """The variables of ``scripts/reduced-dispatch.env`` (NAME=value lines, # comments)."""
    from pathlib import Path

    env = {}
    for line in (Path(root) / "scripts" / "reduced-dispatch.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value
    return env
