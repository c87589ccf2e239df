"""The book's one plotting style: every figure of every chapter goes through these helpers.

Nothing here changes matplotlib's global state: the style is a context (``with style(): ...``)
and figures are written to a directory the caller names (``save(fig, name, directory)``).

Conventions
-----------
* Simulations are solid lines (seed mean) with a shaded band of +- one standard error of the
  mean when there is more than one seed; theory (closed forms, ODEs) is dashed; predicted
  power laws are thin dotted guides drawn only over the window where they are claimed.
* No titles: a figure's caption lives in the notebook cell's metadata / the chapter text.
* Axis labels are lowercase apart from symbols; ``set_labels`` applies that and the helpers
  ``ALPHA`` / ``EPS_G`` hold the two labels almost every figure needs.
* Theory is drawn on top of simulations (higher z-order), so dashes stay visible.
* ``save(fig, name, directory)`` writes ``<directory>/<name>.png`` and ``.svg``, byte for byte
  reproducible (no dates, deterministic SVG ids).

Typical use::

    from twolayer import plotting as tp
    with tp.style():
        fig, ax = tp.new_figure()
        tp.plot_sim(ax, sim, label="sgd")
        tp.plot_theory(ax, ode, label="ode")
        tp.loglog(ax)
        tp.set_labels(ax, tp.ALPHA, tp.EPS_G)
        ax.legend()
        tp.save(fig, "quickstart", "../figures")
        plt.show()
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from .io import atomic_write

__all__ = [
    "ALPHA",
    "EPS_G",
    "PALETTE",
    "RC",
    "SIM_LINE",
    "color",
    "curve_axes",
    "key_entries",
    "loglog",
    "new_figure",
    "plot_paired",
    "plot_sim",
    "plain_log_ticks",
    "plot_theory",
    "publish",
    "save",
    "set_labels",
    "slope_guide",
    "style",
]

#: Okabe-Ito colour-blind-safe palette (black last: reserved for references / guides).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")

ALPHA = r"$\alpha$"
EPS_G = r"$\epsilon_g$"

#: rcParams of the house style.
RC = {
    "figure.figsize": (4.2, 3.0),
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    # an opaque white face: a transparent figure's black text and axes vanish on a dark page
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "font.size": 11,
    "axes.labelsize": 12,
    "axes.titlesize": 11,
    "legend.fontsize": 9.5,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "lines.linewidth": 1.6,
    "legend.frameon": False,
    "legend.handlelength": 2.4,
    "mathtext.fontset": "dejavusans",   # math at the size and weight of the labels beside it
    "svg.fonttype": "path",
    "svg.hashsalt": "twolayer",
    "image.cmap": "viridis",
}


def style(**overrides):
    """The house style as a context manager (``matplotlib.rc_context``): rcParams are changed
    inside the ``with`` block only.  Draw (``plt.show()``) inside it, since some settings are
    read when a figure is drawn."""
    return mpl.rc_context({**RC, **overrides})


def color(i: int) -> str:
    """The i-th colour of the palette (cycling)."""
    return PALETTE[i % len(PALETTE)]


def new_figure(ncols: int = 1, nrows: int = 1, width: float | None = None,
               height: float | None = None, **subplot_kw):
    """A styled figure with ``nrows x ncols`` panels; returns ``(fig, ax)`` (``ax`` an array
    when there is more than one panel).  Default panel size 4.2 x 3.0 inches."""
    w0, h0 = RC["figure.figsize"]
    width = w0 * ncols if width is None else width
    height = h0 * nrows if height is None else height
    subplot_kw.setdefault("squeeze", True)
    fig, ax = plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **subplot_kw)
    return fig, ax


def _lower_first(text: str) -> str:
    if not text or text.startswith("$"):
        return text
    return text[0].lower() + text[1:]


def set_labels(ax, xlabel: str | None = None, ylabel: str | None = None) -> None:
    """Set axis labels in the house style (first letter lowercase unless it is math)."""
    if xlabel is not None:
        ax.set_xlabel(_lower_first(xlabel))
    if ylabel is not None:
        ax.set_ylabel(_lower_first(ylabel))


def loglog(ax) -> None:
    """Both axes logarithmic, with unobtrusive minor ticks."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.tick_params(which="minor", length=2)


def plot_theory(ax, alpha, eps=None, label: str | None = None, color: str | None = None, **kw):
    """A theory curve: dashed, drawn above simulations.  ``alpha`` may also be a ``Trajectory``
    (its seed mean is used)."""
    if eps is None:
        alpha, eps = alpha.alpha, alpha.mean()
    kw.setdefault("linestyle", "--")
    kw.setdefault("linewidth", 1.6)
    kw.setdefault("zorder", 3)
    (line,) = ax.plot(np.asarray(alpha), np.asarray(eps), label=label, color=color, **kw)
    return line


#: How a simulation's mean is drawn: solid, wider and lighter than a theory curve, so that the
#: dashed theory drawn on top of it stays visible where the two agree.
SIM_LINE = {"linestyle": "-", "linewidth": 2.8, "alpha": 0.5, "zorder": 2}


def plot_sim(ax, curve, label: str | None = None, color: str | None = None, band: bool = True, **kw):
    """A simulation ``Trajectory``: its seed mean drawn as ``SIM_LINE`` (solid, wide, light),
    with a shaded +- sem band when n_seeds > 1.

    On a log y-axis the lower band edge is clipped to stay positive.
    """
    mean, sem = curve.mean(), curve.sem()
    for key, value in SIM_LINE.items():
        kw.setdefault(key, value)
    (line,) = ax.plot(curve.alpha, mean, label=label, color=color, **kw)
    if band and curve.n_seeds > 1:
        lo = mean - sem
        floor = np.where(mean > 0, mean * 1e-3, 0.0)
        lo = np.maximum(lo, floor)
        ax.fill_between(curve.alpha, lo, mean + sem, color=line.get_color(), alpha=0.25,
                        linewidth=0)
    return line


def key_entries(ax, sim: str | None = "sgd", theory: str | None = "ode", color: str = "0.3") -> None:
    """Legend entries for the two line styles, in a neutral colour: ``sim`` drawn as
    ``SIM_LINE`` and ``theory`` dashed (for figures whose colours stand for parameters)."""
    if sim is not None:
        ax.plot([], [], color=color, label=sim, **SIM_LINE)
    if theory is not None:
        ax.plot([], [], color=color, linestyle="--", label=theory)


def plain_log_ticks(axis, ticks) -> None:
    """Label a logarithmic ``axis`` (``ax.xaxis`` or ``ax.yaxis``) that spans less than a decade
    at ``ticks`` with plain numbers; its minor powers of ten would collide."""
    axis.set_ticks(list(ticks))
    axis.set_major_formatter(mpl.ticker.ScalarFormatter())
    axis.set_minor_formatter(mpl.ticker.NullFormatter())


def slope_guide(ax, x0: float, x1: float, y0: float, slope: float, label: str | None = None,
                color: str = "0.25", text_offset: float = 0.7, **kw):
    """Draw the power law ``y = y0 (x / x0)**slope`` over its window ``[x0, x1]`` (dotted).

    ``label`` (e.g. ``r"$\\alpha^{-1/2}$"``) is written at the middle of the segment, shifted by
    the factor ``text_offset`` in y (suited to log axes): below the guide for ``text_offset < 1``
    (the default, for a guide drawn under the data), above it for ``text_offset > 1``.
    """
    if not 0 < x0 < x1:
        raise ValueError(f"need 0 < x0 < x1, got x0={x0}, x1={x1}")
    x = np.geomspace(x0, x1, 32)
    y = y0 * (x / x0) ** slope
    kw.setdefault("linestyle", ":")
    kw.setdefault("linewidth", 1.3)
    (line,) = ax.plot(x, y, color=color, **kw)
    if label:
        xm = np.sqrt(x0 * x1)
        ym = y0 * (xm / x0) ** slope
        below = text_offset < 1
        # put the text on the side where the segment moves away from it
        ha = "right" if (slope < 0) == below else "left"
        ax.annotate(label, (xm, ym * text_offset), color=color, ha=ha,
                    va="top" if below else "bottom",
                    fontsize=mpl.rcParams["legend.fontsize"])
    return line


_SVG_ID = re.compile(r'(?<=id=")([a-zA-Z_]*?)([0-9a-f]{10})(?=")')


def _stable_svg_ids(text: str) -> str:
    """Rename matplotlib's hashed SVG ids (``p1a2b3c4d5e``, ``m...``) to sequential ones in
    order of first definition, so that the file does not depend on the hash salt or on
    floating-point details of the layout; references (``url(#..)``, ``href="#.."``) follow."""
    mapping: dict[str, str] = {}
    for m in _SVG_ID.finditer(text):
        old = m.group(0)
        if old not in mapping:
            mapping[old] = f"{m.group(1) or 'id'}{len(mapping):04d}"
    if not mapping:
        return text
    pattern = re.compile(r'(?<=["#])(' + "|".join(map(re.escape, mapping)) + r')(?=["\)])')
    return pattern.sub(lambda m: mapping[m.group(1)], text)


def save(fig, name: str, directory) -> tuple[Path, Path]:
    """Write ``<directory>/<name>.png`` and ``.svg`` (the directory is created); returns both
    paths.  Both files are byte-for-byte reproducible: no dates or software versions in the
    metadata, and the SVG ids renumbered deterministically (``_stable_svg_ids``); both are
    written atomically."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"name must be a plain file stem (letters, digits, _ . -), got {name!r}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    with style():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        atomic_write(png, buf.getvalue())
        sbuf = io.StringIO()
        fig.savefig(sbuf, format="svg", metadata={"Date": None, "Creator": None})
    atomic_write(svg, _stable_svg_ids(sbuf.getvalue()))
    return png, svg


def curve_axes(ax, *, xlabel: str | None = None, ylabel: str | None = None,
               legend: bool | str | None = True, **legend_kw) -> None:
    """The axes of learning curves, as (almost) every figure of the book has them: log-log
    (``loglog``), labelled (``set_labels``; default alpha and eps_g), with a legend.

    Parameters
    ----------
    ax : a matplotlib Axes
    xlabel, ylabel : the axis labels (default ``ALPHA`` and ``EPS_G``)
    legend : True for a legend where matplotlib finds room, a location string (``"lower left"``)
        to place it, False or None for none
    legend_kw : further options of ``ax.legend`` (e.g. ``ncols=2``)
    """
    if legend is not None and not isinstance(legend, (bool, str)):
        raise ValueError(f"legend must be True, False, None or a location string, got {legend!r}")
    loglog(ax)
    set_labels(ax, ALPHA if xlabel is None else xlabel, EPS_G if ylabel is None else ylabel)
    if legend is True:
        ax.legend(**legend_kw)
    elif legend:
        ax.legend(loc=legend, **legend_kw)


def publish(fig, name: str, directory) -> tuple[Path, Path]:
    """Write the figure (``save``: ``<directory>/<name>.png`` and ``.svg``) and show it in the
    notebook (``plt.show()``); the last line of a chapter's figure cell.  Returns the two paths."""
    paths = save(fig, name, directory)
    plt.show()
    return paths


def plot_paired(ax, pair, color: str | None = None, label: str | None = None):
    """A paired run (``experiments.Paired``): the SGD seed mean (``plot_sim``, solid, labelled)
    and the block ODE from the same weights (``plot_theory``, dashed) in one colour; the book's
    figures of SGD against its ODE (chapter "Beyond the paper").  Returns (sgd line, ode line)."""
    if not hasattr(pair, "sgd") or not hasattr(pair, "ode"):
        raise ValueError(f"pair must be a Paired (with .sgd and .ode), got {type(pair).__name__}")
    return plot_sim(ax, pair.sgd, color=color, label=label), plot_theory(ax, pair.ode, color=color)
