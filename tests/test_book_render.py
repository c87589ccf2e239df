"""The book renders: build it (without execution) from the committed reference notebooks and
open every page in headless Chromium.

Checks per page: MathJax typeset all math (``mjx-container`` present when the page has math, no
raw ``\\(``/``\\[``/``$$``/``$..$`` left in the text, no MathJax errors), every ``<img>``
loaded in the browser (naturalWidth > 0) and is a valid PNG/SVG/JPEG on disk, no cell error or
stderr output is shown.  Screenshots of the intro and the quickstart go to
``_build/screenshots/`` for humans.

The book's conventions (``book/contributing.md``) are checked on the rendered page, in a
1024 px wide window:

* no raw cross-reference label (``eq-...``, ``fig-...``, ``chap-...``, ``sec-...``, or
  "Eq. (" followed by a label) in the visible prose or in any cell output;
* no ``nan`` token in a cell output;
* a figure or equation number without a chapter number is the paper's and is called so ("paper
  Fig. 5 (left)", "paper Eq. (15)"); a chapter's figures are numbered per chapter ("Fig. 4.2");
* no reversed or empty interval (``[793, 25]``) printed in a cell output;
* every image in a figure has an alt text (the caption's first sentence, ``book_ext/figure_alt.py``),
  and every inline figure of a cell output has at least twice the pixels of its laid-out width
  (retina PNG, ``tl.book.setup``) or is an SVG;
* no line of a cell's text output (``pre``) longer than 100 characters;
* every figure has a non-empty caption, and every image in a cell output sits in a figure;
* every display equation fits its column at full size (MathJax container ``scrollWidth`` at most
  its ``clientWidth`` plus a few pixels, not reaching past its block, not shrunk by
  ``_static/fit-equations.js``, which only narrow screens need);

and on a phone (390 px, emulated through the DevTools protocol, since a headless window is never
narrower than 500 px) every display equation fits its column after that script has run, and no
page is wider than the screen.

The reference layer (``book/contributing.md``, "Reference pages") is checked on the built API page:
its sections are the package's layers in the order of the import contract in ``pyproject.toml``,
no signature shows a raw ``~module.Class`` annotation, and every public function and class (the
``__all__`` of ``twolayer``, of the modules it lists and of every layer) has an entry, those of
``twolayer.__all__`` under their top-level name.  Every chapter offers its notebook as an
``.ipynb`` download, and the footer names the package's version and licence and ``CITATION.cff``.

``TWOLAYER_BOOK_ROOT`` points the test at another copy of the book (default: this repository).

The main build (``scripts/build_book.sh``) reads ``chapters/*.md`` and executes them; this test
builds from ``chapters/*.ipynb`` instead (a temporary copy of ``_config.yml`` with execution
off and the .md chapters excluded), so it shows exactly the committed reference outputs.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from booktools import toc_files

ROOT = Path(os.environ.get("TWOLAYER_BOOK_ROOT") or Path(__file__).resolve().parents[1]).resolve()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "_build" / "screenshots"

PROBE = """
<script>
window.addEventListener("load", function () {
  function measure() {
    // conventions of the book, measured in the laid-out page (results as JSON in #probe-result)
    var out = {math: [], figures: [], bare_images: [], outputs: [], pre_lines: [], densities: [],
               alts: [], numbers: []};
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (c, i) {
      // wider than its own box (it scrolls), its box reaching past the equation's block (where
      // the theme's overflow: hidden clips it), or shrunk to fit by _static/fit-equations.js
      var holder = c.closest("div.math, div.MathJax_Display, div");
      var past = holder ? c.getBoundingClientRect().right - holder.getBoundingClientRect().right : 0;
      if (c.scrollWidth > c.clientWidth + 4 || past > 4 || c.hasAttribute("data-fit-scale")) {
        var id = holder && holder.id ? holder.id : "display equation " + (i + 1);
        out.math.push([id, c.scrollWidth, c.clientWidth]);
      }
    });
    document.querySelectorAll("figure").forEach(function (f, i) {
      var cap = f.querySelector("figcaption");
      if (!cap || !cap.textContent.trim()) { out.figures.push(f.id || "figure " + (i + 1)); }
    });
    document.querySelectorAll(".cell_output img").forEach(function (im) {
      if (!im.closest("figure")) { out.bare_images.push(im.getAttribute("src") || "?"); }
      // pixel density: the image file's pixels per CSS pixel of its laid-out width
      out.densities.push([im.getAttribute("src") || "?", im.naturalWidth, im.getBoundingClientRect().width]);
    });
    document.querySelectorAll("figure img").forEach(function (im) {
      out.alts.push([im.getAttribute("src") || "?", im.getAttribute("alt") || ""]);
    });
    document.querySelectorAll("figure figcaption span.caption-number").forEach(function (n) {
      out.numbers.push(n.textContent.trim());
    });
    document.querySelectorAll(".cell_output").forEach(function (o) {
      out.outputs.push(o.textContent);
    });
    document.querySelectorAll(".cell_output pre").forEach(function (pre) {
      pre.textContent.split("\\n").forEach(function (line) {
        if (line.length > __MAX_LINE__) { out.pre_lines.push(line); }
      });
    });
    var res = document.createElement("pre");
    res.id = "probe-result";
    res.hidden = true;
    res.textContent = JSON.stringify(out);
    document.body.appendChild(res);
  }
  function mark() {
    document.querySelectorAll("img").forEach(function (im) {
      im.setAttribute("data-probe-size", im.complete ? im.naturalWidth + "x" + im.naturalHeight : "incomplete");
    });
    var done = function () {
      try { measure(); } catch (e) { document.body.setAttribute("data-probe-error", "measure: " + e); }
      document.body.setAttribute("data-probe", "done");
    };
    if (document.fonts && document.fonts.ready) { document.fonts.ready.then(done, done); } else { done(); }
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(mark, function (e) { document.body.setAttribute("data-probe-error", String(e)); mark(); });
  } else {
    mark();
  }
});
</script>
"""

# the book's conventions (book/contributing.md)
WINDOW = "--window-size=1024,900"
MAX_LINE = 100
RAW_LABEL = re.compile(r"(?<![\w/#.:-])(?:eq|fig|chap|sec)-[a-z][\w-]*")
RAW_EQ = re.compile(r"\bEqs?\.\s*\(\s*[A-Za-z][\w.:]*-[\w.:-]*\s*\)")
NAN = re.compile(r"(?<![\w.])[-+]?nan(?!\w)", re.IGNORECASE)


# a figure or equation number without a chapter ("Fig. 5", "Eq. (15)") is the paper's and says so
PAPER_FIG = re.compile(r"(?<![Pp]aper\s)\bFigs?\.\s+\d+(?![.\d])")
PAPER_EQ = re.compile(r"(?<![Pp]aper\s)\bEqs?\.\s*\(\d+\)")
# a chapter's figures are numbered "Fig. <chapter>.<figure>" (numbered toctree, _toc.yml)
CHAPTER_FIG = re.compile(r"Fig\. \d+\.\d+")
# an interval of two numbers as the book prints them: "[25, 793]", "[3.9×10², 10⁶]", "[1e-3, 0.5]"
_NUM = r"-?(?:\d+(?:\.\d+)?(?:×10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+|e[-+]?\d+)?|10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)"
INTERVAL = re.compile(rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*\]")
_SUPERSCRIPT = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")


def _number(text: str) -> float:
    """A number printed as the book prints it (plain, e-notation or m×10ⁿ) as a float."""
    if "10" in text and any(c in text for c in "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"):
        mant, _, exp = text.rpartition("10")
        mant = mant.rstrip("×") or "1"
        return float(mant if mant != "-" else "-1") * 10.0 ** int(exp.translate(_SUPERSCRIPT))
    return float(text)


def _path_like(alt: str) -> bool:
    """An alt text that names a file (or nothing) instead of saying what the figure shows."""
    return not alt.strip() or " " not in alt.strip() or bool(re.search(r"\.(png|svg|jpe?g)\b", alt))


def _raw_labels(text: str) -> list[str]:
    return sorted({m.group(0) for rx in (RAW_LABEL, RAW_EQ) for m in rx.finditer(text)})


def _short(text: str, n: int = 120) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _jupyter_book() -> list[str]:
    """The jupyter-book CLI of this Python (not whatever `jupyter-book` is first on PATH)."""
    code = ("import sys; from jupyter_book.cli.main import main; "
            "sys.argv[0] = 'jupyter-book'; main()")
    return [sys.executable, "-c", code]


PAGES = toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text()))


def _chromium(args: list[str], user_dir: Path, timeout=120) -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
        f"--user-data-dir={user_dir}", "--virtual-time-budget=15000", *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """Build the book without execution from the reference notebooks; return the html dir."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found (apt-get install -y chromium, or set CHROMIUM)")
    out = tmp_path_factory.mktemp("book")
    missing = [p for p in PAGES if p.startswith("chapters/") and not (ROOT / f"{p}.ipynb").is_file()]
    if missing:
        pytest.fail("no reference notebook for " + ", ".join(missing)
                    + ": record it with `python scripts/record_notebooks.py <chapter>.md`")
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    cfg.setdefault("execute", {})["execute_notebooks"] = "off"
    # the config file moves to a temporary directory: local extension paths must not
    local = (cfg.get("sphinx") or {}).get("local_extensions") or {}
    for name, path in local.items():
        local[name] = str((ROOT / path).resolve())
    excl = [p for p in cfg.get("exclude_patterns", []) if p != "chapters/*.ipynb"]
    cfg["exclude_patterns"] = excl + ["chapters/*.md"]
    conf = out / "_config.yml"
    conf.write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = subprocess.run(
        [*_jupyter_book(), "build", str(ROOT), "--path-output", str(out), "--config", str(conf),
         "-W", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=600,
    )
    log = res.stdout[-6000:] + res.stderr[-4000:]
    assert res.returncode == 0, "book build (no execution) failed:\n" + log
    assert "WARNING" not in res.stdout + res.stderr, log
    html_dir = out / "_build" / "html"
    assert (html_dir / "index.html").is_file(), log
    return html_dir


class _Text(HTMLParser):
    """Visible prose text (outside code, scripts, styles and MathJax output) and img tags."""

    SKIP = {"script", "style", "pre", "code", "mjx-container", "textarea", "noscript", "svg"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.stack: list[str] = []
        self.text: list[str] = []
        self.imgs: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs))
            return
        if tag in ("br", "hr", "meta", "link", "input", "source", "wbr"):
            return
        self.stack.append(tag)
        if tag in self.SKIP:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag not in self.stack:
            return
        while self.stack:
            t = self.stack.pop()
            if t in self.SKIP:
                self.depth -= 1
            if t == tag:
                break

    def handle_data(self, data):
        if self.depth == 0:
            self.text.append(data)


def _valid_image(path: Path) -> bool:
    head = path.read_bytes()[:512]
    if head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff"):
        return True
    if head.startswith((b"GIF87a", b"GIF89a")):
        return True
    return b"<svg" in path.read_bytes()[:4096]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(built_book, page, tmp_path):
    page_html = built_book / f"{page}.html"
    assert page_html.is_file(), f"{page}.html was not built"
    static = page_html.read_text(encoding="utf-8")

    # a probed copy next to the page (relative links keep working)
    probe = page_html.with_name(f"_probe_{page_html.name}")
    probe.write_text(static.replace("</body>", PROBE.replace("__MAX_LINE__", str(MAX_LINE)) + "</body>"),
                     encoding="utf-8")
    res = _chromium([WINDOW, "--dump-dom", probe.as_uri()], tmp_path / "chromium")
    dom = res.stdout
    assert 'data-probe="done"' in dom, (
        f"{page}: page did not finish loading\n" + res.stderr[-2000:]
    )
    err = re.search(r'data-probe-error="[^"]*"', dom)
    assert err is None, f"{page}: MathJax startup or the probe failed: {err.group(0) if err else ''}"

    # no cell errors / tracebacks / stderr shown
    # (matched as class attributes of output blocks, so that prose such as "the output error"
    # does not count)
    bad = re.search(r'class="[^"]*\boutput (traceback|error|stderr)\b[^"]*"', dom)
    assert bad is None, f"{page}: rendered page contains an error output block: {bad.group(0) if bad else ''}"
    assert "Traceback (most recent call last)" not in dom, f"{page}: rendered page contains a traceback"

    # math typeset by the local MathJax
    has_math = 'class="math' in static
    if has_math:
        assert "<mjx-container" in dom, f"{page}: math present but not typeset by MathJax"
        assert "<mjx-merror" not in dom and "data-mjx-error=" not in dom, f"{page}: MathJax error"
    # (Sphinx adds MathJax only to pages with math; it must never come from the network)
    if has_math:
        assert re.search(r'<script[^>]+src="[^"]*_static/mathjax/tex-chtml\.js"', static), (
            f"{page}: MathJax is not loaded from the local _static/mathjax"
        )
    remote = re.search(r'<script[^>]+src="(?:https?:)?//[^"]*mathjax[^"]*"', static, re.IGNORECASE)
    assert remote is None, f"{page}: MathJax loaded from the network: {remote.group(0) if remote else ''}"
    parser = _Text()
    parser.feed(dom)
    text = html.unescape("".join(parser.text))
    for raw in (r"\(", r"\)", r"\[", r"\]", "$$"):
        assert raw not in text, f"{page}: raw math delimiter {raw!r} left in the text"
    single = re.search(r"\$[^$\n]{1,200}\$", text)
    assert single is None, f"{page}: untypeset $...$ math: {single.group(0)!r}"

    # the book's conventions, measured by the probe in the laid-out page
    m = re.search(r'<pre[^>]*id="probe-result"[^>]*>(.*?)</pre>', dom, re.S)
    assert m is not None, f"{page}: the probe wrote no result"
    probe_result = json.loads(html.unescape(m.group(1)))
    problems = []
    bare = sorted({m.group(0) for rx in (PAPER_FIG, PAPER_EQ) for m in rx.finditer(text)})
    if bare:
        problems.append("the paper's figures and equations are \"paper Fig. 5\", \"paper Eq. (15)\"; "
                        f"the book's are numbered per chapter: {bare[:5]}")
    raw = _raw_labels(text)
    if raw:
        problems.append(f"raw cross-reference labels in the text (use {{eq}}, {{ref}}, {{numref}}): {raw}")
    outputs = probe_result["outputs"]
    raw = sorted({lab for o in outputs for lab in _raw_labels(o)})
    if raw:
        problems.append(f"raw labels printed in cell outputs (name the equation in words): {raw}")
    nans = [_short(o[max(0, x.start() - 50):x.end() + 50].strip()) for o in outputs for x in NAN.finditer(o)]
    if nans:
        problems.append(f"'nan' printed in cell outputs (say what happened instead): {nans[:5]}")
    wide = probe_result["pre_lines"]
    if wide:
        problems.append(f"{len(wide)} output line(s) longer than {MAX_LINE} characters, e.g. "
                        f"{_short(wide[0], 140)!r} ({len(wide[0])} characters)")
    if probe_result["figures"]:
        problems.append(f"figures without a caption: {probe_result['figures']}")
    if probe_result["bare_images"]:
        problems.append("images in cell outputs outside a figure (add mystnb figure metadata with a "
                        f"caption): {probe_result['bare_images'][:5]}")
    thin = [f"{_short(src, 60)} ({nat} px file shown {shown:.0f} px wide)"
            for src, nat, shown in probe_result["densities"]
            if not src.split("?")[0].endswith(".svg") and shown > 0 and nat < 1.9 * shown]
    if thin:
        problems.append(f"inline figures below 2x pixel density (tl.book.setup makes them retina): {thin[:3]}")
    bad_alt = [_short(src, 60) for src, alt in probe_result["alts"] if _path_like(alt)]
    if bad_alt:
        problems.append(f"figure images whose alt text is a file name, not the caption's first sentence: {bad_alt[:3]}")
    if page.startswith("chapters/"):
        odd = [n for n in probe_result["numbers"] if not CHAPTER_FIG.fullmatch(n)]
        if odd:
            problems.append(f"figures not numbered per chapter (\"Fig. 4.2\"): {odd[:5]}")
    rev = sorted({m.group(0) for o in outputs for m in INTERVAL.finditer(o)
                  if _number(m.group(1)) >= _number(m.group(2))})
    if rev:
        problems.append(f"reversed or empty intervals printed (say \"window closed\"): {rev[:5]}")
    if probe_result["math"]:
        problems.append("display equations wider than their column in a 1024 px window "
                        f"([id, scrollWidth, clientWidth]): {probe_result['math'][:5]}")
    assert not problems, f"{page}: " + "\n  ".join(problems)

    # images: loaded in the browser and valid on disk
    for img in parser.imgs:
        src = img.get("src", "")
        assert src, f"{page}: <img> without src"
        size = img.get("data-probe-size", "")
        assert re.fullmatch(r"[1-9]\d*x[1-9]\d*", size), f"{page}: image {src} did not load ({size!r})"
        if src.startswith("data:"):
            continue
        assert not re.match(r"[a-z]+://", src), f"{page}: image {src} is not local"
        path = (page_html.parent / src.split("#")[0].split("?")[0]).resolve()
        assert path.is_file(), f"{page}: image file {path} missing"
        assert _valid_image(path), f"{page}: {path} is not a valid image"
    probe.unlink()

    # chapters built from the reference notebooks show their outputs, and offer the notebook
    if page.startswith("chapters/"):
        assert "cell_output" in static, f"{page}: no cell outputs rendered"
        name = Path(page).name
        assert re.search(rf'href="[^"]*_sources/chapters/{re.escape(name)}\.ipynb"', static), (
            f"{page}: no .ipynb download"
        )

    if page in ("intro", "chapters/00_quickstart"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / (Path(page).name + ".png")
        res = _chromium(["--window-size=1280,2000", f"--screenshot={shot}", page_html.as_uri()],
                        tmp_path / "chromium-shot")
        assert shot.is_file() and shot.read_bytes().startswith(b"\x89PNG"), res.stderr[-2000:]


# ------------------------------------------------------------------------------------------------
# a phone: 390 px.  Headless Chromium's window is never narrower than 500 px (a --window-size of
# 390 lays the page out at 500 px and crops), so the phone is emulated through the DevTools
# protocol (Emulation.setDeviceMetricsOverride), driven over its websocket with tornado.
# ------------------------------------------------------------------------------------------------
PHONE = 390
PHONE_CHECK = """(() => {
  const out = {width: window.innerWidth, wide: [], page: document.documentElement.scrollWidth,
               streams: []};
  out.unlinked = Array.from(document.querySelectorAll('div.cell_output img'))
    .filter(img => !img.closest('a')).length;
  document.querySelectorAll('div.cell_output div.output.stream pre').forEach((e, i) => {
    if (e.scrollWidth > e.clientWidth + 2) out.streams.push([i, e.scrollWidth, e.clientWidth]);
  });
  document.querySelectorAll('mjx-container[display="true"]').forEach((c, i) => {
    const h = c.closest("div.math");
    const past = h ? c.getBoundingClientRect().right - h.getBoundingClientRect().right : 0;
    if (c.scrollWidth > c.clientWidth + 4 || past > 4) {
      out.wide.push([h && h.id ? h.id : "display equation " + (i + 1), c.scrollWidth, c.clientWidth]);
    }
  });
  return out;
})()"""


async def _phone_pages(html_dir: Path, pages: list[str], user_dir: Path) -> dict:
    """{page: PHONE_CHECK's result} for every page, laid out 390 px wide (mobile emulation), after
    MathJax and _static/fit-equations.js have run."""
    import asyncio

    from tornado.websocket import websocket_connect

    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-extensions",
         f"--user-data-dir={user_dir}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = user_dir / "DevToolsActivePort"
        for _ in range(300):
            if port_file.is_file() and port_file.read_text().count("\n") >= 1:
                break
            await asyncio.sleep(0.1)
        port, path = port_file.read_text().split("\n")[:2]
        ws = await websocket_connect(f"ws://127.0.0.1:{port}{path}", max_message_size=64 * 2**20)
        ids = iter(range(1, 10**9))

        async def call(method, session=None, **params):
            i = next(ids)
            msg = {"id": i, "method": method, "params": params}
            if session:
                msg["sessionId"] = session
            await ws.write_message(json.dumps(msg))
            while True:
                m = json.loads(await asyncio.wait_for(ws.read_message(), 60))
                if m.get("id") == i:
                    assert "error" not in m, f"{method}: {m['error']}"
                    return m["result"]

        async def evaluate(session, expr, promise=False):
            r = await call("Runtime.evaluate", session, expression=expr, returnByValue=True,
                           awaitPromise=promise)
            assert "exceptionDetails" not in r, f"{expr[:60]}: {r['exceptionDetails']}"
            return r["result"].get("value")

        target = (await call("Target.createTarget", url="about:blank"))["targetId"]
        session = (await call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        await call("Emulation.setDeviceMetricsOverride", session, width=PHONE, height=844,
                   deviceScaleFactor=1, mobile=True)
        results = {}
        for page in pages:
            await call("Page.navigate", session, url=(html_dir / f"{page}.html").as_uri())
            for _ in range(600):
                if await evaluate(session, "document.readyState") == "complete":
                    break
                await asyncio.sleep(0.05)
            # fit-equations.js chained its fit on this promise at the load event, before us
            await evaluate(session, "window.MathJax && MathJax.startup ? MathJax.startup.promise.then(() => 1) : 0",
                           promise=True)
            results[page] = await evaluate(session, PHONE_CHECK)
        ws.close()
        return results
    finally:
        proc.kill()
        proc.wait()


def test_display_equations_fit_a_phone(built_book, tmp_path):
    """At 390 px every display equation fits its column: _static/fit-equations.js typesets a
    wide one smaller (down to 60 per cent) and custom.css moves the number below it.  The page
    is no wider than the phone, printed output wraps, and every figure links to its full-size
    image."""
    import asyncio

    results = asyncio.run(asyncio.wait_for(_phone_pages(built_book, PAGES, tmp_path / "chromium-phone"), 600))
    assert {r["width"] for r in results.values()} == {PHONE}, results
    wide = {p: r["wide"] for p, r in results.items() if r["wide"]}
    assert not wide, f"display equations wider than a {PHONE} px column: {wide}"
    # the page itself never scrolls sideways (wide tables and code scroll inside their block),
    # and printed sentences wrap (custom.css) instead of scrolling
    assert {p: r["page"] for p, r in results.items() if r["page"] > PHONE} == {}, results
    streams = {p: r["streams"] for p, r in results.items() if r["streams"]}
    assert not streams, f"printed output scrolling sideways at {PHONE} px: {streams}"
    # every figure opens at full size when tapped (_static/figure-links.js)
    unlinked = {p: r["unlinked"] for p, r in results.items() if r["unlinked"]}
    assert not unlinked, f"figures without a link to their full-size image: {unlinked}"


# ------------------------------------------------------------------------------------------------
# the API page (book/api.md): grouped by layer, clean signatures, every public name documented
# ------------------------------------------------------------------------------------------------
API_PAGE = "book/api"


def _contract_layers() -> list[list[str]]:
    """The layers of the import-linter contract in pyproject.toml, bottom first."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [c for c in cfg["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return [[x.strip() for x in layer.split("|")] for layer in reversed(contract["layers"])]


def _public_api() -> list[tuple[str, str, object]]:
    """(module, name, object) of every public function and class: the ``__all__`` of
    ``twolayer``, of the modules an ``__all__`` lists (recursively), and of every layer of the
    contract that is a module of its own (io, sweeps, plotting, ...)."""
    import importlib
    import inspect

    seen, out = set(), []
    todo = ["twolayer"] + [f"twolayer.{m}" for layer in _contract_layers() for m in layer]
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", ()):
            obj = getattr(mod, attr)
            if inspect.ismodule(obj):
                todo.append(obj.__name__)
            elif inspect.isclass(obj) or inspect.isfunction(obj):
                out.append((name, attr, obj))
    return out


def _api_html(built_book) -> str:
    page = built_book / f"{API_PAGE}.html"
    assert page.is_file(), f"{API_PAGE}.html was not built"
    return page.read_text(encoding="utf-8")


def _signatures(static: str) -> dict[str, str]:
    """{id: visible text} of every object description's signature on a page."""
    out = {}
    for m in re.finditer(r'<dt class="sig sig-object py"[^>]*?id="([^"]+)"[^>]*>(.*?)</dt>', static, re.S):
        out[m.group(1)] = " ".join(html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).split())
    return out


def test_api_sections_follow_the_layers(built_book):
    """One section per layer, bottom first, in the order of the import contract (siblings of one
    layer in any order)."""
    static = _api_html(built_book)
    heads = [html.unescape(re.sub(r"<[^>]+>", "", h)).strip()
             for h in re.findall(r'<h2>([^<]*)<a class="headerlink"', static)]
    layers = _contract_layers()
    assert sorted(heads) == sorted(m for layer in layers for m in layer), heads
    order = {m: i for i, layer in enumerate(layers) for m in layer}
    assert [order[h] for h in heads] == sorted(order[h] for h in heads), heads


def test_api_signatures_are_clean(built_book):
    """No signature shows an annotation Sphinx could not parse (``~numpy.ndarray``, which it
    prints when a signature is no Python, e.g. a dataclass default ``<factory>``)."""
    sigs = _signatures(_api_html(built_book))
    assert len(sigs) > 100, f"only {len(sigs)} signatures on the API page"
    raw = {k: _short(v, 160) for k, v in sigs.items() if "~" in v or "<factory>" in v}
    assert not raw, f"signatures with raw annotations: {raw}"


def test_api_documents_every_public_name(built_book):
    """Every public function and class has an entry: a name of ``twolayer.__all__`` under its
    top-level name (the name the chapters use, ``tl.simulate``), any other under one of the names
    that reach it (its subpackage's, its module's)."""
    ids = set(_signatures(_api_html(built_book)))
    public = _public_api()
    paths: dict[int, set[str]] = {}
    for mod, name, obj in public:
        paths.setdefault(id(obj), {f"{obj.__module__}.{obj.__qualname__}"}).add(f"{mod}.{name}")
    missing = []
    for mod, name, obj in public:
        wanted = {f"twolayer.{name}"} if mod == "twolayer" else paths[id(obj)]
        if not wanted & ids:
            missing.append(f"{mod}.{name}")
    assert not missing, f"public names without an entry on the API page ({API_PAGE}.md): {missing}"


def test_footer_names_version_and_licence(built_book):
    """The footer of every page: the package's version and licence (read at build time by
    book_ext/book_meta.py) and how to cite (CITATION.cff); no "By ..." author line."""
    import twolayer

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    licence = cfg["project"]["license"]
    licence = licence["text"] if isinstance(licence, dict) else licence
    for page in ("intro", API_PAGE):
        static = (built_book / f"{page}.html").read_text(encoding="utf-8")
        m = re.search(r'<div class="extra_footer">(.*?)</div>', static, re.S)
        assert m, f"{page}: no extra footer"
        footer = " ".join(html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).split())
        assert f"twolayer {twolayer.__version__}" in footer, footer
        assert f"{licence} licence" in footer and "CITATION.cff" in footer, footer
        assert "{version}" not in footer and "{license}" not in footer, footer
        assert 'class="component-author"' not in static, f"{page}: a 'By ...' line in the footer"
