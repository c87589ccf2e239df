"""Data: input sources for the SGD engine (fresh Gaussian inputs, given sequences, rows of a data
set), the counter-based normal generator, and real images.  Imports ``twolayer.problem`` and
``state`` (the seeds' streams)."""

from . import images
from .inputs import DatasetInputs, GaussianInputs, GivenInputs, normal_keys

__all__ = ["DatasetInputs", "GaussianInputs", "GivenInputs", "images", "normal_keys"]
