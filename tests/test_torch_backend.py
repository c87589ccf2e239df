"""The PyTorch backend of the SGD engine (``twolayer.engines.torch_backend.simulate_torch``).

Float64 on identical inputs it is the NumPy reference step (``twolayer.engines.reference``) to
round-off; with its own random inputs it agrees with the compiled engine statistically.  There is
no ``backend=`` keyword of ``twolayer.simulate``: the backend is reached through
``simulate_torch`` and the CLI's ``run --backend torch``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from twolayer import Config, alpha_grid, cli, simulate  # noqa: E402
from twolayer.data import GivenInputs  # noqa: E402
from twolayer.state import init_weights  # noqa: E402
from twolayer.data.inputs import GaussianInputs  # noqa: E402
from twolayer.engines.reference import reference_step  # noqa: E402
from twolayer.engines.torch_backend import _torch_seed, default_device, simulate_torch  # noqa: E402

STEPS = 1000


def _reference(cfg, seed, X, xi=None):
    J, B = init_weights(cfg, seed)
    v = cfg.student_weights.copy()
    for k, x in enumerate(X):
        reference_step(J, B, x, cfg, v=v, xi=0.0 if xi is None else xi[k])
    return J, v


def _torch_noise(cfg, seed, steps, chunk=512):
    """The label-noise draws of simulate_torch with given inputs: one randn((n,)) per chunk from
    the seed's torch generator (no input draws consume it)."""
    g = torch.Generator(device="cpu").manual_seed(_torch_seed(seed))
    out = []
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        out.append(torch.randn((n,), generator=g, dtype=torch.float64).numpy())
        done += n
    return np.concatenate(out)


@pytest.mark.parametrize("kw", [
    dict(),
    dict(activation="relu", K=3, M=2, readout="sqrt", trainable=48),
    dict(activation="tanh", train_readout=True, eta_readout=0.05, student_readout=(1.0, 0.5),
         teacher_readout=(1.5, 0.5)),
    dict(activation="linear", K=1, M=1, teacher="orthogonal", L=8, cluster_width=0.4),
], ids=["erf", "relu-sqrt-trainable", "tanh-trained-readout", "linear-orthogonal-cluster"])
def test_float64_equals_reference_step(kw):
    cfg = Config(**{"N": 64, "L": 4, "eta": 0.2, "sigma_J": 0.3, **kw})
    seeds = (0, 1)
    X = GaussianInputs().source(cfg, 7).draw(STEPS)
    tr = simulate_torch(cfg, [STEPS / cfg.N], seeds=seeds, inputs=GivenInputs(X), device="cpu")
    assert tr.info["dtype"] == "float64" and tr.method == "sgd-torch"
    for i, s in enumerate(seeds):
        J_ref, v_ref = _reference(cfg, s, X)
        J_t = tr.info["J_final"][i]
        assert np.max(np.abs(J_t - J_ref)) / np.max(np.abs(J_ref)) < 1e-10  # measured 6e-16 (erf)
        assert np.max(np.abs(J_ref - init_weights(cfg, s)[0])) > 1e-3  # the weights did move
        if cfg.train_readout:
            assert np.max(np.abs(tr.v[i, -1] - v_ref)) < 1e-10
    # the same run through the compiled engine (given inputs are the same for every seed)
    fast = simulate(cfg, [STEPS / cfg.N], seeds=seeds, inputs=GivenInputs(X))
    np.testing.assert_allclose(tr.eps_g, fast.eps_g, rtol=1e-9)  # measured: equal (erf)


def test_float64_with_label_noise_equals_reference_step():
    cfg = Config(N=64, L=4, eta=0.2, sigma_J=0.3, noise=0.3)
    X = GaussianInputs().source(cfg, 3).draw(STEPS)
    tr = simulate_torch(cfg, [STEPS / cfg.N], seeds=5, inputs=GivenInputs(X), device="cpu")
    xi = _torch_noise(cfg, 5, STEPS)
    J_ref, _ = _reference(cfg, 5, X, xi)
    assert np.max(np.abs(tr.info["J_final"][0] - J_ref)) / np.max(np.abs(J_ref)) < 1e-10
    J_clean, _ = _reference(cfg.replace(noise=0.0), 5, X)
    assert np.max(np.abs(J_clean - J_ref)) > 1e-3  # the noise entered


def test_statistically_equal_to_compiled_engine(monte_carlo):
    """16 seeds each, with their own random inputs: the mean eps_g of the two engines agree
    within 4 combined standard errors at every grid point."""
    cfg = Config(N=64, L=4, K=2, M=2, eta=0.5, sigma_J=0.3)
    alpha = alpha_grid(20.0, 6, cfg.N)
    seeds = range(16)
    a = simulate_torch(cfg, alpha, seeds=seeds, device="cpu")
    b = simulate(cfg, alpha, seeds=seeds)
    assert not np.array_equal(a.eps_g, b.eps_g)  # different input streams
    se = np.sqrt(a.sem() ** 2 + b.sem() ** 2)
    monte_carlo.estimate(a.mean(), se, b.mean(), "torch vs compiled mean eps_g")  # measured z <= 0.60
    assert b.mean()[-1] < 0.5 * b.mean()[0]  # learning happened over the grid


def test_float32_runs_and_default_device_is_cpu():
    assert default_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = Config(N=64, L=4, eta=0.2, sigma_J=0.3)
    X = GaussianInputs().source(cfg, 1).draw(STEPS)
    alpha = alpha_grid(STEPS / cfg.N, 5, cfg.N)
    t32 = simulate_torch(cfg, alpha, seeds=(0, 1), inputs=GivenInputs(X), dtype="float32")
    t64 = simulate_torch(cfg, alpha, seeds=(0, 1), inputs=GivenInputs(X))
    if not torch.cuda.is_available():
        assert t32.info["device"] == "cpu" and t64.info["device"] == "cpu"
    assert t32.info["dtype"] == "float32"
    assert np.all(np.isfinite(t32.eps_g)) and np.all(t32.eps_g >= 0)
    np.testing.assert_allclose(t32.eps_g, t64.eps_g, rtol=1e-5)  # float32 round-off over 1000 steps: measured 1.9e-7
    own = simulate_torch(cfg, alpha, seeds=(0,), dtype="float32")  # its own float32 inputs
    assert np.all(np.isfinite(own.eps_g)) and np.all(own.eps_g >= 0)
    with pytest.raises(ValueError, match="dtype"):
        simulate_torch(cfg, alpha, dtype="float16")


def test_cli_backend_torch(tmp_path, capsys):
    path = tmp_path / "t.csv"
    code = cli.main(["run", "--backend", "torch", "--device", "cpu", "--N", "64", "--alpha-max", "5", "--points",
                     "8", "--seeds", "2", "--out", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    ref = simulate_torch(Config(N=64), alpha_grid(5, 8, 64), seeds=[0, 1], device="cpu")
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    np.testing.assert_array_equal(data[:, 1], ref.mean())


def test_public_simulate_dispatches_to_the_torch_backend():
    """``simulate(..., backend="torch")`` is ``simulate_torch`` (same seeds, same digits), and
    options of the other engine are refused with a ValueError naming them."""
    cfg = Config(N=32, L=4, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01)
    a = alpha_grid(3.0, 6, cfg.N)
    via_public = simulate(cfg, a, seeds=(0, 1), backend="torch")
    direct = simulate_torch(cfg, a, seeds=(0, 1))
    np.testing.assert_array_equal(via_public.eps_g, direct.eps_g)
    with pytest.raises(ValueError, match="backend"):
        simulate(cfg, a, seeds=0, backend="jax")
    with pytest.raises(ValueError, match="workers"):
        simulate(cfg, a, seeds=0, backend="torch", workers=2)
    with pytest.raises(ValueError, match="device"):
        simulate(cfg, a, seeds=0, device="cpu")
