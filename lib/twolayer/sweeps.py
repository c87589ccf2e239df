"""Parameter sweeps on Dask with a resumable store.

``sweep(grid, *, seeds, method, store, scheduler=None)`` runs every (configuration, seed) of a
grid as one task on a Dask cluster: with no ``scheduler`` a local cluster on this machine's
cores, with ``scheduler="tcp://host:port"`` any running Dask scheduler (``dask scheduler`` and
``dask worker`` by hand, or a batch cluster through ``dask-jobqueue``), with
``scheduler="synchronous"`` serially in this process.  Each task's result is written to the store
as soon as it completes, atomically, one file per task named by a hash of the configuration, the
seed, the method, the solver settings and the package version; a re-run computes only the tasks
whose file is missing, so an interrupted sweep loses nothing already finished.  A stored file is
used only if it verifies: its checksum, its task, and its eps_g equal to eps_g of its own Q, R, T;
otherwise the task is computed again, with a one-line warning naming the file and the reason.
Ctrl-C stops a sweep at once: its futures are cancelled and a local cluster of its own is closed
(its worker processes ignore SIGINT: the main process stops them).
``STORE/results.csv`` is the tidy table: one row per configuration, seed and alpha, with every
configuration field as a column.  Results are the same bit for bit whatever the executor and the
number of workers: every random draw is decided by the seed, and each task computes what it
would alone.  The SGD tasks of one seed and one N go to the workers as one unit (``units``):
they see the same inputs, which ``simulate_shared`` draws once for all of them (the draws are
most of a step at small K; the trajectories are those of the tasks run one by one, bit for bit).
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import hashlib
import io as _io
import itertools
import json
import logging
import os
import signal
import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._version import __version__
from .engines.sgd import replays_inputs, simulate, simulate_shared
from .experiments.agreement import alpha_grids, paired_results
from .io import (
    atomic_write,
    load_spectrum,
    load_trajectory,
    trajectory_bytes,
    trajectory_from_bytes,
)
from .problem.checks import (
    check_alpha,
    check_choice,
    check_float,
    check_int,
    check_seeds,
)
from .problem.config import Config
from .problem.errors import one_line
from .problem.progress import make_progress
from .problem.resources import (
    Budget,
    check_budget,
    ode_estimate,
    sgd_draw_seconds,
    sgd_estimate,
    sgd_step_seconds,
)
from .problem.spectrum import groups
from .problem.trajectory import Trajectory, alpha_grid
from .state.setting import resolve
from .theory.ode import solve_ode

__all__ = ["SweepResult", "Task", "connect", "grid_from_strings", "make_grid", "paired_sweep", "run_task", "run_tasks",
           "sweep"]

#: Config fields written as columns of results.csv (the spectrum, if any, is named by its hash).
COLUMNS = ("N", "L", "K", "M", "beta", "eta", "sigma_J", "activation", "readout", "trainable", "train_readout",
           "eta_readout", "noise", "teacher", "cluster_width")


def make_grid(base: Config | None = None, **values) -> list[Config]:
    """The Cartesian product of ``values`` (field -> list of values) applied to ``base``
    (default ``Config()``), in the order of the keyword arguments (last varies fastest)."""
    base = Config() if base is None else base
    if not isinstance(base, Config):
        raise ValueError(f"base must be a Config, got {type(base).__name__}")
    names = list(values)
    unknown = [n for n in names if n not in Config.field_names()]
    if unknown:
        raise ValueError(f"unknown grid parameter(s) {unknown}; allowed: {Config.field_names()}")
    lists = []
    for n in names:
        v = values[n]
        v = list(v) if isinstance(v, (list, tuple, range, np.ndarray)) else [v]
        if not v:
            raise ValueError(f"grid parameter {n} has no values")
        lists.append(v)
    return [base.replace(**dict(zip(names, combo))) for combo in itertools.product(*lists)]


def grid_from_strings(strings: dict, spectrum_file=None) -> list[Config]:
    """A grid from comma-separated strings per field (the ``twolayer sweep`` options)."""
    values = {}
    for f in dataclasses.fields(Config):
        if f.name not in strings or strings[f.name] is None:
            continue
        raw = strings[f.name]
        if isinstance(raw, bool):
            values[f.name] = [raw]
            continue
        items = [x.strip() for x in str(raw).split(",") if x.strip() != ""]
        if not items:
            raise ValueError(f"--{f.name}: no value")
        conv = []
        for x in items:
            if f.name in Config.integer_fields():
                try:
                    conv.append(int(x))
                except ValueError:
                    raise ValueError(f"--{f.name} values must be integers, got {x!r}") from None
            elif f.metadata.get("choices") or f.metadata.get("type") is str:
                conv.append(x)
            elif x == "None" and f.default is None:
                conv.append(None)
            else:
                try:
                    conv.append(float(x))
                except ValueError:
                    raise ValueError(f"--{f.name} values must be numbers, got {x!r}") from None
        values[f.name] = conv
    base = Config() if spectrum_file is None else Config(N=len(load_spectrum(spectrum_file)),
                                                          spectrum=load_spectrum(spectrum_file))
    if spectrum_file is not None and "N" in values:
        values.pop("N")
    return make_grid(base, **values)


@dataclass(frozen=True)
class Task:
    """One (configuration, seed) of a sweep, with the method and its settings, and the threads its
    ODE may use (not part of the key: the result does not depend on them)."""

    config: Config
    seed: int
    method: str
    alpha: tuple
    settings: tuple = ()
    threads: int = field(default=1, compare=False)

    @property
    def key(self) -> str:
        """sha256 of the configuration, seed, method, grid, settings and package version."""
        cfg = self.config.to_dict()
        for name, default in (("schedule", "constant"), ("batch", 1)):
            if cfg.get(name) == default:  # fields added later: a default config keeps its key
                del cfg[name]
        if cfg.get("spectrum") is not None:
            cfg["spectrum"] = hashlib.sha256(np.asarray(cfg["spectrum"]).tobytes()).hexdigest()
        blob = json.dumps({"config": cfg, "seed": self.seed, "method": self.method, "alpha": list(self.alpha),
                           "settings": [list(s) for s in self.settings], "version": __version__},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def run_task(task: Task) -> bytes:
    """Compute one task and return its trajectory as .npz bytes (what a worker sends back)."""
    settings = dict(task.settings)
    alpha = np.array(task.alpha)
    if task.method == "sgd":
        traj = simulate(task.config, alpha, seeds=(task.seed,), workers=1)
    else:
        traj = solve_ode(task.config, alpha, seeds=(task.seed,), workers=task.threads, **settings)
    return trajectory_bytes(traj, extra={"key": task.key, "seed": task.seed})


def run_tasks(tasks) -> list[bytes]:
    """Compute a unit of tasks (``units``): one task (``run_task``), or SGD tasks of one seed and
    one N together, the seed's inputs drawn once for all (``simulate_shared``: the same bits as
    one by one).  Returns their .npz bytes in order."""
    tasks = tuple(tasks)
    if len(tasks) == 1:
        return [run_task(tasks[0])]
    trajs = simulate_shared([t.config for t in tasks], [np.array(t.alpha) for t in tasks], tasks[0].seed)
    return [trajectory_bytes(tr, extra={"key": t.key, "seed": t.seed}) for t, tr in zip(tasks, trajs)]


def unit_seconds(unit) -> float:
    """The estimated seconds of a unit of ``units`` (``problem.resources``' model): its SGD runs
    draw their inputs once, for the longest of them; an ODE task as ``ode_estimate``."""
    first = unit[0]
    if first.method == "sgd":
        N = first.config.N
        steps = [t.alpha[-1] * N for t in unit]
        return max(steps) * sgd_draw_seconds(N) + sum(
            n * sgd_step_seconds(N, t.config.K, t.config.M) for n, t in zip(steps, unit))
    c = first.config
    return sum(ode_estimate(groups(c).size, c.K, c.M, len(t.alpha), 1)[1] for t in unit)


def _makespan(seconds, slots: int) -> float:
    """The longest of ``slots`` processes that take the units largest first."""
    loads = [0.0] * max(1, slots)
    for x in sorted(seconds, reverse=True):
        i = loads.index(min(loads))
        loads[i] += x
    return max(loads)


def units(tasks, slots: int) -> list[tuple]:
    """The tasks in units of work (``run_tasks``), largest first (``unit_seconds``): the SGD
    tasks that can share their inputs (default recipe, built-in activation) grouped by (N, seed),
    every other task alone.  The largest group is halved as long as that shortens the estimated
    time of ``slots`` processes taking the units largest first (by more than 2 %): sharing saves
    the draws of all but one run of a group, but not if a core idles meanwhile (one seed on
    two processes, or the third of three seeds)."""
    groups_: dict = {}
    alone = []
    for t in tasks:
        if t.method == "sgd" and replays_inputs(t.config):
            groups_.setdefault((t.config.N, t.seed), []).append(t)
        else:
            alone.append((t,))
    out = [tuple(g) for g in groups_.values()]
    rest = [unit_seconds(u) for u in alone]
    while True:
        secs = [unit_seconds(u) for u in out]
        span = _makespan(secs + rest, slots)
        split = [j for j in range(len(out)) if len(out[j]) > 1]
        if not split:
            break
        i = max(split, key=lambda j: secs[j])
        g = out[i]
        halves = [g[: len(g) // 2], g[len(g) // 2:]]
        if not _makespan(secs[:i] + secs[i + 1:] + [unit_seconds(h) for h in halves] + rest, slots) < 0.98 * span:
            break
        out[i:i + 1] = halves
    return sorted(out + alone, key=unit_seconds, reverse=True)


@dataclass
class SweepResult:
    """The outcome of a sweep: the tasks in grid order, their trajectories, what was computed."""

    tasks: list
    trajectories: dict
    n_computed: int
    n_cached: int
    store: Path | None
    table_path: Path | None
    dashboard: str | None = None
    configs: list = field(default_factory=list)

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    def trajectory(self, config: Config, method: str | None = None) -> Trajectory:
        """All seeds of one configuration (and method, when the sweep ran several) as one
        trajectory, rows in seed order."""
        rows = [t for t in self.tasks if t.config == config and (method is None or t.method == method)]
        if not rows:
            raise ValueError("no task of this sweep has that configuration (and method)")
        if len({t.method for t in rows}) > 1:
            raise ValueError("the sweep ran several methods: name one (method='sgd' or 'ode')")
        trajs = [self.trajectories[t.key] for t in rows]
        first = trajs[0]
        stack = (lambda name: None if getattr(first, name) is None else np.concatenate([getattr(x, name) for x in trajs]))
        return Trajectory(alpha=first.alpha, eps_g=stack("eps_g"), config=config, method=first.method,
                          Q=stack("Q"), R=stack("R"), T=stack("T"), v=stack("v"),
                          seeds=tuple(t.seed for t in rows))

    def __iter__(self):
        """(config, trajectory of all its seeds) in grid order."""
        for c in self.configs:
            yield c, self.trajectory(c)


def _table(tasks, trajectories) -> str:
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(COLUMNS) + ["spectrum", "method", "seed", "alpha", "eps_g"])
    for t in tasks:
        tr = trajectories[t.key]
        d = t.config.to_dict()
        spec = "" if d["spectrum"] is None else hashlib.sha256(np.asarray(d["spectrum"]).tobytes()).hexdigest()[:12]
        head = ["" if d[c] is None else d[c] for c in COLUMNS] + [spec, t.method, t.seed]
        for a, e in zip(tr.alpha, tr.eps_g[0]):
            w.writerow(head + [repr(float(a)), repr(float(e))])
    return buf.getvalue()


#: glibc malloc thresholds (bytes) of the local cluster's workers (see ``connect``).
WORKER_MALLOC_THRESHOLD = 32 * 1024 * 1024

#: Seconds to wait for a scheduler given by its address (Dask retries within them).
CONNECT_TIMEOUT = 10.0


def connect(scheduler: str | None = None, workers: int | None = None):
    """A Dask client for several sweeps: with ``scheduler=None`` a local cluster of ``workers``
    single-threaded worker processes (default: the number of cores), which the client owns
    (``client.close()`` shuts it down); otherwise a client of the running scheduler at that
    address.  The local cluster logs only critical messages: a worker's warnings (e.g. about a
    busy event loop while it runs a compiled task) would otherwise land, at random, in the output
    of whatever notebook cell is running; a task's error still reaches the caller as an exception.
    Its workers ignore SIGINT (``dask_setup``): Ctrl-C stops the sweep in this process, which closes
    them.  A scheduler that does not answer within ``CONNECT_TIMEOUT`` seconds, or a malformed
    address, is a one-line ValueError."""
    import dask
    from dask.distributed import Client

    if scheduler is None:
        n = check_int("workers", workers, 1, 1024) if workers is not None else (os.cpu_count() or 1)
        # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_ = 64 KiB, which makes glibc hand
        # every freed block back to the system: each temporary array of more than 128 KiB is then
        # mapped and page-faulted afresh.  The tasks here allocate such temporaries at every ODE
        # step (block states, quadrature nodes): measured 3-5x slower than in the main process.
        # Both thresholds at 32 MiB (glibc's largest mmap threshold) restore the main process's
        # speed; a worker keeps at most that much freed memory.
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
        environ.update(MALLOC_TRIM_THRESHOLD_=WORKER_MALLOC_THRESHOLD, MALLOC_MMAP_THRESHOLD_=WORKER_MALLOC_THRESHOLD)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            return Client(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",  # a free port: no warning when 8787 is taken
                          silence_logs=logging.CRITICAL, preload=[__name__])  # dask_setup: workers ignore SIGINT
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise ValueError(f"scheduler must be None or an address 'tcp://host:port', got {scheduler!r}")
    try:
        return Client(scheduler, timeout=f"{CONNECT_TIMEOUT:g}s")
    except ValueError as e:  # a malformed address
        raise ValueError(f"scheduler {scheduler!r}: {one_line(e)}") from None
    except (OSError, asyncio.TimeoutError):  # no answer (Python 3.10: asyncio's TimeoutError is no OSError)
        raise ValueError(f"scheduler {scheduler!r}: no Dask scheduler answers at this address within "
                         f"{CONNECT_TIMEOUT:g} s") from None


def dask_setup(worker) -> None:
    """Preload hook of the local cluster's workers (``connect``): they ignore SIGINT, so that a
    Ctrl-C, which a terminal sends to the whole process group, reaches only the main process,
    which then closes them (instead of a traceback from every worker)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _client(scheduler, workers):
    """(client, whether to close it after the sweep, dashboard link or None)."""
    if hasattr(scheduler, "submit") and hasattr(scheduler, "gather"):  # a client the caller owns
        return scheduler, False, getattr(scheduler, "dashboard_link", None)
    client = connect(scheduler, workers)
    return client, True, getattr(client, "dashboard_link", None)


def sweep(grid, *, seeds=(0,), method: str = "sgd", store=None, scheduler=None, alpha=None, alpha_max: float = 1000.0,
          points: int = 60, rtol: float = 1e-6, eta2: bool = True, h_max: float | None = None,
          workers: int | None = None, progress=None, budget: Budget | None = None) -> SweepResult:
    """Run every (configuration, seed) of ``grid`` (a ``Config`` or a list of them, e.g. from
    ``make_grid``) with ``method`` ("sgd", "ode" or both) on Dask; see the module docstring.

    Parameters
    ----------
    grid : configurations
    seeds : seeds of every configuration
    method : ``"sgd"`` (``simulate``), ``"ode"`` (``solve_ode`` from each seed's weights) or both,
        ``("sgd", "ode")``: then every (configuration, seed) is run both ways
    store : directory of the resumable store (created); ``None`` keeps results in memory only
    scheduler : ``None`` (a local cluster on this machine's cores, started for this sweep),
        ``"synchronous"`` (serially, in this process), the address of a running Dask scheduler, or
        a client from ``connect`` shared by several sweeps
    alpha : the grid of alpha, or a dict configuration -> grid; default
        ``alpha_grid(alpha_max, points, N)`` per configuration
    rtol, eta2, h_max : ODE settings (``solve_ode``)
    workers : worker processes of the local cluster (default: the number of cores)
    progress : ``True`` for one bar over the tasks on stderr
    budget : memory/time limits, checked for every task before anything runs

    Returns
    -------
    SweepResult: ``trajectory(config)`` per configuration, counts of computed and stored tasks,
    and the path of ``results.csv``.
    """
    configs = [grid] if isinstance(grid, Config) else list(grid)
    if not configs or not all(isinstance(c, Config) for c in configs):
        raise ValueError("grid must be a Config or a non-empty list of Configs")
    if len(set(configs)) != len(configs):
        raise ValueError("the grid holds the same configuration twice")
    seeds = check_seeds(seeds)
    methods = (method,) if isinstance(method, str) else tuple(method)
    if not methods or len(set(methods)) != len(methods):
        raise ValueError(f"method must be 'sgd', 'ode' or a sequence of distinct ones, got {method!r}")
    for m in methods:
        check_choice("method", m, ("sgd", "ode"))
    rtol = check_float("rtol", rtol, lo=1e-14, hi=0.1)
    if h_max is not None:
        h_max = check_float("h_max", h_max, lo=0.0, lo_open=True)
    if workers is not None:
        workers = check_int("workers", workers, 1, 1024)
    if scheduler is not None and not isinstance(scheduler, str) and not hasattr(scheduler, "submit"):
        raise ValueError(f"scheduler must be None, 'synchronous', an address 'tcp://host:port' or a Dask client, "
                         f"got {scheduler!r}")
    if isinstance(alpha, dict) and set(alpha) != set(configs):
        raise ValueError("alpha given per configuration must name every configuration of the grid")
    tasks = []
    for m in methods:
        settings = (("rtol", rtol), ("eta2", bool(eta2))) if m == "ode" else ()
        if m == "ode" and h_max is not None:
            settings += (("h_max", h_max),)
        for c in configs:
            if alpha is None:
                a = alpha_grid(alpha_max, points, c.N, batch=c.batch)
            else:
                a = check_alpha(alpha[c] if isinstance(alpha, dict) else alpha)
            if m == "sgd":
                mem, secs = sgd_estimate(c.N, c.K, c.M, float(a[-1]) * c.N, len(a), 1)
            else:
                mem, secs = ode_estimate(groups(c).size, c.K, c.M, len(a), 1, eta2=eta2)
            check_budget(f"a sweep task ({m}, N={c.N}, K={c.K}, M={c.M}, L={c.L})", mem,
                         secs * len(seeds) * len(configs) / max(1, workers or (os.cpu_count() or 1)), budget)
            tasks.extend(Task(c, s, m, tuple(float(x) for x in a), settings) for s in seeds)
    root = None
    done: dict = {}
    if store is not None:
        root = Path(store).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        (root / "tasks").mkdir(exist_ok=True)
        for t in tasks:
            p = root / "tasks" / f"{t.key}.npz"
            if p.is_file():
                try:
                    done[t.key] = _load_task(p, t)
                except ValueError as e:  # corrupt, changed or of an older version: computed again
                    warnings.warn(f"sweep store: {one_line(e)}; computing the task again", stacklevel=2)
    missing = [t for t in tasks if t.key not in done]
    # SGD tasks of one seed and one N run as one unit, drawing their inputs once
    work = units(missing, _slots(scheduler, workers))
    # fewer units than worker processes on this machine: each ODE task shares its steps among the
    # idle cores (results are the same for any number of threads)
    threads = _threads_per_task(len(work), scheduler, workers)
    work = [tuple(dataclasses.replace(t, threads=threads) for t in u) for u in work]
    bar = make_progress(progress, len(tasks), "sweep tasks", unit="task")
    bar.update(len(tasks) - len(missing))
    dashboard = None
    try:
        if work and scheduler == "synchronous":
            for u in work:
                for t, payload in zip(u, run_tasks(u)):
                    _store(t, payload, root, done)
                bar.update(len(u))
        elif work:
            from dask.distributed import as_completed

            client, owned, dashboard = _client(scheduler, workers)
            futures = {}
            try:
                if dashboard and progress:
                    print(f"Dask dashboard: {dashboard}", file=sys.stderr)
                futures = {client.submit(run_tasks, u, key=f"twolayer-{u[0].key}-{len(u)}", pure=False): u
                           for u in work}
                for fut in as_completed(futures):
                    for t, payload in zip(futures[fut], fut.result()):
                        _store(t, payload, root, done)
                    bar.update(len(futures[fut]))
            except BaseException:  # Ctrl-C or a task's error: a shared cluster stops working for this sweep
                if not owned and futures:
                    try:
                        client.cancel(list(futures))
                    except Exception:  # noqa: BLE001 - the scheduler may be gone; the first error matters
                        pass
                raise
            finally:
                if owned:
                    client.close()  # a local cluster of its own: its worker processes end with it
    finally:
        bar.close()
    table_path = None
    if root is not None:
        table_path = root / "results.csv"
        atomic_write(table_path, _table(tasks, done))
    return SweepResult(tasks=tasks, trajectories=done, n_computed=len(missing), n_cached=len(tasks) - len(missing),
                       store=root, table_path=table_path, dashboard=dashboard, configs=configs)


def _slots(scheduler, workers) -> int:
    """How many units run at once: 1 synchronously; the worker processes of a local cluster (or
    of a client's cluster); on a scheduler given by its address, unknown here: this machine's
    cores."""
    if scheduler == "synchronous":
        return 1
    if scheduler is not None and not isinstance(scheduler, str):
        return max(1, len(scheduler.nthreads()))
    return workers or os.cpu_count() or 1


def _threads_per_task(n_tasks: int, scheduler, workers) -> int:
    """Threads for each ODE task: this machine's cores divided among the tasks that run at once
    (``synchronous``: one at a time; a local cluster or a client of one: min(tasks, worker
    processes)); 1 on a scheduler given by its address, whose machines are not this one."""
    cores = os.cpu_count() or 1
    if n_tasks == 0 or isinstance(scheduler, str) and scheduler != "synchronous":
        return 1
    if scheduler == "synchronous":
        return cores
    procs = len(scheduler.nthreads()) if scheduler is not None else (workers or cores)
    return max(1, cores // max(1, min(n_tasks, procs)))


#: Tolerance of a stored eps_g against eps_g of the stored Q, R, T: relative, plus absolute in
#: units of the largest eps_g of the curve (round-off of the same function on the same numbers).
EPS_G_RTOL, EPS_G_ATOL = 1e-12, 1e-14


def _load_task(path, task: Task) -> Trajectory:
    """The stored trajectory of ``task`` at ``path``, verified: the file's checksum, that it is this
    task's (key, seed, alpha grid), and, when it holds Q, R, T (SGD, ODE), that its eps_g is eps_g of
    them for the task's configuration.  ValueError naming the file and the reason otherwise."""
    traj, meta = load_trajectory(path, require_checksum=True)
    if meta.get("key") != task.key or traj.seeds != (task.seed,) or not np.array_equal(traj.alpha, task.alpha):
        raise ValueError(f"{path} holds another task than its name says")
    why = _eps_g_mismatch(traj, task.config)
    if why:
        raise ValueError(f"{path}: {why}")
    return traj


def _eps_g_mismatch(traj: Trajectory, config: Config) -> str | None:
    """Why the trajectory's eps_g is not eps_g of its own Q, R, T (``None`` if it is, or if it holds
    no order parameters: then its checksum alone vouches for it)."""
    if traj.Q is None or traj.R is None or traj.T is None:
        return None
    if config.train_readout and traj.v is None:
        return "no second layer v for a trained readout"
    v = traj.v if config.train_readout else config.student_weights
    with np.errstate(all="ignore"):
        ref = resolve(config).eps_g(traj.Q, traj.R, traj.T, v)
        tol = EPS_G_RTOL * np.abs(ref) + EPS_G_ATOL * max(1.0, float(np.max(np.abs(ref))))
        bad = ~(np.abs(traj.eps_g - ref) <= tol)  # NaN is bad
    if not bad.any():
        return None
    s, i = np.argwhere(bad)[0]
    return (f"eps_g = {float(traj.eps_g[s, i])!r} at alpha = {float(traj.alpha[i])!r} is not eps_g of the stored "
            f"Q, R, T ({float(ref[s, i])!r})")


def _store(task: Task, payload: bytes, root, done: dict) -> None:
    done[task.key] = trajectory_from_bytes(payload, f"the result of task {task.key}")[0]
    if root is not None:
        atomic_write(root / "tasks" / f"{task.key}.npz", payload)


def paired_sweep(configs, alpha_max, *, seeds=(0,), points: int = 120, alpha_min: float | None = None,
                 **sweep_kw) -> dict:
    """SGD and the block ODE from the same weights for every configuration and seed, in one
    ``sweep`` on the grids of ``experiments.alpha_grids``, paired per configuration
    (``experiments.paired_results``; chapter "Beyond the paper").

    Parameters
    ----------
    configs : list of ``Config``
    alpha_max, points, alpha_min : the grids (``alpha_max`` per configuration as a mapping, or
        one float)
    seeds : the seeds of every configuration
    sweep_kw : further arguments of ``sweep`` (``rtol``, ``store``, ``scheduler``, ...)

    Returns
    -------
    dict configuration -> ``Paired`` (sgd, ode), in the order of ``configs``
    """
    if "method" in sweep_kw or "alpha" in sweep_kw:
        raise ValueError("paired_sweep sets method and alpha itself: do not pass them")
    configs = list(configs)
    grids = alpha_grids(configs, alpha_max, points, alpha_min)
    return paired_results(sweep(configs, seeds=seeds, method=("sgd", "ode"), alpha=grids, **sweep_kw))
