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

It then rewrites the docstring's structure (``numpy_sections``, ``literal_blocks``):

* a ``Parameters`` or ``Attributes`` section, whose entries read ``name : description`` (where
  numpydoc has a type), becomes the field list napoleon writes for a typeless entry,
  "**name** -- description"; a ``Returns`` section, a sentence, becomes a ``:returns:`` field
  (napoleon would print the description as a type and the sentence in italics);
* an indented block after a paragraph (an ASCII formula) becomes a plain-text literal block
  (reST would make it a block quote and run its lines together).

A third hook (``autodoc-process-signature``) writes a dataclass field's default factory as its
call, ``info: dict = dict()`` for ``<factory>``: that is no Python, and Sphinx would give up
parsing the signature and print its annotations raw (``~numpy.ndarray``).

A module constant without a ``#:`` comment would show the docstring of its type ("Built-in
immutable sequence"): that is dropped, the ``autodata`` directive's content describes it.

Properties and attributes are kept out of napoleon: a second hook (priority 600, after napoleon)
restores their docstrings, since napoleon would read a leading ``N_l: the number of ...`` as a
type (an unresolvable cross-reference).

Registered in ``_config.yml``::

    sphinx:
      local_extensions:
        docstring_roles: book_ext/
"""

from __future__ import annotations

import dataclasses
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


# numpy-style sections: entries "name : description" (numpydoc has a type where these docstrings
# have the description), or a sentence (napoleon would read its first line as a type)
FIELD_SECTIONS = {"parameters": "Parameters", "other parameters": "Other Parameters",
                  "attributes": "Attributes", "keyword arguments": "Keyword Arguments"}
PROSE_SECTIONS = {"returns": "returns", "yields": "Yields"}
# a field line: one or more names, " : ", the description
FIELD = re.compile(r"^(?P<names>\*{0,2}\w+(?:, \*{0,2}\w+)*)(?: :(?: (?P<desc>.*))?)?$")
# a line that opens a construct whose indented continuation is no block quote
_OPENS_BLOCK = re.compile(r"^\s*(?:\.\. |:[^:\s][^:]*:|[-*+] |\d+\. |#\. |>>> )")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_header(lines: list[str], i: int) -> bool:
    return (i + 1 < len(lines) and lines[i].strip() != ""
            and set(lines[i + 1].strip()) == {"-"} and len(lines[i + 1].strip()) >= 3
            and _indent(lines[i + 1]) == _indent(lines[i]))


def _block(lines: list[str], pad: int) -> list[str]:
    """Continuation lines re-indented to ``pad`` columns (relative indentation kept)."""
    ind = min((_indent(x) for x in lines if x.strip()), default=0)
    return [" " * pad + x[ind:] if x.strip() else "" for x in lines]


def _fields(label: str, items: list[tuple[str, list[str]]]) -> list[str]:
    """``:label: * **name** -- description`` (one bullet a name; no bullet for one entry), the
    field list napoleon writes for its ``Parameters`` when ``napoleon_use_param`` is off."""
    head = f":{label}: "
    out: list[str] = []
    for names, desc in items:
        names = ", ".join("**" + n.replace("*", r"\*") + "**" for n in names.split(", "))
        bullet = "* " if len(items) > 1 else ""
        first = (head if not out else " " * len(head)) + bullet + names
        while desc and not desc[-1].strip():
            desc = desc[:-1]
        if desc:
            first += " -- " + desc[0].strip()
        out.append(first)
        out.extend(_block(desc[1:], len(head) + len(bullet)))
    return out


def numpy_sections(lines: list[str]) -> list[str]:
    """The numpy-style sections of the package's docstrings as reST field lists.

    The docstrings write ``name : description`` (numpydoc: ``name : type``), and a sentence under
    ``Returns`` (numpydoc: a type).  Napoleon would print the description as a type,
    "name (*description*)", and the sentence in italics: the sections become the field lists
    napoleon would write for a typeless entry, "**name** -- description", before napoleon runs.
    A section ends at the next section, or at an unindented line after a blank line that is no
    entry (a paragraph after the section)."""
    out: list[str] = []
    i = 0
    fields_end = -1            # len(out) after the last field list written
    while i < len(lines):
        if not _is_header(lines, i) or lines[i].strip().lower() not in {**FIELD_SECTIONS, **PROSE_SECTIONS}:
            out.append(lines[i])
            i += 1
            continue
        key = lines[i].strip().lower()
        base = _indent(lines[i])
        j = i + 2
        items: list[tuple[str, list[str]]] = []
        while j < len(lines) and not _is_header(lines, j):
            line = lines[j]
            if not line.strip():
                k = j
                while k < len(lines) and not lines[k].strip():
                    k += 1
                if k == len(lines) or _indent(lines[k]) <= base:
                    if key in PROSE_SECTIONS or k == len(lines) or not FIELD.match(lines[k][base:]):
                        break
                if items:
                    items[-1][1].append("")
            elif _indent(line) <= base:
                m = FIELD.match(line[base:]) if key in FIELD_SECTIONS else None
                if key in PROSE_SECTIONS:
                    if not items:
                        items.append(("", []))
                    items[-1][1].append(line)
                elif m:
                    items.append((m.group("names"), [m.group("desc") or ""]))
                else:
                    break
            else:
                if not items:
                    items.append(("", []))
                items[-1][1].append(line)
            j += 1
        if items:
            if len(out) and fields_end >= 0 and all(not x.strip() for x in out[fields_end:]):
                del out[fields_end:]           # one field list with the section before
            pad = " " * base
            if key in FIELD_SECTIONS:
                block = _fields(FIELD_SECTIONS[key], items)
            else:
                desc = items[0][1]
                while desc and not desc[-1].strip():
                    desc = desc[:-1]
                label = f":{PROSE_SECTIONS[key]}: "
                block = [label + desc[0].strip()] + _block(desc[1:], len(label)) if desc else []
            out.extend(pad + x if x else x for x in block)
            fields_end = len(out)
        i = j
    return out


def literal_blocks(lines: list[str]) -> list[str]:
    """Indented blocks after a paragraph (the ASCII formulas of the docstrings) as literal
    blocks of plain text: reST would make them block quotes and run their lines together (and
    ``::`` would highlight them as Python)."""
    out: list[str] = []
    for i, line in enumerate(lines):
        if (line.strip() and i >= 2 and not lines[i - 1].strip()
                and lines[i - 2].strip()):
            # the paragraph before the blank line
            k = i - 2
            while k > 0 and lines[k - 1].strip():
                k -= 1
            para = lines[k:i - 1]
            base = _indent(para[0])
            if (_indent(line) > max(_indent(p) for p in para)
                    and not _OPENS_BLOCK.match(para[0])
                    and not para[-1].rstrip().endswith("::")
                    and not _is_header(lines, k)):
                out.extend([" " * base + ".. code-block:: text", ""])
        out.append(line)
    return out


_NO_NAPOLEON = ("property", "attribute", "data")
_saved: dict[str, list[str]] = {}


def _type_doc(what: str, obj, lines: list[str]) -> bool:
    """Is this the docstring of a built-in type (a module constant without a ``#:`` comment:
    autodoc falls back to ``tuple.__doc__``)?"""
    doc = getattr(type(obj), "__doc__", None)
    return (what in _NO_NAPOLEON and type(obj).__module__ == "builtins" and bool(doc)
            and " ".join(" ".join(lines).split()) == " ".join(doc.split()))


def process_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    if _type_doc(what, obj, lines):
        lines[:] = []          # the directive's own content describes the constant
    lines[:] = literal_blocks(numpy_sections([myst_to_rst(line) for line in lines]))
    if what in _NO_NAPOLEON:
        _saved[name] = list(lines)


def restore_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    if what in _NO_NAPOLEON and name in _saved:
        lines[:] = _saved.pop(name)


def process_signature(app, what, name, obj, options, signature, return_annotation):
    """A dataclass field with a default factory shows as ``name: dict = <factory>``, which is
    no Python: Sphinx then gives up parsing the signature and prints its annotations raw
    (``~numpy.ndarray``).  The factory's call (``dict()``) parses, and reads better."""
    if signature and "<factory>" in signature and dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.default_factory is not dataclasses.MISSING:
                call = f"{getattr(f.default_factory, '__name__', 'factory')}()"
                signature = re.sub(rf"(\b{re.escape(f.name)}: [^=,()]*= )<factory>", rf"\g<1>{call}",
                                   signature)
        return signature, return_annotation
    return None


def setup(app):
    app.connect("autodoc-process-signature", process_signature)
    app.connect("autodoc-process-docstring", process_docstring, priority=400)
    app.connect("autodoc-process-docstring", restore_docstring, priority=600)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
