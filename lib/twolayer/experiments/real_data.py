"""Online SGD on the rows of a real data set, with the error on held-out data.

Chapter "Trainable dimensions" (``chapters/02_trainable_dims.md``), paper Fig. 3 (right): the
student and teacher live in the PCA basis of the data, every step draws a training row with
replacement (``twolayer.data.DatasetInputs``), and two errors are recorded at every grid point:
the population error on the training distribution (eps_g from the overlaps with the empirical
spectrum, exact for the linear network whatever the input distribution) and the mean squared
error 1/2 mean (sigma - y)^2 on held-out rows.
"""

from __future__ import annotations

import math

import numpy as np

from ..data.images import PatchDataset
from ..data.inputs import DatasetInputs
from ..engines.sgd import simulate
from ..problem.config import Config
from ..problem.trajectory import Trajectory
from ..state.setting import resolve

__all__ = ["held_out_error", "simulate_on_data"]


def held_out_error(traj: Trajectory, X_test) -> np.ndarray:
    """1/2 mean over the rows of ``X_test`` of (sigma - y)^2 at every grid point of a simulation
    recorded with ``record_weights=True``; shape (S, P)."""
    if "J" not in traj.info:
        raise ValueError("the trajectory has no recorded weights (simulate with record_weights=True)")
    X = np.asarray(X_test, dtype=np.float64)
    cfg = traj.config
    if X.ndim != 2 or X.shape[1] != cfg.N or X.shape[0] < 1:
        raise ValueError(f"X_test must have shape (n >= 1, {cfg.N}), got {X.shape}")
    act = resolve(cfg).activation
    J, B = traj.info["J"], traj.info["B"]
    vT = cfg.teacher_weights
    out = np.empty(traj.eps_g.shape)
    for s in range(J.shape[0]):
        y = act.g(X @ B[s].T / math.sqrt(cfg.N)) @ vT
        for p in range(J.shape[1]):
            v = traj.v[s, p] if traj.v is not None else cfg.student_weights
            sig = act.g(X @ J[s, p].T / math.sqrt(cfg.N)) @ v
            out[s, p] = 0.5 * np.mean((sig - y) ** 2)
    return out


def simulate_on_data(config: Config, data: PatchDataset, alpha, *, seeds=(0,), workers=None):
    """SGD on the training rows of ``data`` (PCA basis) for every seed; returns the trajectory
    (population error on the training distribution; the config's spectrum must be the data's)
    and the held-out error (S, P)."""
    if config.N != data.N:
        raise ValueError(f"config.N must equal the data dimension {data.N}, got {config.N}")
    if config.spectrum is None or not np.allclose(config.spectrum, data.eigenvalues, rtol=0, atol=0):
        raise ValueError("config.spectrum must be the data set's eigenvalues (Config(spectrum=data.eigenvalues))")
    if data.n_test < 1:
        raise ValueError("data has no held-out rows (holdout = 0 or n_test = 0)")
    traj = simulate(config, alpha, seeds=seeds, inputs=DatasetInputs(data.train_pca), workers=workers,
                    record_weights=True)
    return traj, held_out_error(traj, data.test_pca)
