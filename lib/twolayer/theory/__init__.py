"""Theory: the block ODE and its integrator, the hierarchy form, and the closed forms of the
linear network, the plateau and the asymptotic phase.  Pure functions (no simulations).
Imports ``twolayer.problem``, ``gaussian`` and ``data``."""

from . import asymptotic, frontier, hierarchy, linear, ode, plateau, recipes, spectral
from .blocks import rhs
from .ode import solve_ode

__all__ = ["asymptotic", "frontier", "hierarchy", "linear", "ode", "plateau", "recipes", "rhs", "solve_ode", "spectral"]
