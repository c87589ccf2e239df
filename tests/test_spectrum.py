"""The data spectrum and what is built on it: the normalised power-law eigenvalues, their groups
(split at the trainable boundary) and the alpha grid of whole SGD steps."""

import numpy as np
import pytest

from twolayer import Config, alpha_grid
from twolayer.problem.spectrum import coordinate_eigenvalues, eigenvalues, groups, lambda_plus


@pytest.mark.parametrize("L,beta", [(1, 1.0), (10, 0.25), (256, 0.75), (1024, 1.0)])
def test_spectrum_normalisation(L, beta):
    lam = eigenvalues(L, beta)
    assert abs(lam.mean() - 1.0) < 1e-12
    assert np.all(np.diff(lam) < 0) or L == 1
    np.testing.assert_allclose(lam / lam[0], np.arange(1, L + 1) ** -(1 + beta), rtol=1e-12)
    assert abs(lam[0] - lambda_plus(L, beta)) < 1e-12 * lam[0]
    lam_n = coordinate_eigenvalues(Config(N=4 * L, L=L, beta=beta))
    assert abs(lam_n.sum() - 4 * L) < 1e-9 * L  # Tr Sigma = N


def test_groups_split_at_trainable_boundary():
    g = groups(Config(N=12, L=3, trainable=6))  # blocks of 4: [0,4) train, [4,6) train, [6,8) frozen, [8,12) frozen
    assert list(g.start) == [0, 4, 6, 8] and list(g.stop) == [4, 6, 8, 12]
    assert list(g.trainable) == [True, True, False, False]
    assert abs(g.frac.sum() - 1.0) < 1e-15
    assert list(g.level) == [0, 1, 1, 2]


def test_alpha_grid_whole_steps():
    a = alpha_grid(100.0, 50, 128)
    assert np.all(np.diff(a) > 0)
    np.testing.assert_allclose(a * 128, np.round(a * 128), atol=1e-9)
    assert a[-1] == 100.0 and a[0] == 1 / 128
