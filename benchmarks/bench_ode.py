#!/usr/bin/env python
"""Speed of the block order-parameter ODE (``twolayer.solve_ode``), measured as ratios in one run.

Five measurements:

  A. ODE vs SGD.  N = L = 1024, K = M = 6, erf, beta = 0.25, eta = 0.01, sigma_J = 1e-6, seed 0:
     the block ODE (ETD2RK, ``rtol`` below, from the overlaps of seed 0's initial weights) to
     alpha = 1e5 against one run of the compiled SGD engine from the same weights to alpha = 1e4.
     Ratio t_ODE(1e5) / t_SGD(1e4), target <= 0.3.  The ODE has a wall-time budget; if it runs out,
     the ratio is a lower bound and the alpha reached is reported.  The same ODE with the explicit
     corrector (``implicit=False``, the scheme before the implicit corrector) is timed alongside.
  B. The command line.  ``python -m twolayer run --method ode --L 1 --K 2 --M 2 --eta 0.1
     --alpha-max 5000`` (N = 1024, beta = 1, sigma_J = 0.01 and rtol = 1e-6 are the CLI
     defaults) in a subprocess, whole call (interpreter start, imports, JIT cache load, solve,
     CSV write); target < 3 s.  ``python -c "import twolayer"`` is timed alongside.
  C. The same two ODE runs with ``scipy.integrate`` (LSODA and BDF, the solver classes that
     ``solve_ivp`` steps, so that a wall-time budget can stop them between steps) on the same
     right-hand side, to show what the structure (exponential integrator on the block form)
     buys.  Same rtol as the ETD2 run, atol = 1e-14 (``solve_ode``'s default), per component.
     Ratio: scipy's wall time to its last accepted step over the ETD2 run's wall time to the same
     alpha (read off the ETD2 run's per-step clock); a run the budget stopped gives the ratio up
     to the alpha it reached.  (A budget check runs between steps and in the right-hand side,
     but one LSODA step with repeated Jacobians and banded LU factorisations can overrun it.)
  D. Memory.  L = N = 4096, K = M = 8: a short ODE run (``max_steps`` accepted steps) in a fresh
     subprocess: peak RSS (whole process, and its increase over the state after imports and a
     JIT warm-up), tracemalloc peak of the run, the arrays of the state and of the integrator's
     work space counted exactly, and the library's own estimate, against 2 GiB.
  E. Correctness (these, not the timings, set the exit status):
       * ODE vs SGD of the same weights (setting A): max |ln eps_sgd - ln eps_ode| over the grid
         points with 1 <= alpha <= 1e4 below ``DEV_TOL``;
       * the right-hand side the scipy runs use equals ``twolayer.theory.rhs`` (the library's
         public NumPy evaluation) at the initial state;
       * scipy runs agree with the ETD2 curve where they got to (max |d ln eps_g| over the grid
         points reached with eps_g > ``EPS_FLOOR`` = 1e-6, below ``SCIPY_TOL``; both integrators
         control the error of the overlaps relative to their O(1) size, so ln eps_g carries that
         error amplified by 1/eps_g: at eps_g ~ 1e-9 (L = 1, alpha ~ 3000) the ETD2 curve at
         rtol 1e-6 is itself ~1 % off a rtol = 1e-9 reference);
       * the CLI exits with status 0 and its CSV equals ``solve_ode`` in this process.

The scipy right-hand side.  ``twolayer.theory.rhs(alpha, state, setting)`` is public but evaluates the
Gaussian averages in NumPy; the adapter below (``BlockRHS``) evaluates the same function as the
integrator does: the global overlaps (``twolayer.data.global_overlaps``), the coefficients from the
module-internal ``twolayer.theory.ode._Coefficients`` (compiled for erf) and the frozen-coefficient
block right-hand side ``twolayer.theory.blocks.rhs_frozen``.  State: per group g the K*K entries of
q^g then the K*M of r^g, groups one after the other (t^g is constant).  Jacobians: for one group
(L = 1) scipy's dense finite differences; for G = 1024 groups a dense Jacobian (73728^2 doubles,
43 GB) is impossible, so LSODA gets the banded structure (``lband = uband = K*K + K*M - 1``) and BDF
the block-diagonal ``jac_sparsity``.  Both drop the coupling of the groups through the global
overlaps (a low-rank part of the true Jacobian): the Newton iterations see an approximate
Jacobian, which can cost iterations but not accuracy (the error control is unchanged).

No timing is asserted.  Times are wall-clock (perf_counter) with process CPU time alongside;
ratios are printed from both.

    python benchmarks/bench_ode.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from _common import cpu_model  # noqa: E402  (benchmarks/ is on sys.path)

try:
    import twolayer
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    import twolayer

from twolayer import Config, alpha_grid, eps_g, simulate, solve_ode
from twolayer.state import global_overlaps
from twolayer.problem.errors import IntegrationError
from twolayer.problem.spectrum import groups

GiB = 1024.0**3
TARGET_ODE_OVER_SGD = 0.3
TARGET_CLI_S = 3.0
MEMORY_LIMIT = 2 * GiB
DEV_TOL = 0.1        # max |ln eps_sgd - ln eps_ode| over 1 <= alpha <= 1e4 (setting A, one seed)
SCIPY_TOL = 1e-2     # max |ln eps_scipy - ln eps_etd2| where scipy got to
RHS_TOL = 1e-12      # adapter vs twolayer.theory.rhs, relative to the largest entry
CLI_TOL = 1e-12      # CLI CSV vs in-process solve_ode, relative
EPS_FLOOR = 1e-6     # grid points with eps_g below this are not compared in ln (see SCIPY_TOL)

BIG = Config(N=1024, L=1024, K=6, M=6, beta=0.25, eta=0.01, sigma_J=1e-6)
SMALL = Config(N=1024, L=1, K=2, M=2, eta=0.1)  # beta = 1, sigma_J = 0.01: the CLI defaults
MEM = Config(N=4096, L=4096, K=8, M=8, beta=0.25, eta=0.01, sigma_J=1e-6)
WIDE = Config(N=512, L=512, K=40, M=40, beta=1.0, eta=0.01, sigma_J=1e-6)  # chapter 05, Fig. 6 left
WIDE_RTOL = 1e-3    # chapter 05's tolerance for it
CLI_ARGS = ["run", "--method", "ode", "--L", "1", "--K", "2", "--M", "2", "--eta", "0.1",
            "--alpha-max", "5000", "--no-progress"]
SMALL_RTOL = 1e-6   # the CLI default
ALPHA_SGD, ALPHA_ODE, ALPHA_SMALL = 1e4, 1e5, 5000.0

MODES = {
    "full": dict(rtol=1e-5, extra_rtols=(1e-4, 1e-6), ode_budget_s=1800.0, scipy_budget_big_s=300.0,
                 scipy_budget_small_s=120.0, cli_reps=5, mem_steps=5, wide_alpha=1000.0),
    "quick": dict(rtol=1e-5, extra_rtols=(), ode_budget_s=600.0, scipy_budget_big_s=45.0,
                  scipy_budget_small_s=30.0, cli_reps=3, mem_steps=5, wide_alpha=100.0),
    # only checks that the script runs: tiny settings, numbers meaningless
    "smoke": dict(rtol=1e-5, extra_rtols=(), ode_budget_s=60.0, scipy_budget_big_s=5.0,
                  scipy_budget_small_s=5.0, cli_reps=1, mem_steps=2, wide_alpha=2.0),
}


# ---------------------------------------------------------------------------------------------
# timing helpers
# ---------------------------------------------------------------------------------------------
class OutOfTime(Exception):
    pass


class AlphaClock:
    """A progress sink for ``solve_ode``: records (alpha reached, seconds) at every accepted
    step, and stops the run (raises ``OutOfTime``) once ``budget_s`` is used up."""

    def __init__(self, budget_s=None):
        self.budget_s = budget_s
        self.alpha = 0.0
        self.marks = []
        self.t0 = time.perf_counter()

    def update(self, n=1):
        self.alpha += n
        now = time.perf_counter() - self.t0
        self.marks.append((self.alpha, now))
        if self.budget_s is not None and now > self.budget_s:
            raise OutOfTime

    def close(self):
        pass

    def time_at(self, alpha):
        """Seconds from the start until alpha was reached (None if it was not)."""
        for a, t in self.marks:
            if a >= alpha * (1 - 1e-9):
                return t
        return None


def timed(fn):
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def ln_dev(a, b, floor=EPS_FLOOR):
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = (a > floor) & (b > floor)
    if not ok.any():
        return float("nan")
    return float(np.max(np.abs(np.log(a[ok]) - np.log(b[ok]))))


# ---------------------------------------------------------------------------------------------
# A. ODE against SGD
# ---------------------------------------------------------------------------------------------
def grids(cfg, alpha_sgd, alpha_ode):
    """SGD grid to alpha_sgd (~11 points per decade from one step); the ODE grid is the same
    points continued to alpha_ode (10 per decade).  All points are whole SGD steps."""
    g_sgd = alpha_grid(alpha_sgd, int(round(11.4 * np.log10(alpha_sgd * cfg.N))), cfg.N)
    decades = int(round(np.log10(alpha_ode / alpha_sgd)))
    tail = alpha_grid(alpha_ode, 10 * decades + 1, cfg.N, alpha_min=alpha_sgd)[1:] if decades else []
    return g_sgd, np.concatenate([g_sgd, tail])


def bench_ode_vs_sgd(cfg, p, log, alpha_sgd, alpha_ode):
    g_sgd, g_ode = grids(cfg, alpha_sgd, alpha_ode)
    # warm-up: JIT cache load / compile of the ODE kernels and the SGD loop (not timed)
    _, first_ode, _ = timed(lambda: solve_ode(cfg, g_ode[:3], rtol=p["rtol"], workers=1))
    _, first_sgd, _ = timed(lambda: simulate(cfg, g_sgd[:2], seeds=0, workers=1))

    log(f"  A: block ODE to alpha = {alpha_ode:g} (rtol {p['rtol']:g}, budget {p['ode_budget_s']:g} s)")
    clock = AlphaClock(p["ode_budget_s"])
    c0, t0 = time.process_time(), time.perf_counter()
    try:
        ode = solve_ode(cfg, g_ode, seeds=0, rtol=p["rtol"], workers=1, progress=clock)  # one thread, as SGD
        finished = True
    except OutOfTime:
        ode, finished = None, False
    t_ode, c_ode = time.perf_counter() - t0, time.process_time() - c0
    log(f"     {t_ode:.1f} s, alpha reached {clock.alpha:.4g}")

    log(f"  A: SGD (compiled engine, one seed, one thread) to alpha = {alpha_sgd:g}")
    sgd, t_sgd, c_sgd = timed(lambda: simulate(cfg, g_sgd, seeds=0, workers=1))
    log(f"     {t_sgd:.1f} s")

    if ode is None:  # the correctness check needs the curve to alpha_sgd
        log("  A: ODE ran out of time; a separate ODE run to the SGD grid for the check")
        ode_chk = solve_ode(cfg, g_sgd, seeds=0, rtol=p["rtol"], workers=1)
        ode_eps = ode_chk.eps_g[0]
    else:
        ode_eps = ode.eps_g[0][: len(g_sgd)]
    win = (g_sgd >= 1.0) & (g_sgd <= alpha_sgd)
    dev = np.abs(np.log(sgd.eps_g[0][win]) - np.log(ode_eps[win]))
    t_ode_at_sgd = clock.time_at(alpha_sgd)

    log(f"  A: the same ODE with the explicit corrector (implicit=False, v1's scheme), for comparison")
    c = AlphaClock(p["ode_budget_s"])
    try:
        tr, t, cpu = timed(lambda: solve_ode(cfg, g_ode, seeds=0, rtol=p["rtol"], implicit=False, workers=1,
                                             progress=c))
        explicit = {"wall_s": t, "cpu_s": cpu, "n_steps": tr.info["n_steps"][0], "n_rejected": tr.info["n_rejected"][0],
                    "ratio_over_sgd": t / t_sgd, "ratio_implicit_over_explicit": t_ode / t if finished else None,
                    "max_ln_dev_vs_implicit": ln_dev(tr.eps_g[0], ode.eps_g[0]) if ode is not None else None}
    except OutOfTime:
        explicit = {"wall_s": None, "alpha_reached": c.alpha}
    log(f"     {explicit['wall_s']} s")

    extra = []
    for rt in p["extra_rtols"]:
        log(f"  A: block ODE to alpha = {alpha_ode:g} with rtol {rt:g} (for information)")
        c = AlphaClock(p["ode_budget_s"])
        try:
            tr, t, cpu = timed(lambda: solve_ode(cfg, g_ode, seeds=0, rtol=rt, workers=1, progress=c))
            extra.append({"rtol": rt, "wall_s": t, "cpu_s": cpu, "n_steps": tr.info["n_steps"][0],
                          "ratio_over_sgd": t / t_sgd,
                          "max_ln_dev_vs_main": ln_dev(tr.eps_g[0], ode.eps_g[0]) if ode is not None else None})
        except OutOfTime:
            extra.append({"rtol": rt, "wall_s": None, "alpha_reached": c.alpha})

    return {
        "config": cfg.to_dict(), "rtol": p["rtol"], "alpha_ode": alpha_ode, "alpha_sgd": alpha_sgd,
        "points_ode": len(g_ode), "points_sgd": len(g_sgd),
        "first_call_ode_s": first_ode, "first_call_sgd_s": first_sgd,
        "ode_finished": finished, "ode_alpha_reached": clock.alpha,
        "ode_wall_s": t_ode, "ode_cpu_s": c_ode,
        "ode_n_steps": (ode.info["n_steps"][0] if ode is not None else len(clock.marks)),
        "ode_n_rejected": (ode.info["n_rejected"][0] if ode is not None else None),
        "ode_wall_s_to_alpha_sgd": t_ode_at_sgd,
        "sgd_wall_s": t_sgd, "sgd_cpu_s": c_sgd, "sgd_steps": int(round(alpha_sgd * cfg.N)),
        "sgd_us_per_step": t_sgd / (alpha_sgd * cfg.N) * 1e6,
        "ratio_ode_over_sgd": t_ode / t_sgd, "ratio_is_lower_bound": not finished,
        "ratio_ode_over_sgd_cpu": c_ode / c_sgd,
        "ratio_ode_same_alpha_over_sgd": (t_ode_at_sgd / t_sgd) if t_ode_at_sgd is not None else None,
        "eps_final_ode": float(ode.eps_g[0][-1]) if ode is not None else None,
        "eps_at_alpha_sgd": {"sgd": float(sgd.eps_g[0][-1]), "ode": float(ode_eps[len(g_sgd) - 1])},
        "explicit_corrector": explicit,
        "extra_rtols": extra,
        "_curves": {"alpha": g_ode.tolist(), "ode": (ode.eps_g[0].tolist() if ode is not None else None),
                    "sgd": sgd.eps_g[0].tolist(), "clock": clock},
        "check_ode_vs_sgd": {"window": [1.0, alpha_sgd], "points": int(win.sum()),
                             "max_abs_dln_eps": float(dev.max()), "mean_abs_dln_eps": float(dev.mean()),
                             "tol": DEV_TOL, "ok": bool(dev.max() <= DEV_TOL)},
    }


def bench_wide(cfg, alpha_max, log):
    """E. Many hidden units (chapter 05's K = M = 40 ODE): one thread against the default
    threads (all cores), and the check that they give the same bits."""
    grid = alpha_grid(alpha_max, 40, cfg.N, alpha_min=0.1)
    solve_ode(cfg.replace(N=64, L=64, K=4, M=4), grid[:2], rtol=WIDE_RTOL)  # JIT cache (not timed)
    cores = os.cpu_count() or 1
    runs = {}
    for w in (1, cores):
        log(f"  E: block ODE K={cfg.K}, L={cfg.L} to alpha = {alpha_max:g} with {w} thread(s)")
        tr, t, cpu = timed(lambda: solve_ode(cfg, grid, seeds=0, rtol=WIDE_RTOL, workers=w))
        runs[w] = {"wall_s": t, "cpu_s": cpu, "n_steps": tr.info["n_steps"][0], "n_rejected": tr.info["n_rejected"][0],
                   "eps": tr.eps_g[0]}
        log(f"     {t:.1f} s")
    same = bool(np.array_equal(runs[1]["eps"], runs[cores]["eps"]))
    for r in runs.values():
        r.pop("eps")
    return {"config": cfg.to_dict(), "rtol": WIDE_RTOL, "alpha_max": alpha_max, "cores": cores,
            "runs": {str(k): v for k, v in runs.items()},
            "ratio_threads": runs[cores]["wall_s"] / runs[1]["wall_s"],
            "check_same_bits": {"ok": same}}


# ---------------------------------------------------------------------------------------------
# B. the command line
# ---------------------------------------------------------------------------------------------
def _child_env():
    env = dict(os.environ)
    lib = os.path.dirname(os.path.dirname(os.path.abspath(twolayer.__file__)))
    env["PYTHONPATH"] = lib + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("CI", None)
    return env


def _run_child(cmd):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_child_env())
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return proc, wall, cpu


def bench_cli(p, log, cli_args, cfg, alpha_max):
    log(f"  B: CLI, {p['cli_reps']} calls")
    out = {"command": ["python", "-m", "twolayer"] + cli_args + ["--out", "OUT.csv"], "runs": []}
    with tempfile.TemporaryDirectory() as d:
        csv = os.path.join(d, "ode.csv")
        imp = []
        for i in range(p["cli_reps"]):
            proc, wall, cpu = _run_child([sys.executable, "-m", "twolayer"] + cli_args + ["--out", csv])
            out["runs"].append({"wall_s": wall, "cpu_s": cpu, "exit": proc.returncode,
                                "stderr": proc.stderr.strip()[-500:]})
            _, w, c = _run_child([sys.executable, "-c", "import twolayer"])
            imp.append((w, c))
        ok_exit = all(r["exit"] == 0 for r in out["runs"])
        data = np.loadtxt(csv, delimiter=",", skiprows=1) if ok_exit else None
    walls = [r["wall_s"] for r in out["runs"]]
    out.update(wall_s_median=statistics.median(walls), wall_s_min=min(walls), wall_s_first=walls[0],
               cpu_s_median=statistics.median(r["cpu_s"] for r in out["runs"]),
               import_wall_s_median=statistics.median(w for w, _ in imp),
               import_cpu_s_median=statistics.median(c for _, c in imp),
               target_s=TARGET_CLI_S)
    # the same solve in this process (its time, and the CLI's result against it)
    grid = alpha_grid(alpha_max, 60, cfg.N)
    clock = AlphaClock()
    tr, t, c = timed(lambda: solve_ode(cfg, grid, seeds=0, rtol=SMALL_RTOL, progress=clock))
    out["in_process_solve"] = {"wall_s": t, "cpu_s": c, "n_steps": tr.info["n_steps"][0], "points": len(grid)}
    chk = {"exit_codes": [r["exit"] for r in out["runs"]], "ok": False}
    if data is not None:
        same_grid = data.shape[0] == len(grid) and np.allclose(data[:, 0], grid, rtol=1e-15, atol=0)
        rel = float(np.max(np.abs(data[:, 1] - tr.eps_g[0]) / np.maximum(np.abs(tr.eps_g[0]), 1e-300))) if same_grid else None
        chk.update(same_grid=bool(same_grid), max_rel_diff=rel, tol=CLI_TOL,
                   ok=bool(ok_exit and same_grid and rel <= CLI_TOL))
    out["check_cli"] = chk
    out["_etd"] = {"traj": tr, "clock": clock, "wall_s": t, "grid": grid}
    return out


# ---------------------------------------------------------------------------------------------
# C. scipy on the same right-hand side
# ---------------------------------------------------------------------------------------------
class BlockRHS:
    """The block ODE's right-hand side as a function of a flat state y (see the module docstring).

    y = concatenation over groups g of (q^g.ravel(), r^g.ravel()), K*K + K*M numbers per group.
    Uses module internals of ``twolayer.theory`` (``ode._Coefficients``, ``blocks.rhs_frozen``),
    which is what the ETD2 integrator evaluates; checked against the public ``theory.rhs``."""

    def __init__(self, cfg, state, eta2=True):
        from twolayer.state import resolve
        from twolayer.theory.blocks import rhs_frozen
        from twolayer.theory.ode import _Coefficients

        self.cfg, self.grp = cfg, groups(cfg)
        self.setting = resolve(cfg)
        self.G, self.K, self.M = self.grp.size, cfg.K, cfg.M
        self.D = self.K * self.K + self.K * self.M
        self.t = np.ascontiguousarray(state.t)
        self.v = np.asarray(state.v, float)
        self.T = global_overlaps(self.t, self.t, self.t, self.grp.lam)[2]
        self.coef = _Coefficients(self.setting, eta2)
        self._rhs_frozen = rhs_frozen
        self.nfev = 0
        self.deadline = None  # perf_counter() time after which an evaluation raises OutOfTime


    def pack(self, q, r):
        return np.concatenate([np.asarray(q).reshape(self.G, -1), np.asarray(r).reshape(self.G, -1)], axis=1).ravel()

    def unpack(self, y):
        Y = np.asarray(y).reshape(self.G, self.D)
        kk = self.K * self.K
        return Y[:, :kk].reshape(self.G, self.K, self.K), Y[:, kk:].reshape(self.G, self.K, self.M)

    def __call__(self, alpha, y):
        self.nfev += 1
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise OutOfTime  # ends a solver step that overruns the budget (the last accepted step stands)
        q, r = self.unpack(y)
        Q, R, _ = global_overlaps(q, r, self.t, self.grp.lam)
        Gl, Gr, E, _F = self.coef(Q, R, self.T, self.v)
        dq, dr = self._rhs_frozen(q, r, self.t, self.setting, (Gl, Gr, E))
        return self.pack(dq, dr)

    def eps(self, y):
        q, r = self.unpack(y)
        Q, R, _ = global_overlaps(q, r, self.t, self.grp.lam)
        return float(eps_g(Q, R, self.T, self.cfg, self.cfg.student_weights, self.cfg.teacher_weights))

    def jac_sparsity(self):
        import scipy.sparse as sp

        return sp.block_diag([np.ones((self.D, self.D))] * self.G, format="csc")


def check_rhs_adapter(cfg):
    from twolayer.state import initial_state
    from twolayer.theory.blocks import rhs

    st = initial_state(cfg, "sampled", 0)
    f = BlockRHS(cfg, st)
    y = f.pack(st.q, st.r)
    d = rhs(0.0, st, cfg)
    dq, dr = d.q, d.r
    ref = f.pack(dq, dr)
    rel = float(np.max(np.abs(f(0.0, y) - ref)) / np.max(np.abs(ref)))
    return {"config": f"N={cfg.N} L={cfg.L} K={cfg.K} M={cfg.M}", "max_rel_diff": rel, "tol": RHS_TOL,
            "ok": bool(rel <= RHS_TOL)}


def run_scipy(cfg, method, grid, rtol, budget_s, log):
    """One scipy run on the grid with a wall-time budget; eps_g at the grid points reached."""
    import scipy.integrate as si

    from twolayer.state import initial_state

    st = initial_state(cfg, "sampled", 0)
    f = BlockRHS(cfg, st)
    y0 = f.pack(st.q, st.r)
    kw = {"rtol": rtol, "atol": 1e-14}
    jac = "dense finite differences"
    if f.G > 1:
        if method == "LSODA":
            kw.update(lband=f.D - 1, uband=f.D - 1)
            jac = f"banded finite differences, lband = uband = {f.D - 1}"
        else:
            kw.update(jac_sparsity=f.jac_sparsity())
            jac = f"block-diagonal jac_sparsity ({f.G} blocks of {f.D}x{f.D})"
    cls = {"LSODA": si.LSODA, "BDF": si.BDF}[method]
    log(f"  C: scipy {method} on G={f.G} groups to alpha = {grid[-1]:g} (budget {budget_s:g} s)")
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    solver = cls(f, 0.0, y0, float(grid[-1]), **kw)
    f.deadline = t0 + budget_s
    eps, p, n_steps, status = [], 0, 0, "running"
    t_last = c_last = 0.0
    try:
        while solver.status == "running":
            if time.perf_counter() - t0 > budget_s:
                status = "budget"
                break
            msg = solver.step()
            n_steps += 1
            if solver.status == "failed":
                status = f"failed: {msg}"
                break
            t_last, c_last = time.perf_counter() - t0, time.process_time() - c0  # at the last accepted step
            if p < len(grid) and solver.t >= grid[p] * (1 - 1e-12):
                dense = solver.dense_output()
                while p < len(grid) and grid[p] <= solver.t * (1 + 1e-12):
                    eps.append(f.eps(dense(min(grid[p], solver.t))))
                    p += 1
        else:
            status = "finished" if solver.status == "finished" else str(solver.status)
    except OutOfTime:
        status = "budget"
    except Exception as e:  # noqa: BLE001 - a solver giving up is a result, not a crash
        status = f"error: {type(e).__name__}: {' '.join(str(e).split())[:200]}"
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    f.deadline = None
    log(f"     {status}, alpha reached {solver.t:.4g} in {wall:.1f} s ({n_steps} steps, {f.nfev} RHS evaluations)")
    return {"method": method, "jacobian": jac, "rtol": rtol, "atol": 1e-14, "budget_s": budget_s,
            "status": status, "alpha_reached": float(solver.t), "wall_s": wall, "cpu_s": cpu,
            "wall_s_to_alpha_reached": t_last, "cpu_s_to_alpha_reached": c_last,
            "n_steps": n_steps, "nfev": f.nfev, "njev": int(getattr(solver, "njev", 0) or 0),
            "nlu": int(getattr(solver, "nlu", 0) or 0), "points_reached": p, "_eps": eps}


def compare_scipy(run, etd_eps, etd_clock, etd_wall):
    """Fold the ETD2 comparison into a scipy result (speed ratio and agreement)."""
    n = min(run["points_reached"], len(etd_eps))
    dev = ln_dev(run.pop("_eps")[:n], etd_eps[:n]) if n else float("nan")
    done = run["status"] == "finished"
    t_etd_same = etd_wall if done else etd_clock.time_at(run["alpha_reached"])
    run.update(
        etd2_wall_s_to_same_alpha=t_etd_same,
        # scipy's wall time to its last accepted step over ETD2's to the same alpha; for a run
        # stopped by the budget this is the ratio up to the alpha it reached (the rest is not run)
        ratio_scipy_over_etd2=(run["wall_s_to_alpha_reached"] / t_etd_same) if t_etd_same else None,
        ratio_to_alpha_reached_only=not done,
        max_abs_dln_eps_vs_etd2=dev,
        check={"tol": SCIPY_TOL, "points": n, "ok": bool(n == 0 or not np.isfinite(dev) or dev <= SCIPY_TOL)},
    )
    return run


# ---------------------------------------------------------------------------------------------
# D. memory (in a fresh subprocess)
# ---------------------------------------------------------------------------------------------
def _proc_status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) * 1024
    return out


def memory_child(N, L, K, M, steps):
    """Runs in the subprocess: prints one JSON line."""
    import tracemalloc

    from twolayer.problem.resources import ode_estimate
    from twolayer.theory import _kernels as kn

    cfg = Config(N=N, L=L, K=K, M=M, beta=0.25, eta=0.01, sigma_J=1e-6)
    warm = Config(N=64, L=64, K=K, M=M, beta=0.25, eta=0.01, sigma_J=1e-6)
    solve_ode(warm, [0.01, 0.02])  # JIT cache load, first allocations
    reset = True
    try:  # reset the peak-RSS counter (Linux >= 4.0), so that VmHWM is this run's peak
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        reset = False
    base = _proc_status()
    G = groups(cfg).size
    work = kn.Work(K, M, G)
    work_bytes = sum(a.nbytes for a in work.arrays()) + work.fk.nbytes
    del work
    state_bytes = G * (K * K + K * M + M * M) * 8
    est_bytes, _ = ode_estimate(G, K, M, 1, 1)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        solve_ode(cfg, [1.0], seeds=0, max_steps=steps)
        done = "reached alpha = 1"
    except IntegrationError:
        done = f"stopped after {steps + 1} accepted steps (max_steps = {steps})"
    wall = time.perf_counter() - t0
    _, tm_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    end = _proc_status()
    print(json.dumps({
        "config": f"N={N} L={L} K={K} M={M}", "groups": G, "steps": done, "wall_s": wall,
        "state_bytes": state_bytes, "work_bytes": work_bytes, "library_estimate_bytes": est_bytes,
        "tracemalloc_peak_bytes": tm_peak, "rss_before_bytes": base["VmRSS"],
        "peak_rss_bytes": end["VmHWM"], "peak_rss_reset": reset,
        "peak_rss_increase_bytes": end["VmHWM"] - base["VmRSS"],
        "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


def bench_memory(p, log, cfg):
    log(f"  D: memory, N={cfg.N} L={cfg.L} K={cfg.K} M={cfg.M}, {p['mem_steps']} steps (subprocess)")
    cmd = [sys.executable, os.path.abspath(__file__), "--_memory-child",
           f"{cfg.N},{cfg.L},{cfg.K},{cfg.M},{p['mem_steps']}"]
    proc, wall, cpu = _run_child(cmd)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-1000:], "ok": False}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(subprocess_wall_s=wall, subprocess_cpu_s=cpu, limit_bytes=MEMORY_LIMIT,
               under_limit=bool(out["peak_rss_bytes"] <= MEMORY_LIMIT))
    return out


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------
def machine_info():
    import numba
    import scipy

    cpu = cpu_model()
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "scipy": scipy.__version__, "twolayer": twolayer.__version__}


def _mb(b):
    return f"{b / 2**20:.1f} MiB"


def report(res):
    L = []
    a = res["ode_vs_sgd"]
    c = a["config"]
    L.append(f"A. block ODE vs SGD: N={c['N']} L={c['L']} K={c['K']} M={c['M']} beta={c['beta']} eta={c['eta']} "
             f"sigma_J={c['sigma_J']}, seed 0, ODE rtol {a['rtol']:g}")
    reach = "" if a["ode_finished"] else f"  (OUT OF TIME at alpha = {a['ode_alpha_reached']:.4g})"
    L.append(f"  ODE to alpha={a['alpha_ode']:g}: {a['ode_wall_s']:.1f} s wall, {a['ode_cpu_s']:.1f} s CPU, "
             f"{a['ode_n_steps']} steps, {a['points_ode']} grid points{reach}")
    if a["ode_wall_s_to_alpha_sgd"] is not None:
        L.append(f"    (of which to alpha={a['alpha_sgd']:g}: {a['ode_wall_s_to_alpha_sgd']:.1f} s)")
    L.append(f"  SGD to alpha={a['alpha_sgd']:g}: {a['sgd_wall_s']:.1f} s wall, {a['sgd_cpu_s']:.1f} s CPU "
             f"({a['sgd_steps']} steps, {a['sgd_us_per_step']:.2f} us/step)")
    lb = ">= " if a["ratio_is_lower_bound"] else ""
    L.append(f"  t_ODE({a['alpha_ode']:g}) / t_SGD({a['alpha_sgd']:g}) = {lb}{a['ratio_ode_over_sgd']:.3f} wall, "
             f"{lb}{a['ratio_ode_over_sgd_cpu']:.3f} CPU   (target <= {TARGET_ODE_OVER_SGD})")
    if a["ratio_ode_same_alpha_over_sgd"] is not None:
        L.append(f"  t_ODE({a['alpha_sgd']:g}) / t_SGD({a['alpha_sgd']:g}) = {a['ratio_ode_same_alpha_over_sgd']:.3f} wall")
    x = a["explicit_corrector"]
    if x.get("wall_s") is not None:
        rie = x["ratio_implicit_over_explicit"]
        L.append(f"  explicit corrector (implicit=False): {x['wall_s']:.1f} s wall, {x['n_steps']} steps "
                 f"({x['n_rejected']} rejected), ratio to SGD {x['ratio_over_sgd']:.3f}; implicit/explicit time "
                 f"{'n/a' if rie is None else format(rie, '.3f')}; max |d ln eps| vs implicit "
                 f"{x['max_ln_dev_vs_implicit'] if x['max_ln_dev_vs_implicit'] is None else format(x['max_ln_dev_vs_implicit'], '.2g')}")
    else:
        L.append(f"  explicit corrector: out of time at alpha {x['alpha_reached']:.4g}")
    for e in a["extra_rtols"]:
        if e.get("wall_s") is not None:
            L.append(f"  rtol {e['rtol']:g}: {e['wall_s']:.1f} s, {e['n_steps']} steps, ratio {e['ratio_over_sgd']:.3f}, "
                     f"max |d ln eps| vs rtol {a['rtol']:g}: {e['max_ln_dev_vs_main']:.2g}")
        else:
            L.append(f"  rtol {e['rtol']:g}: out of time at alpha {e['alpha_reached']:.4g}")
    k = a["check_ode_vs_sgd"]
    L.append(f"  check: max |ln eps_sgd - ln eps_ode| over alpha in [1, {a['alpha_sgd']:g}] ({k['points']} points) = "
             f"{k['max_abs_dln_eps']:.3g} (mean {k['mean_abs_dln_eps']:.3g}; tol {k['tol']}) -> {'ok' if k['ok'] else 'FAIL'}")
    e = a["eps_at_alpha_sgd"]
    L.append(f"  eps_g at alpha={a['alpha_sgd']:g}: sgd {e['sgd']:.4g}, ode {e['ode']:.4g}; ode at "
             f"alpha={a['alpha_ode']:g}: {a['eps_final_ode'] if a['eps_final_ode'] is None else format(a['eps_final_ode'], '.4g')}")
    L.append("")
    b = res["cli"]
    L.append("B. CLI: " + " ".join(b["command"]))
    L.append("  wall per call: " + ", ".join(f"{r['wall_s']:.2f}" for r in b["runs"]) +
             f" s (median {b['wall_s_median']:.2f} s, target < {TARGET_CLI_S:g} s); CPU median {b['cpu_s_median']:.2f} s")
    L.append(f"  of which 'import twolayer' alone: {b['import_wall_s_median']:.2f} s wall, {b['import_cpu_s_median']:.2f} s CPU; "
             f"the solve in-process: {b['in_process_solve']['wall_s']:.3f} s ({b['in_process_solve']['n_steps']} steps)")
    k = b["check_cli"]
    L.append(f"  check: exit codes {k['exit_codes']}, CSV vs in-process solve_ode max rel diff "
             f"{k.get('max_rel_diff')} -> {'ok' if k['ok'] else 'FAIL'}")
    L.append("")
    L.append("C. scipy.integrate on the same right-hand side (rtol as the ETD2 run, atol 1e-14)")
    k = res["rhs_check"]
    L.append(f"  check: adapter vs twolayer.theory.rhs ({k['config']}): max rel diff {k['max_rel_diff']:.1e} -> "
             f"{'ok' if k['ok'] else 'FAIL'}")
    for s in res["scipy"]:
        rat = f"{s['ratio_scipy_over_etd2']:.3g}" if s["ratio_scipy_over_etd2"] else "n/a"
        stop = "" if s["status"] == "finished" else f" (stopped by '{s['status'][:40]}' at {s['wall_s']:.1f} s)"
        L.append(f"  {s['setting']:6s} {s['method']:5s} alpha {s['alpha_reached']:.4g} / {s['alpha_target']:g} "
                 f"in {s['wall_s_to_alpha_reached']:.2f} s{stop}; ETD2 to the same alpha "
                 f"{s['etd2_wall_s_to_same_alpha'] or float('nan'):.3g} s; ratio scipy/ETD2 {rat}")
        L.append(f"         {s['n_steps']} steps, {s['nfev']} RHS evals, {s['njev']} Jacobians, {s['nlu']} LU; "
                 f"{s['jacobian']}; max |d ln eps| vs ETD2 {s['max_abs_dln_eps_vs_etd2']:.2g} over {s['points_reached']} points")
    L.append("")
    m = res["memory"]
    if "error" in m:
        L.append(f"D. memory: child failed: {m['error']}")
    else:
        L.append(f"D. memory, {m['config']} ({m['groups']} groups), {m['steps']}, {m['wall_s']:.2f} s")
        L.append(f"  state (q, r, t) {_mb(m['state_bytes'])}, integrator work arrays {_mb(m['work_bytes'])}, "
                 f"library estimate {_mb(m['library_estimate_bytes'])}")
        L.append(f"  tracemalloc peak of the run {_mb(m['tracemalloc_peak_bytes'])}; RSS: before {_mb(m['rss_before_bytes'])}, "
                 f"peak {_mb(m['peak_rss_bytes'])} (+{_mb(m['peak_rss_increase_bytes'])}); limit {_mb(m['limit_bytes'])} "
                 f"-> {'under' if m['under_limit'] else 'OVER'}")
    L.append("")
    w = res["wide"]
    c = w["config"]
    L.append(f"E. many hidden units: N={c['N']} L={c['L']} K={c['K']} M={c['M']} beta={c['beta']} eta={c['eta']} "
             f"sigma_J={c['sigma_J']}, seed 0, rtol {w['rtol']:g}, to alpha={w['alpha_max']:g}")
    for k, r in w["runs"].items():
        L.append(f"  {k} thread(s): {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, {r['n_steps']} steps "
                 f"({r['n_rejected']} rejected)")
    L.append(f"  t({w['cores']} threads) / t(1 thread) = {w['ratio_threads']:.3f}; check: same bits -> "
             f"{'ok' if w['check_same_bits']['ok'] else 'FAIL'}")
    return "\n".join(L)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter scipy budgets, fewer CLI calls (~4-6 min)")
    ap.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tiny settings: does it run?
    ap.add_argument("--json", metavar="PATH", help="write all numbers to this JSON file")
    ap.add_argument("-q", "--silent", action="store_true", help="no progress lines")
    ap.add_argument("--_memory-child", dest="memory_child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        N, L, K, M, steps = (int(x) for x in args.memory_child.split(","))
        memory_child(N, L, K, M, steps)
        return 0
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    p = MODES[mode]
    log = (lambda *a: None) if args.silent else (lambda msg: print(msg, file=sys.stderr, flush=True))
    big, small, mem = BIG, SMALL, MEM
    a_sgd, a_ode, a_small, cli_args = ALPHA_SGD, ALPHA_ODE, ALPHA_SMALL, CLI_ARGS
    if mode == "smoke":
        big = BIG.replace(N=64, L=64)
        mem = MEM.replace(N=256, L=256)
        a_sgd, a_ode, a_small = 10.0, 100.0, 50.0
        cli_args = CLI_ARGS[:-3] + ["--alpha-max", "50", "--no-progress"]

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    res = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "mode": mode, "params": p,
           "machine": machine_info(), "loadavg_start": list(load_start)}
    log(f"bench_ode ({mode}); load average {load_start}")
    res["ode_vs_sgd"] = bench_ode_vs_sgd(big, p, log, a_sgd, a_ode)
    res["cli"] = bench_cli(p, log, cli_args, small, a_small)
    res["rhs_check"] = check_rhs_adapter(big)
    res["scipy"] = []
    A = res["ode_vs_sgd"]
    B = res["cli"]["_etd"]
    etd_big = {"eps": A["_curves"]["ode"] or [], "clock": A["_curves"]["clock"], "wall": A["ode_wall_s"],
               "grid": np.array(A["_curves"]["alpha"])}
    etd_small = {"eps": B["traj"].eps_g[0], "clock": B["clock"], "wall": B["wall_s"], "grid": B["grid"]}
    for name, cfg, etd, rtol, budget in (("small", small, etd_small, SMALL_RTOL, p["scipy_budget_small_s"]),
                                         ("big", big, etd_big, p["rtol"], p["scipy_budget_big_s"])):
        for method in ("LSODA", "BDF"):
            r = run_scipy(cfg, method, etd["grid"], rtol, budget, log)
            r = compare_scipy(r, np.asarray(etd["eps"]), etd["clock"], etd["wall"] if A["ode_finished"] or name == "small" else None)
            r.update(setting=name, config=f"N={cfg.N} L={cfg.L} K={cfg.K} M={cfg.M} eta={cfg.eta}",
                     alpha_target=float(etd["grid"][-1]), etd2_wall_s=etd["wall"])
            res["scipy"].append(r)
    res["memory"] = bench_memory(p, log, mem)
    wide = WIDE if mode != "smoke" else WIDE.replace(N=64, L=64, K=8, M=8)
    res["wide"] = bench_wide(wide, p["wide_alpha"], log)
    res["loadavg_end"] = list(os.getloadavg())
    res["total_s"] = time.perf_counter() - t_start

    checks = {"ode_vs_sgd": A["check_ode_vs_sgd"]["ok"], "cli": res["cli"]["check_cli"]["ok"],
              "rhs_adapter": res["rhs_check"]["ok"],
              "scipy_agree": all(s["check"]["ok"] for s in res["scipy"]),
              "memory_ran": "error" not in res["memory"], "threads_same_bits": res["wide"]["check_same_bits"]["ok"]}
    res["checks"] = checks
    res["checks_ok"] = bool(all(checks.values()))
    res["targets"] = {
        "ode_over_sgd": {"target": TARGET_ODE_OVER_SGD, "value": A["ratio_ode_over_sgd"],
                         "lower_bound": A["ratio_is_lower_bound"], "met": A["ratio_ode_over_sgd"] <= TARGET_ODE_OVER_SGD},
        "cli_s": {"target": TARGET_CLI_S, "value": res["cli"]["wall_s_median"],
                  "met": res["cli"]["wall_s_median"] < TARGET_CLI_S},
        "memory": {"target_bytes": MEMORY_LIMIT, "value": res["memory"].get("peak_rss_bytes"),
                   "met": res["memory"].get("under_limit")},
    }

    m = res["machine"]
    print(f"bench_ode ({mode}) {res['date']}  {m['cpu']}, {m['cores']} cores, numpy {m['numpy']}, numba {m['numba']}, "
          f"scipy {m['scipy']}, twolayer {m['twolayer']}")
    print()
    print(report(res))
    print()
    print("targets met: " + ", ".join(f"{k} {v['met']}" for k, v in res["targets"].items()))
    print(f"correctness checks: {checks} -> {'all ok' if res['checks_ok'] else 'FAILED'}")
    print(f"load average start {tuple(round(x, 2) for x in load_start)}, "
          f"end {tuple(round(x, 2) for x in res['loadavg_end'])}; total {res['total_s']:.0f} s")
    if args.json:
        cur = A.pop("_curves")
        A["curves"] = {"alpha": cur["alpha"], "ode": cur["ode"], "sgd": cur["sgd"]}
        res["cli"].pop("_etd", None)
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=float)
        print(f"wrote {args.json}")
    return 0 if res["checks_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
