"""Helpers of the tests that start a Dask scheduler and workers by hand on loopback."""

from __future__ import annotations

import os
import socket
import sys
import time

#: Environment of the hand-started processes: one BLAS thread, unbuffered logs, not under CI.
DASK_ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                PYTHONUNBUFFERED="1")
DASK_ENV.pop("CI", None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask_command(*args):
    exe = os.path.join(os.path.dirname(sys.executable), "dask")
    return [exe, *args] if os.path.exists(exe) else [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
