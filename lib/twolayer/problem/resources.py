"""Up-front estimates of memory and time, and the budget a request must fit in.

Every entry point that allocates or runs in proportion to its arguments (simulations, ODEs,
plateau linearisations, sweeps) estimates its peak memory and, where it can, its running time
before it starts, and refuses a request beyond the ``Budget`` with a one-line ``BudgetError``
(a ``ValueError``: bad input, exit status 2) that states the estimate.  The defaults are 80% of
the machine's physical memory and 48 hours; both can be raised explicitly (library: the
``budget=`` keyword, CLI: ``--max-memory`` and ``--max-hours``).

The time model is deliberately rough (a few nanoseconds per multiply-add, calibrated on the
2-core reference machine); it separates "minutes" from "months", not 10 s from 20 s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .checks import check_float
from .errors import BudgetError

__all__ = ["Budget", "check_budget", "physical_memory", "sgd_estimate", "sgd_draw_seconds", "sgd_step_seconds",
           "ode_estimate"]

GiB = 1024.0**3


def physical_memory() -> float:
    """Physical memory of the machine in bytes (16 GiB if it cannot be determined)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16 * GiB


@dataclass(frozen=True)
class Budget:
    """Largest memory (GiB) and running time (hours) a single request may need.

    ``None`` for memory means 80% of the physical memory of this machine."""

    memory_gib: float | None = None
    hours: float = 48.0

    def __post_init__(self):
        if self.memory_gib is not None:
            object.__setattr__(self, "memory_gib", check_float("max_memory (GiB)", self.memory_gib, lo=0.0, lo_open=True))
        object.__setattr__(self, "hours", check_float("max_hours", self.hours, lo=0.0, lo_open=True))

    @property
    def memory_bytes(self) -> float:
        return 0.8 * physical_memory() if self.memory_gib is None else self.memory_gib * GiB


def check_budget(what: str, memory_bytes: float, seconds: float | None = None,
                 budget: Budget | None = None) -> None:
    """Raise ``BudgetError`` if the estimate exceeds the budget (``None``: the default one)."""
    budget = Budget() if budget is None else budget
    if not memory_bytes <= budget.memory_bytes:
        raise BudgetError(
            f"{what} needs about {memory_bytes / GiB:.3g} GiB of memory, more than the allowed "
            f"{budget.memory_bytes / GiB:.3g} GiB (raise it with max_memory / --max-memory if the "
            f"machine has it)"
        )
    if seconds is not None and not seconds <= budget.hours * 3600.0:
        raise BudgetError(
            f"{what} would take about {seconds / 3600.0:.3g} hours on this kind of machine, more than "
            f"the allowed {budget.hours:g} hours (raise it with max_hours / --max-hours, or ask for less)"
        )


def sgd_estimate(N: int, K: int, M: int, steps_total: float, points: int, seeds: int,
                 workers: int = 1, record_weights: bool = False) -> tuple[float, float]:
    """(bytes, seconds) of online SGD: ``steps_total`` steps over all seeds, ``points`` grid
    points recorded per seed, ``workers`` runs in parallel."""
    per_point = (K * K + K * M + M * M + 2 * K + 1) * 8.0
    mem = (workers * (3 * (K + M) * N + 4 * N) * 8.0 + seeds * points * per_point
           + (seeds * points * K * N * 8.0 if record_weights else 0.0) + 64e6)
    step_seconds = sgd_draw_seconds(N) + sgd_step_seconds(N, K, M)
    return mem, steps_total * step_seconds / max(1, workers)


def sgd_draw_seconds(N: int) -> float:
    """Seconds to draw the N normals of one SGD input (about 1.9 ns each on the reference
    machines, ``benchmarks/README.md``): shared by the runs that replay one seed's inputs
    (``engines.sgd.simulate_shared``)."""
    return 1.9e-9 * N


def sgd_step_seconds(N: int, K: int, M: int) -> float:
    """Seconds of one SGD step besides its draws (the products and the update): measured
    0.45-1.0 ns per input coordinate for K = M = 1 to 4 and 1.9 ns at K = M = 8, N = 512-4096;
    an over-estimate for the blocked wide layers (K = M = 40: 5.7 µs against 2.9 µs at N = 512)."""
    return 1e-9 * N * (0.3 + 0.07 * (2 * K + M)) + 5e-8


#: Integration steps of a typical block-ODE curve (the step grows with alpha: about log(alpha)).
ODE_STEPS = 200


def ode_estimate(G: int, K: int, M: int, points: int, seeds: int, keep_blocks: bool = False,
                 eta2: bool = True) -> tuple[float, float]:
    """(bytes, seconds) of the block ODE with G groups: ``seeds`` curves of ``ODE_STEPS`` steps."""
    per_group = (K * K + K * M) * 8.0
    mem = (40 * G * per_group + 2 * G * M * M * 8.0 + seeds * points * (K * K + K * M + M * M + K + 1) * 8.0
           + (seeds * points * G * per_group if keep_blocks else 0.0) + 64e6)
    coef = 5 * (K * K * (K + M) ** 2 if eta2 else K * (K + M)) * 30e-9
    step = 6 * G * (4 * K * K * (K + M) + 2 * K**3) * 2e-9 + coef + 50e-6
    return mem, step * ODE_STEPS * seeds
