"""States of the block ODE read off a run (twolayer.experiments.ode_states): the fixed point an
under-parameterised student settles at, and the shape of the escape mode on the plateau."""

import numpy as np
import pytest

import twolayer as tl
from twolayer.experiments import escape_mode_shape, fixed_points


def test_fixed_points_of_an_under_parameterised_student():
    c = tl.Config(N=64, L=4, K=1, M=2, beta=1.0, eta=0.1, sigma_J=0.01)
    alpha = tl.alpha_grid(3000.0, 60, c.N, alpha_min=0.05)
    fp = fixed_points(c, alpha, seeds=(0, 1))
    assert list(fp.columns) == ["seed", "eps_g", "growth_rate"] and list(fp["seed"]) == [0, 1]
    end = tl.solve_ode(c, alpha, seeds=(0, 1), rtol=1e-6).eps_g[:, -1]
    np.testing.assert_allclose(fp["eps_g"], end, rtol=1e-3)  # the run has settled there
    assert (fp["eps_g"] > 1e-3).all()  # one unit cannot represent two: a finite error
    assert (fp["growth_rate"] < 0).all()  # and the point is stable
    with pytest.raises(ValueError, match="config"):
        fixed_points("c", alpha)


def test_escape_mode_lives_in_the_large_eigenvalues():
    c = tl.Config(N=256, L=16, K=4, M=4, beta=1.0, eta=0.1, sigma_J=0.01)
    mode = escape_mode_shape(c, tl.alpha_grid(3000.0, 120, c.N, alpha_min=0.05), seed=0, at=0.6)
    assert list(mode.columns) == ["lam", "frac", "asym"] and len(mode) == 16
    assert mode["frac"].sum() == pytest.approx(1.0, abs=1e-12)
    slope = tl.analysis.fit_slope(mode["lam"].to_numpy(), mode["asym"].to_numpy())
    assert slope == pytest.approx(0.81, abs=0.02)  # chapter 06, section 8: lambda_g^0.81
    with pytest.raises(ValueError, match="at"):
        escape_mode_shape(c, [1.0, 2.0], at=1.5)
    with pytest.raises(ValueError, match="config"):
        escape_mode_shape("c", [1.0, 2.0])
