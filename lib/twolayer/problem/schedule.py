"""Learning-rate schedules eta(alpha) = eta * f(alpha): parsed from a SPEC string in one place.

A schedule is a frozen ``Schedule`` (kind and up to three parameters), written on the command
line and in ``Config(schedule=...)`` as a SPEC:

``constant``
    f = 1 (the paper's setting, the default).
``power:P:A0``
    f = (1 + alpha / A0)^(-P), P >= 0, A0 > 0.
``cosine:A_END`` or ``cosine:A_END:FLOOR``
    f = FLOOR + (1 - FLOOR) (1 + cos(pi min(alpha, A_END) / A_END)) / 2, A_END > 0, FLOOR in
    [0, 1) (default 0: the weights stop moving at A_END).
``wsd:A_DECAY:A_END`` or ``wsd:A_DECAY:A_END:A_WARM``
    warmup-stable-decay: f rises linearly from 0 to 1 over [0, A_WARM] (default A_WARM = 0: no
    warmup), stays 1 until A_DECAY, then falls linearly to 0 at A_END and stays 0;
    0 <= A_WARM <= A_DECAY < A_END.  The end of the decay is explicit (not the run's end), so a
    schedule does not depend on the length of the run it is used in.

Every engine evaluates the same ``factor`` (``factor_scalar`` is plain ``math``, compiled by the
SGD engine with numba): SGD evaluates it once per step at the alpha where the step starts (the
samples consumed before it, divided by N); the ODEs and the linear theory use the accumulated
learning rate tau(alpha) = int_0^alpha f (``integral``, in closed form) as their time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Schedule", "parse_schedule"]

#: The kinds with their integer codes (as the compiled SGD kernel takes them).
KINDS = ("constant", "power", "cosine", "wsd")

SCHEDULE_HELP = ("learning-rate schedule eta(alpha) = eta f(alpha): 'constant'; 'power:P:A0' "
                 "f = (1 + alpha/A0)^-P; 'cosine:A_END[:FLOOR]' f = FLOOR + (1 - FLOOR)(1 + "
                 "cos(pi min(alpha, A_END)/A_END))/2; 'wsd:A_DECAY:A_END[:A_WARM]' linear warmup "
                 "over [0, A_WARM] (default none), 1 until A_DECAY, linear decay to 0 at A_END")

_NPARAMS = {"constant": (0, 0), "power": (2, 2), "cosine": (1, 2), "wsd": (2, 3)}
_FORMS = {"constant": "constant", "power": "power:P:A0", "cosine": "cosine:A_END[:FLOOR]",
          "wsd": "wsd:A_DECAY:A_END[:A_WARM]"}


def factor_scalar(code: int, p0: float, p1: float, p2: float, alpha: float) -> float:
    """f(alpha) of the schedule with kind code ``code`` and parameters (p0, p1, p2); plain
    ``math`` so that numba compiles it unchanged."""
    if code == 0:
        return 1.0
    if code == 1:
        return (1.0 + alpha / p1) ** (-p0)
    if code == 2:
        a = alpha if alpha < p0 else p0
        return p1 + (1.0 - p1) * 0.5 * (1.0 + math.cos(math.pi * a / p0))
    # wsd: p0 = A_DECAY, p1 = A_END, p2 = A_WARM
    if alpha >= p1:
        return 0.0
    if alpha > p0:
        return (p1 - alpha) / (p1 - p0)
    if p2 > 0.0 and alpha < p2:
        return alpha / p2
    return 1.0


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule f(alpha) (multiplies eta); make one with ``parse_schedule``.

    Attributes
    ----------
    kind : one of ``KINDS``
    params : its parameters, in the order of the SPEC (defaults filled in)
    """

    kind: str = "constant"
    params: tuple = ()

    @property
    def code(self) -> int:
        return KINDS.index(self.kind)

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant"

    @property
    def scalars(self) -> tuple[int, float, float, float]:
        """(code, p0, p1, p2): what the compiled kernels take."""
        p = tuple(self.params) + (0.0,) * (3 - len(self.params))
        return (self.code, float(p[0]), float(p[1]), float(p[2]))

    @property
    def spec(self) -> str:
        """The canonical SPEC string (parses back to this schedule)."""
        return ":".join([self.kind] + [repr(float(x)) for x in self.params])

    def factor(self, alpha) -> np.ndarray:
        """f(alpha) at an array of alpha."""
        a = np.asarray(alpha, dtype=np.float64)
        code, p0, p1, p2 = self.scalars
        return np.vectorize(lambda x: factor_scalar(code, p0, p1, p2, float(x)), otypes=[np.float64])(a)

    def integral(self, alpha) -> np.ndarray:
        """tau(alpha) = int_0^alpha f, in closed form (the accumulated learning rate / eta)."""
        a = np.asarray(alpha, dtype=np.float64)
        code, p0, p1, p2 = self.scalars
        if code == 0:
            return a.copy()
        if code == 1:
            if p0 == 1.0:
                return p1 * np.log1p(a / p1)
            return p1 / (1.0 - p0) * ((1.0 + a / p1) ** (1.0 - p0) - 1.0)
        if code == 2:
            m = np.minimum(a, p0)
            cos_part = 0.5 * m + p0 / (2.0 * math.pi) * np.sin(math.pi * m / p0)
            return p1 * a + (1.0 - p1) * cos_part
        # wsd
        w = np.minimum(a, p2)
        tau = np.where(p2 > 0.0, 0.5 * w * w / (p2 if p2 > 0 else 1.0), 0.0)
        tau = tau + np.clip(np.minimum(a, p0) - p2, 0.0, None)
        d = np.clip(np.minimum(a, p1) - p0, 0.0, None)
        return tau + d - 0.5 * d * d / (p1 - p0)

    def inverse_integral(self, tau) -> np.ndarray:
        """The alpha with ``integral(alpha) = tau`` (the smallest one where f vanishes), by
        bisection to round-off; used to evaluate f along an ODE integrated in tau."""
        t = np.asarray(tau, dtype=np.float64)
        if self.is_constant:
            return t.copy()
        if self.kind == "power":  # closed form
            P, A0 = self.params
            if P == 1.0:
                return A0 * np.expm1(t / A0)
            with np.errstate(invalid="ignore"):
                return A0 * ((1.0 + (1.0 - P) * t / A0) ** (1.0 / (1.0 - P)) - 1.0)
        if t.ndim == 0:
            return np.asarray(self._inverse_scalar(float(t)))
        lo = np.zeros_like(t)
        hi = np.maximum(t, 1.0)
        for _ in range(200):  # grow the bracket (f can be small but is positive before its zero)
            short = self.integral(hi) < t
            if not np.any(short):
                break
            hi = np.where(short, 2.0 * hi, hi)
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            below = self.integral(mid) < t
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return hi

    def _integral_scalar(self, a: float) -> float:
        return float(self.integral(a))

    def _inverse_scalar(self, t: float) -> float:
        """Safeguarded Newton (f is the derivative of the integral) with a bisection bracket."""
        if t <= 0.0:
            return 0.0
        code, p0, p1, p2 = self.scalars
        lo, hi = 0.0, max(t, 1.0)
        while self._integral_scalar(hi) < t:
            lo, hi = hi, 2.0 * hi
            if hi > 1e300:
                return math.inf
        x = 0.5 * (lo + hi)
        for _ in range(200):
            F = self._integral_scalar(x) - t
            if abs(F) <= 1e-15 * max(1.0, t):
                return x
            if F < 0.0:
                lo = x
            else:
                hi = x
            if hi - lo <= 4e-16 * max(1.0, hi):
                break
            fx = factor_scalar(code, p0, p1, p2, x)
            x_new = x - F / fx if fx > 0.0 else 0.5 * (lo + hi)
            x = x_new if lo < x_new < hi else 0.5 * (lo + hi)
        return hi

    def __str__(self) -> str:
        return self.spec


def _number(spec: str, name: str, text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise ValueError(f"schedule {spec!r}: {name} must be a number, got {text!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"schedule {spec!r}: {name} must be finite, got {text!r}")
    return x


@lru_cache(maxsize=256)
def _parse(spec: str) -> Schedule:
    parts = spec.strip().split(":")
    kind = parts[0].strip().lower()
    if kind not in KINDS:
        raise ValueError(f"schedule must be one of {', '.join(_FORMS.values())}; got {spec!r}")
    lo, hi = _NPARAMS[kind]
    vals = parts[1:]
    if not lo <= len(vals) <= hi:
        raise ValueError(f"schedule {spec!r}: expected the form {_FORMS[kind]}")
    if kind == "constant":
        return Schedule()
    if kind == "power":
        P, A0 = (_number(spec, n, t) for n, t in zip(("P", "A0"), vals))
        if not 0.0 <= P <= 100.0:
            raise ValueError(f"schedule {spec!r}: P must be in [0, 100], got {P:g}")
        if not A0 > 0.0:
            raise ValueError(f"schedule {spec!r}: A0 must be > 0, got {A0:g}")
        return Schedule("power", (P, A0))
    if kind == "cosine":
        A_END = _number(spec, "A_END", vals[0])
        floor = _number(spec, "FLOOR", vals[1]) if len(vals) > 1 else 0.0
        if not A_END > 0.0:
            raise ValueError(f"schedule {spec!r}: A_END must be > 0, got {A_END:g}")
        if not 0.0 <= floor < 1.0:
            raise ValueError(f"schedule {spec!r}: FLOOR must be in [0, 1), got {floor:g}")
        return Schedule("cosine", (A_END, floor))
    A_DECAY = _number(spec, "A_DECAY", vals[0])
    A_END = _number(spec, "A_END", vals[1])
    A_WARM = _number(spec, "A_WARM", vals[2]) if len(vals) > 2 else 0.0
    if not 0.0 <= A_WARM <= A_DECAY < A_END:
        raise ValueError(f"schedule {spec!r}: needs 0 <= A_WARM <= A_DECAY < A_END, got A_WARM={A_WARM:g}, "
                         f"A_DECAY={A_DECAY:g}, A_END={A_END:g}")
    return Schedule("wsd", (A_DECAY, A_END, A_WARM))


def parse_schedule(spec) -> Schedule:
    """A ``Schedule`` from its SPEC string (see the module docstring), or a ``Schedule`` as it is.

    Raises a one-line ``ValueError`` naming the parameter and its allowed range on bad input.
    """
    if isinstance(spec, Schedule):
        return _parse(spec.spec)
    if not isinstance(spec, str):
        raise ValueError(f"schedule must be a SPEC string such as 'power:0.5:10', got {spec!r}")
    return _parse(spec)
