"""The problem definition: configuration, spectrum, the result type, validation and budgets.

The bottom layer of the package; it imports nothing else from ``twolayer``.
"""

from .checks import (
    check_alpha,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_seed,
    check_seeds,
)
from .config import ACTIVATIONS, READOUTS, TEACHERS, Config, UserActivation
from .errors import BudgetError, DivergenceError, IntegrationError
from .schedule import Schedule, parse_schedule
from .resources import Budget, check_budget
from .spectrum import (
    Groups,
    coordinate_eigenvalues,
    eigenvalues,
    groups,
    lambda_plus,
    make_groups,
)
from .trajectory import Trajectory, alpha_grid

__all__ = [
    "ACTIVATIONS", "READOUTS", "TEACHERS", "Budget", "BudgetError", "Config", "DivergenceError",
    "Groups", "IntegrationError", "Schedule", "Trajectory", "UserActivation", "alpha_grid", "check_alpha",
    "check_bool", "check_budget", "check_choice", "check_float", "check_int", "check_seed",
    "check_seeds", "coordinate_eigenvalues", "eigenvalues", "groups", "lambda_plus", "make_groups", "parse_schedule",
]
