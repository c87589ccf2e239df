"""Learning curves read off at chosen points, as a DataFrame of numbers (the book's tables).

Chapter "Quickstart" (``chapters/00_quickstart.md``): SGD and ODE at a few alpha.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..problem.trajectory import Trajectory

__all__ = ["curves_at"]


def curves_at(points, curves: dict, sem=()) -> pd.DataFrame:
    """The seed means of several learning curves at the grid points nearest to ``points``.

    Parameters
    ----------
    points : alpha values (> 0); each is replaced by the nearest grid point in ln alpha
        (``Trajectory.index``)
    curves : column name -> ``Trajectory``, all on the same alpha grid
    sem : names of ``curves`` whose standard error of the seed mean is also given, as the
        column ``"<name> sem"`` right after the mean

    Returns
    -------
    DataFrame with the column ``alpha`` (the grid points), then one column per curve (and sem
    column), one row per point.
    """
    if not curves or not all(isinstance(c, Trajectory) for c in curves.values()):
        raise ValueError("curves must be a non-empty dict of name -> Trajectory")
    first = next(iter(curves.values()))
    if any(c.alpha.shape != first.alpha.shape or not np.array_equal(c.alpha, first.alpha)
           for c in curves.values()):
        raise ValueError("curves must share one alpha grid")
    unknown = set(sem) - set(curves)
    if unknown:
        raise ValueError(f"sem names curves that are not given: {sorted(unknown)}")
    idx = [first.index(float(a)) for a in np.atleast_1d(points)]
    out = {"alpha": first.alpha[idx]}
    for name, curve in curves.items():
        out[name] = curve.mean()[idx]
        if name in sem:
            out[f"{name} sem"] = curve.sem()[idx]
    return pd.DataFrame(out)
