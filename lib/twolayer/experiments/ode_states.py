"""States of the block ODE read off a run: the fixed point it settles at, and the shape of the
student asymmetry on its plateau.

Chapter "Beyond the paper": section "More or fewer student units than teacher units" (the
stable fixed point of an under-parameterised student, found by Newton's method from the end of
each seed's ODE run, ``fixed_points``) and section "Why L shortens the plateau and M lengthens
it" (the escape mode lives in the large-eigenvalue groups, ``escape_mode_shape``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.events import asymmetry, escape_time
from ..problem.checks import check_float, check_seeds
from ..problem.config import Config
from ..problem.spectrum import groups
from ..theory.ode import solve_ode
from ..theory.plateau import stationary_point

__all__ = ["escape_mode_shape", "fixed_points"]


def fixed_points(config: Config, alpha, *, seeds=(0,), rtol: float = 1e-6) -> pd.DataFrame:
    """The fixed point of the block ODE that each seed's run ends near (section 1 of chapter
    "Beyond the paper"): the ODE from the seed's initial weights on ``alpha``, then
    ``theory.plateau.stationary_point`` (Newton) from its last block state.

    Parameters
    ----------
    config : a setting with a fixed second layer
    alpha : the grid of the ODE run (long enough to settle)
    seeds : the seeds (initial weights)
    rtol : the ODE tolerance

    Returns
    -------
    DataFrame with one row per seed: ``seed``, ``eps_g`` (at the fixed point), ``growth_rate``
    (largest real part of the Jacobian there: < 0 is stable)
    """
    if not isinstance(config, Config):
        raise ValueError(f"config must be a Config, got {type(config).__name__}")
    seeds = check_seeds(seeds)
    blk = solve_ode(config, alpha, seeds=seeds, rtol=rtol, keep_blocks=True)
    q, r, t = blk.info["q"], blk.info["r"], blk.info["t"]
    stat = [stationary_point(config, q[i, -1], r[i, -1], t[i]) for i in range(len(seeds))]
    return pd.DataFrame({"seed": list(seeds), "eps_g": [x.eps_g for x in stat],
                         "growth_rate": [x.growth_rate for x in stat]})


def escape_mode_shape(config: Config, alpha, *, seed: int = 0, at: float = 0.6,
                      rtol: float = 1e-6) -> pd.DataFrame:
    """The student asymmetry per eigenvalue group on the plateau (Eq. {eq}`eq-plateau-length`;
    section 8 of chapter "Beyond the paper"): the ODE of one seed, read at ``at`` times its
    escape time (``analysis.escape_time``), rms over (i, n) of r^g_in / f_g - mean_i.

    Parameters
    ----------
    config : the setting
    alpha : the grid of the ODE run (past the escape)
    seed : the seed of the initial weights
    at : the fraction of the escape time at which the state is read (0 < at < 1)
    rtol : the ODE tolerance

    Returns
    -------
    DataFrame with one row per group: ``lam`` (its eigenvalue), ``frac`` (its share f_g),
    ``asym`` (the asymmetry of r^g / f_g)
    """
    if not isinstance(config, Config):
        raise ValueError(f"config must be a Config, got {type(config).__name__}")
    at = check_float("at", at, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    tr = solve_ode(config, alpha, seeds=seed, rtol=rtol, keep_blocks=True)
    esc = escape_time(tr.alpha, tr.eps_g[0])
    if not np.isfinite(esc):
        raise ValueError("the run does not escape from its plateau on alpha: extend the grid")
    grp = groups(config)
    asym = asymmetry(tr.info["r"][0, tr.index(at * esc)] / grp.frac[:, None, None])
    return pd.DataFrame({"lam": grp.lam, "frac": grp.frac, "asym": asym})
