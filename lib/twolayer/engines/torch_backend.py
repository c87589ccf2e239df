"""The PyTorch backend of the SGD engine: all seeds of a configuration advance together as one
batched tensor program (seeds x K x N), on the CPU or a GPU.

Same science as the compiled engine (``twolayer.engines.sgd``): the same initial weights per seed
(``init_weights``), the same step (``twolayer.engines.reference``: unequal or trained second
layers, label noise, N_l), the same record of Q, R, T and eps_g at every grid point (computed in
float64 with the library's fixed-order overlap sums), and the same divergence checks.  Its random
inputs differ: they come from one ``torch.Generator`` per seed, seeded from that seed's "torch"
stream (``twolayer.state.weights.STREAMS``), not from the compiled engine's counter-based
generator, so its runs agree with the compiled engine's statistically, not draw by draw
(``tests/test_torch_backend.py`` checks both: equal to the NumPy reference step on identical
inputs, statistically equal to the compiled engine with its own inputs).

Float64 by default; ``dtype="float32"`` halves the memory and roughly doubles the speed on GPUs.
``device=None`` picks CUDA when available, else the CPU.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data.inputs import GaussianInputs, GivenInputs
from ..gaussian.averages import eps_g as eps_g_of
from ..problem.checks import check_choice, check_seeds, check_steps
from ..problem.config import Config
from ..problem.divergence import check_curve, diverged
from ..problem.progress import make_progress
from ..problem.resources import Budget, check_budget, sgd_estimate
from ..problem.schedule import factor_scalar
from ..problem.spectrum import coordinate_eigenvalues
from ..problem.trajectory import Trajectory
from ..state.setting import resolve
from ..state.weights import init_weights, overlaps, seed_stream

__all__ = ["default_device", "simulate_torch"]



def default_device() -> str:
    """``"cuda"`` when a GPU is available to PyTorch, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _torch_seed(seed: int) -> int:
    return int(seed_stream(seed, "torch").generate_state(1, dtype=np.uint64)[0] & np.uint64(2**63 - 1))


def simulate_torch(config: Config, alpha, *, seeds=(0,), inputs=None, device=None, dtype: str = "float64",
                   chunk: int = 512, progress=None, budget: Budget | None = None) -> Trajectory:
    """Online SGD for all ``seeds`` at once with PyTorch (see the module docstring).

    Parameters
    ----------
    config, alpha, seeds : as for ``twolayer.simulate``
    inputs : ``None`` (fresh Gaussian inputs from each seed's torch generator) or
        ``GivenInputs(X)`` (the rows of X for every seed, for equivalence tests)
    device : ``"cpu"``, ``"cuda"``, ... (default: CUDA if available)
    dtype : ``"float64"`` or ``"float32"``
    chunk : steps whose inputs are drawn together

    Returns a Trajectory with method ``"sgd-torch"`` and ``info["device"]``.
    """
    if not isinstance(config, Config):
        raise ValueError(f"config must be a Config, got {type(config).__name__}")
    act = resolve(config).activation
    if act.code < 0:
        raise ValueError("the torch backend runs the built-in activations (linear, erf, relu, tanh)")
    alpha, steps = check_steps(alpha, config.N)
    seeds = check_seeds(seeds)
    dtype = check_choice("dtype", dtype, ("float64", "float32"))
    if inputs is not None and not isinstance(inputs, (GivenInputs, GaussianInputs)):
        raise ValueError("inputs must be None, GaussianInputs() or GivenInputs(X) for the torch backend")
    given = inputs.X if isinstance(inputs, GivenInputs) else None
    if given is not None and given.shape[1] != config.N:
        raise ValueError(f"X must have N = {config.N} columns, got {given.shape[1]}")
    if given is not None and given.shape[0] < steps[-1]:
        raise ValueError(f"the given inputs hold {given.shape[0]} rows; the run needs {steps[-1]}")
    dev = torch.device(default_device() if device is None else device)
    mem, secs = sgd_estimate(config.N, config.K, config.M, float(steps[-1]) * len(seeds), len(alpha), len(seeds),
                             len(seeds))
    check_budget(f"torch SGD with N={config.N}, K={config.K}, M={config.M} for {len(seeds)} seeds", mem, secs, budget)
    tdt = torch.float64 if dtype == "float64" else torch.float32
    S, K, M, N = len(seeds), config.K, config.M, config.N
    lam = np.ascontiguousarray(coordinate_eigenvalues(config))
    w0 = [init_weights(config, s) for s in seeds]
    J = torch.tensor(np.stack([w[0] for w in w0]), dtype=tdt, device=dev)
    B = torch.tensor(np.stack([w[1] for w in w0]), dtype=tdt, device=dev)
    v = torch.tensor(np.tile(config.student_weights, (S, 1)), dtype=tdt, device=dev)
    vT = torch.tensor(config.teacher_weights, dtype=tdt, device=dev)
    sqrt_lam = torch.tensor(np.sqrt(lam), dtype=tdt, device=dev)
    X = None if given is None else torch.tensor(given, dtype=tdt, device=dev)
    gens = [torch.Generator(device=dev).manual_seed(_torch_seed(s)) for s in seeds]
    inv = 1.0 / math.sqrt(N)
    eta_n, eta_v = config.eta * inv, config.eta_v / N
    n_tr = config.n_trainable
    B_np = B.double().cpu().numpy()
    wlim = 1e6 * max(1.0, float(torch.abs(J).max()), float(torch.abs(B).max()))
    ov0 = [overlaps(w[0], w[1], lam) for w in w0]
    eps0 = eps_g_of(np.stack([o[0] for o in ov0]), np.stack([o[1] for o in ov0]), np.stack([o[2] for o in ov0]),
                    act, config.student_weights, config.teacher_weights)
    P = len(alpha)
    Qs, Rs, Ts, vs = np.empty((S, P, K, K)), np.empty((S, P, K, M)), np.empty((S, P, M, M)), np.empty((S, P, K))
    bar = make_progress(progress, float(alpha[-1]) * S, "sgd (torch)")
    done = 0
    recipe, Bsz = not config.default_recipe, config.batch
    sched = config.lr_schedule.scalars
    if recipe:
        if Bsz > 1 and np.any(steps % Bsz):
            raise ValueError(f"alpha must be whole mini-batches: alpha N a multiple of batch = {Bsz} "
                             f"(use alpha_grid(..., batch={Bsz}))")
        chunk = max(Bsz, chunk - chunk % Bsz)
    try:
        with torch.no_grad():
            for p, target in enumerate(steps):
                while done < target:
                    n = int(min(chunk, target - done))
                    if X is not None:
                        xs = X[done:done + n].unsqueeze(1).expand(n, S, N)
                    else:
                        xs = torch.stack([torch.randn((n, N), generator=g, dtype=tdt, device=dev) for g in gens],
                                         dim=1) * sqrt_lam
                    if config.noise:
                        xi = torch.stack([torch.randn((n,), generator=g, dtype=tdt, device=dev) for g in gens],
                                         dim=1) * config.noise
                    if recipe:  # a schedule or mini-batches: one step per Bsz samples, mean gradient
                        for k in range(0, n, Bsz):
                            f = factor_scalar(*sched, (done + k) / N)
                            x = xs[k:k + Bsz]                                       # (b, S, N)
                            h = torch.einsum("skn,bsn->bsk", J, x) * inv
                            rho = torch.einsum("smn,bsn->bsm", B, x) * inv
                            gh = act.torch_g(h)
                            err = act.torch_g(rho) @ vT - (v * gh).sum(-1)         # (b, S)
                            if config.noise:
                                err = err + xi[k:k + Bsz]
                            coef = v * act.torch_dg(h) * err[..., None]            # (b, S, K)
                            J[:, :, :n_tr] += (f * eta_n / Bsz) * torch.einsum("bsk,bsn->skn", coef, x[..., :n_tr])
                            if eta_v:
                                v += (f * eta_v / Bsz) * (gh * err[..., None]).sum(0)
                        done += n
                        bar.update(n * S / N)
                        continue
                    for k in range(n):
                        x = xs[k]                                           # (S, N)
                        h = torch.einsum("skn,sn->sk", J, x) * inv          # (S, K)
                        rho = torch.einsum("smn,sn->sm", B, x) * inv        # (S, M)
                        gh = act.torch_g(h)
                        err = act.torch_g(rho) @ vT - (v * gh).sum(-1)     # (S,)
                        if config.noise:
                            err = err + xi[k]
                        coef = eta_n * v * act.torch_dg(h) * err[:, None]  # (S, K)
                        J[:, :, :n_tr] += coef[:, :, None] * x[:, None, :n_tr]
                        if eta_v:
                            v += eta_v * gh * err[:, None]
                    done += n
                    bar.update(n * S / N)
                Jn = J.double().cpu().numpy()
                vn = v.double().cpu().numpy()
                if not (np.all(np.isfinite(Jn)) and np.abs(Jn).max() <= wlim):
                    raise diverged("SGD (torch)", config.eta, target / N, "weights exploded")
                for s in range(S):
                    Qs[s, p], Rs[s, p], Ts[s, p] = overlaps(Jn[s], B_np[s], lam)
                vs[:, p] = vn
                check_curve("SGD (torch)", config.eta, [target / N],
                            eps_g_of(Qs[:, p], Rs[:, p], Ts[:, p], act, vn if config.train_readout
                                     else config.student_weights, config.teacher_weights)[:, None], eps0)
    finally:
        bar.close()
    v_eps = vs if config.train_readout else config.student_weights
    eps = eps_g_of(Qs, Rs, Ts, act, v_eps, config.teacher_weights)
    return Trajectory(alpha=alpha, eps_g=eps, config=config, method="sgd-torch", Q=Qs, R=Rs, T=Ts, seeds=seeds,
                      v=vs if config.train_readout else None, info={"device": str(dev), "dtype": dtype, "J_final": Jn})
