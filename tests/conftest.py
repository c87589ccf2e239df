"""Shared fixtures: the one Monte Carlo check (every test that compares an average with its Monte
Carlo estimate), and a Dask scheduler and two workers started by hand on loopback (the sweep tests
and the cluster-fault tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

import numpy as np
import pytest
from clustertools import DASK_ENV, dask_command, free_port, wait_for

Z_MAX = 4.0  # an exact average must lie within 4 standard errors of its Monte Carlo estimate


class MonteCarloCheck:
    """``check(samples, exact, label)``: the mean of ``samples`` (one sample per row) lies within
    ``Z_MAX`` standard errors of ``exact`` (a constant integrand, standard error 0, to 1e-12).
    ``check.estimate(mean, se, exact, label)``: the same for a mean and standard error computed
    elsewhere (arrays compare elementwise).  ``largest_z`` is the largest |z| seen; ``z_max`` the
    threshold, for a test that needs an estimate to be far from a value."""

    z_max = Z_MAX

    def __init__(self):
        self.largest_z = 0.0

    def __call__(self, samples, exact, label):
        samples = np.asarray(samples)
        m = samples.mean()
        se = samples.std(ddof=1) / np.sqrt(len(samples))
        if se == 0:  # a constant integrand (e.g. g' = 1 for linear g)
            assert abs(m - exact) < 1e-12, f"{label}: exact {exact:.6g}, constant {m:.6g}"
            return
        self.estimate(m, se, exact, label)

    def estimate(self, mean, se, exact, label):
        z = np.abs(np.asarray(mean) - exact) / se
        self.largest_z = max(self.largest_z, float(np.max(z)))
        fmt = lambda x: np.array2string(np.asarray(x), precision=6)  # noqa: E731
        assert np.all(z < Z_MAX), (f"{label}: exact {fmt(exact)}, Monte Carlo {fmt(mean)} +- "
                                   f"{np.array2string(np.asarray(se), precision=2)} (|z| = "
                                   f"{np.array2string(z, precision=2)}, limit {Z_MAX})")


@pytest.fixture
def monte_carlo(request):
    """The Monte Carlo check (``MonteCarloCheck``); the largest |z| of the test is recorded as
    the test's property ``largest_z`` (in a ``--junitxml`` report)."""
    check = MonteCarloCheck()
    yield check
    request.node.user_properties.append(("largest_z", round(check.largest_z, 3)))


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
