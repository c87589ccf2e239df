"""Progress reporting shared by the long-running drivers (SGD, ODE, sweeps).

``progress`` arguments accept ``None``/``False`` (silent), ``True`` (a tqdm bar on stderr) or
any object with ``update(n)`` and ``close()`` (for example a bar the caller owns).  Units are
alpha summed over the runs, so a single long run advances too.
"""

from __future__ import annotations

import sys

__all__ = ["Progress", "make_progress"]


class Progress:
    """A silent progress sink (``update``/``close`` do nothing)."""

    def update(self, n: float = 1) -> None:  # noqa: D401 - tqdm API
        pass

    def close(self) -> None:
        pass


class _Owned:
    """A tqdm bar created here (closed by ``close``); updates are rounded to the bar's units."""

    def __init__(self, total: float, desc: str, unit: str):
        from tqdm import tqdm

        self.bar = tqdm(total=round(total, 3), desc=desc, unit=unit, file=sys.stderr, leave=False,
                        dynamic_ncols=True, mininterval=0.2)

    def update(self, n: float = 1) -> None:
        self.bar.update(round(n, 3))

    def close(self) -> None:
        self.bar.close()


class _Borrowed(Progress):
    """A bar the caller owns: updated here, closed by the caller."""

    def __init__(self, bar):
        self.bar = bar

    def update(self, n: float = 1) -> None:
        self.bar.update(n)


def make_progress(progress, total: float, desc: str, unit: str = "alpha"):
    """A progress sink for ``progress`` (see the module docstring)."""
    if progress is None or progress is False:
        return Progress()
    if progress is True:
        return _Owned(total, desc, unit)
    if hasattr(progress, "update") and hasattr(progress, "close"):
        return _Borrowed(progress)
    raise ValueError(f"progress must be None, True, False or an object with update() and close(), got {progress!r}")
