"""Sphinx extension: the book's footer and the notebook download of every chapter.

* **Footer.**  ``html.extra_footer`` in ``_config.yml`` may hold the placeholders ``{version}``
  and ``{license}``; they are filled at build time from ``lib/twolayer/_version.py`` and the
  ``[project] license`` of ``pyproject.toml``, so the footer never states another version or
  licence than the package's.
* **An .ipynb download for every chapter.**  The book theme's download button offers the page's
  source (for a chapter, its MyST ``.md``) and a PDF; it adds the executed notebook only when a
  launch service (Binder, JupyterHub, Colab, Thebe) is configured, which an offline book has
  not.  Before the theme builds its buttons (``html-page-context``, priority 500 < 501), the
  executed notebook of a chapter that MyST-NB wrote to ``_build/jupyter_execute`` is copied
  next to the page's source in ``_sources`` and offered as ``.ipynb``.  Nothing is fetched.
  A chapter read from an ``.ipynb`` (the render test's build) already offers it as its source.

Registered in ``_config.yml``::

    sphinx:
      local_extensions:
        book_meta: book_ext/
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path


def _version(root: Path) -> str:
    text = (root / "lib" / "twolayer" / "_version.py").read_text(encoding="utf-8")
    return re.search(r"""__version__\s*=\s*["']([^"']+)["']""", text).group(1)


def _license(root: Path) -> str:
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib
    except ModuleNotFoundError:           # Python 3.10: license = {text = "..."} or "..."
        m = re.search(r"""^license\s*=\s*(?:\{\s*text\s*=\s*)?["']([^"']+)["']""", text, re.M)
        return m.group(1)
    lic = tomllib.loads(text)["project"].get("license", "")
    return lic.get("text", "") if isinstance(lic, dict) else str(lic)


def fill_footer(app, config) -> None:
    opts = config.html_theme_options
    footer = opts.get("extra_footer") or ""
    if "{version}" in footer or "{license}" in footer:
        root = Path(app.srcdir)
        opts["extra_footer"] = footer.replace("{version}", _version(root)).replace(
            "{license}", _license(root))


def notebook_download(app, pagename, templatename, context, doctree) -> None:
    if doctree is None or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    if not context.get("sourcename", "").endswith((".md", ".md.txt")):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    app.connect("config-inited", fill_footer)
    app.connect("html-page-context", notebook_download, priority=500)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
