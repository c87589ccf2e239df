"""SGD engines: the compiled online-SGD engine with its driver, the NumPy reference step and
the PyTorch backend.  Imports ``twolayer.problem``, ``gaussian`` and ``data``."""

from .reference import reference_step
from .sgd import simulate

__all__ = ["reference_step", "simulate"]
