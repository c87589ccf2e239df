"""Presenting results in the book: numbers at their scientific precision, tables, and glue.

Chapter cells print and glue numbers only through these helpers, so that every number that
reaches the reader (and the nbval references) carries the precision it means: ``sig`` rounds to
significant digits, ``bound`` turns a round-off-level deviation into a statement "< 1e-4",
``frame`` renders a DataFrame of numbers (what the analysis functions return) as the book's
table at the printed precision (an HTML table with a plain-text twin of at most 100 characters a
line; ``table`` does the same for rows already formatted), and ``glue`` stores a rounded number
for the prose (myst-nb's ``{glue:text}`` role).  The numbers stay in the DataFrame: a chapter
computes with them, never with the printed text.
"""

from __future__ import annotations

import functools
import html
import math
import re

import numpy as np
import pandas as pd

try:  # myst-nb is a dependency of the book, not of the library
    from myst_nb import glue as _myst_glue
except ImportError:  # pragma: no cover - outside the book
    _myst_glue = None

from .problem.checks import check_int

__all__ = ["Table", "bound", "bound_to", "captioned", "columns", "condition", "frame", "glue", "glue_all",
           "glue_frame", "glue_range", "interval", "num", "powers_of_ten", "sig", "signed", "table",
           "tex_text"]


def sig(x: float, digits: int = 2) -> float:
    """``x`` rounded to ``digits`` significant digits (nan and inf pass through)."""
    digits = check_int("digits", digits, 1, 15)
    x = float(x)
    if not math.isfinite(x) or x == 0.0:
        return x
    return float(f"{x:.{digits}g}")


def bound(x: float, threshold: float) -> str:
    """``"< threshold"`` when |x| is below it, else the value to two significant digits: for
    deviations whose digits below the threshold are round-off or integration error."""
    if abs(float(x)) < threshold:
        return "< " + powers_of_ten(f"{threshold:.0e}")
    return num(x, 2)


def signed(x: float, decimals: int = 2) -> str:
    """``x`` with its sign at ``decimals`` decimals; a value that rounds to zero is shown as
    zero without a sign (no "-0.00": its sign is below the shown precision)."""
    decimals = check_int("decimals", decimals, 0, 15)
    text = f"{float(x):+.{decimals}f}"
    return text[1:] if float(text) == 0.0 else text


_SUPER = str.maketrans("0123456789+-=()nik", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱᵏ")
_SUB = str.maketrans("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")
_TEX_WORDS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "eta": "η", "lambda": "λ", "mu": "μ", "rho": "ρ", "sigma": "σ", "tau": "τ", "Delta": "Δ",
    "Sigma": "Σ", "pm": "±", "times": "×", "cdot": "·", "le": "≤", "leq": "≤", "ge": "≥",
    "geq": "≥", "approx": "≈", "propto": "∝", "infty": "∞", "langle": "⟨", "rangle": "⟩",
    "to": "→", "sqrt": "√", "ln": " ln ", "log": " log ", "exp": " exp ", "max": " max ",
    "min": " min ", "xi": "ξ", "in": "∈", "nu": "ν", "kappa": "κ", "theta": "θ", "phi": "φ",
    "omega": "ω", "Gamma": "Γ", "Lambda": "Λ", "pi": "π", "chi": "χ", "zeta": "ζ", "psi": "ψ", "mid": "|", ",": " ", ";": " ", "!": "", " ": " ", "%": "%", "_": "_",
}
#: Accents, as the combining character after a one-character argument (``\hat\epsilon`` ->
#: ε̂); a longer argument is written ``hat(...)``.
_TEX_ACCENTS = {"hat": "\u0302", "widehat": "\u0302", "bar": "\u0304", "overline": "\u0304",
                "tilde": "\u0303", "widetilde": "\u0303", "dot": "\u0307", "vec": "\u20d7"}
_TEX_DROP = {"rm", "mathrm", "text", "mathit", "mathbf", "operatorname", "left", "right", "big",
             "Big", "bigl", "bigr", "Bigl", "Bigr", "displaystyle"}
_E_NOTATION = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)e([+-]?)0*(\d+)(?![\w.])")


def _script(body: str, table, mark: str) -> str:
    """``body`` in unicode super- or subscripts when every character has one, else
    ``mark`` + body (``_{esc}`` -> ``_esc``; ``^{(k)}`` -> ``⁽ᵏ⁾``; ``^*`` -> ``*``)."""
    if body in ("*", "'", "′"):
        return body
    if all(c.translate(table) != c for c in body):
        return body.translate(table)
    return mark + body


def _tex_group(tex: str, i: int) -> tuple[str, int]:
    """The argument of a sub- or superscript at ``tex[i]``: a braced group, a command or one
    character; returns (its text, the index after it)."""
    if i >= len(tex):
        return "", i
    if tex[i] == "{":
        depth = 0
        for j in range(i, len(tex)):
            depth += {"{": 1, "}": -1}.get(tex[j], 0)
            if depth == 0:
                return tex[i + 1:j], j + 1
        return tex[i + 1:], len(tex)
    if tex[i] == "\\":
        m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
        return m.group(0), i + len(m.group(0))
    return tex[i], i + 1


def tex_text(label: str) -> str:
    """A label with TeX in dollars (``"$\\epsilon_g$ at $\\alpha_{\\rm end}$"``) as plain
    unicode text (``"ε_g at α_end"``): the plain-text twin of a table header or printed label
    whose HTML form is typeset math (``Table``).  Text outside the dollars is kept as it is.

    Parameters
    ----------
    label : text with inline math between single dollars (a handful of TeX commands: Greek
        letters, ``\\pm``, ``\\times``, ``\\cdot``, ``\\le``, ``\\ln``, ``\\rm{}``, accents such as
        ``\\hat``, sub- and superscripts)

    Returns
    -------
    str
    """
    if not isinstance(label, str):
        raise ValueError(f"label must be a str, got {type(label).__name__}")
    parts = label.split("$")
    if len(parts) % 2 == 0:
        raise ValueError(f"label has an unmatched $: {label!r}")
    out = []
    for k, part in enumerate(parts):
        out.append(_tex_math_text(part) if k % 2 else part)
    return "".join(out)


def _tex_math_text(tex: str) -> str:
    out, i = [], 0
    while i < len(tex):
        c = tex[i]
        if c == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
            i += len(m.group(0))
            if m.group(1) in _TEX_ACCENTS:
                body, i = _tex_group(tex, i)
                body = _tex_math_text(body)
                mark = m.group(1).replace("wide", "").replace("overline", "bar")
                out.append(body + _TEX_ACCENTS[m.group(1)] if len(body) == 1 else f"{mark}({body})")
            elif m.group(1) not in _TEX_DROP:
                out.append(_TEX_WORDS.get(m.group(1), m.group(1)))
        elif c in "_^":
            body, i = _tex_group(tex, i + 1)
            body = _tex_math_text(body)
            out.append(_script(body, _SUPER, "^") if c == "^" else _script(body, _SUB, "_"))
        elif c in "{}":
            i += 1
        else:
            out.append(c)
            i += 1
    text = re.sub(r" {2,}", " ", "".join(out)).strip()
    text = re.sub(r"\|\s+(?=(ln|log|exp) )", "|", text)
    return re.sub(r"\b(ln|log|exp|max|min) (?=[(|\[])", r"\1", text)


def _tex_html(label: str) -> str:
    """A label with TeX in dollars as HTML: the math as Sphinx's inline math (MathJax typesets
    it in the book), the rest escaped."""
    parts = str(label).split("$")
    if len(parts) % 2 == 0:
        return html.escape(str(label))
    return "".join(f'<span class="math notranslate nohighlight">\\({html.escape(p)}\\)</span>'
                   if k % 2 else html.escape(p) for k, p in enumerate(parts))


def powers_of_ten(text: str) -> str:
    """Every number in e-notation in ``text`` written as the book writes it: ``"1.6e-11"`` ->
    ``"1.6×10⁻¹¹"``, ``"1e+04"`` -> ``"10⁴"`` (a mantissa of 1 is dropped); other text unchanged.

    Parameters
    ----------
    text : a formatted number, or text holding some

    Returns
    -------
    str
    """
    def sub(m):
        exp = ("-" if m.group(2) == "-" else "") + m.group(3)
        mant = m.group(1)
        power = "10" + exp.translate(_SUPER)
        if mant in ("1", "-1"):
            return ("-" if mant == "-1" else "") + power
        return f"{mant}×{power}"

    return _E_NOTATION.sub(sub, str(text))


def num(x: float, digits: int = 3) -> str:
    """``x`` at ``digits`` significant digits as the book prints a number: plain decimals, or
    ``m×10ⁿ`` where Python's ``g`` format would give e-notation (``num(1.64e-11, 2)`` is
    ``"1.6×10⁻¹¹"``).  For printed lines; ``frame`` and ``glue`` do the same by themselves.

    Parameters
    ----------
    x : the number
    digits : significant digits (1 ... 15)

    Returns
    -------
    str
    """
    digits = check_int("digits", digits, 1, 15)
    return powers_of_ten(f"{sig(x, digits):.{digits}g}")


class Table:
    """A table of formatted strings: HTML in the rendered book, the same rows as plain text
    (what nbval compares) in the notebook; ``frame`` is the pandas DataFrame.  Column names may
    hold TeX between dollars (``"$\\epsilon_g$"``): typeset math in HTML, unicode in the text
    (``tex_text``); numbers in e-notation are shown as ``m×10ⁿ`` (``powers_of_ten``)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{_tex_html(c)}</th>" for c in self.frame.columns)
        body = "".join("<tr>" + "".join(f"<td>{_tex_html(powers_of_ten(v))}</td>" for v in row)
                       + "</tr>\n" for row in self.frame.itertuples(index=False, name=None))
        return (f'<table class="twolayer-table">\n<thead><tr>{head}</tr></thead>\n'
                f"<tbody>\n{body}</tbody>\n</table>")

    def __repr__(self) -> str:
        shown = self.frame.map(lambda v: tex_text(powers_of_ten(v)))
        shown.columns = [tex_text(str(c)) for c in self.frame.columns]
        return shown.to_string(index=False)


def table(rows, columns, max_width: int = 100) -> Table:
    """A ``Table`` from rows of already formatted values; its plain-text form must fit
    ``max_width`` characters a line (ValueError otherwise)."""
    df = pd.DataFrame([[str(v) for v in r] for r in rows], columns=list(columns))
    t = Table(df)
    wide = max((len(line) for line in repr(t).splitlines()), default=0)
    if wide > max_width:
        raise ValueError(f"the table is {wide} characters wide; at most {max_width} fit the page")
    return t


def _cell(x, fmt) -> str:
    if callable(fmt):
        return str(fmt(x))
    if isinstance(x, (bool, np.bool_)) or isinstance(x, str) or x is None:
        return "" if x is None else str(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return "-"
    if isinstance(fmt, str):
        return format(x, fmt)
    return f"{sig(x, fmt):.{fmt}g}"


def frame(df: pd.DataFrame, digits: int = 3, *, formats: dict | None = None, max_width: int = 100) -> Table:
    """The book's table of a DataFrame of numbers, each shown at its scientific precision.

    Parameters
    ----------
    df : the result (numbers, strings, booleans); its index is dropped unless named
    digits : significant digits of every float column without an entry in ``formats``
    formats : per column: an int (significant digits), a format spec (``".3f"``) or a callable
        value -> str (e.g. ``lambda d: bound(d, 1e-4)``)
    max_width : the plain-text form must fit this many characters a line (ValueError otherwise)

    Returns
    -------
    Table (integers as integers, nan as "-")
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    formats = dict(formats or {})
    unknown = set(formats) - set(df.columns)
    if unknown:
        raise ValueError(f"formats names columns the frame does not have: {sorted(map(str, unknown))}")
    if any(name is not None for name in df.index.names):
        df = df.reset_index()
    rows = [[_cell(x, formats.get(col, digits)) for col, x in zip(df.columns, row)]
            for row in df.itertuples(index=False, name=None)]
    return table(rows, [str(c) for c in df.columns], max_width=max_width)


def glue(name: str, value, digits: int | None = 3) -> None:
    """Store ``value`` for ``{glue:text}`name``` in the prose, rounded to ``digits``
    significant digits (``None``: as given, for integers and strings); a rounded value that is
    a whole number with all its digits significant is shown as one (380, not 380.0), and one
    that Python would write in e-notation as ``m×10ⁿ`` (``num``).  Returns None, so that a
    glue as a cell's last line shows nothing in the notebook."""
    if isinstance(value, (float, np.floating)) and digits is not None:
        value = sig(value, digits)
        if value.is_integer() and abs(value) >= 10 ** (digits - 1):
            value = int(value)  # 380, not 380.0: every shown digit is significant
        elif "e" in repr(value):
            value = num(value, digits)  # 1.6×10⁻¹¹ in the prose, as in the tables
    elif isinstance(value, (np.integer,)):
        value = int(value)
    if _myst_glue is None:
        raise ValueError("glue needs myst-nb (the book's dependencies: pip install -e '.[book]')")
    _myst_glue(name, value, display=False)


def bound_to(threshold: float):
    """The table formatter ``x -> bound(x, threshold)`` (for ``frame``'s ``formats``): a
    deviation below ``threshold`` is shown as ``"< threshold"``, else at two digits."""
    threshold = float(threshold)
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a finite number > 0, got {threshold}")
    return functools.partial(bound, threshold=threshold)


def condition(x: float) -> str:
    """A condition number as its power of ten, ``"1e7"``; beyond ``1e15`` (about 1/eps of
    float64, where the computed value itself is unreliable) ``"> 1e15"``."""
    x = float(x)
    if not x >= 1.0:
        raise ValueError(f"x must be a condition number >= 1, got {x}")
    return f"1e{round(math.log10(x))}" if x < 1e15 else "> 1e15"


class _Captioned(Table):
    """A ``Table`` with its caption line: above the rows in plain text, ``<caption>`` in HTML."""

    def __init__(self, frame: pd.DataFrame, caption: str):
        super().__init__(frame)
        self.caption = caption

    def _repr_html_(self) -> str:
        text = super()._repr_html_()
        head = text.index(">") + 1  # end of the opening <table ...> tag
        return f"{text[:head]}\n  <caption>{_tex_html(self.caption)}</caption>{text[head:]}"

    def __repr__(self) -> str:
        return f"{tex_text(self.caption)}\n{super().__repr__()}"


def captioned(table: Table, caption: str) -> Table:
    """``table`` (from ``frame`` or ``table``) with a caption line that names what it shows,
    printed directly above its header (and as the HTML table's ``<caption>``), so that a label
    can never drift away from its table the way a separate ``print`` can.

    Parameters
    ----------
    table : a ``Table``
    caption : one line of text (at most 100 characters, the width of a printed line)

    Returns
    -------
    Table
    """
    if not isinstance(table, Table):
        raise ValueError(f"table must be a report.Table, got {type(table).__name__}")
    if not isinstance(caption, str) or not caption.strip() or "\n" in caption or len(caption) > 100:
        raise ValueError("caption must be one non-empty line of at most 100 characters")
    return _Captioned(table.frame, caption)


def glue_frame(df: pd.DataFrame, name: str = "{column}_{index}", digits: int | dict | None = 3) -> None:
    """Glue every cell of a DataFrame for the prose, each under a name made by a rule: several
    prose numbers from one result in one call (``glue`` for each cell).

    Parameters
    ----------
    df : the numbers; its row labels (index) and column names fill the rule
    name : the rule, a format string with the fields ``{index}`` and ``{column}``, e.g.
        ``"grid_{column}_{index}"`` glues ``grid_prod_lo`` from row ``lo``, column ``prod``
    digits : significant digits of every cell (``glue``), or a dict per column (columns it
        does not name: 3); ``None``: as given (integers and strings)

    Returns
    -------
    None (the names glued are those of every cell, row by row)
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if "{index}" not in name and "{column}" not in name:
        raise ValueError(f"name must contain {{index}} or {{column}}, got {name!r}")
    if isinstance(digits, dict):
        unknown = set(digits) - set(df.columns)
        if unknown:
            raise ValueError(f"digits names columns the frame does not have: {sorted(map(str, unknown))}")
    names = [name.format(index=i, column=c) for i in df.index for c in df.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"name {name!r} gives two cells the same name: include {{index}} and {{column}}")
    for i in df.index:
        for c in df.columns:
            d = digits.get(c, 3) if isinstance(digits, dict) else digits
            glue(name.format(index=i, column=c), df.at[i, c], d)


def glue_range(df: pd.DataFrame, name: str = "{column}", digits: int | dict | None = 3) -> None:
    """Glue the smallest and the largest value of every column (nan skipped) for the prose, as
    ``<name>_lo`` and ``<name>_hi`` (``glue_frame`` of the column minima and maxima).

    Parameters
    ----------
    df : the numbers, one column per quantity whose range the prose quotes
    name : the rule for the names before ``_lo`` / ``_hi``, a format string with the field
        ``{column}``, e.g. ``"grid_{column}"`` glues ``grid_prod_lo`` and ``grid_prod_hi``
    digits : significant digits (``glue``), or a dict per column

    Returns
    -------
    None
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if "{column}" not in name:
        raise ValueError(f"name must contain {{column}}, got {name!r}")
    ranges = df.agg(["min", "max"]).set_axis(["lo", "hi"])
    glue_frame(ranges, name + "_{index}", digits)


def interval(bounds, digits: int = 3) -> str:
    """A range of numbers as the book prints it: ``"[lo, hi]"`` at ``digits`` significant
    digits, ``"empty"`` when it holds no point (``lo >= hi``, never a reversed interval) and
    ``"none"`` when there is no range (``None`` or a nan bound).  A formatter for ``frame``
    (``formats={"fit range": interval}``): the table keeps the bounds as numbers.

    Parameters
    ----------
    bounds : (lo, hi) or None
    digits : significant digits of the bounds (1 ... 15)

    Returns
    -------
    str
    """
    digits = check_int("digits", digits, 1, 15)
    if bounds is None:
        return "none"
    if len(bounds) != 2:
        raise ValueError(f"bounds must be (lo, hi) or None, got {bounds!r}")
    lo, hi = float(bounds[0]), float(bounds[1])
    if math.isnan(lo) or math.isnan(hi):
        return "none"
    if lo >= hi:
        return "empty"
    return f"[{sig(lo, digits):.{digits}g}, {sig(hi, digits):.{digits}g}]"


def columns(df: pd.DataFrame, names, formats: dict | None = None, digits: int = 3,
            max_width: int = 100) -> Table:
    """``frame`` of the columns ``names`` of ``df``, in that order, with the entries of
    ``formats`` that name one of them: one dict of formats can serve every table of a chapter
    (chapter "Beyond the paper").

    Parameters
    ----------
    df : the result (a DataFrame of numbers)
    names : the columns to show (each a column of ``df``)
    formats : per column, as for ``frame``; entries for other columns are ignored
    digits, max_width : as for ``frame``

    Returns
    -------
    Table
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    names = list(names)
    missing = [n for n in names if n not in df.columns]
    if not names or missing:
        raise ValueError(f"names must be a non-empty list of columns of df; not in df: {missing}")
    used = {k: v for k, v in (formats or {}).items() if k in names}
    return frame(df[names], digits, formats=used, max_width=max_width)


def glue_all(digits: int | None, **values) -> None:
    """``glue`` every keyword argument, name -> value, at the same ``digits`` significant
    digits (``None``: as given): the numbers of one paragraph of prose in one call."""
    if not values:
        raise ValueError("glue_all needs at least one name=value")
    for name, value in values.items():
        glue(name, value, digits)
