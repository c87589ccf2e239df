"""The package's exceptions.

Bad input is always a ``ValueError`` (exit status 2 in the CLI); a run that blows up is a
``DivergenceError`` and an ODE integration that cannot continue an ``IntegrationError`` (both
exit status 3).
"""

from __future__ import annotations

__all__ = ["BudgetError", "DivergenceError", "IntegrationError", "one_line"]


class DivergenceError(RuntimeError):
    """A run diverged: SGD weights or ODE order parameters grew without bound.

    ``alpha`` is the grid point (or integration time) by which the growth was detected."""

    def __init__(self, message: str, alpha: float | None = None):
        super().__init__(message)
        self.alpha = alpha


class IntegrationError(RuntimeError):
    """The ODE integrator could not continue (step size underflow, too many steps)."""


class BudgetError(ValueError):
    """A request whose estimated memory or time exceeds the allowed budget (bad input)."""


def one_line(message) -> str:
    """A message on one line (whitespace runs, newlines included, become one space): how errors
    and warnings reach a terminal."""
    return " ".join(str(message).split())
