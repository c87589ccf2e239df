"""Validation of arguments: the one place where parameter checks and their messages live.

Every public function of the package validates its arguments with these helpers, so that bad
input always ends in a one-line ``ValueError`` that names the parameter and the allowed range
(the CLI turns it into exit status 2).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

__all__ = [
    "MAX_SEEDS",
    "check_alpha",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_seed",
    "check_seeds",
]

#: Largest alpha grid a run may ask for (points); larger grids are refused as bad input.
MAX_POINTS = 1_000_000
#: Most seeds one call may ask for; more are refused as bad input (before any tuple is built).
MAX_SEEDS = 10_000_000


def _is_int_like(value) -> bool:
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray) and value.ndim > 0):
        return False
    return isinstance(value, numbers.Integral) or (
        hasattr(value, "__index__") and not isinstance(value, (float, np.floating, str))
    )


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """An integer (not a bool, float or string) in [lo, hi]; returns it as ``int``."""
    if not _is_int_like(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value.__index__())
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if hi is None:
            rng = f">= {lo}"
        elif lo is None:
            rng = f"<= {hi}"
        else:
            rng = f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be an integer {rng}, got {value}")
    return value


def check_float(name: str, value, *, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number (not a bool or string) in the interval given by lo/hi; returns float."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    ok = math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        parts = []
        if lo is not None:
            parts.append(f"{'>' if lo_open else '>='} {lo:g}")
        if hi is not None:
            parts.append(f"{'<' if hi_open else '<='} {hi:g}")
        rng = " and ".join(parts) if parts else "finite"
        raise ValueError(f"{name} must be finite and {rng}, got {value}")
    return value


def check_bool(name: str, value) -> bool:
    """A real boolean: ``True``/``False`` (or numpy's), never a string such as ``"false"``."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_seed(seed, name: str = "seed") -> int:
    """A seed: an integer >= 0 below 2**63 (not a bool or a float such as 0.7)."""
    return check_int(name, seed, 0, 2**63 - 1)


def check_seeds(seeds, name: str = "seeds") -> tuple[int, ...]:
    """One seed or a non-empty sequence of distinct seeds; returns a tuple of ints."""
    if _is_int_like(seeds):
        return (check_seed(seeds, name),)
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise ValueError(f"{name} must be an integer >= 0 or a sequence of them, got {seeds!r}")
    if isinstance(seeds, range) and seeds:     # checked by its ends: range(10**7) is refused by the
        lo, hi = sorted((seeds[0], seeds[-1]))     # budget at once, not after 10**7 checks; no len(),
        check_seed(lo, name)                       # which overflows beyond sys.maxsize elements
        check_seed(hi, name)
        if (hi - lo) // abs(seeds.step) + 1 > MAX_SEEDS:
            raise ValueError(f"{name} must hold at most {MAX_SEEDS} seeds, got {(hi - lo) // abs(seeds.step) + 1}")
        return tuple(seeds)                        # distinct (step != 0)
    if isinstance(seeds, np.ndarray) and seeds.ndim == 1 and seeds.size and np.issubdtype(seeds.dtype, np.integer):
        out = tuple(seeds.tolist())                # Python ints
        if min(out) < 0 or max(out) > 2**63 - 1:   # name the first bad one
            for i, s in enumerate(out):
                check_seed(s, f"{name}[{i}]")
    else:
        out = tuple(check_seed(s, f"{name}[{i}]") for i, s in enumerate(seeds))
    if not out:
        raise ValueError(f"{name} must hold at least one seed")
    if len(out) > MAX_SEEDS:
        raise ValueError(f"{name} must hold at most {MAX_SEEDS} seeds, got {len(out)}")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must be distinct, got {out}")
    return out


def check_alpha(alpha, name: str = "alpha", *, allow_zero: bool = False) -> np.ndarray:
    """A 1-d, strictly increasing grid of finite alpha > 0 (>= 0 with ``allow_zero``)."""
    try:
        a = np.asarray(alpha, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-d array of numbers, got {type(alpha).__name__}") from None
    if a.ndim == 0:
        a = a[None]
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d grid, got shape {a.shape}")
    if a.size > MAX_POINTS:
        raise ValueError(f"{name} must have at most {MAX_POINTS} points, got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if (a[0] < 0) if allow_zero else (a[0] <= 0):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {a[0]}")
    if np.any(np.diff(a) <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    return a


def check_steps(alpha, N: int) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, steps): a grid of ``check_alpha`` that is whole numbers of SGD steps divided by N
    (``alpha_grid`` makes such grids), each at least one step and at most 2^53 steps; ``steps``
    the int64 step counts alpha N."""
    a = check_alpha(alpha)
    steps_f = a * N
    steps = np.round(steps_f)
    if np.any(np.abs(steps_f - steps) > 1e-6 * np.maximum(1.0, steps_f)) or steps[0] < 1:
        raise ValueError("alpha must be whole numbers of steps divided by N (use alpha_grid), each >= 1/N")
    if steps[-1] > 2**53:
        raise ValueError(f"alpha must be <= 2^53 / N = {2**53 / N:.3g}, got {a[-1]:g}")
    return a, steps.astype(np.int64)


def check_constant_rate(config, what: str) -> None:
    """Refuse a training recipe where a theory assumes the paper's training: ``what`` (e.g. "the
    plateau fixed point") holds for a constant learning rate and one sample per step only, and a
    ``config`` with a schedule or a mini-batch gets a one-line ValueError instead of a silent
    answer for another setting."""
    if getattr(config, "schedule", "constant") != "constant" or getattr(config, "batch", 1) != 1:
        raise ValueError(f"{what} assumes a constant learning rate and one sample per step "
                         f"(schedule='constant', batch=1); got schedule={config.schedule!r}, "
                         f"batch={config.batch}")
