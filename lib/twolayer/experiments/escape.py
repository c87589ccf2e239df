"""Escape statistics of paired runs: per seed, the escape of the ODE from that seed's initial
weights, of SGD from the same weights, and the plateau-length prediction.

Chapter "The symmetric plateau" (``chapters/03_plateau.md``), sections "The ODE at
sigma_J = 1e-6" and "The escape-time law over M and L": one row per seed, numbers only (a
``pandas.DataFrame``), so that the chapter aggregates, prints and plots by column name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.curves import log_deviation
from ..analysis.events import escape_time, measure_plateau, paired_escape_times, unstable_amplitude
from ..problem.checks import check_float, check_seeds
from ..problem.config import Config
from ..problem.trajectory import Trajectory
from ..theory import plateau as _plateau
from ..state.weights import initial_state

__all__ = ["escape_by_seed"]


def escape_by_seed(config: Config, ode: Trajectory, sgd: Trajectory | None = None, *, seeds,
                   sgd_seeds=None, before: float = 0.8) -> pd.DataFrame:
    """Escape times per seed of the ODE (from that seed's weights) and of SGD (same weights, read
    at the level of the ODE's plateau: ``paired_escape_times``), with the prediction
    ln(R_p/a_u)/sigma of Eq. {eq}`eq-plateau-length` for that seed's teacher.

    Parameters
    ----------
    config : the setting of both runs
    ode : the ODE runs (with R), one row per seed of ``seeds``
    sgd : the SGD runs on the same alpha grid, one row per seed of ``sgd_seeds`` (or None)
    seeds, sgd_seeds : the seeds of the rows of ``ode`` and ``sgd`` (``sgd_seeds`` a subset of
        ``seeds``; default: ``seeds``)
    before : the SGD-ODE deviation counts up to this fraction (0, 1] of the earlier escape time
        (the whole run when neither escapes)

    Returns
    -------
    DataFrame, one row per seed: ``seed``, ``sigma`` (the escape rate of the seed's
    sampled teacher, Eq. {eq}`eq-plateau-secular`), ``esc_ode``, ``esc_sgd`` (nan without SGD
    or escape), ``lin`` (ln(R_p/a_u)/sigma, nan when a_u is not positive), ``dev_before`` (max
    |ln eps_sgd - ln eps_ode| before the escape, nan without SGD) and ``at_start`` (the ODE
    curve has no plateau: ``CurvePlateau.at_start``).
    """
    seeds = check_seeds(seeds)
    sgd_seeds = seeds if sgd_seeds is None else check_seeds(sgd_seeds, "sgd_seeds")
    before = check_float("before", before, lo=0.0, hi=1.0, lo_open=True)
    if not set(sgd_seeds) <= set(seeds):
        raise ValueError(f"sgd_seeds must be a subset of seeds {seeds}, got {sgd_seeds}")
    if len(ode.eps_g) != len(seeds) or (sgd is not None and len(sgd.eps_g) != len(sgd_seeds)):
        raise ValueError("ode (and sgd) must have one row per seed of seeds (and sgd_seeds)")
    rows = []
    for i, s in enumerate(seeds):
        p = _plateau.plateau(config, t=initial_state(config, "sampled", s).t)
        e_o = ode.eps_g[i]
        a_u, _ = unstable_amplitude(ode.alpha, ode.R[i], e_o, p.eps_p, p.escape_rate)
        R_p = float(np.abs(p.overlaps()[1]).mean())
        lin = _plateau.predicted_escape(a_u, R_p, p.escape_rate) if a_u > 0 else None
        row = dict(seed=s, sigma=p.escape_rate, esc_ode=escape_time(ode.alpha, e_o), esc_sgd=np.nan,
                   lin=np.nan if lin is None else float(lin), dev_before=np.nan,
                   at_start=measure_plateau(ode.alpha, e_o).at_start)
        if sgd is not None and s in sgd_seeds:
            e_s = sgd.eps_g[sgd_seeds.index(s)]
            (a_s,), (a_o,) = paired_escape_times(sgd.alpha, e_s, e_o)
            end = before * np.nanmin([a_o, a_s]) if np.isfinite([a_o, a_s]).any() else sgd.alpha[-1]
            row.update(esc_sgd=a_s, dev_before=float(log_deviation(e_s, e_o, sgd.alpha, (0.0, end))))
        rows.append(row)
    return pd.DataFrame(rows)
