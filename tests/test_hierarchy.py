"""The hierarchy form of the ODE (``twolayer.theory.hierarchy``, moments Q^(k), R^(k) closed by
the minimal polynomial of the spectrum) against the block form."""

import numpy as np
import pytest

from twolayer import Config, alpha_grid, solve_hierarchy, solve_ode
from twolayer.problem.spectrum import eigenvalues, groups
from twolayer.theory import hierarchy


@pytest.mark.parametrize("L", [1, 2, 3, 4])
def test_hierarchy_equals_block_form(L):
    cfg = Config(N=48, L=L, K=2, M=2, beta=1.0, eta=0.2)
    alpha = alpha_grid(300, 25, 48)
    hi = solve_hierarchy(cfg, alpha, init="sampled", seed=3)
    tr = solve_ode(cfg, alpha, seeds=3, rtol=1e-8, keep_blocks=True)
    # both integrations are converged to ~1e-6; the plateau escape amplifies that to ~1e-5
    assert np.max(np.abs(np.log(hi.eps_g[0] / tr.eps_g[0]))) < 1e-4
    Qs, Rs = hi.info["Qh"], hi.info["Rh"]
    lam = groups(cfg).lam
    for k in range(1, L + 1):  # every order of the hierarchy, R^(k) and Q^(k)
        Qk = np.einsum("g,pgij->pij", lam**k, tr.info["q"][0])
        Rk = np.einsum("g,pgij->pij", lam**k, tr.info["r"][0])
        scale = np.max(np.abs(Qs[:, k - 1]))
        assert np.max(np.abs(Qk - Qs[:, k - 1])) < 1e-4 * scale
        assert np.max(np.abs(Rk - Rs[:, k - 1])) < 1e-4 * np.max(np.abs(Rs[:, k - 1]))


def test_hierarchy_closure_is_the_minimal_polynomial():
    lam = eigenvalues(4, 1.0)
    c = hierarchy.minimal_polynomial(lam)
    for x in lam:
        assert abs(x**4 + np.dot(c, x ** np.arange(4))) < 1e-9 * lam[0] ** 4
