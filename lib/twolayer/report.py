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

import math

import numpy as np
import pandas as pd

try:  # myst-nb is a dependency of the book, not of the library
    from myst_nb import glue as _myst_glue
except ImportError:  # pragma: no cover - outside the book
    _myst_glue = None

from .problem.checks import check_int

__all__ = ["Table", "bound", "columns", "frame", "glue", "glue_all", "sig", "signed", "table"]


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
    return f"< {threshold:.0e}" if abs(float(x)) < threshold else f"{sig(x, 2):.2g}"


def signed(x: float, decimals: int = 2) -> str:
    """``x`` with its sign at ``decimals`` decimals; a value that rounds to zero is shown as
    zero without a sign (no "-0.00": its sign is below the shown precision)."""
    decimals = check_int("decimals", decimals, 0, 15)
    text = f"{float(x):+.{decimals}f}"
    return text[1:] if float(text) == 0.0 else text


class Table:
    """A table of formatted strings: HTML in the rendered book, the same rows as plain text
    (what nbval compares) in the notebook; ``frame`` is the pandas DataFrame."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def _repr_html_(self) -> str:
        return self.frame.to_html(index=False, border=0, classes="twolayer-table")

    def __repr__(self) -> str:
        return self.frame.to_string(index=False)


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
    a whole number with all its digits significant is shown as one (380, not 380.0).  Returns None, so that a
    glue as a cell's last line shows nothing in the notebook."""
    if isinstance(value, (float, np.floating)) and digits is not None:
        value = sig(value, digits)
        if value.is_integer() and abs(value) >= 10 ** (digits - 1):
            value = int(value)  # 380, not 380.0: every shown digit is significant
    elif isinstance(value, (np.integer,)):
        value = int(value)
    if _myst_glue is None:
        raise ValueError("glue needs myst-nb (the book's dependencies: pip install -e '.[book]')")
    _myst_glue(name, value, display=False)


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
