"""twolayer: online SGD in two-layer networks with power-law data spectra, and its theory.

Reference library of the book reproducing Worschech & Rosenow, "Analyzing Neural Scaling Laws in
Two-Layer Networks with Power-Law Data Spectra" (ICLR 2025).  The public API:

* ``Config`` -- one teacher-student setting (frozen, validated); ``resolve(config)`` its
  ``Setting`` (groups, rates, activation, readouts: what engines and theory use);
* ``simulate(config, alpha, *, seeds, ...)`` -- online SGD, a ``Trajectory``;
* ``solve_ode(config, alpha, *, seeds=None, init="sampled", ...)`` -- the block ODEs, a ``Trajectory``;
* ``solve_hierarchy``, ``exact_curve``, ``small_eta_curve``, ``finite_n_curve`` -- the hierarchy
  form and the closed forms of the linear network, ``Trajectory`` too;
* ``initial_state``, ``init_weights``, ``overlaps``, ``BlockState`` -- seeds, weights and the
  order parameters per eigenvalue block;
* ``eps_g``, ``stein_coefficients``, ``delta_delta`` -- the Gaussian averages;
* ``sweep(grid, *, seeds, method, store, scheduler=None)`` -- parameter grids (``make_grid``) on Dask;
* ``alpha_grid`` -- the log grid of whole SGD steps they share;
* ``tl.book``, ``tl.plotting``, ``tl.report`` -- a chapter's preamble, figures and tables.

The package is layered (enforced by the import-linter contract in ``pyproject.toml``, whose
order this line states; a test holds them equal):
problem -> gaussian -> state -> data -> engines | theory -> analysis -> experiments -> io ->
sweeps | plotting | report -> cli | book
"""

from . import analysis, data, engines, experiments, gaussian, problem, state, theory
from ._version import __version__
from .engines.sgd import simulate
from .gaussian.averages import delta_delta, eps_g, readout_drift, stein_coefficients
from .problem.config import Config, UserActivation
from .problem.errors import BudgetError, DivergenceError, IntegrationError
from .problem.resources import Budget
from .problem.trajectory import Trajectory, alpha_grid
from .state import BlockState, Setting, init_weights, initial_state, overlaps, resolve
from .theory.hierarchy import solve_hierarchy
from .theory.linear import exact_curve, finite_n_curve, small_eta_curve
from .theory.ode import solve_ode

__all__ = [
    "analysis", "data", "engines", "experiments", "gaussian", "problem", "state", "theory",
    "Budget", "BudgetError", "Config", "DivergenceError", "IntegrationError", "Trajectory", "UserActivation",
    "BlockState", "Setting", "__version__", "alpha_grid", "delta_delta", "eps_g", "exact_curve", "finite_n_curve", "init_weights", "initial_state", "overlaps", "readout_drift",
    "resolve", "simulate", "small_eta_curve", "solve_hierarchy", "solve_ode", "stein_coefficients",
]


#: Loaded on first use (Dask and matplotlib are slow to import): ``tl.sweep``, ``tl.make_grid`` and
#: the modules a chapter needs besides the core, ``tl.book``, ``tl.plotting``, ``tl.report``, ``tl.sweeps``.
_LAZY_MODULES = ("book", "plotting", "report", "sweeps")


def __getattr__(name):
    import importlib

    if name in ("sweep", "make_grid"):
        return getattr(importlib.import_module(".sweeps", __name__), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'twolayer' has no attribute {name!r}")
