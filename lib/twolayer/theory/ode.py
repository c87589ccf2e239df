"""The block order-parameter ODEs and their integrator.

Chapter "Order-parameter dynamics" (``chapters/00_dynamics.md``), Eq. {eq}`eq-dyn-block`.  For
every group g of eigen-coordinates (``twolayer.problem.spectrum.groups``: eigenvalue lambda_g,
fraction f_g = n_g / N, rate s_g = eta lambda_g, 0 for frozen groups)

    dr^g/dalpha = s_g ( G_h r^g + G_rho t^g )
    dq^g/dalpha = s_g ( G_h q^g + G_rho r^gT + [..]^T ) + eta s_g f_g E[delta delta^T]   (O(eta^2))
    dv/dalpha   = eta_v F                                     (trained student second layer)

A mini-batch of B enters through the setting's rates (eta / B per sample, so s_g and the weight
eta f_g both carry 1 / B: ``twolayer.state.effective_eta``).  A learning-rate schedule
eta f(alpha) is integrated in the accumulated learning rate tau = int_0^alpha f (closed form,
``twolayer.problem.schedule``): in tau the O(eta) drift is the constant-eta one exactly and the
O(eta^2) term carries f(alpha(tau)), which the integrator evaluates with the coefficients (at
the start, middle and end of every step), so its change along a step enters as the other
coefficients' does.

with the Stein coefficients G, the O(eta^2) average E[delta delta^T] (with label noise) and the
readout drift F evaluated at the global overlaps Q = sum_g lambda_g q^g, R, T
(``twolayer.gaussian``).  Nothing is inverted, so the equations stay accurate when the
pre-activation covariance is nearly singular (sigma_J = 1e-6).

Integrator (section "The integrator"): exponential Runge-Kutta ETD2RK (Cox & Matthews 2002).
Over a step the coefficients are frozen and the linear system is solved exactly in the
eigenbasis of the symmetric G_h (``twolayer.theory._kernels``), which absorbs the stiffness of
the fast groups; the change of the coefficients along the step enters as a forcing linear in
time.  One step of h is compared with two of h/2 (Richardson): their difference, held below
atol + rtol * (largest overlap of the group) in every group, is added to the result (local
extrapolation, third order).  The corrector takes the coefficients at the end of the step either
at the predictor (explicit) or at its own result (implicit: a fixed point in the K^2 + K M + K
global overlaps, solved by Anderson acceleration on the groups contracted once per step,
``_kernels.map_reduce``).  The explicit corrector is unstable once h exceeds the relaxation time
of many groups (they feed a coefficient change back through the global overlaps with a gain
above one), so the implicit one is the default for many groups (``IMPLICIT_GROUPS``) and large
eta (``IMPLICIT_ETA``).  All per-group work is compiled and summed in a fixed order; threads
(``workers``) share it by chunks of groups without changing any sum, so a trajectory is the same
to the last bit on any CPU and for any number of threads.  Cost per step O(G K^2 (K + M)) plus
O(K^2 (K + M)^2) for the O(eta^2) average; in the late phase the step grows in proportion to
alpha.  Measured step counts and timings behind these choices: ``benchmarks/README.md``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..gaussian.compiled import COMPILED_CODES
from ..gaussian.compiled import coefficients as compiled_coefficients
from ..gaussian.compiled import delta_delta as compiled_delta_delta
from ..problem.checks import (
    check_alpha,
    check_bool,
    check_float,
    check_int,
    check_seeds,
)
from ..problem.divergence import check_curve, diverged
from ..problem.errors import IntegrationError
from ..problem.progress import make_progress
from ..problem.resources import Budget, check_budget, ode_estimate
from ..problem.trajectory import Trajectory
from ..state.blocks import BlockState
from ..state.setting import Setting, resolve
from ..state.weights import initial_state
from . import _kernels as kn

__all__ = ["solve_ode"]

#: A run whose overlaps exceed this factor times their initial size is reported as diverged.
GROWTH = 1e6
#: The absolute ceiling of a run's overlaps (the largest accepted at the start is
#: ``twolayer.state.OVERLAP_MAX``): beyond ~1e7 the closed-form four-point erf averages lose all
#: digits, so larger overlaps are a divergence.
OVERLAP_CEILING = 1e7
#: Implicit corrector: residual of the global overlaps accepted, relative to rtol (times 1 + their
#: size); Anderson depth; iterations before the step is rejected and retried at half the size.
ITER_TOL = 1e-3
ITER_DEPTH = 8
ITER_MAX = 30
#: Trainable groups from which the implicit corrector is the default for the activations with
#: compiled coefficients (erf, linear); with fewer groups, or numerical averages (relu, tanh, user
#: functions: an iteration costs a quadrature), the explicit corrector's extra steps cost less.
IMPLICIT_GROUPS = 64
#: Below this strength eta^2 <lambda^2> of the O(eta^2) feedback the implicit corrector takes the
#: average E = E[delta delta^T] at the predictor, as the explicit one does, and iterates only the
#: Stein coefficients and the readout drift: E is by far the dearest coefficient (K^2 (K + M)^2
#: four-point averages).  0.09 is eta = ``IMPLICIT_ETA`` at L = 1.
ITER_E_MIN = 0.09
#: Learning rate from which the implicit corrector is the default with the O(eta^2) term (at any
#: number of groups): the explicit corrector's stability limit falls with eta^2.
IMPLICIT_ETA = 0.3
#: Work per step, G K^2 (K + M), from which the ODE shares each step among threads by default
#: (below it a step takes well under a millisecond and the hand-over would cost more than it saves).
THREADED_WORK = 200_000


class _Anderson:
    """Anderson acceleration (type II, Walker & Ni 2011) of a fixed-point map x -> g(x): the next
    iterate combines the last ``depth`` + 1 images with the weights that make the same combination
    of their residuals g(x) - x smallest (least squares, ``_kernels.anderson_next``)."""

    def __init__(self, depth: int):
        self.depth = depth
        self.f, self.g = [], []

    def next(self, x, gx):
        self.f.append(gx - x)
        self.g.append(gx)
        if len(self.f) > self.depth + 1:
            self.f.pop(0)
            self.g.pop(0)
        if len(self.f) == 1:
            return gx
        dF = np.stack([b - a for a, b in zip(self.f[:-1], self.f[1:])], axis=1)
        dG = np.stack([b - a for a, b in zip(self.g[:-1], self.g[1:])], axis=1)
        out = np.empty_like(gx)
        kn.anderson_next(dF, dG, self.f[-1], gx, out)  # compiled: the same digits on any CPU
        return out


class _Threads:
    """Runs a chunked kernel ``fn(*args, chunk, nchunks)`` on ``n`` threads, one chunk each (the
    calling thread takes chunk 0).  The compiled kernels release the GIL, and their results do not
    depend on the chunking, so neither do the trajectories."""

    def __init__(self, n: int):
        self.n = n
        self.pool = ThreadPoolExecutor(n - 1) if n > 1 else None

    def run(self, fn, *args):
        if self.pool is None:
            fn(*args, 0, 1)
            return
        futures = [self.pool.submit(fn, *args, c, self.n) for c in range(1, self.n)]
        try:
            fn(*args, 0, self.n)
        finally:
            for f in futures:
                f.result()

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()


class _Coefficients:
    """G_h, G_rho, E, F at the global overlaps: compiled for erf and linear, NumPy otherwise."""

    def __init__(self, setting: Setting, eta2: bool, threads: _Threads | None = None):
        self.threads = _Threads(1) if threads is None else threads
        self.setting = setting
        self.act = setting.activation
        self.compiled = self.act.code in COMPILED_CODES
        # a plain int for the compiled kernels: numba types an IntEnum member by reflecting on its
        # class at every call (about 40 microseconds, a third of a small ODE step)
        self.code = int(self.act.code)
        self.vT = np.ascontiguousarray(setting.vT)
        self.eta2 = eta2
        self.noise2 = setting.noise2
        self.K, self.M = setting.K, setting.M
        self.readout = bool(setting.eta_v)

    def __call__(self, Q, R, T, v, E=None):
        """(G_h, G_rho, E, F); with ``E`` given, the O(eta^2) average is not evaluated and that
        one is returned (it costs K^2 (K + M)^2 four-point averages, the rest K (K + M) two-point
        ones)."""
        K, M = self.K, self.M
        eta2 = self.eta2 and E is None
        if self.compiled:
            Gl, Gr, E1, F = np.empty((K, K)), np.empty((K, M)), np.empty((K, K)), np.empty(K)
            compiled_coefficients(self.code, Q, R, T, v, self.vT, False, self.noise2, Gl, Gr, E1, F)
            if eta2:  # the O(eta^2) average, K (K + 1) / 2 entries shared among the threads
                self.threads.run(compiled_delta_delta, self.code, Q, R, T, v, self.vT, self.noise2, E1)
            return Gl, Gr, (E1 if E is None else E), F
        st = self.setting
        Gl, Gr = st.stein(Q, R, T, v)
        if E is None:
            E = st.delta_delta(Q, R, T, v) if self.eta2 else np.zeros((K, K))
        # the readout drift only moves a trained second layer (eta_v = 0 otherwise)
        F = st.drift(Q, R, T, v) if self.readout else np.zeros(K)
        return (np.ascontiguousarray(0.5 * (Gl + Gl.T)), np.ascontiguousarray(Gr),
                np.ascontiguousarray(0.5 * (E + E.T)), np.ascontiguousarray(F))


def _group_last(x):
    return np.ascontiguousarray(np.moveaxis(np.asarray(x, dtype=np.float64), 0, -1))


class _Integrator:
    """Adaptive ETD2RK with Richardson error control on the group-last block state."""

    def __init__(self, setting: Setting, state: BlockState, eta2: bool, rtol: float, atol: float, h_max: float,
                 implicit: bool, max_steps: int, threads: _Threads | None = None, time_factor=None):
        threads = _Threads(1) if threads is None else threads
        # a schedule: the integrator's time is tau = int f dalpha and the O(eta^2) term carries
        # f(alpha(tau)) (``time_factor``); None for a constant learning rate
        self.time_factor = time_factor
        self.eta = setting.eta
        G, K, M = setting.groups.size, setting.K, setting.M
        self.lam = np.ascontiguousarray(setting.lam)
        self.s = np.ascontiguousarray(setting.rate)
        self.sef = np.ascontiguousarray(setting.rate2)
        self.threads = threads
        self.coef = _Coefficients(setting, eta2, threads)
        self.t = _group_last(state.t)
        self.T = state.global_overlaps(self.lam)[2]
        self.rtol, self.atol, self.h_max = rtol, atol, h_max
        self.implicit = implicit
        # the O(eta^2) feedback relative to the O(eta) drift: eta^2 <lambda^2> over the trainable groups
        self.iterate_E = setting.eta2_strength >= ITER_E_MIN
        self.unconverged = 0
        self.max_steps = max_steps
        self.eta_v = setting.eta_v
        self.K, self.M = K, M
        self.work = kn.Work(K, M, G)
        # the implicit corrector iterates on the contracted linear map of ``kn.map_reduce``
        self.map = kn.Map(K, M, G) if implicit else None
        self.tT = np.ascontiguousarray(np.swapaxes(self.t, 1, 2)) if implicit else None  # tT[m, g, n] = t[m, n, g]
        self.err, self.scale = np.empty(G), np.empty(G)

    def coef_at(self, Q, R, T, v, E, t):
        """The coefficients at time t: the O(eta^2) average weighted by the schedule's f there (an
        ``E`` passed in is returned as it is, already weighted)."""
        c = self.coef(Q, R, T, v, E)
        if self.time_factor is None or E is not None:
            return c
        return c[0], c[1], np.ascontiguousarray(c[2] * self.time_factor(t)), c[3]

    def coefficients(self, q, r, v, t=0.0):
        Q, R = np.empty((self.K, self.K)), np.empty((self.K, self.M))
        kn.global_sums(q, r, self.lam, Q, R)
        return self.coef_at(Q, R, self.T, v, None, t)

    def etd2(self, q, r, v, c0, h, t0=0.0):
        """One ETD2RK step from (q, r, v) with coefficients c0 at the start."""
        K, M = self.K, self.M
        Gl, Gr, E, F = c0
        V, mu, Gt, Et = np.empty((K, K)), np.empty(K), np.empty((K, M)), np.empty((K, K))
        kn.prepare(Gl, Gr, E, V, mu, Gt, Et)
        w = self.work
        th = self.threads
        th.run(kn.factors, self.s, mu, h, w.ea, w.p1a, w.p2a, w.fk)  # shared by the predictor and every corrector
        # the predictor, left in the eigenbasis V of G_h (w.qa, w.ra): the corrector works there too
        th.run(kn.predict, q, r, self.t, self.s, self.sef, V, Gt, Et, h, w.qa, w.ra, w.rt, w.a0, w.qt, w.e0, w.X,
               w.tmp, w.ea, w.p1a, w.fk)
        va = v + h * self.eta_v * F if self.eta_v else v
        # The corrector needs the coefficients at the end of the step.  The explicit corrector takes
        # them at the predictor (one pass of the loop below).  The implicit one takes those of the
        # corrected state, c1 = c(Q1, R1, v1): the state enters them only through the global
        # overlaps, so the fixed point is sought in x = (Q1, R1, v1) (K^2 + K M + K numbers) by
        # Anderson acceleration of x -> global overlaps of corrector(c(x)); the plain iteration
        # diverges once stiff groups, slaved to the coefficients, feed their change back with gain > 1.
        # Each iteration needs only the global sums of the corrected groups, which are affine in the
        # coefficient change: the groups are contracted once per step (``kn.map_reduce``), the
        # iterations cost O(K^2 (K + M)) each, and the groups are corrected once, at the end.
        K2, KM = K * K, K * M
        Qa, Ra = np.empty((K, K)), np.empty((K, M))
        Qt, Rt, Q, R = np.empty((K, K)), np.empty((K, M)), np.empty((K, K)), np.empty((K, M))
        kn.global_sums(w.qa, w.ra, self.lam, Qa, Ra)
        kn.to_original(V, Qa, Ra, Q, R)
        x = np.concatenate([Q.ravel(), R.ravel(), va])
        tol = ITER_TOL * self.rtol * (1.0 + np.abs(x).max())
        acc = _Anderson(ITER_DEPTH)
        dGl, dGr, dE = np.empty((K, K)), np.empty((K, M)), np.empty((K, K))
        if self.implicit:
            mp = self.map
            th.run(kn.map_groups, w.qa, w.ra, self.t, self.s, self.lam, Gt, h, w.p2a, w.fk, *mp.group_arrays())
            th.run(kn.map_reduce, self.tT, self.sef, self.lam, w.fk, *mp.arrays())
        E1 = None
        for _ in range(ITER_MAX if self.implicit else 1):
            c1 = self.coef_at(x[:K2].reshape(K, K), x[K2:K2 + KM].reshape(K, M), self.T, x[K2 + KM:], E1, t0 + h)
            if not self.iterate_E:
                E1 = c1[2]  # the O(eta^2) average stays at its first (predictor) value
            d = [np.ascontiguousarray(x1 - x0) for x1, x0 in zip(c1, c0)]
            kn.rotate_coefficients(V, d[0], d[1], d[2], dGl, dGr, dE)
            v1 = va + 0.5 * h * self.eta_v * d[3] if self.eta_v else v
            if not self.implicit:
                break
            kn.map_apply(dGl, dGr, dE, h, Qa, Ra, mp.A, mp.B, mp.C, mp.D, mp.F1, mp.F2, mp.Ew, Qt, Rt)
            kn.to_original(V, Qt, Rt, Q, R)
            gx = np.concatenate([Q.ravel(), R.ravel(), v1])
            res = np.abs(gx - x).max()
            if res <= tol:
                break
            if not np.isfinite(res):
                self.unconverged += 1
                break
            x = acc.next(x, gx)
        else:
            self.unconverged += 1
        th.run(kn.correct, w.qa, w.ra, self.t, self.s, self.sef, dGl, dGr, dE, Gt, h, w.q1, w.r1, w.a1, w.e1, w.X,
               w.p2a, w.fk)
        q1, r1 = np.empty_like(q), np.empty_like(r)
        th.run(kn.finish, V, w.q1, w.r1, q, r, self.s, q1, r1, w.tmp)
        return q1, r1, v1

    def run(self, q, r, v, alpha, tick, keep_blocks: bool):
        """Integrate from the block state (q, r: group-first) and record at ``alpha``."""
        q, r = _group_last(q), _group_last(r)
        P = alpha.shape[0]
        K, M = self.K, self.M
        Qs, Rs, vs = np.empty((P, K, K)), np.empty((P, K, M)), np.empty((P, K))
        qs = np.empty((P,) + q.shape) if keep_blocks else None
        rs = np.empty((P,) + r.shape) if keep_blocks else None
        limit = min(OVERLAP_CEILING, GROWTH * max(1.0, kn.max_abs(q, r), np.abs(self.t).max(initial=0.0)))
        vlimit = GROWTH * max(1.0, np.abs(v).max(initial=0.0))
        s_max = float(np.max(self.s)) if self.s.size else 0.0
        h = min(1e-2 / max(s_max, 1e-300), self.h_max)
        if alpha[0] > 0:
            h = min(h, alpha[0])
        a = 0.0
        n_steps = n_rejected = 0
        c0 = self.coefficients(q, r, v, a)
        for p, target in enumerate(alpha):
            while a < target * (1 - 1e-14):
                h = min(h, target - a, self.h_max)
                self.unconverged = 0
                q1, r1, v1 = self.etd2(q, r, v, c0, h, a)                 # one step of h ...
                qa, ra, va = self.etd2(q, r, v, c0, 0.5 * h, a)           # ... against two of h/2
                ca = self.coefficients(qa, ra, va, a + 0.5 * h)
                q2, r2, v2 = self.etd2(qa, ra, va, ca, 0.5 * h, a + 0.5 * h)
                err = kn.richardson(q1, r1, q2, r2, q, r, self.rtol, self.atol, self.err, self.scale)
                if self.eta_v:
                    dv = (v2 - v1) / 3.0
                    err = max(err, float(np.max(np.abs(dv) / (self.atol + self.rtol * np.maximum(np.abs(v), np.abs(v2))))))
                    v1 = v2 + dv
                if self.unconverged:
                    # an implicit corrector that did not converge: retry at half the step
                    n_rejected += 1
                    h *= 0.5
                    if h < 1e-14 * max(a, 1.0):
                        raise IntegrationError(f"ODE: the implicit corrector does not converge at alpha = {a:.4g}")
                    continue
                if not np.isfinite(err):
                    raise diverged("ODE", self.eta, a, "non-finite state")
                if err <= 1.0:
                    a += h
                    q, r, v = q1, r1, v1
                    n_steps += 1
                    if not (kn.max_abs(q, r) <= limit and np.max(np.abs(v), initial=0.0) <= vlimit):
                        raise diverged("ODE", self.eta, a, f"overlaps grew beyond {limit:.3g}")
                    c0 = self.coefficients(q, r, v, a)
                    if not all(np.all(np.isfinite(x)) for x in c0):
                        raise diverged("ODE", self.eta, a, "non-finite coefficients")
                    tick(h)
                    if n_steps > self.max_steps:
                        raise IntegrationError(f"ODE: more than max_steps = {self.max_steps} steps before alpha = {target:g}")
                else:
                    n_rejected += 1
                fac = 0.9 * (err if err > 0 else 1e-10) ** (-1.0 / 3.0)
                h = h * min(4.0, max(0.2, fac))
                if h < 1e-14 * max(a, 1.0):
                    raise IntegrationError(f"ODE: step size underflow at alpha = {a:.4g}")
            kn.global_sums(q, r, self.lam, Qs[p], Rs[p])
            vs[p] = v
            if keep_blocks:
                qs[p], rs[p] = q, r
        if keep_blocks:
            qs, rs = np.moveaxis(qs, -1, 1), np.moveaxis(rs, -1, 1)
        return dict(Q=Qs, R=Rs, v=vs, q=qs, r=rs, n_steps=n_steps, n_rejected=n_rejected)


def solve_ode(config, alpha, *, seeds=None, init="sampled", eta2: bool = True, rtol: float = 1e-6,
              atol: float = 1e-14, h_max: float | None = None, implicit: bool | None = None,
              keep_blocks: bool = False, max_steps: int = 2_000_000, workers: int | None = None, progress=None,
              budget: Budget | None = None) -> Trajectory:
    """eps_g and the order parameters from the block ODEs (chapter "Order-parameter dynamics").

    Parameters
    ----------
    config : the setting (Config or its resolved Setting)
    alpha : grid of output points (strictly increasing, > 0; need not be whole SGD steps)
    seeds : with ``init="sampled"``, one curve per seed, each started from the overlaps of the
        weights a simulation with that seed starts from (default: seed 0); otherwise ignored
    init : ``"sampled"``, ``"mean"`` (the expectation over the initialisation, one curve) or given
        block overlaps ``(q0, r0, t0[, v0])`` (one curve)
    eta2 : keep the O(eta^2) term (the small-eta ODE without it)
    rtol, atol : local error per step below atol + rtol * (largest overlap of the group)
    h_max : largest step (default unbounded)
    implicit : solve each step's corrector for its own end-point coefficients (Anderson
        acceleration in the global overlaps) instead of taking them at the predictor: dearer
        steps, but no stability limit from the coupling of the groups through the global
        overlaps, so far fewer of them (at N = L = 1024 about ten times fewer); default: from
        ``IMPLICIT_GROUPS`` = 64 trainable groups on for erf and linear, and for eta >= 0.3 with
        the eta^2 term
    keep_blocks : also return the block overlaps at every grid point in ``info["q"]``,
        ``info["r"]`` (S, P, G, ., .) and ``info["t"]`` (S, G, M, M), with ``info["groups"]``
    max_steps : integration steps allowed per curve
    workers : threads sharing each step's per-group work and its O(eta^2) average (default: the
        number of cores once a step's work G K^2 (K + M) exceeds ``THREADED_WORK``, else 1); the
        results do not depend on it, to the last bit
    progress : ``True`` for a bar on stderr (ticks on alpha), or a tqdm-like object
    budget : memory/time limits

    Returns
    -------
    Trajectory with method ``"ode"``; ``info["n_steps"]`` holds the accepted steps per curve.
    """
    setting = resolve(config)
    config = setting.config
    alpha = check_alpha(alpha)
    eta2 = check_bool("eta2", eta2)
    keep_blocks = check_bool("keep_blocks", keep_blocks)
    rtol = check_float("rtol", rtol, lo=1e-14, hi=0.1)
    atol = check_float("atol", atol, lo=0.0, hi=1.0)
    h_max = np.inf if h_max is None else check_float("h_max", h_max, lo=0.0, lo_open=True)
    max_steps = check_int("max_steps", max_steps, 1)
    implicit = None if implicit is None else check_bool("implicit", implicit)
    workers = None if workers is None else check_int("workers", workers, 1, 1024)
    sampled = isinstance(init, str) and init == "sampled"
    if sampled:
        seeds = check_seeds(0 if seeds is None else seeds)
    else:
        if seeds is not None:
            check_seeds(seeds)
        seeds = (0,)
    grp = setting.groups
    if implicit is None:
        many = np.count_nonzero(grp.trainable) >= IMPLICIT_GROUPS
        implicit = bool((many and setting.activation.code in COMPILED_CODES) or (eta2 and config.eta >= IMPLICIT_ETA))
    mem, seconds = ode_estimate(grp.size, config.K, config.M, len(alpha), len(seeds), keep_blocks, eta2)
    check_budget(f"the block ODE with {grp.size} groups, K={config.K}, M={config.M}", mem, seconds, budget)
    states = [initial_state(setting, init, s) for s in seeds]
    if workers is None:
        work = grp.size * config.K**2 * (config.K + config.M)
        workers = (os.cpu_count() or 1) if work >= THREADED_WORK else 1
    bar = make_progress(progress, float(alpha[-1]) * len(seeds), "ode")
    threads = _Threads(workers)
    sched = config.lr_schedule
    if sched.is_constant:
        times, time_factor = alpha, None
    else:  # integrate in tau = int_0^alpha f: exact for the O(eta) drift, f(alpha(tau)) on the O(eta^2) term
        times = sched.integral(alpha)

        def time_factor(t):
            return float(sched.factor(sched.inverse_integral(t)))
    try:
        runs = []
        for st in states:
            integ = _Integrator(setting, st, eta2, rtol, atol, h_max, implicit, max_steps, threads, time_factor)
            out = integ.run(st.q, st.r, st.v, times, bar.update, keep_blocks)
            out["T"] = np.broadcast_to(integ.T, (len(alpha), config.M, config.M))
            out["t"] = st.t
            runs.append(out)
    finally:
        threads.close()
        bar.close()
    Q = np.stack([o["Q"] for o in runs])
    R = np.stack([o["R"] for o in runs])
    T = np.stack([o["T"] for o in runs])
    v = np.stack([o["v"] for o in runs])
    eps = setting.eps_g(Q, R, T, v if config.train_readout else None)
    eps0 = [float(setting.eps_g(*st.global_overlaps(grp.lam), st.v if config.train_readout else None))
            for st in states]
    check_curve("ODE", config.eta, alpha, eps, eps0)
    info = {"n_steps": tuple(o["n_steps"] for o in runs), "n_rejected": tuple(o["n_rejected"] for o in runs),
            "eta2": eta2, "rtol": rtol, "init": init if isinstance(init, str) else "given"}
    if keep_blocks:
        info.update(q=np.stack([o["q"] for o in runs]), r=np.stack([o["r"] for o in runs]),
                    t=np.stack([o["t"] for o in runs]), groups=grp)
    return Trajectory(alpha=alpha, eps_g=eps, config=config, method="ode", Q=Q, R=R, T=T,
                      seeds=seeds if sampled else None, v=v if config.train_readout else None, info=info)
