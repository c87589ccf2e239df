"""The problem definition: one frozen, validated configuration of the teacher-student setting.

Notation of the book (introduction, "The setting"): inputs x ~ N(0, Sigma) of dimension N whose
covariance has L distinct eigenvalue levels lambda_l = lambda_+ l^{-(1+beta)} (each N/L times,
Tr Sigma = N); a teacher y = sum_n v*_n g(B_n . x / sqrt N) + noise with M hidden units and a
student sigma = sum_i v_i g(J_i . x / sqrt N) with K; one-pass SGD with learning rate eta on
1/2 (sigma - y)^2, alpha = steps / N.  All validation happens here, in ``Config.__post_init__``;
the command line (``twolayer.cli``) is generated from the fields below (help text, defaults,
choices), so there is one source of defaults.

Training recipes: ``schedule`` (a SPEC of ``twolayer.problem.schedule``, stored in its canonical
form) multiplies eta by f(alpha) in every engine and theory; ``batch`` = B averages each step's
gradient over B fresh samples with the same eta (per sample eta / B; alpha counts samples).  The
defaults ("constant", 1) are the paper's training and run exactly the code of before.

The defaults are the caption of paper Fig. 1 (K = M = 2, eta = 0.1, beta = 1,
sigma_J = 0.01, N = 1024, erf) with L = 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from .checks import check_bool, check_choice, check_float, check_int
from .schedule import SCHEDULE_HELP, Schedule, parse_schedule

__all__ = ["ACTIVATIONS", "READOUTS", "TEACHERS", "Config", "UserActivation"]

ACTIVATIONS = ("linear", "erf", "relu", "tanh")
READOUTS = ("sum", "sqrt")
TEACHERS = ("random", "orthogonal")

#: Structural upper bounds (memory and time are checked separately, per run, with a budget).
MAX_N = 100_000_000
MAX_UNITS = 100_000
MAX_BATCH = 1_000_000


@dataclass(frozen=True)
class UserActivation:
    """An activation given as Python functions: ``g`` and its derivative ``dg`` (``d2g``
    optional; without it the second derivative is taken by central differences of ``dg``).

    The functions must accept and return NumPy arrays (elementwise).  Gaussian averages of a
    user activation are computed by Gauss-Hermite quadrature (``twolayer.gaussian``); the SGD
    engine evaluates it in Python per step, so it is meant for exploration, not for speed.
    """

    name: str
    g: Callable
    dg: Callable
    d2g: Callable | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or self.name in ACTIVATIONS:
            raise ValueError(f"name of a user activation must be a new non-empty string (not one of "
                             f"{ACTIVATIONS}), got {self.name!r}")
        for attr in ("g", "dg"):
            if not callable(getattr(self, attr)):
                raise ValueError(f"{attr} of a user activation must be callable")
        if self.d2g is not None and not callable(self.d2g):
            raise ValueError("d2g of a user activation must be callable or None")
        x = np.linspace(-3.0, 3.0, 7)
        for attr in ("g", "dg") + (("d2g",) if self.d2g is not None else ()):
            try:
                y = np.asarray(getattr(self, attr)(x), dtype=np.float64)
            except Exception as e:  # noqa: BLE001 - any failure of user code is bad input
                raise ValueError(f"{attr} of user activation {self.name!r} fails on an array: {e}") from None
            if y.shape != x.shape or not np.all(np.isfinite(y)):
                raise ValueError(f"{attr} of user activation {self.name!r} must map an array "
                                 f"elementwise to finite values")


def _opt(default, help: str, **meta):
    return field(default=default, metadata={"help": help, **meta})


def _tuple_of_floats(name: str, value, length: int | None, *, positive: bool = False):
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be a sequence of numbers, got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers, got {value!r}") from None
    if arr.ndim != 1 or (length is not None and arr.shape[0] != length):
        want = f"{length} values" if length is not None else "a 1-d sequence"
        raise ValueError(f"{name} must hold {want}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if positive and np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0")
    return tuple(float(a) for a in arr)


@dataclass(frozen=True, repr=False)
class Config:
    """One teacher-student setting (frozen; every field validated on construction).

    Create variants with ``config.replace(eta=0.01)`` (validated again).  Derived quantities:
    ``n_trainable`` (N_l), ``student_weights`` (v, K values), ``teacher_weights`` (v*, M
    values), ``eta_v`` (learning rate of a trained second layer).
    """

    N: int = _opt(1024, "input dimension N", minimum=1)
    L: int = _opt(1, "number L of distinct eigenvalue levels of the power law (must divide N); "
                     "set automatically for a user spectrum", minimum=1)
    K: int = _opt(2, "student hidden units K", minimum=1)
    M: int = _opt(2, "teacher hidden units M", minimum=1)
    beta: float = _opt(1.0, "spectral exponent beta > 0: lambda_l = lambda_+ l^-(1+beta)")
    eta: float = _opt(0.1, "learning rate eta > 0 of the first layer")
    sigma_J: float = _opt(0.01, "standard deviation sigma_J >= 0 of the initial student weights",
                          cli="--sigma-J")
    activation: object = _opt("erf", "activation g of student and teacher", choices=ACTIVATIONS)
    readout: str = _opt("sum", "fixed second layer: 1 (sum, the paper's) or 1/sqrt(K), 1/sqrt(M) "
                               "(sqrt)", choices=READOUTS)
    trainable: int | None = _opt(None, "train only the N_l eigen-coordinates of largest "
                                       "eigenvalue (default: all N)", metavar="N_l")
    student_readout: tuple | None = _opt(None, "student second-layer weights v (K values; "
                                               "default from --readout)", metavar="V", nargs="K")
    teacher_readout: tuple | None = _opt(None, "teacher second-layer weights v* (M values; "
                                               "default from --readout)", metavar="V", nargs="M")
    train_readout: bool = _opt(False, "train the student's second layer v with learning rate "
                                      "eta_readout: v_i += (eta_v/N) g(h_i)(y - sigma)")
    eta_readout: float | None = _opt(None, "learning rate of a trained second layer (default: eta)")
    noise: float = _opt(0.0, "label noise: y = teacher(x) + noise * xi, xi ~ N(0, 1)")
    teacher: str = _opt("random", "teacher first layer: i.i.d. N(0,1) (random) or made "
                                  "Sigma-orthonormal, T = I exactly (orthogonal)", choices=TEACHERS)
    cluster_width: float = _opt(0.0, "split each power-law level into N/L values spread by this "
                                     "relative width delta in [0, 2)")
    spectrum: tuple | None = _opt(None, "user-given eigenvalues of Sigma (N values); CLI: "
                                        "--spectrum-file FILE.npy", cli=None)
    schedule: str = _opt("constant", SCHEDULE_HELP, metavar="SPEC", type=str)
    batch: int = _opt(1, "mini-batch size B: each step averages the gradient over B fresh samples "
                         "with learning rate eta (alpha still counts samples, B / N per step)",
                      minimum=1)

    def __post_init__(self):
        s = object.__setattr__
        N = check_int("N", self.N, 1, MAX_N)
        s(self, "N", N)
        s(self, "K", check_int("K", self.K, 1, MAX_UNITS))
        s(self, "M", check_int("M", self.M, 1, MAX_UNITS))
        s(self, "beta", check_float("beta", self.beta, lo=0.0, lo_open=True, hi=1e3))
        s(self, "eta", check_float("eta", self.eta, lo=0.0, lo_open=True, hi=1e6))
        s(self, "sigma_J", check_float("sigma_J", self.sigma_J, lo=0.0, hi=1e6))
        if isinstance(self.activation, str):
            check_choice("activation", self.activation, ACTIVATIONS)
        elif not isinstance(self.activation, UserActivation):
            raise ValueError(f"activation must be one of {ACTIVATIONS} or a UserActivation, got {self.activation!r}")
        check_choice("readout", self.readout, READOUTS)
        check_choice("teacher", self.teacher, TEACHERS)
        s(self, "train_readout", check_bool("train_readout", self.train_readout))
        if self.eta_readout is not None:
            if not self.train_readout:
                raise ValueError("eta_readout needs train_readout=True (the second layer is fixed otherwise)")
            s(self, "eta_readout", check_float("eta_readout", self.eta_readout, lo=0.0, hi=1e6))
        s(self, "noise", check_float("noise", self.noise, lo=0.0, hi=1e6))
        s(self, "cluster_width", check_float("cluster_width", self.cluster_width, lo=0.0, hi=2.0, hi_open=True))
        s(self, "student_readout", _tuple_of_floats("student_readout", self.student_readout, self.K))
        s(self, "teacher_readout", _tuple_of_floats("teacher_readout", self.teacher_readout, self.M))
        if self.spectrum is not None:
            if self.cluster_width != 0.0:
                raise ValueError("cluster_width applies to the power law; it must be 0 with a user spectrum")
            lam = _tuple_of_floats("spectrum", self.spectrum, N, positive=True)
            if max(lam) <= 0.0:
                raise ValueError("spectrum must have at least one eigenvalue > 0")
            lam = tuple(sorted(lam, reverse=True))
            s(self, "spectrum", lam)
            distinct = len(set(lam))
            L = check_int("L", self.L, 1, N)
            if L not in (1, distinct):
                raise ValueError(f"L must be omitted or equal the number of distinct eigenvalues "
                                 f"({distinct}) of the user spectrum, got {L}")
            s(self, "L", distinct)
        else:
            L = check_int("L", self.L, 1, N)
            if N % L:
                raise ValueError(f"L must divide N (each eigenvalue level has multiplicity N/L); "
                                 f"got N={N}, L={L}")
            s(self, "L", L)
        if self.trainable is not None:
            s(self, "trainable", check_int("trainable (N_l)", self.trainable, 1, N))
        s(self, "schedule", parse_schedule(self.schedule).spec)
        s(self, "batch", check_int("batch", self.batch, 1, MAX_BATCH))
        if self.teacher == "orthogonal" and self.M > N:
            raise ValueError(f"teacher='orthogonal' needs M <= N, got M={self.M}, N={N}")

    # -- derived quantities ---------------------------------------------------------------
    @property
    def activation_name(self) -> str:
        return self.activation if isinstance(self.activation, str) else self.activation.name

    @property
    def lr_schedule(self) -> Schedule:
        """The learning-rate schedule f(alpha) (``twolayer.problem.schedule``)."""
        return parse_schedule(self.schedule)

    @property
    def default_recipe(self) -> bool:
        """True for a constant learning rate and one sample per step (the paper's training)."""
        return self.schedule == "constant" and self.batch == 1

    @property
    def n_trainable(self) -> int:
        """N_l: the number of trained eigen-coordinates (N when all are trained)."""
        return self.N if self.trainable is None else self.trainable

    @property
    def student_weights(self) -> np.ndarray:
        """Initial student second-layer weights v (K,): ``student_readout``, or 1 (sum) or K^{-1/2} (sqrt)."""
        if self.student_readout is not None:
            return np.array(self.student_readout, dtype=np.float64)
        return np.full(self.K, 1.0 if self.readout == "sum" else 1.0 / math.sqrt(self.K))

    @property
    def teacher_weights(self) -> np.ndarray:
        """Teacher second-layer weights v* (M,): ``teacher_readout``, or 1 (sum) or M^{-1/2} (sqrt)."""
        if self.teacher_readout is not None:
            return np.array(self.teacher_readout, dtype=np.float64)
        return np.full(self.M, 1.0 if self.readout == "sum" else 1.0 / math.sqrt(self.M))

    @property
    def eta_v(self) -> float:
        """Learning rate of the student's second layer (0 when it is not trained)."""
        if not self.train_readout:
            return 0.0
        return self.eta if self.eta_readout is None else self.eta_readout

    @property
    def uniform_readout(self) -> bool:
        """True when both second layers are fixed and all-equal (the paper's setting)."""
        return (not self.train_readout and self.student_readout is None
                and self.teacher_readout is None)

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "spectrum" and v is not None:
                parts.append(f"spectrum=<{len(v)} values, {self.L} distinct>")
            elif f.name == "activation":
                parts.append(f"activation={self.activation_name!r}")
            elif v != f.default or f.name in ("N", "L", "K", "M", "beta", "eta", "sigma_J"):
                parts.append(f"{f.name}={v!r}")
        return f"Config({', '.join(parts)})"

    def replace(self, **changes) -> "Config":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-able description (user activations by name; spectrum as a list)."""
        d = asdict(self)
        d["activation"] = self.activation_name
        for k in ("student_readout", "teacher_readout", "spectrum"):
            if d[k] is not None:
                d[k] = list(d[k])
        return d

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def integer_fields(cls) -> tuple[str, ...]:
        """The fields that hold whole numbers (read from their annotations: ``int``, ``int | None``)."""
        return tuple(f.name for f in fields(cls) if str(f.type).split("|")[0].strip() == "int")
