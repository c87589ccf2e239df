"""How symmetric the plateau is: the spread of the overlaps over the teacher units.

Chapter "Beyond the paper", section "A fixed (orthogonal) teacher": on the plateau every student
has the same overlap with a teacher unit, R_in = R_n, and with a random teacher at finite N the
R_n differ from unit to unit (M distinct plateau heights); a Sigma-orthonormal teacher makes them
equal.
"""

from __future__ import annotations

import numpy as np

__all__ = ["overlap_spread"]


def overlap_spread(R) -> np.ndarray:
    """Relative spread over the teacher units n of R_n = (1/K) sum_i R_in: std_n / mean_n.

    Parameters
    ----------
    R : global student-teacher overlaps, shape (..., K, M) (e.g. one alpha of a trajectory's R,
        (seeds, K, M))

    Returns
    -------
    array of shape (...): the spread per leading index (0 for identical R_n)
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim < 2 or R.shape[-1] < 2:
        raise ValueError(f"R must have shape (..., K, M) with M >= 2, got {R.shape}")
    Rn = R.mean(axis=-2)
    return np.std(Rn, axis=-1) / np.mean(Rn, axis=-1)
