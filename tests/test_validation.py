"""Every invalid parameter of the library raises ValueError naming the parameter, and a diverging
run raises DivergenceError with a clear message instead of returning NaNs."""

from __future__ import annotations

import re

import numpy as np
import pytest

from twolayer import data
from twolayer.config import Config
from twolayer.results import LearningCurve, alpha_grid
from twolayer.sgd import DivergenceError, simulate, simulate_seed
from twolayer.theory import linear, ode


def raises_naming(name, fn, *args, **kw):
    """fn(*args, **kw) raises ValueError whose message names ``name`` as a word."""
    with pytest.raises(ValueError) as exc:
        fn(*args, **kw)
    msg = str(exc.value)
    assert re.search(rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z_])", msg), f"{name!r} not named in: {msg}"
    assert "\n" not in msg
    return msg


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------
BAD_CONFIG = [
    ("N", dict(N=0)),
    ("N", dict(N=-8)),
    ("N", dict(N=1.5)),
    ("N", dict(N=64.0)),
    ("N", dict(N="64")),
    ("N", dict(N=True)),
    ("L", dict(N=64, L=0)),
    ("L", dict(N=64, L=128)),  # L > N
    ("L", dict(N=64, L=3)),  # L does not divide N
    ("L", dict(N=64, L=2.0)),
    ("beta", dict(beta=0)),
    ("beta", dict(beta=-0.5)),
    ("beta", dict(beta=float("nan"))),
    ("beta", dict(beta=float("inf"))),
    ("beta", dict(beta="one")),
    ("K", dict(K=0)),
    ("K", dict(K=2.5)),
    ("M", dict(M=0)),
    ("M", dict(M=-1)),
    ("eta", dict(eta=0)),
    ("eta", dict(eta=-0.1)),
    ("eta", dict(eta=float("nan"))),
    ("eta", dict(eta=float("inf"))),
    ("sigma_J", dict(sigma_J=-0.01)),
    ("sigma_J", dict(sigma_J=float("nan"))),
    ("activation", dict(activation="relu")),
    ("activation", dict(activation="ERF")),
    ("readout", dict(readout="mean")),
    ("trainable", dict(N=64, trainable=0)),
    ("trainable", dict(N=64, trainable=65)),  # N_l > N
    ("trainable", dict(N=64, trainable=-1)),
    ("trainable", dict(N=64, trainable=3.5)),
]


@pytest.mark.parametrize("name,kw", BAD_CONFIG, ids=[f"{n}={list(kw.values())[-1]!r}" for n, kw in BAD_CONFIG])
def test_config_rejects(name, kw):
    raises_naming(name, Config, **kw)


def test_config_messages_state_the_allowed_range():
    assert "must be >= 1, got 0" in raises_naming("K", Config, K=0)
    assert "must be finite and > 0, got nan" in raises_naming("beta", Config, beta=float("nan"))
    assert "in [1, 64], got 65" in raises_naming("trainable", Config, N=64, trainable=65)
    assert "N=64, L=3" in raises_naming("L", Config, N=64, L=3)
    assert "('erf', 'linear')" in raises_naming("activation", Config, activation="tanh")


def test_config_valid_edge_cases_and_replace_revalidates():
    cfg = Config(N=8, L=8, K=1, M=1, sigma_J=0.0, trainable=8, eta=1e-9, beta=1e-3)
    assert (cfg.N, cfg.L, cfg.sigma_J, cfg.n_trainable) == (8, 8, 0.0, 8)
    assert Config(N=np.int64(16), L=np.int32(4)).N == 16  # numpy integers are integers
    raises_naming("eta", cfg.replace, eta=-1.0)
    raises_naming("L", cfg.replace, N=12)  # 8 does not divide 12
    raises_naming("trainable", cfg.replace, N=4, L=4)  # N_l = 8 > N = 4


# --------------------------------------------------------------------------------------------
# grids and curves
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,args,kw",
    [
        ("alpha_max", (0, 10, 64), {}),
        ("alpha_max", (-1.0, 10, 64), {}),
        ("alpha_max", (float("nan"), 10, 64), {}),
        ("alpha_max", (float("inf"), 10, 64), {}),
        ("points", (10, 1, 64), {}),
        ("points", (10, 2.5, 64), {}),
        ("alpha_min", (10, 10, 64), {"alpha_min": 20}),
        ("alpha_min", (10, 10, 64), {"alpha_min": 0.0}),
        ("alpha_min", (10, 10, 64), {"alpha_min": -1.0}),
        ("N", (10, 10, 0), {}),
        ("N", (10, 10, -4), {}),
    ],
)
def test_alpha_grid_rejects(name, args, kw):
    raises_naming(name, alpha_grid, *args, **kw)


def test_learning_curve_rejects_mismatched_shapes():
    raises_naming("alpha", LearningCurve, alpha=np.arange(3.0), eps_g=np.ones((2, 4)))


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,fn,args",
    [
        ("L", data.eigenvalues, (0, 1.0)),
        ("L", data.eigenvalues, (2.5, 1.0)),
        ("beta", data.eigenvalues, (4, 0.0)),
        ("beta", data.eigenvalues, (4, float("nan"))),
        ("L", data.lambda_plus, (0, 1.0)),
        ("beta", data.lambda_plus, (4, -1.0)),
        ("L", data.coordinate_eigenvalues, (10, 3, 1.0)),
        ("L", data.coordinate_eigenvalues, (4, 8, 1.0)),
        ("N", data.coordinate_eigenvalues, (0, 1, 1.0)),
        ("beta", data.coordinate_eigenvalues, (8, 2, 0.0)),
        ("trainable", data.make_groups, (8, 2, 1.0, 0)),
        ("trainable", data.make_groups, (8, 2, 1.0, 9)),
        ("trainable", data.make_groups, (8, 2, 1.0, 2.5)),
        ("L", data.make_groups, (8, 3, 1.0)),
        ("seed", data.seed_streams, (-1,)),
        ("seed", data.seed_streams, (1.5,)),
        ("seed", data.GaussianInputs, (8, 2, 1.0, -1)),
        ("L", data.GaussianInputs, (8, 3, 1.0, 0)),
    ],
    ids=lambda v: getattr(v, "__name__", None) if callable(v) else None,
)
def test_data_functions_reject(name, fn, args):
    raises_naming(name, fn, *args)


def test_gaussian_inputs_sample_rejects_negative_n():
    raises_naming("n", data.GaussianInputs(8, 2, 1.0, 0).sample, -1)


# --------------------------------------------------------------------------------------------
# simulation and theory entry points
# --------------------------------------------------------------------------------------------
def test_simulate_rejects_bad_seeds_and_grid():
    cfg = Config(N=16)
    raises_naming("seed", simulate, cfg, 1.0, 4, seeds=[-1])
    raises_naming("seed", simulate, cfg, 1.0, 4, seeds=[0.5])
    raises_naming("alpha_max", simulate, cfg, 0.0, 4)
    raises_naming("points", simulate, cfg, 1.0, 1)
    raises_naming("alpha", simulate_seed, cfg, 0, np.array([1.0, 0.5]))


def test_ode_initial_overlaps_reject_bad_init():
    cfg = Config(N=16, L=4, K=2, M=3)
    raises_naming("init", ode.initial_overlaps, cfg, "random")
    raises_naming("init", ode.initial_overlaps, cfg, None)
    q, r, t = ode.initial_overlaps(cfg, "mean")
    raises_naming("q0", ode.initial_overlaps, cfg, (q[:2], r, t))
    raises_naming("r0", ode.initial_overlaps, cfg, (q, r[..., :2], t))
    raises_naming("t0", ode.initial_overlaps, cfg, (q, r, t[0]))
    raises_naming("seed", ode.initial_overlaps, cfg, "sampled", -3)
    raises_naming("alpha", ode.integrate, cfg, np.array([1.0, 0.5]))
    raises_naming("alpha", ode.integrate, cfg, np.array([-1.0, 0.5]))


@pytest.mark.parametrize("fn", [linear.exact_curve, linear.small_eta_curve])
@pytest.mark.parametrize(
    "cfg", [Config(N=16, K=1, M=1, activation="erf"), Config(N=16, K=2, M=1, activation="linear")],
    ids=["erf", "K=2"],
)
def test_linear_theory_needs_linear_k1(fn, cfg):
    msg = raises_naming("activation", fn, cfg, np.array([0.5, 1.0]))
    assert "K = M = 1" in msg


def test_linear_reachable_error_rejects_erf_and_unstable_eta():
    raises_naming("activation", linear.reachable_error, Config(N=16, K=1, M=1))
    raises_naming("eta", linear.reachable_error, Config(N=16, K=1, M=1, activation="linear", eta=5.0))


def test_fit_exponent_needs_points_in_window():
    a = np.geomspace(1, 100, 20)
    with pytest.raises(ValueError, match="fit window"):
        linear.fit_exponent(a, a**-0.5, 200.0, 300.0)


# --------------------------------------------------------------------------------------------
# divergence
# --------------------------------------------------------------------------------------------
def test_diverging_sgd_raises_a_clear_error():
    cfg = Config(N=64, K=1, M=1, activation="linear", eta=5.0)
    assert cfg.eta > linear.eta_max(cfg)
    with pytest.raises(DivergenceError) as exc:
        simulate(cfg, alpha_max=50.0, points=8, seeds=[0])
    msg = str(exc.value)
    assert msg.startswith("SGD diverged by alpha = ")
    assert "eta = 5.0 is too large" in msg
    a = float(re.search(r"alpha = ([0-9.eE+-]+)", msg).group(1))
    assert 0 < a < 50
    with pytest.raises(DivergenceError):
        simulate(cfg, alpha_max=50.0, points=8, seeds=[0, 1])  # also from the worker threads
    assert isinstance(exc.value, RuntimeError) and not isinstance(exc.value, ValueError)


@pytest.mark.parametrize("activation,K", [("linear", 1), ("linear", 2), ("erf", 2)])
@pytest.mark.parametrize("eta", [1.0, 3.0, 30.0])
def test_large_eta_never_returns_nan(activation, K, eta):
    """Either a DivergenceError or an all-finite curve, never NaN / inf."""
    cfg = Config(N=32, K=K, M=K, activation=activation, eta=eta)
    try:
        curve = simulate(cfg, alpha_max=20.0, points=6, seeds=[0])
    except DivergenceError as e:
        assert "too large" in str(e)
        return
    assert np.all(np.isfinite(curve.eps_g))
    assert activation == "erf" or eta < 2.0  # the linear network cannot survive eta >= 2 (eta_max < 2)
