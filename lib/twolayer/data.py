"""Power-law data: the spectrum of Sigma, seeded Gaussian inputs, eigenvalue groups.

Chapter "Setting and notation", Eq. (spectrum):  lambda_l = lambda_+ l^{-(1+beta)}, l = 1..L,
each with multiplicity N/L, and lambda_+ fixed by (1/L) sum_l lambda_l = 1 so that Tr Sigma = N.
Inputs are generated in the eigenbasis, x = sqrt(lambda) * z with z ~ N(0, I_N); an optional
orthogonal rotation O gives x' = O x with the same spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Config, _check_int, _check_pos, check_seed, check_spectrum_args


def lambda_plus(L: int, beta: float) -> float:
    """lambda_+ = L / sum_{l=1}^L l^{-(1+beta)} (normalisation (1/L) sum lambda_l = 1)."""
    L, beta = _check_int("L", L, 1), _check_pos("beta", beta)
    l = np.arange(1, L + 1, dtype=float)
    return L / np.sum(l ** (-(1.0 + beta)))


def eigenvalues(L: int, beta: float) -> np.ndarray:
    """The L distinct eigenvalues lambda_l, largest first (Eq. spectrum)."""
    L, beta = _check_int("L", L, 1), _check_pos("beta", beta)
    l = np.arange(1, L + 1, dtype=float)
    lam = l ** (-(1.0 + beta))
    return lam * (L / lam.sum())


def coordinate_eigenvalues(N: int, L: int, beta: float) -> np.ndarray:
    """Eigenvalue of each of the N eigen-coordinates (each lambda_l repeated N/L times)."""
    N, L, beta = check_spectrum_args(N, L, beta)
    return np.repeat(eigenvalues(L, beta), N // L)


@dataclass(frozen=True)
class Groups:
    """Coordinates grouped by eigenvalue and trainability (the ODE's blocks).

    Without a trainable mask there is one group per eigenvalue block (G = L).  When N_l cuts a
    block, that block is split into a trainable and a frozen group.  ``lam[g]`` is the eigenvalue,
    ``frac[g] = n_g / N`` the fraction of coordinates, ``trainable[g]`` whether SGD moves them,
    ``start[g]:stop[g]`` the coordinate range, ``block[g]`` the index l-1 of the eigenvalue.
    """

    lam: np.ndarray
    frac: np.ndarray
    trainable: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    block: np.ndarray

    @property
    def size(self) -> int:
        return len(self.lam)

    def slices(self):
        return [slice(a, b) for a, b in zip(self.start, self.stop)]


def make_groups(N: int, L: int, beta: float, trainable: int | None = None) -> Groups:
    """Eigenvalue groups of the block ODE (chapter "Order-parameter dynamics")."""
    N, L, beta = check_spectrum_args(N, L, beta)
    n_l = N if trainable is None else _check_int("trainable (N_l)", trainable, 1, N)
    lam_blocks = eigenvalues(L, beta)
    m = N // L
    lam, frac, tr, start, stop, block = [], [], [], [], [], []
    for l in range(L):
        a, b = l * m, (l + 1) * m
        cuts = [a, b] if not (a < n_l < b) else [a, n_l, b]
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            lam.append(lam_blocks[l])
            frac.append((hi - lo) / N)
            tr.append(hi <= n_l)
            start.append(lo)
            stop.append(hi)
            block.append(l)
    return Groups(
        lam=np.array(lam),
        frac=np.array(frac),
        trainable=np.array(tr, dtype=bool),
        start=np.array(start),
        stop=np.array(stop),
        block=np.array(block),
    )


def groups_for(cfg: Config) -> Groups:
    return make_groups(cfg.N, cfg.L, cfg.beta, cfg.trainable)


def seed_streams(seed: int, n: int = 3) -> list[np.random.SeedSequence]:
    """Independent child seed sequences of one experiment seed.

    Stream 0 draws the teacher B, stream 1 the student J, stream 2 the inputs (and stream 3,
    when asked for, a random rotation of the basis).
    """
    seed = check_seed(seed)
    return np.random.SeedSequence(seed).spawn(n)


def random_rotation(N: int, seed: int) -> np.ndarray:
    """A Haar-random orthogonal N x N matrix from an explicit seed (QR with sign fix)."""
    rng = np.random.default_rng(seed_streams(seed, 4)[3])
    A = rng.standard_normal((N, N))
    Qm, Rm = np.linalg.qr(A)
    return Qm * np.sign(np.diag(Rm))


class GaussianInputs:
    """Seeded sampler of x ~ N(0, Sigma) with the power-law spectrum.

    ``sample(n)`` returns an (n, N) array.  In the eigenbasis (``rotate=False``) the coordinates
    are independent with variances ``coordinate_eigenvalues``; with ``rotate=True`` the samples
    are O x for a seeded Haar-random O (same spectrum, dense covariance O diag(lambda) O^T).
    """

    def __init__(self, N: int, L: int, beta: float, seed: int, rotate: bool = False):
        self.N, self.L, self.beta = check_spectrum_args(N, L, beta)
        self.sqrt_lam = np.sqrt(coordinate_eigenvalues(self.N, self.L, self.beta))
        self.rng = np.random.default_rng(seed_streams(seed)[2])
        self.rotation = random_rotation(self.N, seed) if rotate else None

    @property
    def covariance(self) -> np.ndarray:
        lam = self.sqrt_lam**2
        if self.rotation is None:
            return np.diag(lam)
        return (self.rotation * lam) @ self.rotation.T

    def sample(self, n: int) -> np.ndarray:
        n = _check_int("n", n, 0)
        x = self.rng.standard_normal((n, self.N)) * self.sqrt_lam
        if self.rotation is not None:
            x = x @ self.rotation.T
        return x
