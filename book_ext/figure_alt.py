"""Alt text of the book's figures: the first sentence of the figure's caption.

myst-nb gives an image of a cell output the path of its file as alt text (a hashed name that
a screen reader reads out letter by letter); a figure directive without ``:alt:`` has none.
After the references are resolved, every image inside a captioned figure whose alt text is
missing or a file name gets the caption's first sentence (its text, inline math in unicode).
"""

from __future__ import annotations

import re

from docutils import nodes

# a full stop ends a sentence unless it closes an abbreviation the captions use
_ABBREV = re.compile(r"(?:\b(?:Fig|Figs|Eq|Eqs|e\.g|i\.e|cf|vs|resp|approx|Sec|Ch|No|et al))\.$")


def first_sentence(text: str, limit: int = 250) -> str:
    """The first sentence of ``text`` (whitespace collapsed), at most ``limit`` characters."""
    text = " ".join(text.split())
    for m in re.finditer(r"\.(?=\s+[A-Z(]|\s*$)", text):
        head = text[: m.end()]
        if _ABBREV.search(head):
            continue
        text = head
        break
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _looks_like_a_path(alt: str) -> bool:
    return not alt or bool(re.search(r"[/\\]|\.(png|svg|jpe?g|gif)$", alt)) or " " not in alt


def _plain(node) -> str:
    """A caption's text with its inline math as unicode (``$\\eta=0.1$`` -> ``η=0.1``)."""
    from twolayer.report import tex_text

    parts = []
    for child in node.findall(include_self=False, descend=False):
        if isinstance(child, nodes.math):
            parts.append(tex_text("$" + child.astext().replace("$", "") + "$"))
        elif isinstance(child, nodes.Text):
            parts.append(child.astext())
        else:
            parts.append(_plain(child))
    return "".join(parts)


def set_alt_text(app, doctree, docname) -> None:
    for figure in doctree.findall(nodes.figure):
        captions = list(figure.findall(nodes.caption))
        if not captions:
            continue
        alt = first_sentence(_plain(captions[0]))
        for image in figure.findall(nodes.image):
            if _looks_like_a_path(image.get("alt", "")):
                image["alt"] = alt


def setup(app):
    app.connect("doctree-resolved", set_alt_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
