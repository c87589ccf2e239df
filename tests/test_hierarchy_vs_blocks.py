"""The hierarchy form against the block form (twolayer.experiments.hierarchy_vs_blocks)."""

import numpy as np
import pytest

import twolayer as tl
from twolayer.experiments import hierarchy_vs_blocks

CFG = tl.Config(N=48, L=1, K=2, M=2, beta=1.0, eta=0.2, sigma_J=0.01)


def test_the_two_forms_agree_to_the_integration_tolerance():
    alpha = tl.alpha_grid(50, 10, CFG.N)
    df = hierarchy_vs_blocks(CFG, alpha, (1, 2), seed=3)
    assert list(df["L"]) == [1, 2]
    assert list(df.columns) == ["L", "max |d ln eps_g|", "max rel. dev. R^(k)", "eps_g(end)"]
    assert (df["max |d ln eps_g|"] < 1e-4).all() and (df["max rel. dev. R^(k)"] < 1e-4).all()
    block = tl.solve_ode(CFG.replace(L=2), alpha, seeds=3, rtol=1e-8).eps_g[0, -1]
    assert df["eps_g(end)"][1] == pytest.approx(block, rel=1e-12)
    assert 0 < block < 0.5


def test_hierarchy_vs_blocks_validates_its_inputs():
    alpha = tl.alpha_grid(5, 5, CFG.N)
    with pytest.raises(ValueError, match="L"):
        hierarchy_vs_blocks(CFG, alpha, (0,))
    with pytest.raises(ValueError, match="rtol"):
        hierarchy_vs_blocks(CFG, alpha, (1,), rtol=1.0)
    assert np.isfinite(hierarchy_vs_blocks(CFG, alpha, 1)["max |d ln eps_g|"][0])
