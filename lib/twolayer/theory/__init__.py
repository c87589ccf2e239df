"""Theory: the block ODE and its integrator, the hierarchy form, and the closed forms of the
linear network, the plateau and the asymptotic phase.  Pure functions (no simulations).
Imports ``twolayer.problem``, ``gaussian`` and ``data``."""

from .ode import initial_overlaps, rhs, solve_ode

__all__ = ["initial_overlaps", "rhs", "solve_ode"]
