"""Data: seeded weights and their overlaps, input sources for the SGD engine, real images.
Imports only ``twolayer.problem``."""

from . import images
from .inputs import DatasetInputs, GaussianInputs, GivenInputs, normal_keys
from .weights import (
    STREAMS,
    block_overlaps,
    global_overlaps,
    init_student,
    init_teacher,
    init_weights,
    overlaps,
    sampled_block_overlaps,
    seed_stream,
)

__all__ = ["STREAMS", "DatasetInputs", "GaussianInputs", "GivenInputs", "block_overlaps",
           "global_overlaps", "images", "init_student", "init_teacher", "init_weights", "normal_keys",
           "overlaps", "sampled_block_overlaps", "seed_stream"]
