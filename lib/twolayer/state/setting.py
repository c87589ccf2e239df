"""The resolved setting: a ``Config`` turned, once, into what every engine and theory needs.

Chapter "Order-parameter dynamics" (``chapters/00_dynamics.md``), Eq. {eq}`eq-dyn-block`: the
groups g of eigen-coordinates with eigenvalue lambda_g, fraction f_g and rate
s_g = eta lambda_g (0 for a frozen group), the activation with its Gaussian averages, the two
second layers and the label noise.  ``resolve(config)`` builds it (cached per config); the
Gaussian averages bound to the setting (``eps_g``, ``stein``, ``delta_delta``, ``drift``) take
the global overlaps only.  A mini-batch of B enters through ``rate`` (eta / B per sample, ``effective_eta``) and the
O(eta^2) weight ``second_order`` (also eta / B); a schedule f(alpha) enters the integrators as
their time, the accumulated learning rate tau = int f dalpha (``twolayer.problem.schedule``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..gaussian.activations import Activation, activation_of
from ..gaussian.averages import delta_delta, eps_g, readout_drift, stein_coefficients
from ..problem.config import Config
from ..problem.spectrum import Groups, groups

__all__ = ["Setting", "effective_eta", "resolve"]


@dataclass(frozen=True, eq=False)
class Setting:
    """A ``Config`` resolved (use ``resolve``).

    Attributes
    ----------
    config : the validated configuration it was built from
    activation : g with its averages and pointwise forms
    groups : the blocks of the block ODE (eigenvalue, fraction, trainable, coordinates)
    rate : s_g = eta lambda_g for trained groups, 0 for frozen ones (G,); eta / B with a
        mini-batch of B (``effective_eta``)
    second_order : eta f_g (G,) (eta / B with a mini-batch): the O(eta^2) term of group g is
        s_g eta f_g E[delta delta^T]
    rate2 : s_g eta f_g (G,), that term's factor as the integrator applies it
    v, vT : the student's (initial) and the teacher's second layer, (K,) and (M,)
    eta_v : learning rate of a trained student second layer (0 when fixed)
    noise2 : label-noise variance
    """

    config: Config
    activation: Activation
    groups: Groups
    rate: np.ndarray
    second_order: np.ndarray
    rate2: np.ndarray
    v: np.ndarray
    vT: np.ndarray
    eta_v: float
    noise2: float

    @property
    def K(self) -> int:
        return self.config.K

    @property
    def M(self) -> int:
        return self.config.M

    @property
    def N(self) -> int:
        return self.config.N

    @property
    def eta(self) -> float:
        return self.config.eta

    @property
    def lam(self) -> np.ndarray:
        """Eigenvalue lambda_g of each group (G,)."""
        return self.groups.lam

    @property
    def eta2_strength(self) -> float:
        """eta^2 <lambda^2> over the trained coordinates: the O(eta^2) feedback relative to the
        O(eta) drift."""
        g = self.groups
        return effective_eta(self.config)**2 * float(np.sum(g.frac * g.trainable * g.lam**2))

    # -- the Gaussian averages at this setting's activation, readouts and noise ---------------
    def eps_g(self, Q, R, T, v=None) -> np.ndarray:
        """eps_g (Eq. {eq}`eq-dyn-epsg`) at global overlaps; ``v`` a trained second layer."""
        return eps_g(Q, R, T, self.activation, self.v if v is None else v, self.vT)

    def stein(self, Q, R, T, v=None):
        """(G_h, G_rho), Eq. {eq}`eq-dyn-stein`."""
        return stein_coefficients(Q, R, T, self.activation, self.v if v is None else v, self.vT)

    def delta_delta(self, Q, R, T, v=None) -> np.ndarray:
        """E[delta delta^T] with label noise, the source of the O(eta^2) term."""
        return delta_delta(Q, R, T, self.activation, self.v if v is None else v, self.vT, np.sqrt(self.noise2))

    def drift(self, Q, R, T, v=None) -> np.ndarray:
        """F = E[g(h) (y - sigma)]: dv/dalpha = eta_v F for a trained second layer."""
        return readout_drift(Q, R, T, self.activation, self.v if v is None else v, self.vT)

    def __repr__(self) -> str:
        return f"Setting({self.config!r}, groups={self.groups.size})"


def _readonly(a) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


@lru_cache(maxsize=128)
def _resolve(config: Config) -> Setting:
    grp = groups(config)
    eta = effective_eta(config)
    rate = eta * grp.lam * grp.trainable
    eta_v = float(config.eta_v) if config.batch == 1 else float(config.eta_v) / config.batch
    return Setting(config=config, activation=activation_of(config), groups=grp, rate=_readonly(rate),
                   second_order=_readonly(eta * grp.frac), rate2=_readonly(rate * eta * grp.frac), v=_readonly(config.student_weights),
                   vT=_readonly(config.teacher_weights), eta_v=eta_v, noise2=float(config.noise) ** 2)


def effective_eta(config: Config) -> float:
    """The learning rate per sample at the start of the schedule: eta / B.

    A step of a mini-batch of B averages the gradient over its B samples with learning rate eta
    and advances alpha by B / N, so per unit alpha the drift is (eta / B) lambda_g and the noise
    (O(eta^2)) term (eta / B)^2 lambda_g f_g E: in alpha the O(eta) drift carries 1 / B and the
    O(eta^2) term, relative to the drift, another 1 / B (per step, the drift is unchanged and the
    eta^2 term is divided by B).  B = 1 gives eta exactly."""
    return config.eta if config.batch == 1 else config.eta / config.batch


def resolve(config) -> Setting:
    """The ``Setting`` of a ``Config`` (cached), or a ``Setting`` as it is.

    Parameters
    ----------
    config : Config or Setting

    Returns
    -------
    Setting
    """
    if isinstance(config, Setting):
        return config
    if not isinstance(config, Config):
        raise ValueError(f"config must be a Config, got {type(config).__name__}")
    return _resolve(config)
