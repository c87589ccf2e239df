"""The divergence rule: one definition, one message, for every method.

A run has diverged when eps_g at a grid point is not finite or exceeds ``EPS_GROWTH`` times
``max(1, eps_g(0))``.  Online SGD (compiled and torch), the block ODE, the order-parameter
hierarchy and the linear closed forms all apply ``check_curve`` to the curve they return, and
sweeps pass the resulting ``DivergenceError`` on (CLI exit status 3).  Engines may stop earlier,
when their own state explodes inside a step (SGD weights, ODE overlaps): such a state can only
belong to a diverging run, and they report it with the same ``diverged`` message.
"""

from __future__ import annotations

import numpy as np

from .errors import DivergenceError

__all__ = ["EPS_GROWTH", "check_curve", "diverged", "eps_limit"]

#: eps_g may grow at most this factor above max(1, eps_g at alpha = 0).
EPS_GROWTH = 1e4


def eps_limit(eps0: float) -> float:
    """The largest eps_g a run that starts at ``eps0`` may reach before it counts as diverged."""
    return EPS_GROWTH * max(1.0, float(eps0))


def diverged(method: str, eta: float, alpha: float, why: str) -> DivergenceError:
    """The error every method raises for a diverged run (one message format)."""
    return DivergenceError(f"{method} diverged by alpha = {alpha:.4g} ({why}); eta = {eta:g} is too large "
                           f"for this setting", alpha=float(alpha))


def check_curve(method: str, eta: float, alpha, eps, eps0) -> None:
    """Raise ``diverged`` at the first grid point where the rule is broken.

    Parameters
    ----------
    method : the method's name as printed ("SGD", "ODE", ...)
    eta : the learning rate (for the message)
    alpha : the grid, shape (P,)
    eps : eps_g per seed and grid point, shape (P,) or (S, P)
    eps0 : eps_g at alpha = 0, a number or one per seed (S,)
    """
    eps = np.atleast_2d(np.asarray(eps, dtype=np.float64))
    lim = EPS_GROWTH * np.maximum(1.0, np.broadcast_to(np.asarray(eps0, dtype=np.float64), eps.shape[:1]))
    bad = ~(eps <= lim[:, None])  # NaN counts as bad
    if not bad.any():
        return
    p = int(np.argmax(bad.any(axis=0)))
    e = eps[:, p][bad[:, p]][0]
    why = "eps_g is not finite" if not np.isfinite(e) else f"eps_g = {e:.3g} grew more than {EPS_GROWTH:g}-fold"
    raise diverged(method, eta, float(np.asarray(alpha)[p]), why)
