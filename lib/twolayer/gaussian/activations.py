"""Activations g with g', g'' and their Gaussian averages.

Chapter "Order-parameter dynamics" (``chapters/00_dynamics.md``), Eq. {eq}`eq-dyn-block` and the
closed forms below it, and chapter "Beyond the paper" for ReLU, tanh and user activations.
For zero-mean jointly Gaussian (a, b) with covariance [[caa, cab], [cab, cbb]] every activation
provides

    gg(caa, cbb, cab)   = E[g(a) g(b)]        (I2)
    dgdg(caa, cbb, cab) = E[g'(a) g'(b)]      (J2)
    d2gg(caa, cbb, cab) = E[g''(a) g(b)]      (H2)

and ``delta_moments`` the O(eta^2) average E[g'(u_i) g'(u_j) (w . g(u))^2] over the joint
Gaussian of all pre-activations.  Closed forms (Saad & Solla 1995 for erf(x / sqrt 2); elementary
for the linear g; the arc-cosine kernels of Cho & Saul 2009 for ReLU):

    erf:    I2 = (2/pi) asin(cab / sqrt((1+caa)(1+cbb))),  J2 = (2/pi) / sqrt((1+caa)(1+cbb) - cab^2),
            H2 = -(2/pi) cab / ((1+caa) sqrt((1+caa)(1+cbb) - cab^2)),  I4: Saad & Solla's formula
    linear: I2 = cab, J2 = 1, H2 = 0, I4 = c34
    ReLU:   I2 = sqrt(caa cbb) (sin th + (pi - th) cos th) / (2 pi),  cos th = cab / sqrt(caa cbb),
            J2 = (pi - th) / (2 pi),  H2 = sqrt(caa cbb - cab^2) / (2 pi caa)   (g'(0) = 0),
            I4: reduced exactly to closed forms and one smooth 1-d integral (``twolayer.gaussian.relu``)

Everything else (tanh, user activations) is integrated numerically
(``twolayer.gaussian.quadrature``).  No denominator of a closed form can be small for erf
(they are >= 1), which keeps the ODE accurate at sigma_J = 1e-6.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numba as nb
import numpy as np
from scipy.special import erf as _erf

from ..problem.config import ACTIVATIONS, UserActivation
from . import _vector
from .quadrature import joint_qmc, pair_expectation, pair_moments
from .relu import relu_delta_moments

__all__ = ["ERF", "LINEAR", "RELU", "TANH", "Activation", "Code", "activation_of", "dg_of", "erf_i4", "g_dg_into", "g_of"]

_2PI = 2.0 / math.pi
_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)


def erf_i4(c11, c22, c33, c44, c12, c13, c14, c23, c24, c34):
    """E[g'(u1) g'(u2) g(u3) g(u4)] for g = erf(x / sqrt 2) (Saad & Solla 1995, I4)."""
    lam4 = (1.0 + c11) * (1.0 + c22) - c12 * c12
    lam0 = lam4 * c34 - c23 * c24 * (1.0 + c11) - c13 * c14 * (1.0 + c22) + c12 * c13 * c24 + c12 * c14 * c23
    lam1 = lam4 * (1.0 + c33) - c23 * c23 * (1.0 + c11) - c13 * c13 * (1.0 + c22) + 2.0 * c12 * c13 * c23
    lam2 = lam4 * (1.0 + c44) - c24 * c24 * (1.0 + c11) - c14 * c14 * (1.0 + c22) + 2.0 * c12 * c14 * c24
    arg = np.clip(lam0 / np.sqrt(lam1 * lam2), -1.0, 1.0)
    return (4.0 / math.pi**2) / np.sqrt(lam4) * np.arcsin(arg)


class Code(IntEnum):
    """How the compiled engines (numba: ``twolayer.gaussian.compiled``) know an activation; a
    user activation runs through NumPy."""

    USER = -1
    LINEAR = 0
    ERF = 1
    RELU = 2
    TANH = 3


# plain ints: numba freezes them as constants of the kernels
_LINEAR, _ERF, _RELU, _TANH = int(Code.LINEAR), int(Code.ERF), int(Code.RELU), int(Code.TANH)


@nb.njit(inline="always")
def g_of(h, code):
    """g(h) of the built-in activation ``code`` (an int of ``Code``)."""
    if code == _ERF:
        return math.erf(h * _INV_SQRT2)
    if code == _RELU:
        return h if h > 0.0 else 0.0
    if code == _TANH:
        return math.tanh(h)
    return h


@nb.njit(inline="always")
def dg_of(h, code):
    """g'(h) of the built-in activation ``code``."""
    if code == _ERF:
        return _SQRT_2_OVER_PI * math.exp(-0.5 * h * h)
    if code == _RELU:
        return 1.0 if h > 0.0 else 0.0
    if code == _TANH:
        t = math.tanh(h)
        return 1.0 - t * t
    return 1.0


@nb.njit(**_vector._FLAGS)
def g_dg_into(u, g_u, h, g_h, dg_h, m, k, code):
    """g(u[:m]) into g_u, g(h[:k]) into g_h and g'(h[:k]) into dg_h for the built-in activation
    ``code``: ``g_of`` and ``dg_of`` over whole layers, in loops the compiler vectorises (the
    wide-layer step of the SGD engine, ``twolayer.engines.sgd.VECTOR_MIN_K``).  erf and its g'
    come from the polynomial forms of ``twolayer.gaussian._vector`` (within 2 and 1 units in the
    last place of ``math.erf`` and ``math.exp``), the other activations from ``g_of``/``dg_of``.
    A function of its own (not inlined by numba), so its floating-point flags are its own."""
    if code == _ERF:
        for i in range(m):
            g_u[i] = _vector.erf(u[i] * _INV_SQRT2)
        for i in range(k):
            g_h[i] = _vector.erf(h[i] * _INV_SQRT2)
        for i in range(k):
            dg_h[i] = _SQRT_2_OVER_PI * _vector.exp_neg(-0.5 * h[i] * h[i])
    else:
        for i in range(m):
            g_u[i] = g_of(u[i], code)
        for i in range(k):
            g_h[i] = g_of(h[i], code)
            dg_h[i] = dg_of(h[i], code)


class Activation:
    """An activation g: pointwise g, g', g'' (NumPy, and ``torch_g``, ``torch_dg`` for the PyTorch
    backend), its Gaussian averages, and its ``code`` for the compiled kernels.  A built-in
    activation is added here (a subclass, a ``Code``, its lines in ``g_of`` and ``dg_of``) and
    named in ``twolayer.problem.config.ACTIVATIONS``."""

    name: str = ""
    code: Code = Code.USER
    closed_pairs: bool = False
    #: Whether g'' is an ordinary function, square-integrable under a Gaussian (g in W^{2,2}):
    #: then, by Price's theorem (d E[f1(a) f2(b)] / d cab = E[f1'(a) f2'(b)]), the averages
    #: E[g' g'], E[g'' g] and E[g' g' g g] are continuously differentiable in the covariance
    #: also where it is singular (identical students: the symmetric plateau), the block ODE can
    #: be linearised there and the escape rate exists.  False for a kink (relu: g'' is a delta
    #: function, E[g'(a) g'(b)] = (pi - theta) / (2 pi) and E[g''(a) g(b)] ~ sqrt(caa cbb - cab^2)
    #: have square-root terms at a singular covariance; they cancel in the O(eta) right-hand side
    #: but not in the O(eta^2) average, ``twolayer.theory.plateau.rate_defect``); None when not
    #: known (a user activation: ``twolayer.theory.plateau`` then checks the rate numerically).
    smooth: bool | None = None

    # -- pointwise ------------------------------------------------------------------------
    def g(self, x):
        raise NotImplementedError

    def dg(self, x):
        raise NotImplementedError

    def d2g(self, x):
        raise NotImplementedError

    # -- two-point averages (numerical by default) -----------------------------------------
    def gg(self, caa, cbb, cab):
        """E[g(a) g(b)]  (I2)."""
        return pair_expectation(self.g, self.g, caa, cbb, cab)

    def dgdg(self, caa, cbb, cab):
        """E[g'(a) g'(b)]  (J2)."""
        return pair_expectation(self.dg, self.dg, caa, cbb, cab)

    def d2gg(self, caa, cbb, cab):
        """E[g''(a) g(b)]  (H2)."""
        return pair_expectation(self.d2g, self.g, caa, cbb, cab)

    def derivs(self, x):
        """(g(x), g'(x), g''(x)); an activation can compute them together."""
        return self.g(x), self.dg(x), self.d2g(x)

    def torch_g(self, h):
        """g on a torch tensor (the PyTorch backend; built-in activations only)."""
        raise ValueError(f"the torch backend runs the built-in activations {ACTIVATIONS}, not {self.name!r}")

    def torch_dg(self, h):
        """g' on a torch tensor."""
        raise ValueError(f"the torch backend runs the built-in activations {ACTIVATIONS}, not {self.name!r}")

    def pair_averages(self, caa, cbb, cab):
        """(I2, J2, H2) on the same covariances: the closed forms, or one quadrature for the
        three (``quadrature.pair_moments``: the same numbers as ``gg``, ``dgdg``, ``d2gg``)."""
        if self.closed_pairs:
            return self.gg(caa, cbb, cab), self.dgdg(caa, cbb, cab), self.d2gg(caa, cbb, cab)
        return pair_moments(self.derivs, caa, cbb, cab)

    # -- the O(eta^2) average ----------------------------------------------------------------
    def delta_moments(self, C, K: int, w) -> np.ndarray:
        """E[g'(u_i) g'(u_j) (sum_a w_a g(u_a))^2] for i, j < K, u ~ N(0, C), C (K+M, K+M).

        Numerical: quasi-Monte Carlo over the joint Gaussian (``quadrature.joint_qmc``)."""
        U = joint_qmc(C)
        G = np.asarray(self.g(U), dtype=np.float64)
        D = np.asarray(self.dg(U[:, :K]), dtype=np.float64)
        e2 = (G @ np.asarray(w, dtype=np.float64)) ** 2
        return (D * e2[:, None]).T @ D / U.shape[0]

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


class _Erf(Activation):
    name, code, closed_pairs = "erf", Code.ERF, True
    smooth = True

    def torch_g(self, h):
        import torch

        return torch.erf(h / _SQRT2)

    def torch_dg(self, h):
        import torch

        return _SQRT_2_OVER_PI * torch.exp(-0.5 * h * h)

    def g(self, x):
        return _erf(np.asarray(x, dtype=np.float64) / _SQRT2)

    def dg(self, x):
        x = np.asarray(x, dtype=np.float64)
        return _SQRT_2_OVER_PI * np.exp(-0.5 * x * x)

    def d2g(self, x):
        x = np.asarray(x, dtype=np.float64)
        return -x * self.dg(x)

    def gg(self, caa, cbb, cab):
        arg = np.asarray(cab, dtype=np.float64) / np.sqrt((1.0 + np.asarray(caa)) * (1.0 + np.asarray(cbb)))
        return _2PI * np.arcsin(np.clip(arg, -1.0, 1.0))

    def dgdg(self, caa, cbb, cab):
        return _2PI / np.sqrt((1.0 + np.asarray(caa)) * (1.0 + np.asarray(cbb)) - np.square(cab))

    def d2gg(self, caa, cbb, cab):
        caa = np.asarray(caa, dtype=np.float64)
        return -_2PI * np.asarray(cab) / ((1.0 + caa) * np.sqrt((1.0 + caa) * (1.0 + np.asarray(cbb)) - np.square(cab)))

    def delta_moments(self, C, K, w):
        C = np.asarray(C, dtype=np.float64)
        d = np.diagonal(C)
        i = np.arange(K)[:, None, None, None]
        j = np.arange(K)[None, :, None, None]
        a = np.arange(C.shape[0])[None, None, :, None]
        b = np.arange(C.shape[0])[None, None, None, :]
        val = erf_i4(d[i], d[j], d[a], d[b], C[i, j], C[i, a], C[i, b], C[j, a], C[j, b], C[a, b])
        w = np.asarray(w, dtype=np.float64)
        return np.einsum("ijab,a,b->ij", val, w, w)


class _Linear(Activation):
    name, code, closed_pairs = "linear", Code.LINEAR, True
    smooth = True

    def torch_g(self, h):
        return h

    def torch_dg(self, h):
        import torch

        return torch.ones_like(h)

    def g(self, x):
        return np.asarray(x, dtype=np.float64) * 1.0

    def dg(self, x):
        return np.ones_like(np.asarray(x, dtype=np.float64))

    def d2g(self, x):
        return np.zeros_like(np.asarray(x, dtype=np.float64))

    def gg(self, caa, cbb, cab):
        return np.broadcast_arrays(np.asarray(cab, dtype=np.float64) * 1.0, caa, cbb)[0].copy()

    def dgdg(self, caa, cbb, cab):
        return np.ones(np.broadcast(caa, cbb, cab).shape)

    def d2gg(self, caa, cbb, cab):
        return np.zeros(np.broadcast(caa, cbb, cab).shape)

    def delta_moments(self, C, K, w):
        w = np.asarray(w, dtype=np.float64)
        return np.full((K, K), float(w @ np.asarray(C, dtype=np.float64) @ w))


class _Relu(Activation):
    name, code, closed_pairs = "relu", Code.RELU, True
    smooth = False

    def torch_g(self, h):
        import torch

        return torch.relu(h)

    def torch_dg(self, h):
        return (h > 0).to(h.dtype)

    def g(self, x):
        return np.maximum(np.asarray(x, dtype=np.float64), 0.0)

    def dg(self, x):
        return (np.asarray(x, dtype=np.float64) > 0.0).astype(np.float64)

    def d2g(self, x):  # a delta function: only its averages exist
        raise ValueError("relu'' is a delta function; use the averages d2gg")

    @staticmethod
    def _angle(caa, cbb, cab):
        caa, cbb, cab = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (caa, cbb, cab)))
        # A variance is >= 0 for real weights; a negative one reaches the averages only from an
        # integrator's trial state (the ODE's half-step predictor from Q_ii ~ sigma_J^2, e.g.
        # 1e-8 -> -7e7 at K = 2, L = 1, sigma_J = 1e-4, a step its Richardson test then rejects).
        # It is taken as zero variance, the convention of dgdg and d2gg (relu(0) = relu'(0) = 0),
        # not as the NaN (and "invalid value in sqrt" warning) of sqrt(caa cbb) with caa < 0.
        nrm = np.sqrt(np.clip(caa, 0.0, None) * np.clip(cbb, 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            cos = np.where(nrm > 0, cab / np.where(nrm > 0, nrm, 1.0), 0.0)
        return caa, cbb, cab, nrm, np.arccos(np.clip(cos, -1.0, 1.0))

    def gg(self, caa, cbb, cab):
        _, _, _, nrm, th = self._angle(caa, cbb, cab)
        return nrm * (np.sin(th) + (math.pi - th) * np.cos(th)) / (2.0 * math.pi)

    def dgdg(self, caa, cbb, cab):
        caa, cbb, _, nrm, th = self._angle(caa, cbb, cab)
        return np.where((caa > 0) & (cbb > 0), (math.pi - th) / (2.0 * math.pi), 0.0)

    def d2gg(self, caa, cbb, cab):
        caa, cbb, cab, _, _ = self._angle(caa, cbb, cab)
        det = np.clip(caa * cbb - cab * cab, 0.0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(caa > 0, np.sqrt(det) / (2.0 * math.pi * np.where(caa > 0, caa, 1.0)), 0.0)

    def delta_moments(self, C, K, w):
        """Exact reduction to closed forms and one smooth 1-d integral per four-point average
        (``twolayer.gaussian.relu``): no quasi-Monte Carlo, whose error is large for a
        discontinuous g'."""
        return relu_delta_moments(C, K, w)


class _Tanh(Activation):
    name, code = "tanh", Code.TANH
    smooth = True

    def torch_g(self, h):
        import torch

        return torch.tanh(h)

    def torch_dg(self, h):
        import torch

        return 1.0 - torch.tanh(h) ** 2

    def g(self, x):
        return np.tanh(np.asarray(x, dtype=np.float64))

    def dg(self, x):
        t = np.tanh(np.asarray(x, dtype=np.float64))
        return 1.0 - t * t

    def d2g(self, x):
        t = np.tanh(np.asarray(x, dtype=np.float64))
        return -2.0 * t * (1.0 - t * t)

    def derivs(self, x):
        t = np.tanh(np.asarray(x, dtype=np.float64))
        return t, 1.0 - t * t, -2.0 * t * (1.0 - t * t)


class _User(Activation):
    code = Code.USER

    def __init__(self, spec: UserActivation):
        self.spec = spec
        self.name = spec.name

    def g(self, x):
        return np.asarray(self.spec.g(np.asarray(x, dtype=np.float64)), dtype=np.float64)

    def dg(self, x):
        return np.asarray(self.spec.dg(np.asarray(x, dtype=np.float64)), dtype=np.float64)

    def d2g(self, x):
        x = np.asarray(x, dtype=np.float64)
        if self.spec.d2g is not None:
            return np.asarray(self.spec.d2g(x), dtype=np.float64)
        h = 1e-4 * np.maximum(1.0, np.abs(x))
        return (self.dg(x + h) - self.dg(x - h)) / (2.0 * h)


ERF, LINEAR, RELU, TANH = _Erf(), _Linear(), _Relu(), _Tanh()
_BUILTIN = {a.name: a for a in (ERF, LINEAR, RELU, TANH)}
assert tuple(sorted(_BUILTIN)) == tuple(sorted(ACTIVATIONS))


def activation_of(spec) -> Activation:
    """The ``Activation`` for a config's ``activation`` (a built-in name or a
    ``UserActivation``), or for a ``Config`` itself."""
    spec = getattr(spec, "activation", spec)
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, UserActivation):
        return _User(spec)
    try:
        return _BUILTIN[spec]
    except (KeyError, TypeError):
        raise ValueError(f"activation must be one of {ACTIVATIONS} or a UserActivation, got {spec!r}") from None
