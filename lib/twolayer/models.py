"""Teacher and student committee machines (chapter "Setting and notation").

Teacher y = a_T sum_n g(B_n . x / sqrt N), B_n ~ N(0, I_N); student
sigma = a_S sum_i g(J_i . x / sqrt N), J_i ~ N(0, sigma_J^2 I_N); second layers fixed.
Weights live in the eigenbasis of Sigma.
"""

from __future__ import annotations

import numpy as np

from .activations import get_activation
from .config import Config
from .data import coordinate_eigenvalues, seed_streams
from .theory.overlaps import eps_g as _eps_g


def init_teacher(cfg: Config, seed: int) -> np.ndarray:
    """B (M x N), entries N(0, 1), from the teacher stream of ``seed``."""
    rng = np.random.default_rng(seed_streams(seed)[0])
    return rng.standard_normal((cfg.M, cfg.N))


def init_student(cfg: Config, seed: int) -> np.ndarray:
    """J (K x N), entries N(0, sigma_J^2), from the student stream of ``seed``."""
    rng = np.random.default_rng(seed_streams(seed)[1])
    return cfg.sigma_J * rng.standard_normal((cfg.K, cfg.N))


def init_weights(cfg: Config, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(J, B) exactly as a simulation with this seed starts."""
    return init_student(cfg, seed), init_teacher(cfg, seed)


def output(W: np.ndarray, x: np.ndarray, activation: str, a: float = 1.0) -> np.ndarray:
    """a sum_i g(W_i . x / sqrt N) for inputs x of shape (..., N)."""
    act = get_activation(activation)
    h = x @ W.T / np.sqrt(W.shape[-1])
    return a * act.g(h).sum(axis=-1)


def overlaps(J: np.ndarray, B: np.ndarray, lam: np.ndarray):
    """Q, R, T of eigenbasis weights for coordinate eigenvalues ``lam`` (length N)."""
    N = J.shape[-1]
    Jl = J * lam
    Q = Jl @ np.swapaxes(J, -1, -2) / N
    R = Jl @ np.swapaxes(B, -1, -2) / N
    T = (B * lam) @ np.swapaxes(B, -1, -2) / N
    return Q, R, T


def weights_eps_g(J: np.ndarray, B: np.ndarray, cfg: Config, lam: np.ndarray | None = None) -> float:
    """Exact eps_g of weights (J, B) through the closed form in Q, R, T (no test set)."""
    if lam is None:
        lam = coordinate_eigenvalues(cfg.N, cfg.L, cfg.beta)
    Q, R, T = overlaps(J, B, lam)
    return _eps_g(Q, R, T, cfg.activation, cfg.a_student, cfg.a_teacher)
