#!/usr/bin/env python
"""The PyTorch SGD backend against the compiled engine: seeds per second, measured in one run.

Setting: erf, K = M = 2, L = 1, beta = 1, eta = 0.1, sigma_J = 0.01, at N = 1024 and N = 16384,
with 1 and 64 seeds.  The compiled engine is ``twolayer.simulate(cfg, alpha, seeds=range(S))``
(its default ``workers = min(S, cores)`` threads, one seed per thread); the PyTorch backend is
``twolayer.simulate(cfg, alpha, seeds=range(S), backend="torch", device=...)`` (all seeds as one
batched tensor program, float64), timed with ``torch.set_num_threads(1)`` and with
``torch.set_num_threads(cores)``.

Each case runs a short alpha (a fixed number of steps per seed, more for the faster engine) in
interleaved rounds (one block of each kind per round, the order rotating), and reports the
median over rounds of

  seed-steps per second   = S * steps / wall time
  seeds per second        = S * alpha / wall time, i.e. runs to alpha = 1 per second
                            (alpha = steps / N; at N = 16384 one unit of alpha is 16384 steps)

and the ratio torch / compiled of the wall times per seed-step.  Process CPU time is recorded
alongside.  The torch backend draws the inputs of ``chunk`` steps at once for all seeds: the
default chunk = 512 holds 512 x S x N float64 inputs, twice over while the per-seed draws are
stacked (read off the code): 0.5 GiB at S = 64, N = 1024, but 8 GiB at S = 64, N = 16384.
``simulate(backend="torch")`` does not pass ``chunk`` on, so where that buffer would exceed
``TORCH_BUFFER_BYTES`` (only N = 16384, S = 64) the script calls the function behind it,
``twolayer.engines.torch_backend.simulate_torch``, with a chunk that fits (``via`` in the
output).  The chunk does not change the result (checked below) and hardly the speed (the loop
over steps is the same).

Correctness checks (these, not the timings, set the exit status):
  * same engine: ``simulate(backend="torch")`` and ``simulate_torch(chunk=16)`` give identical
                 curves and weights (2 seeds, 300 steps);
  * exact:       ``simulate(backend="torch")`` in float64 with ``GivenInputs(X)`` (the compiled engine's own
                 inputs for seed 0) ends at the J of the NumPy reference step
                 (``twolayer.engines.reference_step``) on the same inputs, for 3 seeds (3
                 initial weights), up to round-off (max|dJ|/max|J| <= 1e-9); the compiled engine
                 with the same ``GivenInputs`` is held against the same reference;
  * statistical: the torch backend with its own inputs against the compiled engine with its own,
                 32 seeds each (the same initial weights seed by seed): at alpha = 1, 2, 5 the
                 seed-paired difference of eps_g has |mean| <= 4 standard errors or <= 3 % of
                 the mean; as a control, the compiled engine with 1.5 eta must be rejected.

No timing is asserted.

    python benchmarks/bench_torch.py [--quick] [--json out.json] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
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

from twolayer import Config, simulate
from twolayer.data import GaussianInputs, GivenInputs
from twolayer.state import init_weights
from twolayer.engines import reference_step

try:
    import torch

    from twolayer.engines.torch_backend import default_device, simulate_torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

TORCH_BUFFER_BYTES = 1 * 2**30   # the default-chunk input buffer allowed (2 x 512 x S x N x 8 bytes)
EXACT_TOL = 1e-9
Z_TOL = 4.0
REL_TOL = 0.03
CONTROL_ETA = 1.5
NS = (1024, 16384)
SEEDS = (1, 64)

# steps per seed of one timed block: {(N, S): (compiled engine, torch)}
MODES = {
    "full": dict(rounds=3, steps={(1024, 1): (65536, 4096), (1024, 64): (8192, 1024),
                                  (16384, 1): (8192, 1024), (16384, 64): (512, 256)},
                 exact_steps=1024, stat_seeds=32, stat_alpha=(1, 2, 5), stat_N=512),
    "quick": dict(rounds=2, steps={(1024, 1): (32768, 2048), (1024, 64): (4096, 512),
                                   (16384, 1): (4096, 512), (16384, 64): (256, 128)},
                  exact_steps=512, stat_seeds=32, stat_alpha=(1, 2, 5), stat_N=512),
}


def config(N):
    return Config(N=N, L=1, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01)


DEFAULT_CHUNK = 512


def chunk_for(S, N):
    """None: the public entry point with its default chunk fits the buffer; else the chunk that does."""
    if 2 * DEFAULT_CHUNK * S * N * 8 <= TORCH_BUFFER_BYTES:
        return None
    return int(max(1, TORCH_BUFFER_BYTES // (2 * S * N * 8)))


def _clock(fn):
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


# ---------------------------------------------------------------------------------------------
# timed blocks
# ---------------------------------------------------------------------------------------------
def run_numba(N, S, steps):
    cfg = config(N)
    return simulate(cfg, np.array([steps / N]), seeds=range(S))


def run_torch(N, S, steps, threads, device):
    torch.set_num_threads(threads)
    cfg = config(N)
    alpha = np.array([steps / N])
    chunk = chunk_for(S, N)
    if chunk is None:
        return simulate(cfg, alpha, seeds=range(S), backend="torch", device=device)
    return simulate_torch(cfg, alpha, seeds=range(S), device=device, chunk=chunk)


def bench(p, device, log):
    cores = os.cpu_count() or 1
    kinds = ["numba", "torch1"] + ([f"torch{cores}"] if cores > 1 else [])
    cases = [(N, S) for N in NS for S in SEEDS]
    # warm-up: JIT cache load, first torch calls
    for N in NS:
        run_numba(N, 2, 64)
        run_torch(N, 2, 64, 1, device)
    raw = {(N, S, k): [] for N, S in cases for k in kinds}
    for r in range(p["rounds"]):
        for N, S in cases:
            order = kinds[r % len(kinds):] + kinds[: r % len(kinds)]
            for k in order:
                st_n, st_t = p["steps"][(N, S)]
                if k == "numba":
                    _, wall, cpu = _clock(lambda: run_numba(N, S, st_n))
                    steps = st_n
                else:
                    _, wall, cpu = _clock(lambda: run_torch(N, S, st_t, int(k[5:]), device))
                    steps = st_t
                raw[(N, S, k)].append({"wall_s": wall, "cpu_s": cpu, "steps": steps})
            log(f"  round {r + 1}/{p['rounds']} N={N} S={S}: " + ", ".join(
                f"{k} {raw[(N, S, k)][-1]['wall_s']:.2f} s" for k in kinds))
    torch.set_num_threads(cores)
    out = []
    for N, S in cases:
        c = chunk_for(S, N)
        row = {"N": N, "S": S, "torch_chunk": DEFAULT_CHUNK if c is None else c,
               "torch_via": "simulate(backend='torch')" if c is None else f"simulate_torch(chunk={c})"}
        for k in kinds:
            runs = raw[(N, S, k)]
            per = [x["wall_s"] / (S * x["steps"]) for x in runs]  # wall s per seed-step
            cpu = [x["cpu_s"] / (S * x["steps"]) for x in runs]
            t = statistics.median(per)
            row[k] = {"steps_per_seed": runs[0]["steps"], "alpha_per_seed": runs[0]["steps"] / N,
                      "median_wall_s": statistics.median(x["wall_s"] for x in runs),
                      "us_per_seed_step": t * 1e6, "seed_steps_per_s": 1.0 / t, "seeds_per_s_to_alpha1": 1.0 / (t * N),
                      "cpu_over_wall": statistics.median(x["cpu_s"] / x["wall_s"] for x in runs),
                      "cpu_us_per_seed_step": statistics.median(cpu) * 1e6, "raw": runs}
        for k in kinds[1:]:
            row[f"{k}_over_numba"] = row[k]["us_per_seed_step"] / row["numba"]["us_per_seed_step"]
            row[f"{k}_over_numba_cpu"] = row[k]["cpu_us_per_seed_step"] / row["numba"]["cpu_us_per_seed_step"]
        out.append(row)
    return kinds, out


# ---------------------------------------------------------------------------------------------
# correctness
# ---------------------------------------------------------------------------------------------
def exact_check(n_steps, device):
    cfg = Config(N=1024, L=1024, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01)
    X = GaussianInputs().source(cfg, 0).draw(n_steps)
    alpha = np.array([n_steps / cfg.N])
    seeds = (0, 1, 2)
    torch.set_num_threads(1)
    tt = simulate(cfg, alpha, seeds=seeds, inputs=GivenInputs(X), backend="torch", device=device, dtype="float64")
    t32 = simulate(cfg, alpha, seeds=seeds, inputs=GivenInputs(X), backend="torch", device=device, dtype="float32")
    torch.set_num_threads(os.cpu_count() or 1)
    nb = simulate(cfg, alpha, seeds=seeds, inputs=GivenInputs(X), record_weights=True)
    rel_t, rel_n, rel_32, moved = [], [], [], []
    for i, s in enumerate(seeds):
        J, B = init_weights(cfg, s)
        J0 = J.copy()
        for x in X:
            reference_step(J, B, x, cfg)
        scale = np.max(np.abs(J))
        rel_t.append(float(np.max(np.abs(tt.info["J_final"][i] - J)) / scale))
        rel_32.append(float(np.max(np.abs(t32.info["J_final"][i] - J)) / scale))
        rel_n.append(float(np.max(np.abs(nb.info["J"][i, -1] - J)) / scale))
        moved.append(float(np.max(np.abs(J - J0)) / np.max(np.abs(J0))))
    return {"steps": n_steps, "seeds": list(seeds), "torch64_max_rel_diff": max(rel_t),
            "numba_max_rel_diff": max(rel_n), "torch32_max_rel_diff_info": max(rel_32),
            "rel_change_of_J": min(moved), "tol": EXACT_TOL,
            "ok": bool(max(rel_t) <= EXACT_TOL and max(rel_n) <= EXACT_TOL)}


def _paired_verdict(a, b):
    d = a - b  # (seeds, points)
    m = d.mean(0)
    se = d.std(0, ddof=1) / np.sqrt(d.shape[0])
    z = np.abs(m) / np.maximum(se, 1e-300)
    rel = np.abs(m) / b.mean(0)
    return z, rel, (z <= Z_TOL) | (rel <= REL_TOL)


def statistical_check(p, device):
    cfg = config(p["stat_N"])
    alpha = np.array(p["stat_alpha"], dtype=float)
    seeds = range(p["stat_seeds"])
    torch.set_num_threads(1)
    t = simulate(cfg, alpha, seeds=seeds, backend="torch", device=device).eps_g
    torch.set_num_threads(os.cpu_count() or 1)
    n = simulate(cfg, alpha, seeds=seeds).eps_g
    c = simulate(cfg.replace(eta=CONTROL_ETA * cfg.eta), alpha, seeds=seeds).eps_g
    z, rel, ok = _paired_verdict(t, n)
    zc, relc, okc = _paired_verdict(t, c)
    return {"N": cfg.N, "alpha": alpha.tolist(), "seeds": len(seeds), "torch_mean": t.mean(0).tolist(),
            "numba_mean": n.mean(0).tolist(), "z": z.tolist(), "rel_dev": rel.tolist(), "ok": bool(ok.all()),
            "control_eta_factor": CONTROL_ETA, "control_mean": c.mean(0).tolist(), "control_z": zc.tolist(),
            "control_rejected": bool(not okc.all())}


def same_engine_check(device):
    cfg = config(1024)
    alpha = np.array([100 / 1024, 300 / 1024])
    torch.set_num_threads(1)
    a = simulate(cfg, alpha, seeds=range(2), backend="torch", device=device)
    b = simulate_torch(cfg, alpha, seeds=range(2), device=device, chunk=16)
    torch.set_num_threads(os.cpu_count() or 1)
    same = bool(np.array_equal(a.eps_g, b.eps_g) and np.array_equal(a.info["J_final"], b.info["J_final"]))
    return {"method": a.method, "device": a.info["device"], "identical": same, "ok": same and a.method == "sgd-torch"}


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------
def machine_info(device):
    import numba

    cpu = cpu_model()
    info = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "twolayer": twolayer.__version__,
            "torch": torch.__version__, "torch_device": device, "cuda_available": torch.cuda.is_available()}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def report(kinds, rows):
    L = []
    head = f"{'N':>6s} {'S':>3s} | " + " | ".join(f"{k:>22s}" for k in kinds) + " | " + " ".join(
        f"{k + '/numba':>13s}" for k in kinds[1:])
    L.append("seeds per second to alpha = 1 (S * alpha / wall), [us per seed-step]; last columns: wall-time ratio per seed-step")
    L.append(head)
    L.append("-" * len(head))
    for r in rows:
        cells = [f"{r[k]['seeds_per_s_to_alpha1']:10.3g} [{r[k]['us_per_seed_step']:8.1f}]" for k in kinds]
        L.append(f"{r['N']:6d} {r['S']:3d} | " + " | ".join(f"{c:>22s}" for c in cells) + " | " +
                 " ".join(f"{r[k + '_over_numba']:13.1f}" for k in kinds[1:]))
    L.append("")
    L.append("CPU time / wall time (median over rounds), and the torch/numba ratio from CPU time")
    for r in rows:
        L.append(f"{r['N']:6d} {r['S']:3d} | " + "  ".join(f"{k} {r[k]['cpu_over_wall']:.2f}" for k in kinds) + " | " +
                 "  ".join(f"{k}/numba {r[k + '_over_numba_cpu']:.1f}" for k in kinds[1:]))
    L.append("")
    L.append("steps per seed per timed block (numba / torch), and how torch was called:")
    for r in rows:
        L.append(f"  N={r['N']} S={r['S']}: {r['numba']['steps_per_seed']} / {r[kinds[1]]['steps_per_seed']}, "
                 f"{r['torch_via']}")
    return "\n".join(L)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and rounds (~1-2 min)")
    ap.add_argument("--json", metavar="PATH", help="write all numbers to this JSON file")
    ap.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    ap.add_argument("-q", "--silent", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)
    if torch is None:
        print("bench_torch: PyTorch is not installed (pip install torch); nothing to measure", file=sys.stderr)
        return 2
    mode = "quick" if args.quick else "full"
    p = MODES[mode]
    log = (lambda *a: None) if args.silent else (lambda msg: print(msg, file=sys.stderr, flush=True))
    device = args.device or default_device()

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    res = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "mode": mode,
           "params": {k: (v if k != "steps" else {f"{a},{b}": s for (a, b), s in v.items()}) for k, v in p.items()},
           "machine": machine_info(device), "torch_buffer_bytes": TORCH_BUFFER_BYTES}
    log(f"bench_torch ({mode}) on torch device {device}; load average {load_start}")
    kinds, rows = bench(p, device, log)
    res["kinds"], res["cases"] = kinds, rows
    log("  checks: exact (GivenInputs vs reference_step), statistical (own inputs)")
    res["checks"] = {"same_engine": same_engine_check(device), "exact_inputs": exact_check(p["exact_steps"], device),
                     "statistical": statistical_check(p, device)}
    res["loadavg_start"] = list(load_start)
    res["loadavg_end"] = list(os.getloadavg())
    res["total_s"] = time.perf_counter() - t_start
    ch = res["checks"]
    res["checks_ok"] = bool(ch["same_engine"]["ok"] and ch["exact_inputs"]["ok"] and ch["statistical"]["ok"]
                            and ch["statistical"]["control_rejected"])

    m = res["machine"]
    print(f"bench_torch ({mode}) {res['date']}  {m['cpu']}, {m['cores']} cores, numpy {m['numpy']}, numba {m['numba']}, "
          f"torch {m['torch']}, twolayer {m['twolayer']}")
    print(f"torch device: {device} (cuda available: {m['cuda_available']}{', ' + m['gpu'] if 'gpu' in m else ''})")
    print("erf K=M=2 L=1 beta=1 eta=0.1 sigma_J=0.01; numba = twolayer.simulate (workers = min(S, cores)), "
          "torchT = simulate(backend='torch') float64 with T torch threads")
    print()
    print(report(kinds, rows))
    print()
    e, s, g = ch["exact_inputs"], ch["statistical"], ch["same_engine"]
    print(f"same engine: simulate(backend='torch') (method {g['method']!r}, device {g['device']}) vs "
          f"simulate_torch(chunk=16): identical {g['identical']} -> {'ok' if g['ok'] else 'FAIL'}")
    print(f"exact, {e['steps']} steps on identical inputs, seeds {e['seeds']}: max|dJ|/max|J| torch float64 "
          f"{e['torch64_max_rel_diff']:.1e}, compiled {e['numba_max_rel_diff']:.1e} (tol {EXACT_TOL:g}); "
          f"torch float32 {e['torch32_max_rel_diff_info']:.1e} (info); J moved by a relative {e['rel_change_of_J']:.2g}"
          f" -> {'ok' if e['ok'] else 'FAIL'}")
    print(f"statistical, N={s['N']}, {s['seeds']} seeds, alpha {s['alpha']}: seed-paired z "
          + " ".join(f"{z:.2f}" for z in s["z"]) + ", rel " + " ".join(f"{r:.3f}" for r in s["rel_dev"])
          + f" -> {'ok' if s['ok'] else 'FAIL'}; control eta*{CONTROL_ETA:g}: z "
          + " ".join(f"{z:.1f}" for z in s["control_z"]) + f" -> {'rejected' if s['control_rejected'] else 'NOT rejected'}")
    print("    torch mean " + " ".join(f"{v:.5f}" for v in s["torch_mean"]) + "; compiled mean "
          + " ".join(f"{v:.5f}" for v in s["numba_mean"]))
    return finish(res, args.json, load_start)


if __name__ == "__main__":
    sys.exit(main())
