"""Faults of a real Dask cluster (``twolayer.sweep``): a worker killed mid-sweep, an unreachable
scheduler, Ctrl-C during a sweep.

A scheduler and two workers are started by hand on 127.0.0.1 (free ports chosen at run time),
each in a session of its own so that one worker (nanny and worker process) can be killed alone;
all are killed at teardown.  The only timed assertions are the bounds of the issue: an
unreachable scheduler is an error within 30 s, Ctrl-C stops everything within 5 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("dask.distributed")
psutil = pytest.importorskip("psutil")

from clustertools import DASK_ENV, free_port, wait_for  # noqa: E402
from twolayer import Config, cli, make_grid, sweep  # noqa: E402

#: Tasks of ~0.1 s (SGD, N = 256 up to alpha = 600): a sweep of 16 lasts long enough to be hit.
BASE = Config(N=256, L=4, sigma_J=0.1)
KW = dict(seeds=range(4), alpha_max=600.0, points=6)
CLI_ARGS = ["sweep", "--method", "sgd", "--N", "256", "--L", "4", "--sigma-J", "0.1", "--K", "1,2",
            "--eta", "0.05,0.1", "--seeds", "4", "--alpha-max", "600", "--points", "6", "--no-progress"]


def _grid():
    return make_grid(BASE, K=[1, 2], eta=[0.05, 0.1])  # 4 configurations x 4 seeds = 16 tasks


def _finished(store) -> set:
    """Names of the finished task files (not the temporary files of a write in progress)."""
    d = store / "tasks"
    return {p.name for p in d.iterdir() if p.suffix == ".npz" and not p.name.startswith(".")} if d.is_dir() else set()




# --------------------------------------------------------------------------------------------
# (i) a worker killed mid-sweep
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_table(tmp_path_factory):
    """results.csv of the sweep run serially in this process."""
    res = sweep(_grid(), method="sgd", store=tmp_path_factory.mktemp("serial"), scheduler="synchronous", **KW)
    return res.table_path.read_bytes()


@pytest.mark.parametrize("victim", ["worker", "worker-process"])
def test_worker_killed_mid_sweep_still_gives_the_local_bits(victim, dask_cluster, local_table, tmp_path):
    """kill -9 of one worker once the first task is stored: of the whole ``dask worker`` (nanny and
    worker process: the worker is lost) or of its worker process alone (its nanny starts another).
    The sweep finishes with the bits of the serial run."""
    from dask.distributed import Client

    address, workers = dask_cluster
    store = tmp_path / "hand"
    out = {}

    def run():
        try:
            out["res"] = sweep(_grid(), method="sgd", store=store, scheduler=address, **KW)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            out["error"] = e

    th = threading.Thread(target=run, daemon=True)
    th.start()
    wait_for(lambda: _finished(store) or not th.is_alive(), 120, "the first finished task")
    n_at_kill = len(_finished(store))
    if victim == "worker":
        os.killpg(workers[0].pid, signal.SIGKILL)
    else:
        proc = [q for q in psutil.Process(workers[0].pid).children() if "spawn_main" in " ".join(q.cmdline())
                and "resource_tracker" not in " ".join(q.cmdline())]
        assert len(proc) == 1, [q.cmdline() for q in proc]
        os.kill(proc[0].pid, signal.SIGKILL)
    th.join(timeout=120)
    assert not th.is_alive(), "the sweep did not finish after a worker was killed"
    assert "error" not in out, repr(out.get("error"))
    res = out["res"]
    assert 0 < n_at_kill < res.n_tasks == 16  # the kill happened mid-sweep
    assert res.n_computed == 16
    assert res.table_path.read_bytes() == local_table
    if victim == "worker":  # the killed worker is gone for good
        with Client(address, timeout="30s") as c:
            wait_for(lambda: sorted(w["name"] for w in c.scheduler_info()["workers"].values()) == ["hand-1"], 30,
                      "the scheduler to drop the killed worker")


# --------------------------------------------------------------------------------------------
# (ii) an unreachable scheduler
# --------------------------------------------------------------------------------------------
def test_unreachable_scheduler_is_a_one_line_value_error(tmp_path, monkeypatch):
    import twolayer.sweeps as sw

    monkeypatch.setattr(sw, "CONNECT_TIMEOUT", 2.0, raising=False)  # the CLI test below: the default
    address = f"tcp://127.0.0.1:{free_port()}"  # closed: nothing listens
    t0 = time.monotonic()
    with pytest.raises(ValueError) as exc:
        sweep(BASE, method="sgd", store=tmp_path / "s", scheduler=address, alpha_max=1.0, points=3)
    assert time.monotonic() - t0 < 30
    msg = str(exc.value)
    assert msg.startswith(f"scheduler {address!r}: ") and "no Dask scheduler answers" in msg and "\n" not in msg, msg
    with pytest.raises(ValueError, match=r"^scheduler 'tcp://127.0.0.1:x': .*int") as exc:
        sweep(BASE, method="sgd", scheduler="tcp://127.0.0.1:x", alpha_max=1.0, points=3)
    assert "\n" not in str(exc.value)


def test_cli_unreachable_scheduler_exits_with_one_line_within_30_s(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    args = [sys.executable, "-m", "twolayer", "sweep", "--N", "32", "--L", "4", "--alpha-max", "1", "--points", "3",
            "--store", str(tmp_path / "s"), "--scheduler", address, "--no-progress"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=DASK_ENV, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
    assert p.returncode == 2 and out == "", (p.returncode, out, err)
    assert err.count("\n") == 1 and err.startswith(f"twolayer: error: scheduler {address!r}: "), err


# --------------------------------------------------------------------------------------------
# (iii) Ctrl-C during a sweep
# --------------------------------------------------------------------------------------------
def _alive(procs) -> list:
    alive = []
    for q in procs:
        try:
            if q.is_running() and q.status() != psutil.STATUS_ZOMBIE:
                alive.append(q)
        except psutil.NoSuchProcess:
            pass
    return alive


def _ignores_sigint(pid: int) -> bool:
    """Whether the process ignores SIGINT (its SigIgn mask in /proc)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    raise AssertionError(f"no SigIgn in /proc/{pid}/status")


def _scheduler_tasks(address) -> int:
    from dask.distributed import Client

    with Client(address, timeout="30s") as c:
        return c.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


@pytest.mark.parametrize("where,target", [("local", "group"), ("local", "process"), ("scheduler", "group")],
                         ids=["local-cluster-ctrl-c", "local-cluster-kill-INT", "scheduler-ctrl-c"])
def test_sigint_stops_the_sweep_within_5_s_and_keeps_finished_tasks(where, target, request, tmp_path, recwarn,
                                                                  capsys):
    """SIGINT once tasks have finished: exit 130 within 5 s with one line on stderr, no process of
    the sweep left (a local cluster's workers) or no task of it left on the scheduler, the
    finished task files kept and valid (a re-run uses every one of them)."""
    store = tmp_path / "store"
    args = CLI_ARGS + ["--store", str(store)]
    address = None
    if where == "local":
        args += ["--workers", "2"]
    else:
        address = request.getfixturevalue("dask_cluster")[0]
        args += ["--scheduler", address]
    p = subprocess.Popen([sys.executable, "-m", "twolayer", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=DASK_ENV, text=True, start_new_session=True)  # its own process group, as a terminal's job
    children = []
    try:
        wait_for(lambda: _finished(store) or p.poll() is not None, 120, "the first finished task")
        assert p.poll() is None, p.communicate()
        before = _finished(store)
        children = psutil.Process(p.pid).children(recursive=True)
        assert len(children) >= (2 if where == "local" else 0)
        if target == "group" and os.path.isdir("/proc"):  # a terminal's Ctrl-C must reach only the main process
            assert all(_ignores_sigint(q.pid) for q in children), [q.cmdline() for q in children]
        t0 = time.monotonic()
        if target == "group":  # Ctrl-C in a terminal: SIGINT to every process of the job
            os.killpg(p.pid, signal.SIGINT)
        else:
            os.kill(p.pid, signal.SIGINT)
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("the sweep did not stop within 5 s of SIGINT")
        deadline = t0 + 5
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _alive(children), [(q.pid, q.cmdline()) for q in _alive(children)]
        if address is not None:  # the scheduler forgot the sweep's tasks
            while _scheduler_tasks(address) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _scheduler_tasks(address) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
        for q in _alive(children):  # only the sweep's own processes, should a check above have failed
            q.kill()
    assert p.returncode == 130 and out == "" and err == "twolayer: error: interrupted\n", (p.returncode, out, err)
    after = _finished(store)
    assert before <= after and len(after) < 16
    assert not [q.name for q in (store / "tasks").iterdir() if q.name.startswith(".")]  # no temporary file
    # the finished files are valid: a re-run (in this process) takes every one of them, warns of none
    assert cli.main(CLI_ARGS + ["--store", str(store), "--scheduler", "synchronous"]) == 0
    assert f"({16 - len(after)} computed, {len(after)} from the store)" in capsys.readouterr().out
    assert not [w for w in recwarn if "sweep store" in str(w.message)]


def test_interrupted_sweep_cancels_its_tasks_on_a_shared_client(tmp_path, monkeypatch):
    """Ctrl-C (here: KeyboardInterrupt after the first stored task) in a sweep on a client the
    caller shares: the sweep's tasks leave the scheduler at once, even while the caller keeps the
    traceback (as Jupyter does), and the finished task stays in the store."""
    from dask.distributed import Client, LocalCluster

    import twolayer.sweeps as sw

    store_task = sw._store

    def interrupted(*args):
        store_task(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(sw, "_store", interrupted)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as lc, \
            Client(lc) as client:
        with pytest.raises(KeyboardInterrupt) as exc:
            sweep(_grid(), method="sgd", store=tmp_path, scheduler=client, **KW)
        assert exc.traceback  # the caller holds the sweep's frames
        deadline = time.monotonic() + 5

        def left():
            return client.run_on_scheduler(lambda dask_scheduler: [k for k in dask_scheduler.tasks
                                                                   if str(k).startswith("twolayer-")])

        while left() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left() == []
    assert len(_finished(tmp_path)) == 1
