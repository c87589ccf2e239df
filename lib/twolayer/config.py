"""Frozen configuration of a teacher-student experiment, with all validation in one place.

Notation (book, chapter "Setting and notation"): ``N`` input dimension, ``L`` number of
distinct eigenvalues of the input covariance Sigma, ``K`` student hidden units, ``M`` teacher
hidden units, ``beta`` spectral exponent (lambda_l ~ l^{-(1+beta)}), ``eta`` learning rate,
``sigma_J`` standard deviation of the initial student weights, ``trainable`` the number N_l of
trainable eigen-coordinates (largest eigenvalues first; ``None`` = all N).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

ACTIVATIONS = ("erf", "linear")
READOUTS = ("sum", "sqrt")


def _check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value.__index__())
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be {rng}, got {value}")
    return value


def _check_pos(name: str, value, allow_zero: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        rng = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {rng}, got {value}")
    return value


def check_spectrum_args(N: int, L: int, beta: float) -> tuple[int, int, float]:
    """Validate (N, L, beta) of the power-law spectrum; return them normalised."""
    N = _check_int("N", N, 1)
    L = _check_int("L", L, 1, N)
    if N % L:
        raise ValueError(f"L must divide N (each eigenvalue has multiplicity N/L); got N={N}, L={L}")
    beta = _check_pos("beta", beta)
    return N, L, beta


@dataclass(frozen=True)
class Config:
    """One teacher-student setting.  Defaults are the paper's Fig. 1 caption.

    ``readout="sum"`` means sigma = sum_i g(lambda_i) and y = sum_n g(rho_n) (the paper's
    convention); ``"sqrt"`` divides the student sum by sqrt(K) and the teacher sum by sqrt(M).
    """

    N: int = 1024
    L: int = 1
    K: int = 2
    M: int = 2
    beta: float = 1.0
    eta: float = 0.1
    sigma_J: float = 0.01
    activation: str = "erf"
    readout: str = "sum"
    trainable: int | None = None
    eta2: bool = True

    def __post_init__(self):
        N, L, beta = check_spectrum_args(self.N, self.L, self.beta)
        object.__setattr__(self, "N", N)
        object.__setattr__(self, "L", L)
        object.__setattr__(self, "beta", beta)
        object.__setattr__(self, "K", _check_int("K", self.K, 1))
        object.__setattr__(self, "M", _check_int("M", self.M, 1))
        object.__setattr__(self, "eta", _check_pos("eta", self.eta))
        object.__setattr__(self, "sigma_J", _check_pos("sigma_J", self.sigma_J, allow_zero=True))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {self.readout!r}")
        if self.trainable is not None:
            object.__setattr__(
                self, "trainable", _check_int("trainable (N_l)", self.trainable, 1, N)
            )
        object.__setattr__(self, "eta2", bool(self.eta2))

    @property
    def n_trainable(self) -> int:
        """N_l: number of trainable eigen-coordinates (N when all are trained)."""
        return self.N if self.trainable is None else self.trainable

    @property
    def a_student(self) -> float:
        """Second-layer weight of every student unit (1 or K^{-1/2})."""
        return 1.0 if self.readout == "sum" else 1.0 / math.sqrt(self.K)

    @property
    def a_teacher(self) -> float:
        """Second-layer weight of every teacher unit (1 or M^{-1/2})."""
        return 1.0 if self.readout == "sum" else 1.0 / math.sqrt(self.M)

    def replace(self, **changes) -> "Config":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


def check_seed(seed, name: str = "seed") -> int:
    """Seeds are non-negative integers."""
    return _check_int(name, seed, 0)


def check_alpha_grid_args(alpha_max, points) -> tuple[float, int]:
    alpha_max = _check_pos("alpha_max", alpha_max)
    points = _check_int("points", points, 2)
    return alpha_max, points
