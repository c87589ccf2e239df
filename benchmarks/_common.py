"""Helpers shared by the benchmark scripts (run as ``python benchmarks/bench_x.py``, so this
directory is on ``sys.path``)."""

from __future__ import annotations

import json
import platform


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def finish(res: dict, json_path: str | None, load_start) -> int:
    """Print the closing lines (checks, load, total time), write ``res`` as JSON if asked, and
    return the exit status: 0 when every correctness check passed."""
    print(f"correctness checks ok: {res['checks_ok']}")
    print(f"load average start {tuple(round(x, 2) for x in load_start)}, "
          f"end {tuple(round(x, 2) for x in res['loadavg_end'])}; total {res['total_s']:.0f} s")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(res, f, indent=1)
        print(f"wrote {json_path}")
    return 0 if res["checks_ok"] else 1
