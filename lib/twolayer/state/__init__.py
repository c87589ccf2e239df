"""The resolved setting and the state it evolves: ``Setting`` (a ``Config`` resolved once:
groups, rates, activation, readouts, noise), the seeded initial weights and their overlaps, and
``BlockState`` (the order parameters per group).  Imports ``twolayer.problem`` and ``gaussian``."""

from .blocks import (
                      OVERLAP_MAX,
                      BlockState,
                      block_covariance,
                      global_overlaps,
                      pack,
                      unpack,
)
from .setting import Setting, resolve
from .weights import (
                      STREAMS,
                      block_overlaps,
                      check_weights_shape,
                      init_student,
                      init_teacher,
                      init_weights,
                      initial_state,
                      overlaps,
                      seed_stream,
)

__all__ = ["OVERLAP_MAX", "STREAMS", "BlockState", "Setting", "block_covariance", "block_overlaps",
           "check_weights_shape", "global_overlaps", "init_student", "init_teacher", "init_weights", "initial_state",
           "overlaps", "pack", "resolve", "seed_stream", "unpack"]
