"""Every invalid argument of the public API raises a one-line ValueError naming the parameter
(issue "Core v2", section 3: the cases found by fuzzing), and a diverging run raises
DivergenceError with the alpha where it happened instead of returning NaNs or negative errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from twolayer import (Budget, BudgetError, Config, DivergenceError, Trajectory, UserActivation, alpha_grid, eps_g,
                      simulate, solve_ode)
from twolayer.data import GivenInputs
from twolayer.state import init_weights
from twolayer.theory import linear, plateau
from twolayer.state import initial_state


def raises_naming(name, fn, *args, **kw):
    """fn(*args, **kw) raises ValueError whose message names ``name`` as a word, on one line."""
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
    ("N", dict(N=0)), ("N", dict(N=-8)), ("N", dict(N=1.5)), ("N", dict(N=64.0)), ("N", dict(N="64")),
    ("N", dict(N=True)), ("N", dict(N=10**9)),
    ("L", dict(N=64, L=0)), ("L", dict(N=64, L=128)), ("L", dict(N=64, L=3)), ("L", dict(N=64, L=2.0)),
    ("beta", dict(beta=0)), ("beta", dict(beta=-0.5)), ("beta", dict(beta=float("nan"))),
    ("beta", dict(beta=float("inf"))), ("beta", dict(beta="one")), ("beta", dict(beta="1")), ("beta", dict(beta=True)),
    ("K", dict(K=0)), ("K", dict(K=2.5)), ("K", dict(K=10**6)), ("M", dict(M=0)), ("M", dict(M=-1)),
    ("eta", dict(eta=0)), ("eta", dict(eta=-0.1)), ("eta", dict(eta=float("nan"))), ("eta", dict(eta=float("inf"))),
    ("sigma_J", dict(sigma_J=-0.01)), ("sigma_J", dict(sigma_J=float("nan"))), ("sigma_J", dict(sigma_J=1e200)),
    ("activation", dict(activation="ERF")), ("activation", dict(activation="softmax")), ("activation", dict(activation=3)),
    ("readout", dict(readout="mean")),
    ("trainable", dict(N=64, trainable=0)), ("trainable", dict(N=64, trainable=65)),
    ("trainable", dict(N=64, trainable=-1)), ("trainable", dict(N=64, trainable=3.5)),
    ("train_readout", dict(train_readout="false")), ("train_readout", dict(train_readout=1)),
    ("eta_readout", dict(eta_readout=0.1)), ("eta_readout", dict(train_readout=True, eta_readout=-1.0)),
    ("noise", dict(noise=-0.1)), ("noise", dict(noise=float("nan"))),
    ("teacher", dict(teacher="fixed")),
    ("cluster_width", dict(cluster_width=-0.1)), ("cluster_width", dict(cluster_width=2.0)),
    ("student_readout", dict(K=2, student_readout=(1.0,))), ("student_readout", dict(student_readout="1,1")),
    ("teacher_readout", dict(M=2, teacher_readout=(1.0, float("nan")))),
    ("spectrum", dict(N=4, spectrum=(1.0, 2.0))), ("spectrum", dict(N=2, spectrum=(1.0, -1.0))),
    ("spectrum", dict(N=2, spectrum=(0.0, 0.0))), ("cluster_width", dict(N=2, spectrum=(1.0, 2.0), cluster_width=0.1)),
]


@pytest.mark.parametrize("name,kw", BAD_CONFIG, ids=[f"{n}={list(kw.values())[-1]!r}" for n, kw in BAD_CONFIG])
def test_config_rejects(name, kw):
    raises_naming(name, Config, **kw)


def test_config_messages_state_the_allowed_range():
    assert ">= 1 and <= 100000, got 0" in raises_naming("K", Config, K=0) or "in [1, 100000], got 0" in raises_naming("K", Config, K=0)
    assert "got nan" in raises_naming("beta", Config, beta=float("nan"))
    assert "in [1, 64], got 65" in raises_naming("trainable", Config, N=64, trainable=65)
    assert "N=64, L=3" in raises_naming("L", Config, N=64, L=3)
    assert "('linear', 'erf', 'relu', 'tanh')" in raises_naming("activation", Config, activation="softplus")


def test_config_valid_edge_cases_and_replace_revalidates():
    cfg = Config(N=8, L=8, K=1, M=1, sigma_J=0.0, trainable=8, eta=1e-9, beta=1e-3)
    assert (cfg.N, cfg.L, cfg.sigma_J, cfg.n_trainable) == (8, 8, 0.0, 8)
    assert Config(N=np.int64(16), L=np.int32(4)).N == 16  # numpy integers are integers
    assert Config(train_readout=np.bool_(True)).train_readout is True
    raises_naming("eta", cfg.replace, eta=-1.0)
    raises_naming("L", cfg.replace, N=12)  # 8 does not divide 12
    raises_naming("trainable", cfg.replace, N=4, L=4)  # N_l = 8 > N = 4
    assert Config(N=6, spectrum=[3, 1, 1, 2, 2, 2]).L == 3  # L counts the distinct eigenvalues
    raises_naming("L", Config, N=6, L=2, spectrum=[3, 1, 1, 2, 2, 2])


def test_user_activation_is_validated():
    raises_naming("name", UserActivation, "erf", np.tanh, lambda x: 1 - np.tanh(x) ** 2)
    raises_naming("dg", UserActivation, "mytanh", np.tanh, "not callable")
    raises_naming("g", UserActivation, "bad", lambda x: x[:1], lambda x: x)
    act = UserActivation("mytanh", np.tanh, lambda x: 1 - np.tanh(x) ** 2)
    assert Config(activation=act).activation_name == "mytanh"


# --------------------------------------------------------------------------------------------
# grids, trajectories, seeds, workers, tolerances
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,args,kw",
    [
        ("alpha_max", (0, 10, 64), {}), ("alpha_max", (-1.0, 10, 64), {}), ("alpha_max", (float("nan"), 10, 64), {}),
        ("alpha_max", (float("inf"), 10, 64), {}), ("alpha_max", (1e308, 10, 64), {}), ("alpha_max", (1e15, 10, 64), {}),
        ("points", (10, 1, 64), {}), ("points", (10, 2.5, 64), {}), ("points", (10, 10**9, 64), {}),
        ("alpha_min", (10, 10, 64), {"alpha_min": 20}), ("alpha_min", (10, 10, 64), {"alpha_min": 0.0}),
        ("alpha_min", (10, 10, 64), {"alpha_min": -1.0}), ("N", (10, 10, 0), {}), ("N", (10, 10, -4), {}),
    ],
)
def test_alpha_grid_rejects(name, args, kw):
    raises_naming(name, alpha_grid, *args, **kw)


def test_trajectory_rejects_mismatched_shapes():
    raises_naming("eps_g", Trajectory, alpha=np.arange(1.0, 4.0), eps_g=np.ones((2, 4)), config=Config(), method="x")
    raises_naming("Q", Trajectory, alpha=np.arange(1.0, 4.0), eps_g=np.ones((1, 3)), config=Config(K=2),
                  method="x", Q=np.ones((1, 3, 3, 3)))


CFG = Config(N=64, L=4, K=2, M=2)


@pytest.mark.parametrize("fn", [simulate, solve_ode])
@pytest.mark.parametrize("alpha,what", [([], "alpha"), ([float("nan")], "alpha"), ([2.0, 1.0], "alpha"),
                                         ([0.0], "alpha"), ([[1.0]], "alpha"), ("abc", "alpha")])
def test_drivers_reject_bad_grids(fn, alpha, what):
    raises_naming(what, fn, CFG, alpha)


@pytest.mark.parametrize("seeds", [[0.7], [True], [-1], [], ["0"], [1, 1], 2**64])
@pytest.mark.parametrize("fn", [simulate, solve_ode])
def test_drivers_reject_bad_seeds(fn, seeds):
    raises_naming("seeds", fn, CFG, [1.0], seeds=seeds)


@pytest.mark.parametrize("seeds", [range(-1, 3), range(0), np.array([1, -2]), np.array([1, 1]),
                                   np.array([0.5]), range(2**63 - 2, 2**63 + 1)])
@pytest.mark.parametrize("fn", [simulate, solve_ode])
def test_drivers_reject_bad_seed_ranges_and_arrays(fn, seeds):
    raises_naming("seeds", fn, CFG, [1.0], seeds=seeds)


def test_seed_ranges_and_integer_arrays_are_seeds():
    """A range is checked by its ends and an integer array as a whole (so that range(10**7) meets
    the memory budget at once); a NumPy integer array is a sequence of seeds, not one seed."""
    a = simulate(CFG, [1.0], seeds=np.arange(3))
    b = simulate(CFG, [1.0], seeds=range(3))
    assert a.seeds == b.seeds == (0, 1, 2)
    np.testing.assert_array_equal(a.eps_g, b.eps_g)
    raises_naming("K", Config, N=64, K=np.arange(2))


@pytest.mark.parametrize("workers", [0, -3, 1.5, "2"])
def test_simulate_rejects_bad_workers(workers):
    raises_naming("workers", simulate, CFG, [1.0], workers=workers)


@pytest.mark.parametrize("rtol", [-1.0, 5.0, 0.0, float("nan"), "1e-6"])
def test_solve_ode_rejects_bad_rtol(rtol):
    raises_naming("rtol", solve_ode, CFG, [1.0], rtol=rtol)


def test_solve_ode_rejects_bad_switches():
    raises_naming("eta2", solve_ode, CFG, [1.0], eta2="false")
    raises_naming("init", solve_ode, CFG, [1.0], init="random")
    raises_naming("h_max", solve_ode, CFG, [1.0], h_max=-1.0)


def test_alpha_must_be_whole_steps_for_sgd():
    raises_naming("alpha", simulate, CFG, [1.5 / 64 + 1e-3])
    raises_naming("alpha", simulate, CFG, [0.5 / 64])


# --------------------------------------------------------------------------------------------
# weights and initial overlaps
# --------------------------------------------------------------------------------------------
def test_given_weights_are_checked_against_the_config():
    J, B = init_weights(CFG, 0)
    raises_naming("J", simulate, CFG, [1.0], weights=(J[:, :32], B))          # wrong width: no false divergence
    raises_naming("J", simulate, CFG, [1.0], weights=(np.ones((3, 64)), B))   # 3 units for K = 2
    raises_naming("B", simulate, CFG, [1.0], weights=(J, B.astype(complex)))
    raises_naming("J", simulate, CFG, [1.0], weights=(J * np.nan, B))
    raises_naming("X", simulate, Config(N=8, L=1), [1000 / 8], inputs=GivenInputs(np.ones((1000, 4))))
    raises_naming("inputs", simulate, CFG, [1.0], inputs="gaussian")


def test_initial_overlaps_are_validated():
    st = initial_state(CFG, "sampled", 0)
    q, r, t = st.q, st.r, st.t
    raises_naming("q0", solve_ode, CFG, [1.0], init=(q[:, :1], r, t))
    bad = q.copy()
    bad[0, 0, 1] += 0.1  # asymmetric
    raises_naming("q0", solve_ode, CFG, [1.0], init=(bad, r, t))
    tneg = t.copy()
    tneg[0] = -tneg[0]  # not positive semi-definite
    raises_naming("covariance", solve_ode, CFG, [1.0], init=(q, r, tneg))
    raises_naming("q0", solve_ode, CFG, [1.0], init=(q * 1e300, r, t))
    raises_naming("q0", solve_ode, CFG, [1.0], init=(q * np.nan, r, t))
    neg_diag = q.copy()
    neg_diag[:, 0, 0] = -1.0
    raises_naming("covariance", solve_ode, CFG, [1.0], init=(neg_diag, r, t))


# --------------------------------------------------------------------------------------------
# budgets
# --------------------------------------------------------------------------------------------
def test_huge_requests_are_refused_up_front():
    with pytest.raises(BudgetError, match="hours"):
        simulate(Config(N=1024), alpha_grid(1e12, 10, 1024))
    with pytest.raises(BudgetError, match="GiB"):
        simulate(Config(N=1024), alpha_grid(10, 100, 1024), seeds=range(10_000_000))
    with pytest.raises(BudgetError, match="GiB"):
        simulate(Config(N=1024, K=100_000), [1.0])
    with pytest.raises(BudgetError, match="GiB"):
        plateau.plateau(Config(N=1, L=1, K=1000, M=1000))
    with pytest.raises(BudgetError, match="GiB"):
        solve_ode(Config(N=1024, L=1024, K=2000, M=2), [1.0])
    # an explicit budget raises the limit
    with pytest.raises(BudgetError, match="0.001 GiB"):
        simulate(Config(N=1024), [1.0], budget=Budget(memory_gib=0.001))


# --------------------------------------------------------------------------------------------
# divergence and signs
# --------------------------------------------------------------------------------------------
def test_diverging_sgd_raises_with_the_alpha_where_it_happened():
    cfg = Config(N=256, L=1, K=1, M=1, activation="linear", eta=2.1)
    with pytest.raises(DivergenceError, match="alpha") as e:
        simulate(cfg, alpha_grid(100, 30, 256))
    assert e.value.alpha < 100
    with pytest.raises(DivergenceError) as e:  # blows up long before the only grid points
        simulate(Config(N=256, L=1, K=1, M=1, activation="linear", eta=50.0), alpha_grid(3000, 2, 256))
    assert e.value.alpha < 1.0
    with pytest.raises(DivergenceError) as e:
        solve_ode(cfg, alpha_grid(100, 30, 256))
    assert e.value.alpha < 100


@pytest.mark.parametrize("activation,K", [("linear", 1), ("linear", 2), ("erf", 2)])
@pytest.mark.parametrize("eta", [1.0, 3.0, 30.0])
def test_large_eta_never_returns_nan_or_negative(activation, K, eta):
    cfg = Config(N=64, L=4, K=K, M=K, eta=eta, activation=activation)
    for fn in (simulate, solve_ode):
        try:
            out = fn(cfg, alpha_grid(30, 10, 64))
        except DivergenceError:
            continue
        assert np.all(np.isfinite(out.eps_g)) and np.all(out.eps_g >= 0)


def test_eps_g_is_never_negative():
    T = np.eye(2)
    assert eps_g(T, T, T) == 0.0  # the specialised point: exactly zero, not -1e-17
    rng = np.random.default_rng(0)
    for _ in range(200):
        J = rng.standard_normal((2, 6))
        C = J @ J.T / 6
        assert eps_g(C, C, C) >= 0


def test_linear_theory_needs_linear_k1():
    raises_naming("activation", linear.exact_curve, Config(N=8, L=8, K=1, M=1), [1.0])
    raises_naming("K", linear.small_eta_curve, Config(N=8, L=8, K=2, M=1, activation="linear"), [1.0])
