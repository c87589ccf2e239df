"""A chapter's preamble as one call: scale, figure directory, result store and Dask client.

Every chapter of the book starts with ``RUN = tl.book.setup()`` (or ``setup(sweeps=True)`` when it
runs sweeps) and reads its settings from the environment in one place:

* ``TWOLAYER_SCALE``: ``default`` or ``paper`` (the paper's full scale, ``RUN.paper``);
* ``TWOLAYER_FIGURES``: where ``plotting.save`` writes the figures (default ``../_build/figures``,
  outside the repository, so that executing a chapter changes no tracked file);
* ``TWOLAYER_STORE``: a directory that keeps sweep results between runs (default: none);
* ``TWOLAYER_SCHEDULER``: the address of a running Dask scheduler (default: a local cluster of
  this machine's cores, started only with ``sweeps=True``).

Inside a notebook, ``setup`` also has the kernel show figures at twice their pixel density
(matplotlib-inline's "retina" PNG, with its width and height at the figure's size), so that the
book's inline figures stay sharp on high-density screens; outside IPython it does nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["SCALES", "Setup", "setup"]

SCALES = ("default", "paper")


@dataclass(frozen=True)
class Setup:
    """What a chapter reads from its environment (``setup``)."""

    scale: str
    figures: str
    store: str | None
    scheduler: str | None
    client: object | None = None

    @property
    def paper(self) -> bool:
        """True at ``TWOLAYER_SCALE=paper``: the paper's seeds, sizes and horizons."""
        return self.scale == "paper"

    def pick(self, default, paper):
        """``paper`` at paper scale, else ``default``: one line per parameter of a chapter."""
        return paper if self.paper else default


def _sharp_inline_figures() -> None:
    """Inline figures of the running notebook as 2x PNGs (a display setting of the IPython
    kernel, like ``%config InlineBackend.figure_formats``); nothing outside a kernel."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # pragma: no cover - IPython ships with the book's dependencies
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def setup(*, sweeps: bool = False, environ=None) -> Setup:
    """The chapter's settings from the environment (see the module text).

    Parameters
    ----------
    sweeps : also connect the Dask client every sweep of the chapter shares (``Setup.client``)
    environ : a mapping read instead of ``os.environ`` (tests)

    Returns
    -------
    Setup
    """
    _sharp_inline_figures()
    env = os.environ if environ is None else environ
    scale = env.get("TWOLAYER_SCALE", "default") or "default"
    if scale not in SCALES:
        raise ValueError(f"TWOLAYER_SCALE must be one of {SCALES}, got {scale!r}")
    run = Setup(scale=scale, figures=env.get("TWOLAYER_FIGURES") or "../_build/figures",
                store=env.get("TWOLAYER_STORE") or None, scheduler=env.get("TWOLAYER_SCHEDULER") or None)
    if not sweeps:
        return run
    from .sweeps import connect  # Dask is slow to import: only for chapters that sweep

    return Setup(run.scale, run.figures, run.store, run.scheduler, connect(run.scheduler))
