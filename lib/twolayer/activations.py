"""Activations g, g', g'' and their closed-form Gaussian averages.

Chapter "Order-parameter dynamics", Eqs. (I2)-(I4).  For jointly Gaussian, zero-mean u with
covariance C (entries C_aa, C_bb, C_ab, ...), with g(x) = erf(x / sqrt 2):

  E[g(a) g(b)]        = (2/pi) arcsin( C_ab / sqrt((1+C_aa)(1+C_bb)) )                 (I2)
  E[g'(a) g'(b)]      = (2/pi) / sqrt((1+C_aa)(1+C_bb) - C_ab^2)                          (J2)
  E[g''(a) g(b)]      = -(2/pi) C_ab / ((1+C_aa) sqrt((1+C_aa)(1+C_bb) - C_ab^2))         (H2)
  E[g'(u1) g'(u2) g(u3) g(u4)] = (4/pi^2) Lambda4^{-1/2} arcsin(Lambda0/sqrt(Lambda1 Lambda2))  (I4)

(Saad & Solla 1995, with the erf(x/sqrt2) scaling).  For g(x) = x they are C_ab, 1, 0 and
C_34.  None of them divides by a small number: the denominators are >= 1 for any C >= 0, which
is what keeps the ODEs accurate at sigma_J = 1e-6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf as _erf

_2PI = 2.0 / math.pi
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class Activation:
    """An activation with its Gaussian averages.  Use ``get_activation(name)``."""

    name: str

    # -- pointwise -------------------------------------------------------------------------
    def g(self, x):
        return _erf(x / _SQRT2) if self.name == "erf" else np.asarray(x, dtype=float)

    def dg(self, x):
        if self.name == "erf":
            return math.sqrt(2.0 / math.pi) * np.exp(-0.5 * np.square(x))
        return np.ones_like(np.asarray(x, dtype=float))

    def d2g(self, x):
        if self.name == "erf":
            return -np.asarray(x) * self.dg(x)
        return np.zeros_like(np.asarray(x, dtype=float))

    # -- Gaussian averages (broadcasting over array arguments) -------------------------------
    def gg(self, caa, cbb, cab):
        """E[g(a) g(b)]  (I2)."""
        if self.name == "erf":
            arg = cab / np.sqrt((1.0 + caa) * (1.0 + cbb))
            return _2PI * np.arcsin(np.clip(arg, -1.0, 1.0))
        return np.asarray(cab, dtype=float) * 1.0

    def dgdg(self, caa, cbb, cab):
        """E[g'(a) g'(b)]  (J2)."""
        if self.name == "erf":
            return _2PI / np.sqrt((1.0 + caa) * (1.0 + cbb) - np.square(cab))
        return np.ones(np.broadcast(caa, cbb, cab).shape)

    def d2gg(self, caa, cbb, cab):
        """E[g''(a) g(b)]  (H2)."""
        if self.name == "erf":
            return -_2PI * cab / ((1.0 + caa) * np.sqrt((1.0 + caa) * (1.0 + cbb) - np.square(cab)))
        return np.zeros(np.broadcast(caa, cbb, cab).shape)

    def i4(self, c11, c22, c33, c44, c12, c13, c14, c23, c24, c34):
        """E[g'(u1) g'(u2) g(u3) g(u4)]  (I4)."""
        if self.name == "erf":
            lam4 = (1.0 + c11) * (1.0 + c22) - c12 * c12
            lam0 = (
                lam4 * c34
                - c23 * c24 * (1.0 + c11)
                - c13 * c14 * (1.0 + c22)
                + c12 * c13 * c24
                + c12 * c14 * c23
            )
            lam1 = lam4 * (1.0 + c33) - c23 * c23 * (1.0 + c11) - c13 * c13 * (1.0 + c22) + 2.0 * c12 * c13 * c23
            lam2 = lam4 * (1.0 + c44) - c24 * c24 * (1.0 + c11) - c14 * c14 * (1.0 + c22) + 2.0 * c12 * c14 * c24
            arg = np.clip(lam0 / np.sqrt(lam1 * lam2), -1.0, 1.0)
            return (4.0 / math.pi**2) / np.sqrt(lam4) * np.arcsin(arg)
        return np.asarray(c34, dtype=float) * np.ones(np.broadcast(c11, c12, c34).shape)


ERF = Activation("erf")
LINEAR = Activation("linear")
_BY_NAME = {"erf": ERF, "linear": LINEAR}


def get_activation(name: str) -> Activation:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"activation must be one of {tuple(_BY_NAME)}, got {name!r}") from None
