"""The compiled SGD engine against the NumPy reference step (``twolayer.engines.reference``) on
identical inputs, for the core setting and every option of chapter "Beyond the paper"; generated
against given inputs, and reproducibility whatever the workers."""

import numpy as np
import pytest

from twolayer import Config, simulate
from twolayer.data import GivenInputs
from twolayer.state import init_weights
from twolayer.data import rng as fastrng
from twolayer.data.inputs import GaussianInputs, normal_keys
from twolayer.engines.reference import reference_step
from twolayer.engines import sgd
from twolayer.engines.sgd import SHARED_BUFFER, buffer_rows, simulate_shared
from twolayer import alpha_grid


@pytest.mark.parametrize(
    "kw",
    [
        dict(activation="erf", K=2, M=2),
        dict(activation="erf", K=3, M=2, readout="sqrt", trainable=300),
        dict(activation="linear", K=1, M=1, L=256),
    ],
)
def test_fast_engine_matches_numpy_reference(kw):
    cfg = Config(N=1024, **{"L": 16, "eta": 0.1, "sigma_J": 0.3, **kw})
    J, B = init_weights(cfg, 1)
    X = GaussianInputs().source(cfg, 1).draw(1000)
    tr = simulate(cfg, [1000 / 1024], seeds=1, inputs=GivenInputs(X), record_weights=True)
    J_fast = tr.info["J"][0, -1]
    J_ref = J.copy()
    for x in X:
        reference_step(J_ref, B, x, cfg)
    assert np.max(np.abs(J_fast - J_ref)) / np.max(np.abs(J_ref)) < 1e-10
    assert np.max(np.abs(J_ref - J)) > 1e-3  # the weights did move
    if cfg.trainable is not None:
        assert np.array_equal(J_fast[:, cfg.trainable:], J[:, cfg.trainable:])


def test_generated_inputs_equal_given_inputs_and_runs_are_reproducible():
    cfg = Config(N=256, L=4, K=2, M=2)
    alpha = np.array([1.0, 3.0])
    run = simulate(cfg, alpha, seeds=5, record_weights=True)
    given = simulate(cfg, alpha, seeds=5, inputs=GivenInputs(GaussianInputs().source(cfg, 5).draw(3 * 256)),
                     record_weights=True)
    # The two input paths inline the same step into different loops, and the engine lets the
    # compiler reassociate sums (fastmath "reassoc"): equal to round-off, not bit for bit.  Bitwise
    # reproducibility is promised for one path whatever the workers (below), not across paths.
    J_given, J_gen = given.info["J"], run.info["J"]
    assert np.max(np.abs(J_given - J_gen)) <= 1e-13 * np.max(np.abs(J_gen))
    assert np.allclose(given.eps_g, run.eps_g, rtol=1e-12, atol=0)
    c1 = simulate(cfg, alpha, seeds=[5, 6], workers=2)
    c2 = simulate(cfg, alpha, seeds=[5, 6], workers=1)
    assert np.array_equal(c1.eps_g, c2.eps_g)
    assert np.array_equal(c1.eps_g[0], run.eps_g[0])
    assert np.array_equal(c1.Q, c2.Q)  # SGD records the order parameters too


def _noise_draws(seed, n):
    z, _ = fastrng.standard_normal(normal_keys(seed, "noise"), n, 1)
    return z[:, 0]


ENGINE_OPTIONS = {
    "relu": dict(activation="relu", K=2, M=2),
    "tanh": dict(activation="tanh", K=3, M=2),
    "train_readout": dict(train_readout=True, eta_readout=0.05),
    "noise": dict(noise=0.2),
    "cluster_width": dict(L=8, cluster_width=0.3),
    "orthogonal": dict(teacher="orthogonal", M=3),
    "readout weights": dict(student_readout=(1.0, 0.5), teacher_readout=(1.5, 0.5)),
    "all at once": dict(activation="relu", K=3, M=2, train_readout=True, noise=0.3, student_readout=(1.0, 0.5, 0.2),
                        teacher_readout=(1.0, 2.0), trainable=200, teacher="orthogonal", L=8, cluster_width=0.5),
}


@pytest.mark.parametrize("name", list(ENGINE_OPTIONS))
def test_fast_engine_options_match_numpy_reference(name):
    """The options of chapter "Beyond the paper" (not covered by
    test_fast_engine_matches_numpy_reference above): the compiled loop with fresh Gaussian inputs and
    label noise against the NumPy step fed the same inputs and noise draws."""
    steps, seed = 400, 3
    cfg = Config(**{"N": 256, "L": 16, "eta": 0.1, "sigma_J": 0.3, **ENGINE_OPTIONS[name]})
    J, B = init_weights(cfg, seed)
    X = GaussianInputs().source(cfg, seed).draw(steps)  # the engine's own input stream
    xi = _noise_draws(seed, steps)
    tr = simulate(cfg, [steps / cfg.N], seeds=seed, record_weights=True)
    J_ref, v_ref = J.copy(), cfg.student_weights.copy()
    for x, z in zip(X, xi):
        reference_step(J_ref, B, x, cfg, v=v_ref, xi=z)
    J_fast = tr.info["J"][0, -1]
    assert np.array_equal(tr.info["B"][0], B)
    assert np.max(np.abs(J_fast - J_ref)) / np.max(np.abs(J_ref)) < 1e-10
    assert np.max(np.abs(J_ref - J)) > 1e-3  # the weights did move
    if cfg.train_readout:
        assert np.max(np.abs(tr.v[0, -1] - v_ref)) < 1e-10 * np.max(np.abs(v_ref))
        assert np.max(np.abs(v_ref - cfg.student_weights)) > 1e-4
    if cfg.trainable is not None:
        assert np.array_equal(J_fast[:, cfg.trainable:], J[:, cfg.trainable:])
    # given inputs take the same path through the noise stream
    tg = simulate(cfg, [steps / cfg.N], seeds=seed, inputs=GivenInputs(X), record_weights=True)
    assert np.max(np.abs(tg.info["J"][0, -1] - J_ref)) / np.max(np.abs(J_ref)) < 1e-10
    if cfg.noise:  # the noise did enter: without it the result differs
        clean = J.copy()
        for x in X:
            reference_step(clean, B, x, cfg.replace(noise=0.0), v=cfg.student_weights.copy())
        assert np.max(np.abs(clean - J_ref)) > 1e-4


@pytest.mark.parametrize(
    "kw",
    [
        dict(activation="erf", K=5, M=6),  # four-row blocks of the blocked path and a remainder row
        dict(activation="relu", K=9, M=4, train_readout=True, noise=0.2, trainable=150, L=8),
        dict(activation="tanh", K=4, M=1, student_readout=(1.0, 0.5, 0.2, 0.1)),
        dict(activation="erf", K=17, M=20, readout="sqrt"),  # wide: the layer-at-once activations
        dict(activation="relu", K=16, M=3, train_readout=True, noise=0.2, trainable=150, L=8),
    ],
)
def test_blocked_path_matches_numpy_reference(kw):
    """K >= 2 runs the blocked path (``sgd._run_gaussian_blocked``: blocks of steps with a delayed
    update); with 331 steps and N = 256 blocks are cut by the weight check every N steps and by
    the end of the run, so short blocks run too.  From ``sgd.VECTOR_MIN_K`` students g and g' of a
    layer are evaluated at once (erf and exp as polynomials within 2 ulp): the same tolerance."""
    steps, seed = 331, 4
    cfg = Config(**{"N": 256, "L": 16, "eta": 0.1, "sigma_J": 0.3, **kw})
    J, B = init_weights(cfg, seed)
    X = GaussianInputs().source(cfg, seed).draw(steps)
    xi = _noise_draws(seed, steps)
    tr = simulate(cfg, [steps / cfg.N], seeds=seed, record_weights=True)
    J_ref, v_ref = J.copy(), cfg.student_weights.copy()
    for x, z in zip(X, xi):
        reference_step(J_ref, B, x, cfg, v=v_ref, xi=z)
    J_fast = tr.info["J"][0, -1]
    assert np.max(np.abs(J_fast - J_ref)) / np.max(np.abs(J_ref)) < 1e-10
    assert np.max(np.abs(J_ref - J)) > 1e-3
    if cfg.train_readout:
        assert np.max(np.abs(tr.v[0, -1] - v_ref)) < 1e-10 * np.max(np.abs(v_ref))
    if cfg.trainable is not None:
        assert np.array_equal(J_fast[:, cfg.trainable:], J[:, cfg.trainable:])


def test_shared_inputs_give_the_bits_of_single_runs():
    """``simulate_shared``: six configurations of one seed and N (the per-step path of K = 1, the
    blocked path with blocks of 4 and 8, the wide path of K >= 16, label noise, a trained
    readout, fewer trainable coordinates, several L) replay one buffer of z; grids of
    different lengths, off multiples of 8, across several buffers (N = 256: 512 steps each).
    Each trajectory and its weights are ``simulate``'s of the run alone, bit for bit."""
    base = Config(N=256, L=16, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01)
    cfgs = [base, base.replace(K=1, M=1, activation="linear", L=256),
            base.replace(K=5, M=3, activation="relu", noise=0.1, L=8), base.replace(K=17, M=20, readout="sqrt"),
            base.replace(trainable=100, K=3), base.replace(train_readout=True, K=9, M=4, activation="tanh")]
    alphas = [alpha_grid(a, 7, 256) for a in (3.1, 5.0, 2.2, 4.0, 6.3, 1.7)]
    assert buffer_rows(256, SHARED_BUFFER) == 512 and max(a[-1] for a in alphas) * 256 > 3 * 512
    got = simulate_shared(cfgs, alphas, seed=3, record_weights=True)
    for c, a, tr in zip(cfgs, alphas, got):
        ref = simulate(c, a, seeds=3, record_weights=True, workers=1)
        for name in ("alpha", "eps_g", "Q", "R", "T"):
            assert np.array_equal(getattr(tr, name), getattr(ref, name)), (c, name)
        assert np.array_equal(tr.info["J"], ref.info["J"])
        assert (ref.v is None and tr.v is None) or np.array_equal(tr.v, ref.v)


def test_replayed_inputs_keep_the_bits_across_chunks_buffers_and_threads(monkeypatch):
    """N = 1000, K = 4, seed 2, 3100 steps: chunks of 1538 steps, buffers of 520 (the last of
    500, in shares of 65 rows, the last of 45), and at step 840 a ziggurat tail draw that rounds
    differently unless drawn with the kernels' flags (``sgd._draw_inputs``).  One seed on two
    threads (its draws shared by both, ``_run_seed_pipelined``), the third of three seeds on two
    threads (after the first two ran side by side), the shared path and the plain loop give the
    same weights, bit for bit."""
    cfg = Config(N=1000, L=10, K=4, M=4, beta=1.0, eta=0.1, sigma_J=0.01)
    a = alpha_grid(3.1, 5, 1000)
    # the pipelined seed's buffers and shares at the sizes of this run (the defaults, sized for
    # long runs, would leave a run this short to one thread)
    monkeypatch.setattr(sgd, "PIPELINE_BUFFER", 1 << 19)
    monkeypatch.setattr(sgd, "PIPELINE_SHARE", 1 << 16)
    monkeypatch.setattr(sgd, "PIPELINE_MIN_BUFFERS", 2)
    assert buffer_rows(1000, sgd.PIPELINE_BUFFER) == 520 and sgd.PIPELINE_SHARE // 1000 == 65
    ref = simulate(cfg, a, seeds=(5, 7, 2), workers=1, record_weights=True)
    two = simulate(cfg, a, seeds=2, workers=2, record_weights=True)
    three = simulate(cfg, a, seeds=(5, 7, 2), workers=2, record_weights=True)
    (shared,) = simulate_shared([cfg], [a], 2, record_weights=True)
    assert np.array_equal(three.info["J"], ref.info["J"]) and np.array_equal(three.eps_g, ref.eps_g)
    for tr in (two, shared):
        assert np.array_equal(tr.info["J"], ref.info["J"][2:]) and np.array_equal(tr.eps_g, ref.eps_g[2:])


@pytest.mark.parametrize("bad, match", [
    (dict(cfgs=[Config(N=64, L=4), Config(N=32, L=4)]), "share N"),
    (dict(cfgs=[Config(N=64, L=4, schedule="cosine:10")]), "default recipe"),
    (dict(cfgs=[Config(N=64, L=4)], alphas=[]), "one grid per configuration"),
])
def test_shared_runs_reject_what_they_cannot_share(bad, match):
    cfgs = bad["cfgs"]
    alphas = bad.get("alphas", [np.array([1.0])] * len(cfgs))
    with pytest.raises(ValueError, match=match):
        simulate_shared(cfgs, alphas, 0)
