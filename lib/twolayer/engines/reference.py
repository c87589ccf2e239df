"""The plain NumPy transcription of one SGD step: the reference the compiled engine (and the
PyTorch backend) are held against in the tests.

Chapter "Setting" (introduction), the SGD rule, with the extensions of chapter "Beyond the
paper": second layers v (student) and v* (teacher), a trained student second layer and label
noise.  For an input x (eigenbasis) and a label-noise draw xi:

    h_i = J_i . x / sqrt N,  rho_n = B_n . x / sqrt N,
    y = sum_n v*_n g(rho_n) + noise xi,   sigma = sum_i v_i g(h_i),
    J_i <- J_i + (eta / sqrt N) v_i g'(h_i) (y - sigma) x     (first N_l coordinates only)
    v_i <- v_i + (eta_v / N) g(h_i) (y - sigma)                (when the readout is trained)

Both updates use the weights before the step.
"""

from __future__ import annotations

import math

from ..problem.config import Config
from ..state.setting import resolve

__all__ = ["reference_step"]


def reference_step(J, B, x, config: Config, v=None, xi: float = 0.0):
    """One SGD step in NumPy; updates ``J`` (K x N) and ``v`` (K,) in place and returns them.

    ``v`` defaults to the config's student weights (a fresh array); ``xi`` is the standard
    normal label-noise draw of this step (multiplied by ``config.noise``)."""
    act = resolve(config).activation
    N = J.shape[1]
    v = config.student_weights if v is None else v
    vT = config.teacher_weights
    lam = J @ x / math.sqrt(N)
    rho = B @ x / math.sqrt(N)
    glam = act.g(lam)
    err = vT @ act.g(rho) + config.noise * xi - v @ glam
    delta = v * act.dg(lam) * err
    n = config.n_trainable
    J[:, :n] += (config.eta / math.sqrt(N)) * delta[:, None] * x[None, :n]
    if config.train_readout:
        v += (config.eta_v / N) * glam * err
    return J, v
