"""Sphinx extension: the docstrings of ``twolayer`` as autodoc input.

The docstrings are written to be read in the source and to point into the book with MyST
roles, e.g. ``{eq}`eq-lin-e``` or ``{ref}`chap-plateau```.  autodoc parses them as
reStructuredText, where that syntax is no role (the label would be printed raw) and where a few
plain-text habits are markup.  The ``autodoc-process-docstring`` hook below runs before
napoleon (priority 400 < 500) and rewrites every docstring line outside its inline literals
(````...````):

* ``{name}`text``` becomes the reST role ``:name:`text``` (``{cite}`` becomes ``:cite:p:``,
  the parenthetical citation of sphinxcontrib-bibtex), so that equation, section and figure
  references are resolved and checked like any other: ``jupyter-book build -W -n`` fails on a
  label that does not exist in the book;
* ``|`` (absolute values such as ``|x|``) is escaped; reST would read ``|x|`` as a
  substitution;
* an inline literal or role glued to a following or preceding word (````x````^2) is separated by
  an escaped space, which reST requires and which renders as nothing.

Properties and attributes are kept out of napoleon: a second hook (priority 600, after napoleon)
restores their docstrings, since napoleon would read a leading ``N_l: the number of ...`` as a
type (an unresolvable cross-reference).

Registered in ``_config.yml``::

    sphinx:
      local_extensions:
        docstring_roles: book_ext/
"""

from __future__ import annotations

import re

# {role}`text` with a simple role name; `text` must not contain a backtick
MYST_ROLE = re.compile(r"\{([A-Za-z][\w:.-]*)\}`([^`\n]+)`")
# an inline literal ``...`` (the closing `` is the first one not followed by another backtick)
LITERAL = re.compile(r"``.+?``(?!`)")
# an inline role after conversion, :name:`text`
RST_ROLE = re.compile(r":[A-Za-z][\w:.-]*:`[^`\n]+`")

# MyST role name -> reST role name, where they differ
RENAME = {
    "cite": "cite:p",
}

# characters allowed right before the start / right after the end of inline markup (reST's
# inline markup recognition rules, simplified to ASCII)
_BEFORE = set(" \t\n-:/'\"<([{")
_AFTER = set(" \t\n-.,:;!?\\/'\")]}>")


def _text(segment: str) -> str:
    """Plain text outside literals: MyST roles to reST, pipes escaped."""
    out, last = [], 0
    for m in MYST_ROLE.finditer(segment):
        out.append(segment[last:m.start()].replace("|", r"\|"))
        out.append(f":{RENAME.get(m.group(1), m.group(1))}:`{m.group(2)}`")
        last = m.end()
    out.append(segment[last:].replace("|", r"\|"))
    return "".join(out)


def _separate(line: str, spans: list[tuple[int, int]]) -> str:
    """Insert an escaped space where an inline markup span touches a word character."""
    out, last = [], 0
    for a, b in spans:
        out.append(line[last:a])
        if a > 0 and line[a - 1] not in _BEFORE:
            out.append("\\ ")
        out.append(line[a:b])
        if b < len(line) and line[b] not in _AFTER:
            out.append("\\ ")
        last = b
    out.append(line[last:])
    return "".join(out)


def myst_to_rst(line: str) -> str:
    """One docstring line as valid reST (see the module docstring)."""
    parts, last = [], 0
    for m in LITERAL.finditer(line):
        parts.append(_text(line[last:m.start()]))
        parts.append(m.group(0))
        last = m.end()
    parts.append(_text(line[last:]))
    line = "".join(parts)
    spans = sorted([m.span() for m in LITERAL.finditer(line)]
                   + [m.span() for m in RST_ROLE.finditer(line)])
    # keep only non-overlapping spans (a role inside a literal is no role)
    kept, end = [], -1
    for a, b in spans:
        if a >= end:
            kept.append((a, b))
            end = b
    return _separate(line, kept)


_NO_NAPOLEON = ("property", "attribute", "data")
_saved: dict[str, list[str]] = {}


def process_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    lines[:] = [myst_to_rst(line) for line in lines]
    if what in _NO_NAPOLEON:
        _saved[name] = list(lines)


def restore_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    if what in _NO_NAPOLEON and name in _saved:
        lines[:] = _saved.pop(name)


def setup(app):
    app.connect("autodoc-process-docstring", process_docstring, priority=400)
    app.connect("autodoc-process-docstring", restore_docstring, priority=600)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
