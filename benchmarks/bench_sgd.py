#!/usr/bin/env python
"""Speed of the compiled SGD engine, measured as ratios against baselines in the same run.

Setting: N = 1024, K = M = 2, erf, sum readout, beta = 1, eta = 0.1, sigma_J = 0.01, one seed,
for L = 1 and L = N = 1024.  For each L the script times, in interleaved rounds (one block of
each kind per round, so that a change in machine load hits all of them alike):

  t_step     one SGD step of the compiled engine, ``twolayer.simulate(cfg, [n/N], seeds=0,
             weights=(J0, B0), workers=1)`` (input draw from ``twolayer.data.rng`` included)
  t_rng      one call ``rng.standard_normal(N)`` of NumPy's default generator
  t_rng_bulk one row of N normals drawn in bulk, ``rng.standard_normal(out=(1000, N))`` (info)
  t_torch    one step of a plain per-step PyTorch loop (float64, 1 thread, autograd)
  t_ref      one ``twolayer.engines.reference_step(J, B, x, cfg)`` on a pre-drawn input
  t_ref_loop one NumPy SGD step: ``rng.standard_normal(N) * sqrt_lam`` + ``reference_step``

Every timing is the median over rounds of (block wall time / block steps); every ratio is the
median over rounds of the ratio within a round.  Process CPU time is recorded alongside and the
same ratios are also printed from it (they do not see other jobs competing for the cores).  Then
multi-seed throughput: wall time of ``simulate(cfg, alpha, seeds=range(4), workers=1)`` against
``workers=2``, with the CPU time / wall time of the two-worker run (about 2 when both cores
were free, about 1 when another job held one of them).

Correctness checks (these, not the timings, set the exit status):
  * exact:        the torch loop fed the engine's own inputs
                  (``GaussianInputs().source(cfg, 0).draw``) from the same
                  initial weights ends at the engine's J up to round-off;
  * statistical:  the torch loop with its own ``torch.randn`` inputs gives eps_g(alpha) inside the
                  spread of an ensemble of engine runs with the same initial weights and other
                  input seeds; as a control, an engine run with eta * 1.5 must be rejected;
  * determinism:  ``simulate`` returns identical curves with workers=1 and workers=2.

No timing is asserted: targets (t_step / t_rng <= 0.5, t_torch / t_step >= 20) are reported.

Wide layers (issue #31; ``--wide-only`` runs just this part): us per step of ``simulate`` at
N = 512 with K = M = 1 and 40 (the paper's Fig. 6) and N = 7000 with K = M = 1 and 4 (Fig. 4),
erf, one thread, from fixed weights; the ratio to K = M = 1 at the same N (targets <= 4 and
<= 1.25); and an ideal per step, N * t_normal + 3 K N / rate, from two rates measured in the
same rounds: the normal draws of ``twolayer.data.rng`` (ns per draw, ``fill_normal`` into a
buffer in cache, as in the engine's loop) and the multiply-add rate
of the engine's register-blocked product kernel on operands that sit in the L1 cache.  Check:
the K = M = 40 engine run ends at the J of the NumPy ``reference_step`` on the same inputs.  The
per-step path (the engine before the blocked path of K >= 2, ``sgd.BLOCK_MIN_K`` raised for the
block) is timed in the same rounds, as the before; and each setting with ``workers=2``, where
the seed's draws are shared by two threads and it steps on one of them (``sgd._run_seed_pipelined``;
wall time against the one-thread run of the same round).

Shared inputs (issue #31, also with ``--wide-only``): the SGD runs of one seed and one N that a
sweep sends to a worker as one unit, ``simulate_shared`` (the seed's inputs drawn once) against
the same runs one by one with ``simulate``, CPU time in interleaved rounds, for the groups of
chapters 02 (N = 256, K = M = 1 linear, four numbers of trainable coordinates) and 04 (N = 1024,
K = M = 2 erf, six L).  Check: the same trajectories, bit for bit.

Ported to the Core v2 API (twolayer 0.2): ``twolayer.sgd.simulate_seed`` -> ``twolayer.simulate``
with ``weights=(J0, B0)`` (the seed then drives only the inputs) and ``record_weights`` for the
final J; ``InputStream`` -> ``twolayer.data.GaussianInputs().source(cfg, seed)``;
``models.weights_eps_g`` -> ``data.overlaps`` + ``twolayer.eps_g``.

    python benchmarks/bench_sgd.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

from _common import cpu_model, finish  # noqa: E402  (benchmarks/ is on sys.path)

try:
    import twolayer
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    import twolayer

import numba

from twolayer import Config, alpha_grid, eps_g, simulate
from twolayer.data import GaussianInputs
from twolayer.state import init_weights, overlaps
from twolayer.engines import reference_step
from twolayer.problem.spectrum import coordinate_eigenvalues

try:
    import torch
except ImportError:  # pragma: no cover - torch is in the "test" extra
    torch = None

TARGET_STEP_OVER_RNG = 0.5
# wide layers: (N, K = M), the ratio target against K = M = 1 at the same N
WIDE_SETTINGS = ((512, 1), (512, 40), (7000, 1), (7000, 4))
WIDE_TARGETS = {(512, 40): 4.0, (7000, 4): 1.25}
TARGET_TORCH_OVER_STEP = 20.0
N_MULTI_SEEDS = 4

MODES = {
    "full": dict(
        rounds=7, engine_steps=500_000, rng_calls=20_000, bulk_rows=20_000, torch_steps=2_000,
        torch_warmup=300, ref_steps=10_000, exact_steps=2048, check_alpha=(1, 2, 5, 10, 20),
        check_seeds=64, multi_alpha=200.0, multi_rounds=3, wide_rounds=7, wide_steps={512: 200_000, 7000: 20_000},
        shared_steps={256: 100_000, 1024: 30_000},
    ),
    "quick": dict(
        rounds=5, engine_steps=100_000, rng_calls=10_000, bulk_rows=10_000, torch_steps=300,
        torch_warmup=100, ref_steps=2_000, exact_steps=512, check_alpha=(1, 2, 5),
        check_seeds=32, multi_alpha=30.0, multi_rounds=2, wide_rounds=5, wide_steps={512: 60_000, 7000: 6_000},
        shared_steps={256: 30_000, 1024: 10_000},
    ),
}

# statistical check: a grid point passes if |torch - mean| <= Z_TOL * std or <= REL_TOL * mean
# (mean, std over the engine ensemble); the control run with eta * CONTROL_ETA must fail it
Z_TOL = 4.0
REL_TOL = 0.03
CONTROL_ETA = 1.5
EXACT_TOL = 1e-9


# ---------------------------------------------------------------------------------------------
# v2 equivalents of the v1 helpers
# ---------------------------------------------------------------------------------------------
def simulate_seed(cfg, seed, alpha, J0, B0, record=False):
    """One compiled-engine run from the weights (J0, B0), inputs of ``seed``, on one thread:
    (eps_g on the grid, final J or None)."""
    tr = simulate(cfg, alpha, seeds=seed, weights=(J0, B0), workers=1, record_weights=record)
    return tr.eps_g[0], (tr.info["J"][0, -1] if record else None)


def weights_eps_g(J, B, cfg):
    """eps_g of the weights (J, B), exact from their overlaps."""
    Q, R, T = overlaps(J, B, coordinate_eigenvalues(cfg))
    return float(eps_g(Q, R, T, cfg, cfg.student_weights, cfg.teacher_weights))


# ---------------------------------------------------------------------------------------------
# timed blocks (each returns seconds per step / per call)
# ---------------------------------------------------------------------------------------------
def _clock(fn, n):
    """(wall seconds, process CPU seconds) per step of fn() doing n steps."""
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return (time.perf_counter() - t0) / n, (time.process_time() - c0) / n


def time_engine(cfg, J0, B0, n):
    alpha = np.array([n / cfg.N])
    return _clock(lambda: simulate_seed(cfg, 0, alpha, J0, B0), n)


def time_rng(rng, N, n):
    def run():
        for _ in range(n):
            rng.standard_normal(N)

    return _clock(run, n)


def time_rng_bulk(rng, N, n, chunk=1000):
    out = np.empty((chunk, N))

    def run():
        for _ in range(n // chunk):
            rng.standard_normal(out=out)

    return _clock(run, (n // chunk) * chunk)


def time_ref(cfg, J0, B0, X):
    J = J0.copy()

    def run():
        for x in X:
            reference_step(J, B0, x, cfg)

    return _clock(run, len(X))


def time_ref_loop(cfg, J0, B0, rng, sqrt_lam, n):
    J = J0.copy()
    N = cfg.N

    def run():
        for _ in range(n):
            x = rng.standard_normal(N) * sqrt_lam
            reference_step(J, B0, x, cfg)

    return _clock(run, n)


# ---------------------------------------------------------------------------------------------
# plain PyTorch SGD loop
# ---------------------------------------------------------------------------------------------
def torch_weights(J0, B0):
    J = torch.tensor(J0, dtype=torch.float64).requires_grad_(True)
    B = torch.tensor(B0, dtype=torch.float64)
    return J, B


def torch_sgd(J, B, sqrt_lam, eta, n_steps, X=None):
    """n_steps of online SGD on 0.5 (sigma - y)^2 with step eta, one fresh input per step.

    sigma = sum_k erf(J_k.x / sqrt(2N)), y = sum_m erf(B_m.x / sqrt(2N)); since
    d lambda_k / d J_k = x / sqrt N, ``J -= eta * J.grad`` is the engine's update
    J_k += (eta / sqrt N) g'(lambda_k) (y - sigma) x.  Inputs x = randn(N) * sqrt_lam, or the
    rows of X (a float64 tensor) when given.
    """
    N = J.shape[1]
    scale = 1.0 / math.sqrt(2.0 * N)
    for s in range(n_steps):
        x = torch.randn(N, dtype=torch.float64) * sqrt_lam if X is None else X[s]
        with torch.no_grad():
            y = torch.erf((B @ x) * scale).sum()
        sigma = torch.erf((J @ x) * scale).sum()
        loss = 0.5 * (sigma - y) ** 2
        loss.backward()
        with torch.no_grad():
            J -= eta * J.grad
            J.grad.zero_()
    return J


def time_torch(cfg, J0, B0, sqrt_lam_t, n):
    J, B = torch_weights(J0, B0)
    return _clock(lambda: torch_sgd(J, B, sqrt_lam_t, cfg.eta, n), n)


# ---------------------------------------------------------------------------------------------
# correctness checks
# ---------------------------------------------------------------------------------------------
def exact_check(cfg, J0, B0, n_steps):
    """Torch loop on the engine's own inputs vs the engine: relative max |J_torch - J_engine|."""
    X = GaussianInputs().source(cfg, 0).draw(n_steps)
    _, J_eng = simulate_seed(cfg, 0, np.array([n_steps / cfg.N]), J0, B0, record=True)
    J, B = torch_weights(J0, B0)
    torch_sgd(J, B, None, cfg.eta, n_steps, X=torch.from_numpy(X))
    J_t = J.detach().numpy()
    rel = float(np.max(np.abs(J_t - J_eng)) / np.max(np.abs(J_eng)))
    moved = float(np.max(np.abs(J_eng - J0)) / np.max(np.abs(J0)))  # the weights did change
    return {"steps": n_steps, "max_rel_diff": rel, "rel_change_of_J": moved, "ok": rel <= EXACT_TOL}


def _grid_verdict(eps, mean, std):
    dev = np.abs(eps - mean)
    z = dev / np.maximum(std, 1e-300)
    rel = dev / mean
    ok = (z <= Z_TOL) | (rel <= REL_TOL)
    return z, rel, ok


def statistical_check(cfg, J0, B0, alpha, n_seeds, sqrt_lam_t, torch_seed=12345):
    """eps_g of the torch loop (own random inputs) vs an ensemble of engine runs (input seeds
    1..n_seeds), all from the same initial weights (J0, B0)."""
    alpha = np.asarray(alpha, dtype=float)
    ens = simulate(cfg, alpha, seeds=range(1, n_seeds + 1), weights=(J0, B0)).eps_g  # (seeds, points)
    mean, std = ens.mean(0), ens.std(0, ddof=1)
    torch.manual_seed(torch_seed)
    J, B = torch_weights(J0, B0)
    eps_t, done = [], 0
    for a in alpha:
        target = int(round(a * cfg.N))
        torch_sgd(J, B, sqrt_lam_t, cfg.eta, target - done)
        done = target
        eps_t.append(weights_eps_g(J.detach().numpy(), B0, cfg))
    eps_t = np.array(eps_t)
    z, rel, ok = _grid_verdict(eps_t, mean, std)
    # control: a 50% larger learning rate must be told apart by the same test
    eps_c = simulate_seed(cfg.replace(eta=CONTROL_ETA * cfg.eta), 1, alpha, J0, B0)[0]
    zc, relc, okc = _grid_verdict(eps_c, mean, std)
    return {
        "alpha": alpha.tolist(), "engine_seeds": n_seeds, "engine_mean": mean.tolist(),
        "engine_std": std.tolist(), "torch": eps_t.tolist(), "z": z.tolist(), "rel_dev": rel.tolist(),
        "rank": ((ens < eps_t).mean(0)).tolist(),  # fraction of engine runs below torch
        "ok": bool(ok.all()),
        "control_eta_factor": CONTROL_ETA, "control": eps_c.tolist(), "control_z": zc.tolist(),
        "control_rejected": bool(not okc.all()),
    }


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------
def bench_L(L, p, log):
    cfg = Config(N=1024, L=L, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01, activation="erf", readout="sum")
    J0, B0 = init_weights(cfg, 0)
    sqrt_lam = np.sqrt(coordinate_eigenvalues(cfg))
    rng = np.random.default_rng(0)
    X_ref = rng.standard_normal((p["ref_steps"], cfg.N)) * sqrt_lam
    have_torch = torch is not None
    sqrt_lam_t = torch.from_numpy(sqrt_lam) if have_torch else None

    # warm-up: JIT compile / cache load, first torch autograd call, rng
    t0 = time.perf_counter()
    simulate_seed(cfg, 0, np.array([1.0]), J0, B0)
    first_call = time.perf_counter() - t0
    time_engine(cfg, J0, B0, 20_000)
    time_rng(rng, cfg.N, 1000)
    if have_torch:
        time_torch(cfg, J0, B0, sqrt_lam_t, p["torch_warmup"])

    kinds = ["step", "rng", "rng_bulk", "ref", "ref_loop"] + (["torch"] if have_torch else [])
    blocks = {
        "step": lambda: time_engine(cfg, J0, B0, p["engine_steps"]),
        "rng": lambda: time_rng(rng, cfg.N, p["rng_calls"]),
        "rng_bulk": lambda: time_rng_bulk(rng, cfg.N, p["bulk_rows"]),
        "ref": lambda: time_ref(cfg, J0, B0, X_ref),
        "ref_loop": lambda: time_ref_loop(cfg, J0, B0, rng, sqrt_lam, p["ref_steps"]),
        "torch": lambda: time_torch(cfg, J0, B0, sqrt_lam_t, p["torch_steps"]),
    }
    times = {k: [] for k in kinds}  # wall seconds per step, one entry per round
    cpu_times = {k: [] for k in kinds}  # process CPU seconds per step
    for r in range(p["rounds"]):
        order = kinds[r % len(kinds):] + kinds[: r % len(kinds)]  # rotate to avoid order bias
        for k in order:
            wall, cpu = blocks[k]()
            times[k].append(wall)
            cpu_times[k].append(cpu)
        log(f"  L={L} round {r + 1}/{p['rounds']}: step {times['step'][-1] * 1e6:.2f} us")

    def ratio(a, b, src):
        per_round = [x / y for x, y in zip(src[a], src[b])]
        return {"median": statistics.median(per_round), "min": min(per_round), "max": max(per_round)}

    pairs = {
        "step_over_rng": ("step", "rng"),
        "step_over_rng_bulk": ("step", "rng_bulk"),
        "ref_over_step": ("ref", "step"),
        "ref_loop_over_step": ("ref_loop", "step"),
    }
    if have_torch:
        pairs["torch_over_step"] = ("torch", "step")
    ratios = {name: ratio(a, b, times) for name, (a, b) in pairs.items()}
    cpu_ratios = {name: ratio(a, b, cpu_times) for name, (a, b) in pairs.items()}
    utilisation = statistics.median(c / w for k in kinds for c, w in zip(cpu_times[k], times[k]))

    # multi-seed throughput: simulate() with 1 vs 2 worker threads, interleaved
    multi = {"workers1": [], "workers2": []}
    cpu = {"workers1": [], "workers2": []}  # process CPU time / wall time: ~2 if both cores worked
    curves = {}
    simulate(cfg, alpha_grid(1.0, 4, cfg.N), seeds=range(2), workers=2)  # warm-up
    multi_grid = alpha_grid(p["multi_alpha"], 10, cfg.N)
    for r in range(p["multi_rounds"]):
        for w in ((1, 2) if r % 2 == 0 else (2, 1)):
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            lc = simulate(cfg, multi_grid, seeds=range(N_MULTI_SEEDS), workers=w)
            wall = time.perf_counter() - t0
            multi[f"workers{w}"].append(wall)
            cpu[f"workers{w}"].append((time.process_time() - c0) / wall)
            curves[w] = lc.eps_g
        log(f"  L={L} multi-seed round {r + 1}/{p['multi_rounds']}: "
            f"w1 {multi['workers1'][-1]:.2f} s, w2 {multi['workers2'][-1]:.2f} s")
    speedups = [a / b for a, b in zip(multi["workers1"], multi["workers2"])]
    multi_out = {
        "seeds": N_MULTI_SEEDS, "alpha_max": p["multi_alpha"],
        "steps_per_seed": int(round(p["multi_alpha"] * cfg.N)),
        "workers1_s": statistics.median(multi["workers1"]), "workers2_s": statistics.median(multi["workers2"]),
        "speedup_w1_over_w2": {"median": statistics.median(speedups), "min": min(speedups), "max": max(speedups)},
        "raw_workers1_s": multi["workers1"], "raw_workers2_s": multi["workers2"],
        "cpu_over_wall_workers1": statistics.median(cpu["workers1"]),
        "cpu_over_wall_workers2": statistics.median(cpu["workers2"]),
        "identical_results": bool(np.array_equal(curves[1], curves[2])),
    }

    checks = {"determinism_workers": {"ok": multi_out["identical_results"]}}
    if have_torch:
        log(f"  L={L} checks: torch loop vs engine")
        checks["exact_inputs"] = exact_check(cfg, J0, B0, p["exact_steps"])
        checks["statistical"] = statistical_check(cfg, J0, B0, p["check_alpha"], p["check_seeds"], sqrt_lam_t)

    return {
        "L": L,
        "first_engine_call_s": first_call,
        "steps_per_block": {"step": p["engine_steps"], "rng": p["rng_calls"], "rng_bulk": p["bulk_rows"],
                            "ref": p["ref_steps"], "ref_loop": p["ref_steps"], "torch": p["torch_steps"]},
        "median_s": {k: statistics.median(v) for k, v in times.items()},
        "raw_s": times,
        "median_cpu_s": {k: statistics.median(v) for k, v in cpu_times.items()},
        "raw_cpu_s": cpu_times,
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "cpu_over_wall": utilisation,
        "multi_seed": multi_out,
        "checks": checks,
    }


def _fma_kernel():
    """A compiled loop timing the engine's register-blocked product kernel (``sgd._dots``: four
    rows against four inputs per pass) on operands in the L1 cache: the multiply-add rate this CPU
    gives the engine, without waiting for memory."""
    import numba as nb
    from twolayer.engines import sgd

    @nb.njit(fastmath=sgd._FM)
    def run(A, X, out, reps):
        t = 0.0
        for r in range(reps):
            sgd._dots(A, 0, A.shape[0], X, 0, X.shape[0], A.shape[1], out)
            t += out[0, 0]
        return t

    return run


def bench_wide(p, log):
    """us per step at the four settings of issue #31, ratios to K = M = 1, the ideal per step."""
    from twolayer.data import rng as fastrng
    from twolayer.engines import sgd

    fma = _fma_kernel()
    A = np.random.default_rng(1).standard_normal((8, 256)) * 1e-3
    Xf = np.random.default_rng(2).standard_normal((4, 256))
    outf = np.empty((8, 4))
    fma_reps = 20_000
    fma(A, Xf, outf, 10)
    # the draws of the engine's loop: rows of 1024 into a buffer that stays in cache
    zbuf = np.empty((16, 1024))
    n_normal_calls = 1000
    keys = (np.uint64(12345), np.uint64(678))

    def draw():
        c1, c2 = np.uint64(0), np.uint64(0)
        for _ in range(n_normal_calls):
            c1, c2 = fastrng._fill_blocks(zbuf, keys[0], c1, keys[1], c2, fastrng.KN, fastrng.WN, fastrng.FN)

    draw()

    cases = {}
    for N, K in WIDE_SETTINGS:
        cfg = Config(N=N, L=1, K=K, M=K, beta=1.0, eta=0.01 if K >= 40 else 0.1, sigma_J=0.01,
                     activation="erf", readout="sum")
        J0, B0 = init_weights(cfg, 0)
        simulate_seed(cfg, 0, np.array([64 / N]), J0, B0)  # JIT / cache load
        cases[(N, K)] = (cfg, J0, B0)

    def block(key):
        if key == "fma":
            wall, cpu = _clock(lambda: fma(A, Xf, outf, fma_reps), fma_reps * A.size * Xf.shape[0])
            return wall, cpu  # seconds per multiply-add
        if key == "normal":
            return _clock(draw, n_normal_calls * zbuf.size)  # seconds per draw
        if key[0] == "pipelined":  # one seed on two threads: the draws on both, the steps on one
            cfg, J0, B0 = cases[key[1:]]
            n = p["wide_steps"][cfg.N]
            return _clock(lambda: simulate(cfg, np.array([n / cfg.N]), seeds=0, weights=(J0, B0), workers=2), n)
        if key[0] == "per-step":  # the engine before the blocked path: one step at a time
            cfg, J0, B0 = cases[key[1:]]
            n = p["wide_steps"][cfg.N]
            saved, sgd.BLOCK_MIN_K = sgd.BLOCK_MIN_K, 1 << 62
            try:
                return _clock(lambda: simulate_seed(cfg, 0, np.array([n / cfg.N]), J0, B0), n)
            finally:
                sgd.BLOCK_MIN_K = saved
        cfg, J0, B0 = cases[key]
        n = p["wide_steps"][cfg.N]
        return _clock(lambda: simulate_seed(cfg, 0, np.array([n / cfg.N]), J0, B0), n)

    wide_k = [(N, K) for N, K in WIDE_SETTINGS if K > 1]
    kinds = (["fma", "normal"] + list(WIDE_SETTINGS) + [("per-step", N, K) for N, K in wide_k]
             + [("pipelined", N, K) for N, K in WIDE_SETTINGS])
    wall = {k: [] for k in kinds}
    cpu = {k: [] for k in kinds}
    for r in range(p["wide_rounds"]):
        order = kinds[r % len(kinds):] + kinds[: r % len(kinds)]
        for k in order:
            w, c = block(k)
            wall[k].append(w)
            cpu[k].append(c)
        log(f"  wide round {r + 1}/{p['wide_rounds']}: " + ", ".join(
            f"N={N} K={K} {cpu[(N, K)][-1] * 1e6:.2f} us" for N, K in WIDE_SETTINGS))

    def ideal(N, K, src, r):
        """N normals and 3 K N multiply-adds (K = M: student and teacher products, update)."""
        return N * src["normal"][r] + 3 * K * N * src["fma"][r]

    rows = []
    for N, K in WIDE_SETTINGS:
        row = {"N": N, "K": K, "M": K}
        for name, src in (("wall", wall), ("cpu", cpu)):
            per = src[(N, K)]
            rat = [a / b for a, b in zip(per, src[(N, 1)])]
            ide = [ideal(N, K, src, r) for r in range(len(per))]
            ide_rat = [ideal(N, K, src, r) / ideal(N, 1, src, r) for r in range(len(per))]
            row[name] = {
                "us_per_step": statistics.median(per) * 1e6,
                "ratio_to_K1": statistics.median(rat), "ratio_min": min(rat), "ratio_max": max(rat),
                "ideal_us": statistics.median(ide) * 1e6, "ideal_ratio": statistics.median(ide_rat),
                "step_over_ideal": statistics.median(a / b for a, b in zip(per, ide)),
                "raw_s": per,
            }
        row["target_ratio"] = WIDE_TARGETS.get((N, K))
        if K > 1:
            per_step = {}
            for name, src in (("wall", wall), ("cpu", cpu)):
                per = src[("per-step", N, K)]
                per_step[name] = {
                    "us_per_step": statistics.median(per) * 1e6,
                    "ratio_to_K1": statistics.median(a / b for a, b in zip(per, src[(N, 1)])),
                    "over_blocked": statistics.median(a / b for a, b in zip(per, src[(N, K)])),
                    "raw_s": per,
                }
            row["per_step_path"] = per_step
        pw = wall[("pipelined", N, K)]
        row["pipelined"] = {"wall_us_per_step": statistics.median(pw) * 1e6,
                            "speedup_wall": statistics.median(b / a for a, b in zip(pw, wall[(N, K)])),
                            "cpu_over_wall": statistics.median(c / w for c, w in zip(cpu[("pipelined", N, K)], pw)),
                            "raw_wall_s": pw}
        rows.append(row)

    # check: the widest setting against the NumPy reference step on the same inputs
    cfg, J0, B0 = cases[(512, 40)]
    steps = 256
    X = GaussianInputs().source(cfg, 0).draw(steps)
    _, J_eng = simulate_seed(cfg, 0, np.array([steps / cfg.N]), J0, B0, record=True)
    J_ref = J0.copy()
    for x in X:
        reference_step(J_ref, B0, x, cfg)
    rel = float(np.max(np.abs(J_eng - J_ref)) / np.max(np.abs(J_ref)))
    moved = float(np.max(np.abs(J_ref - J0)) / np.max(np.abs(J0)))
    return {
        "settings": rows,
        "fma_gflops": {"wall": 1e-9 / statistics.median(wall["fma"]), "cpu": 1e-9 / statistics.median(cpu["fma"])},
        "normal_ns": {"wall": statistics.median(wall["normal"]) * 1e9, "cpu": statistics.median(cpu["normal"]) * 1e9},
        "raw_fma_s": {"wall": wall["fma"], "cpu": cpu["fma"]},
        "raw_normal_s": {"wall": wall["normal"], "cpu": cpu["normal"]},
        "check_reference": {"steps": steps, "max_rel_diff": rel, "rel_change_of_J": moved, "ok": rel <= 1e-10},
    }


SHARED_SETTINGS = {  # groups of sweep tasks of one seed and one N, as in chapters 02 and 04
    "02: N=256 K=M=1 linear, trainable 8/32/128/256": [
        Config(N=256, L=256, K=1, M=1, beta=1.0, eta=0.05, sigma_J=0.01, activation="linear", trainable=n)
        for n in (8, 32, 128, 256)],
    "04: N=1024 K=M=2 erf, L 1/4/16/64/256/1024": [
        Config(N=1024, L=L, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01) for L in (1, 4, 16, 64, 256, 1024)],
}


def bench_shared(p, log):
    """Sweep units (issue #31): the runs of one seed and one N with their inputs drawn once
    (``simulate_shared``) against the same runs one by one (``simulate``), CPU time in
    interleaved rounds; check: the same trajectories bit for bit."""
    from twolayer.engines.sgd import simulate_shared

    out = {}
    for name, cfgs in SHARED_SETTINGS.items():
        N = cfgs[0].N
        alphas = [alpha_grid(p["shared_steps"][N] / N, 10, N)] * len(cfgs)
        simulate_shared(cfgs, [alpha_grid(8 / N, 2, N)] * len(cfgs), 0)  # JIT / cache load
        one, alone = [], []
        for r in range(p["wide_rounds"]):
            t = time.process_time()
            got = simulate_shared(cfgs, alphas, 0)
            one.append(time.process_time() - t)
            t = time.process_time()
            ref = [simulate(c, a, seeds=0, workers=1) for c, a in zip(cfgs, alphas)]
            alone.append(time.process_time() - t)
        same = all(np.array_equal(g.eps_g, f.eps_g) and np.array_equal(g.Q, f.Q) for g, f in zip(got, ref))
        steps = p["shared_steps"][N] * len(cfgs)
        out[name] = {"runs": len(cfgs), "N": N, "us_per_run_step_shared": statistics.median(one) / steps * 1e6,
                     "us_per_run_step_alone": statistics.median(alone) / steps * 1e6,
                     "speedup": statistics.median(b / a for a, b in zip(one, alone)),
                     "speedup_min": min(b / a for a, b in zip(one, alone)),
                     "speedup_max": max(b / a for a, b in zip(one, alone)), "identical": bool(same),
                     "raw_shared_s": one, "raw_alone_s": alone}
        log(f"  shared inputs, {name}: {out[name]['speedup']:.2f}x")
    return out


def report_shared(sh):
    lines = ["runs of one seed and one N with shared inputs (sweep units), CPU time per run and step",
             f"{'group':50s} {'runs':>4s} {'shared us':>10s} {'alone us':>9s} {'speed-up':>9s} {'[min, max]':>13s} same bits"]
    for name, r in sh.items():
        lines.append(f"{name:50s} {r['runs']:4d} {r['us_per_run_step_shared']:10.3f} {r['us_per_run_step_alone']:9.3f} "
                     f"{r['speedup']:9.2f} [{r['speedup_min']:.2f}, {r['speedup_max']:.2f}] {r['identical']}")
    return "\n".join(lines)


def report_wide(w):
    lines = [f"wide layers (issue #31): erf, one thread; measured {w['fma_gflops']['cpu']:.1f} G multiply-adds/s "
             f"(blocked kernel, L1; CPU time), {w['normal_ns']['cpu']:.2f} ns per normal draw",
             f"{'setting':22s}{'us/step':>9s}{'cpu us':>9s}{'ratio':>8s}{'[min, max]':>15s}{'target':>8s}"
             f"{'ideal us':>10s}{'ideal ratio':>12s}{'step/ideal':>11s}"]
    for r in w["settings"]:
        c = r["cpu"]
        lines.append(f"N={r['N']:<5d} K=M={r['K']:<10d}{r['wall']['us_per_step']:9.2f}{c['us_per_step']:9.2f}"
                     f"{c['ratio_to_K1']:8.2f}{'[' + format(c['ratio_min'], '.2f') + ', ' + format(c['ratio_max'], '.2f') + ']':>15s}"
                     f"{('<= ' + format(r['target_ratio'], 'g')) if r['target_ratio'] else '':>8s}"
                     f"{c['ideal_us']:10.2f}{c['ideal_ratio']:12.2f}{c['step_over_ideal']:11.2f}")
    for r in w["settings"]:
        if "per_step_path" in r:
            c = r["per_step_path"]["cpu"]
            lines.append(f"  the per-step path (the engine before the blocked one), N={r['N']} K=M={r['K']}: "
                         f"{c['us_per_step']:.2f} cpu us/step, ratio to K=M=1 {c['ratio_to_K1']:.2f}, "
                         f"{c['over_blocked']:.2f}x the blocked path")
    for r in w["settings"]:
        pl = r["pipelined"]
        lines.append(f"  one seed on two threads (draws on both, steps on one), N={r['N']} K=M={r['K']}: "
                     f"{pl['wall_us_per_step']:.2f} wall us/step, {pl['speedup_wall']:.2f}x one thread (wall), "
                     f"CPU/wall {pl['cpu_over_wall']:.2f}")
    lines.append("(ratios, ideal and step/ideal from process CPU time, median of per-round values; "
                 "wall-time ratios in the JSON)")
    ch = w["check_reference"]
    lines.append(f"K=M=40 engine vs reference_step, same inputs, {ch['steps']} steps: max|dJ|/max|J| = "
                 f"{ch['max_rel_diff']:.1e} (J moved by {ch['rel_change_of_J']:.2g})")
    return "\n".join(lines)


def machine_info():
    cpu = cpu_model()
    return {
        "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "twolayer": twolayer.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
    }


def _fmt_us(s):
    return f"{s * 1e6:10.2f}"


def report(res):
    Ls = [r["L"] for r in res["runs"]]
    head = f"{'':44s}" + "".join(f"{'L=' + str(L):>16s}" for L in Ls)
    lines = [head, "-" * len(head)]

    def row(label, vals):
        lines.append(f"{label:44s}" + "".join(f"{v:>16s}" for v in vals))

    lines.append("per-step / per-call wall time, microseconds (median over rounds)")
    labels = {
        "step": "t_step   engine SGD step (simulate)",
        "rng": "t_rng    rng.standard_normal(N), per call",
        "rng_bulk": "         rng.standard_normal bulk, per row",
        "torch": "t_torch  PyTorch per-step loop",
        "ref": "t_ref    reference_step (x pre-drawn)",
        "ref_loop": "         NumPy draw + reference_step",
    }
    for k, lab in labels.items():
        if all(k in r["median_s"] for r in res["runs"]):
            row(lab, [_fmt_us(r["median_s"][k]).strip() for r in res["runs"]])
    lines.append("")
    lines.append("ratios (median of per-round ratios, [min, max])")
    rlabels = [
        ("step_over_rng", f"t_step / t_rng        (target <= {TARGET_STEP_OVER_RNG})"),
        ("torch_over_step", f"t_torch / t_step      (target >= {TARGET_TORCH_OVER_STEP:g})"),
        ("ref_loop_over_step", "t_ref_loop / t_step"),
        ("ref_over_step", "t_ref / t_step"),
        ("step_over_rng_bulk", "t_step / t_rng_bulk"),
    ]
    for k, lab in rlabels:
        if all(k in r["ratios"] for r in res["runs"]):
            row(lab, [f"{r['ratios'][k]['median']:.3g}" for r in res["runs"]])
            row("", [f"[{r['ratios'][k]['min']:.3g}, {r['ratios'][k]['max']:.3g}]" for r in res["runs"]])
    lines.append("")
    lines.append("the same ratios from process CPU time (insensitive to other jobs on the machine)")
    for k, lab in rlabels[:3]:
        if all(k in r["cpu_ratios"] for r in res["runs"]):
            row(lab.split("(")[0].rstrip() + " [CPU time]", [f"{r['cpu_ratios'][k]['median']:.3g}" for r in res["runs"]])
    row("CPU time / wall time of the timed blocks", [f"{r['cpu_over_wall']:.2f}" for r in res["runs"]])
    lines.append("")
    m0 = res["runs"][0]["multi_seed"]
    lines.append(f"multi-seed: simulate(alpha_grid({m0['alpha_max']:g}, 10, N), seeds=range({m0['seeds']})), wall s")
    row("  workers=1", [f"{r['multi_seed']['workers1_s']:.2f}" for r in res["runs"]])
    row("  workers=2", [f"{r['multi_seed']['workers2_s']:.2f}" for r in res["runs"]])
    row("  CPU time / wall time, workers=2", [f"{r['multi_seed']['cpu_over_wall_workers2']:.2f}" for r in res["runs"]])
    row("  speedup t(w=1) / t(w=2)", [f"{r['multi_seed']['speedup_w1_over_w2']['median']:.2f}" for r in res["runs"]])
    row("  identical curves w=1 vs w=2", [str(r["multi_seed"]["identical_results"]) for r in res["runs"]])
    if all("exact_inputs" in r["checks"] for r in res["runs"]):
        lines.append("")
        lines.append("torch loop vs engine")
        row("  same inputs: max|dJ|/max|J|", [f"{r['checks']['exact_inputs']['max_rel_diff']:.1e}" for r in res["runs"]])
        row("  own inputs: eps_g within engine spread", [str(r["checks"]["statistical"]["ok"]) for r in res["runs"]])
        row("    max z = |torch - mean| / std", [f"{max(r['checks']['statistical']['z']):.2f}" for r in res["runs"]])
        row("    max relative deviation", [f"{max(r['checks']['statistical']['rel_dev']):.3f}" for r in res["runs"]])
        row(f"    control eta*{CONTROL_ETA:g} rejected", [str(r["checks"]["statistical"]["control_rejected"]) for r in res["runs"]])
        for r in res["runs"]:
            s = r["checks"]["statistical"]
            lines.append(f"  L={r['L']}: alpha {s['alpha']}, engine ensemble of {s['engine_seeds']} input seeds")
            lines.append("     engine mean " + " ".join(f"{v:.5f}" for v in s["engine_mean"]))
            lines.append("     engine std  " + " ".join(f"{v:.5f}" for v in s["engine_std"]))
            lines.append("     torch       " + " ".join(f"{v:.5f}" for v in s["torch"]))
            lines.append(f"     eta*{CONTROL_ETA:g}     " + " ".join(f"{v:.5f}" for v in s["control"]))
            lines.append("     rank        " + " ".join(f"{v:7.2f}" for v in s["rank"])
                         + "   (fraction of engine runs below torch)")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (< 60 s)")
    ap.add_argument("--json", metavar="PATH", help="write all numbers to this JSON file")
    ap.add_argument("-q", "--silent", action="store_true", help="no progress lines")
    ap.add_argument("--wide-only", action="store_true",
                    help="only the wide-layer timings and the shared inputs of sweep units (issue #31)")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full"
    p = MODES[mode]
    log = (lambda *a: None) if args.silent else (lambda msg: print(msg, file=sys.stderr, flush=True))

    if torch is not None:
        torch.set_num_threads(1)
    else:
        log("torch is not installed: the PyTorch baseline and its checks are skipped")

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    res = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": mode, "params": p, "machine": machine_info(),
        "setting": dict(N=1024, K=2, M=2, activation="erf", readout="sum", beta=1.0, eta=0.1, sigma_J=0.01, seed=0),
        "targets": {"step_over_rng_max": TARGET_STEP_OVER_RNG, "torch_over_step_min": TARGET_TORCH_OVER_STEP},
        "runs": [],
    }
    if not args.wide_only:
        for L in (1, 1024):
            res["runs"].append(bench_L(L, p, log))
    res["wide"] = bench_wide(p, log)
    res["shared"] = bench_shared(p, log)
    res["loadavg_start"] = list(load_start)
    res["loadavg_end"] = list(os.getloadavg())
    res["total_s"] = time.perf_counter() - t_start

    oks = []
    for r in res["runs"]:
        for name, c in r["checks"].items():
            oks.append(c["ok"])
            if name == "statistical":
                oks.append(c["control_rejected"])
    oks.append(res["wide"]["check_reference"]["ok"])
    oks.extend(r["identical"] for r in res["shared"].values())
    res["checks_ok"] = bool(all(oks))
    res["wide_targets_met_cpu_time"] = {f"N={r['N']} K=M={r['K']}": r["cpu"]["ratio_to_K1"] <= r["target_ratio"]
                                        for r in res["wide"]["settings"] if r["target_ratio"]}
    res["targets_met_cpu_time"] = {} if args.wide_only else {
        "step_over_rng": all(r["cpu_ratios"]["step_over_rng"]["median"] <= TARGET_STEP_OVER_RNG for r in res["runs"]),
        "torch_over_step": (all(r["cpu_ratios"]["torch_over_step"]["median"] >= TARGET_TORCH_OVER_STEP
                                for r in res["runs"]) if torch is not None else None),
    }
    res["targets_met"] = {} if args.wide_only else {
        "step_over_rng": all(r["ratios"]["step_over_rng"]["median"] <= TARGET_STEP_OVER_RNG for r in res["runs"]),
        "torch_over_step": (all(r["ratios"]["torch_over_step"]["median"] >= TARGET_TORCH_OVER_STEP for r in res["runs"])
                            if torch is not None else None),
    }

    m = res["machine"]
    print(f"bench_sgd ({mode}) {res['date']}  {m['cpu']}, {m['cores']} cores, numpy {m['numpy']}, "
          f"numba {m['numba']}, torch {m['torch']} ({m['torch_threads']} thread)")
    print("N=1024 K=M=2 erf sum-readout beta=1 eta=0.1 sigma_J=0.01, seed 0")
    print()
    if res["runs"]:
        print(report(res))
        print()
        print(f"targets met (wall time): {res['targets_met']}; (CPU time): {res['targets_met_cpu_time']}")
        print()
    print(report_wide(res["wide"]))
    print(f"wide-layer targets met (CPU time): {res['wide_targets_met_cpu_time']}")
    print()
    print(report_shared(res["shared"]))
    return finish(res, args.json, load_start)


if __name__ == "__main__":
    sys.exit(main())
