"""The block state: the order parameters of every group, the state the block ODE evolves.

Chapter "Order-parameter dynamics" (``chapters/00_dynamics.md``), Eq. {eq}`eq-dyn-block`: per
group g the overlaps q^g = J_g J_g^T / N (K, K), r^g = J_g B_g^T / N (K, M), t^g (M, M), and the
student's second layer v (K,).  The global overlaps are the sums Q^(k) = sum_g lambda_g^k q^g
(likewise R, T), in a fixed order, so that they are the same to the last bit on any CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

__all__ = ["OVERLAP_MAX", "BlockState", "block_covariance", "global_overlaps", "pack", "unpack"]

#: Largest overlap entry accepted in a given initial state: beyond ~1e7 the closed-form
#: four-point erf averages lose all digits (terms of size Q^3 cancel to a result of size 1/Q).
OVERLAP_MAX = 1e6


@nb.njit(cache=True, nogil=True)
def _sum_groups(x, w, out):
    G = x.shape[0]
    for a in range(x.shape[1]):
        for b in range(x.shape[2]):
            s = 0.0
            for g in range(G):
                s += w[g] * x[g, a, b]
            out[a, b] = s


def global_overlaps(q, r, t, lam, power: int = 1):
    """Q^(k), R^(k), T^(k) = sum_g lambda_g^k (q^g, r^g, t^g) (chapter
    {ref}`chap-dynamics`, section "From SGD to the block equations").

    Parameters
    ----------
    q, r, t : block overlaps, group axis first (G, ., .), or with leading batch axes (..., G, ., .)
    lam : eigenvalue of each group (G,)
    power : k (1: the overlaps Q, R, T themselves)

    Returns
    -------
    (Q, R, T), summed over the groups in a fixed order
    """
    w = np.ascontiguousarray(np.asarray(lam, dtype=np.float64) ** power)
    out = []
    for x in (q, r, t):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim == 3:
            o = np.empty(x.shape[1:])
            _sum_groups(x, w, o)
        else:  # leading batch dimensions
            o = np.einsum("g,...gij->...ij", w, x)
        out.append(o)
    return tuple(out)


def block_covariance(q, r, t) -> np.ndarray:
    """Per group the covariance [[q^g, r^g], [r^gT, t^g]] of the pre-activations (..., K+M, K+M)."""
    top = np.concatenate([q, r], axis=-1)
    bot = np.concatenate([np.swapaxes(r, -1, -2), t], axis=-1)
    return np.concatenate([top, bot], axis=-2)


def pack(q, r) -> np.ndarray:
    """The block ODE's free coordinates as one vector per group: the upper triangle of q, then r."""
    K = q.shape[-1]
    iu = np.triu_indices(K)
    return np.concatenate([q[..., iu[0], iu[1]], r.reshape(r.shape[:-2] + (-1,))], axis=-1)


def unpack(x, K: int, M: int):
    """(q, r) from ``pack``'s vectors (..., K (K + 1) / 2 + K M)."""
    iu = np.triu_indices(K)
    nq = len(iu[0])
    q = np.zeros(x.shape[:-1] + (K, K))
    q[..., iu[0], iu[1]] = x[..., :nq]
    q[..., iu[1], iu[0]] = x[..., :nq]
    r = x[..., nq:].reshape(x.shape[:-1] + (K, M))
    return q, r


@dataclass(frozen=True, eq=False)
class BlockState:
    """Block overlaps q (G, K, K), r (G, K, M), t (G, M, M) and the student's second layer v (K,).

    ``BlockState.checked`` validates a given state (shapes, finite, symmetric, a covariance);
    the derivative of the block ODE (``twolayer.theory.blocks.rhs``) is a BlockState too."""

    q: np.ndarray
    r: np.ndarray
    t: np.ndarray
    v: np.ndarray

    def global_overlaps(self, lam, power: int = 1):
        """(Q^(k), R^(k), T^(k)) with the groups' eigenvalues ``lam`` (``global_overlaps``)."""
        return global_overlaps(self.q, self.r, self.t, lam, power)

    def covariance(self) -> np.ndarray:
        """Per group [[q, r], [r^T, t]] (G, K+M, K+M)."""
        return block_covariance(self.q, self.r, self.t)

    def pack(self) -> np.ndarray:
        """(G, d): ``pack(q, r)``."""
        return pack(self.q, self.r)

    @classmethod
    def checked(cls, q, r, t, v, G: int, K: int, M: int) -> BlockState:
        """A validated copy: shapes (G, K, K), (G, K, M), (G, M, M), (K,); finite real entries of
        size <= ``OVERLAP_MAX``; q^g, t^g symmetric and [[q^g, r^g], [r^gT, t^g]] positive
        semi-definite to round-off in every group.  ValueError otherwise."""
        arrs = []
        for name, a, shape in (("q0", q, (G, K, K)), ("r0", r, (G, K, M)), ("t0", t, (G, M, M)), ("v0", v, (K,))):
            a = np.asarray(a)
            if a.shape != shape:
                raise ValueError(f"{name} must have shape {shape} (groups G={G}, K={K}, M={M}), got {a.shape}")
            if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
                raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
            a = np.array(a, dtype=np.float64, order="C", copy=True)
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} must be finite")
            arrs.append(a)
        q, r, t, v = arrs
        for name, a in (("q0", q), ("r0", r), ("t0", t)):
            if a.size and np.abs(a).max() > OVERLAP_MAX:
                raise ValueError(f"{name} must have entries of size <= {OVERLAP_MAX:.0e}, got {np.abs(a).max():.3g}")
        big = max(np.abs(q).max(initial=0.0), np.abs(r).max(initial=0.0), np.abs(t).max(initial=0.0))
        for name, a in (("q0", q), ("t0", t)):
            if not np.allclose(a, np.swapaxes(a, -1, -2), rtol=1e-10, atol=1e-14 * max(1.0, big)):
                raise ValueError(f"{name} must be symmetric in every group")
        C = block_covariance(q, r, t)
        wmin = np.linalg.eigvalsh(0.5 * (C + np.swapaxes(C, -1, -2))).min(axis=-1)
        tol = 1e-6 * np.maximum(1e-300, np.abs(C).max(axis=(-2, -1)))  # round-off and linearisation probes pass
        bad = np.flatnonzero(wmin < -tol)
        if bad.size:
            raise ValueError(
                f"initial overlaps are not a covariance: [[q0, r0], [r0^T, t0]] of group {bad[0]} has the "
                f"eigenvalue {wmin[bad[0]]:.3g} < 0 (overlaps of real weights are positive semi-definite)")
        return cls(q, r, t, v)
