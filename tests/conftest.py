"""Shared fixtures: a Dask scheduler and two workers started by hand on loopback (the sweep
tests and the cluster-fault tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

import pytest
from clustertools import DASK_ENV, dask_command, free_port, wait_for


@pytest.fixture
def dask_cluster(tmp_path):
    """(address, worker processes): ``dask scheduler`` and two ``dask worker --nworkers 1
    --nthreads 1``, each in its own session."""
    procs, logs = [], []
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"

    def start(name, *args):
        log = open(tmp_path / f"{name}.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen(dask_command(*args), stdout=log, stderr=subprocess.STDOUT, env=DASK_ENV, cwd=tmp_path,
                                      start_new_session=True))
        return procs[-1]

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
              "--idle-timeout", "300")
        workers = [start(f"worker{i}", "worker", address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
                         "--no-dashboard", "--death-timeout", "60", "--local-directory", str(tmp_path / f"w{i}"),
                         "--name", f"hand-{i}") for i in range(2)]
        from dask.distributed import Client

        def listening():
            if procs[0].poll() is not None:
                raise RuntimeError("dask scheduler exited: " + (tmp_path / "scheduler.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False

        wait_for(listening, 60, "the scheduler's port")
        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=90)
        yield address, workers
    finally:
        for p in procs:  # only the sessions started here: nanny and worker process alike
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for p in procs:
            p.wait(timeout=10)
        for log in logs:
            log.close()
