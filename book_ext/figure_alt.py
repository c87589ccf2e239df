"""Alt text of the book's figures: the first sentence of the figure's caption.

myst-nb writes the image of a cell output with an empty alt text (and a figure directive
without ``:alt:`` has none).  When the HTML is written, every ``<img>`` inside a ``<figure>``
whose alt text is empty or a file name gets the first sentence of that figure's caption, its
inline math in unicode (``twolayer.report.tex_text``).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

# a full stop ends a sentence unless it closes an abbreviation the captions use
_ABBREV = re.compile(r"(?:\b(?:Fig|Figs|Eq|Eqs|e\.g|i\.e|cf|vs|resp|approx|Sec|Ch|No|et al))\.$")
_FIGURE = re.compile(r"<figure\b[^>]*>.*?</figure>", re.S)
_CAPTION = re.compile(r"<figcaption>(.*?)</figcaption>", re.S)
_IMG_ALT = re.compile(r'(<img\b[^>]*?\balt=")([^"]*)(")')


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
    alt = alt.strip()
    return not alt or bool(re.search(r"[/\\]|\.(png|svg|jpe?g|gif)$", alt)) or " " not in alt


def caption_text(caption_html: str) -> str:
    """A caption's visible text: tags and the figure number dropped, math in unicode."""
    from twolayer.report import tex_text

    body = re.sub(r'<span class="caption-number">.*?</span>', "", caption_html, flags=re.S)
    body = re.sub(r'<a class="headerlink".*?</a>', "", body, flags=re.S)
    body = html.unescape(re.sub(r"<[^>]+>", "", body))

    def math(m):
        try:
            return tex_text("$" + m.group(1).replace("$", "") + "$")
        except ValueError:
            return m.group(1)

    return re.sub(r"\\\((.*?)\\\)", math, body, flags=re.S)


def _fix_figure(m) -> str:
    block = m.group(0)
    cap = _CAPTION.search(block)
    if not cap:
        return block
    alt = html.escape(first_sentence(caption_text(cap.group(1))), quote=True)
    return _IMG_ALT.sub(lambda i: i.group(1) + (alt if _looks_like_a_path(html.unescape(i.group(2)))
                                                else i.group(2)) + i.group(3), block)


def set_alt_text(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _FIGURE.sub(_fix_figure, text)
        if new != text:
            page.write_text(new, encoding="utf-8")


def setup(app):
    app.connect("build-finished", set_alt_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
