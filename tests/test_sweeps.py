"""Parameter sweeps on Dask with a resumable store (``twolayer.sweep``, ``lib/twolayer/sweeps.py``).

Tiny configurations (N = 32, alpha <= 5) so that every test takes seconds; most of the time is
the start of Dask worker processes.  Results are bit-identical whatever the executor: serial in
this process, a ``LocalCluster`` of two worker processes, the CLI, or a scheduler and two workers
started by hand with ``dask scheduler`` / ``dask worker``.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("dask.distributed")

from twolayer import Config, cli, make_grid, sweep  # noqa: E402
from twolayer.sweeps import grid_from_strings  # noqa: E402

BASE = Config(N=32, L=4, sigma_J=0.1)
KW = dict(seeds=(0, 1), alpha_max=5.0, points=6)


def _grid():
    return make_grid(BASE, K=[1, 2], eta=[0.1, 0.3])  # 4 configurations x 2 seeds x 2 methods = 16 tasks


def _files(store):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted((store / "tasks").iterdir())}


def _same_trajectories(a, b):
    assert set(a.trajectories) == set(b.trajectories)
    for k, ta in a.trajectories.items():
        tb = b.trajectories[k]
        for name in ("alpha", "eps_g", "Q", "R", "T"):
            assert np.array_equal(getattr(ta, name), getattr(tb, name)), (k, name)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    store = tmp_path_factory.mktemp("serial")
    res = sweep(_grid(), method=("sgd", "ode"), store=store, scheduler="synchronous", **KW)
    assert res.n_tasks == 16 and res.n_computed == 16 and res.n_cached == 0
    return res


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    c = Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


# --------------------------------------------------------------------------------------------
# executors give the same bits
# --------------------------------------------------------------------------------------------
def test_local_cluster_equals_serial_bit_for_bit(serial, client, tmp_path):
    res = sweep(_grid(), method=("sgd", "ode"), store=tmp_path, scheduler=client, **KW)
    assert res.n_computed == 16
    assert len(client.scheduler_info()["workers"]) == 2
    _same_trajectories(res, serial)
    assert (tmp_path / "results.csv").read_bytes() == serial.table_path.read_bytes()
    # results.csv: one row per configuration, seed, method and alpha point
    lines = serial.table_path.read_text().splitlines()
    assert lines[0].startswith("N,L,K,M,beta,eta,") and lines[0].endswith(",method,seed,alpha,eps_g")
    n_alpha = len(serial.tasks[0].alpha)
    assert len(lines) == 1 + 16 * n_alpha
    # the per-configuration view stacks the seeds
    tr = res.trajectory(_grid()[3], method="ode")
    assert tr.eps_g.shape == (2, n_alpha) and np.all(np.isfinite(tr.eps_g)) and np.all(tr.eps_g >= 0)


def test_sgd_tasks_sharing_their_inputs_equal_single_runs(serial):
    """The SGD tasks of one seed run as one unit (``units``, ``simulate_shared``); each trajectory
    is ``simulate`` of its task alone, bit for bit."""
    from twolayer import simulate

    for t in serial.tasks:
        if t.method == "sgd":
            ref = simulate(t.config, np.array(t.alpha), seeds=t.seed, workers=1)
            got = serial.trajectories[t.key]
            for name in ("eps_g", "Q", "R", "T"):
                assert np.array_equal(getattr(got, name), getattr(ref, name)), (t.config, name)


def test_units_group_sgd_tasks_by_seed_and_n():
    from twolayer.sweeps import Task, unit_seconds, units

    a = (1.0, 2.0)
    sgd = [Task(c, s, "sgd", a) for s in (0, 1) for c in _grid()]
    other = [Task(BASE.replace(N=64), 0, "sgd", a), Task(BASE, 0, "ode", a),
             Task(BASE.replace(schedule="cosine:10"), 0, "sgd", a)]
    got = units(sgd + other, 2)
    # largest first (unit_seconds): the ODE, (64, 0), (32, 0), (32, 1), the schedule
    assert [len(u) for u in got] == [1, 1, 4, 4, 1]
    assert [u[0].method for u in got] == ["ode", "sgd", "sgd", "sgd", "sgd"] and got[1][0].config.N == 64
    assert {t.seed for t in got[2]} == {0} and {t.seed for t in got[3]} == {1}
    assert sorted(t.key for u in got for t in u) == sorted(t.key for t in sgd + other)
    secs = [unit_seconds(u) for u in got]
    assert secs == sorted(secs, reverse=True)
    # one seed on two processes: the group is halved rather than leave a core idle
    assert [len(u) for u in units(sgd[:4], 2)] == [2, 2]
    assert [len(u) for u in units(sgd[:4], 1)] == [4]
    assert [len(u) for u in units(sgd[:3], 8)] == [1, 1, 1]
    # three seeds on two processes: one seed's group is halved (its draws made twice), so that
    # both processes finish together (estimated 4 + 2 runs each instead of 8 and 4)
    three = [Task(c, s, "sgd", a) for s in (0, 1, 2) for c in _grid()]
    got = units(three, 2)
    assert [len(u) for u in got] == [4, 4, 2, 2] and [len({t.seed for t in u}) for u in got] == [1, 1, 1, 1]
    assert sorted(t.key for u in got for t in u) == sorted(t.key for t in three)


def test_a_lone_ode_task_uses_the_idle_cores_with_the_same_bits(client, tmp_path):
    """One ODE task on the two-worker cluster gets both cores (threads over its groups); the
    result is the serial, single-thread one bit for bit."""
    from twolayer import solve_ode
    from twolayer.sweeps import _threads_per_task

    cores = os.cpu_count() or 1
    assert _threads_per_task(1, client, None) == cores // 1
    assert _threads_per_task(5, client, None) == max(1, cores // 2)
    assert _threads_per_task(3, "synchronous", None) == cores
    assert _threads_per_task(1, "tcp://127.0.0.1:1", None) == 1
    cfg = Config(N=128, L=128, K=5, M=3, sigma_J=0.01, eta=0.05)  # implicit corrector, threaded by default
    res = sweep(cfg, method="ode", store=tmp_path, scheduler=client, alpha_max=50.0, points=8)
    ref = solve_ode(cfg, res.tasks[0].alpha, seeds=0, workers=1)
    assert np.array_equal(res.trajectory(cfg).eps_g, ref.eps_g)


# --------------------------------------------------------------------------------------------
# the store resumes
# --------------------------------------------------------------------------------------------
def test_store_recomputes_only_the_missing_task(serial, client, tmp_path):
    res = sweep(_grid(), method="sgd", store=tmp_path, scheduler="synchronous", **KW)
    assert res.n_computed == 8
    table = (tmp_path / "results.csv").read_bytes()
    before = _files(tmp_path)
    victim = sorted(before)[3]
    (tmp_path / "tasks" / victim).unlink()
    again = sweep(_grid(), method="sgd", store=tmp_path, scheduler=client, **KW)  # another executor
    assert (again.n_computed, again.n_cached) == (1, 7)
    after = _files(tmp_path)
    assert sorted(after) == sorted(before)
    for name in before:
        if name != victim:
            assert after[name] == before[name], name  # untouched: same bytes, same mtime
    assert (tmp_path / "results.csv").read_bytes() == table
    _same_trajectories(again, res)


def test_complete_store_changes_no_task_file(tmp_path):
    res = sweep(_grid(), method="ode", store=tmp_path, scheduler="synchronous", **KW)
    assert res.n_computed == 8
    table = (tmp_path / "results.csv").read_bytes()
    before = _files(tmp_path)
    time.sleep(0.02)  # a rewrite would show in the nanosecond mtimes
    again = sweep(_grid(), method="ode", store=tmp_path, scheduler="synchronous", **KW)
    assert (again.n_computed, again.n_cached) == (0, 8)
    assert _files(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "tasks"]  # no temporary files
    assert (tmp_path / "results.csv").read_bytes() == table
    _same_trajectories(again, res)


def test_changed_settings_are_new_tasks(tmp_path):
    sweep(BASE, method="ode", store=tmp_path, scheduler="synchronous", **KW)
    res = sweep(BASE, method="ode", store=tmp_path, scheduler="synchronous", rtol=1e-5, **KW)
    assert res.n_computed == 2  # the key includes the solver settings
    assert len(list((tmp_path / "tasks").iterdir())) == 4


# --------------------------------------------------------------------------------------------
# the store verifies its files: checksum, task, eps_g of the stored Q, R, T
# --------------------------------------------------------------------------------------------
SMALL = dict(seeds=(0, 1), alpha_max=5.0, points=6)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """An untampered store: BASE, seeds 0 and 1, SGD and ODE (4 tasks)."""
    return sweep(BASE, method=("sgd", "ode"), store=tmp_path_factory.mktemp("small"), scheduler="synchronous", **SMALL)


def _arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: np.asarray(f[k]) for k in f.files}


def _rewrite(path, arrays, checksum):
    """Write ``arrays`` to ``path`` as a valid .npz: with ``checksum`` "recomputed" a checksum of
    the new arrays (only the physics can tell), "kept" the old one, "none" none (an old file)."""
    from twolayer import io as tio

    arrays = dict(arrays)
    old = arrays.pop("sha256", None)
    digest = getattr(tio, "_digest", None)  # None before the checksum existed
    if checksum == "recomputed" and digest is not None:
        arrays["sha256"] = np.frombuffer(digest(arrays).encode("ascii"), dtype=np.uint8)
    elif checksum == "kept" and old is not None:
        arrays["sha256"] = old
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _tamper(case, victim, other):
    """Change the task file ``victim`` (``other``: the file of the same task with the other seed)."""
    a = _arrays(victim)
    if case == "eps_g doubled":  # a valid file with a valid checksum: only eps_g(Q, R, T) tells
        a["eps_g"] = 2.0 * a["eps_g"]
        _rewrite(victim, a, "recomputed")
    elif case == "checksum only":  # the other seed's curve and overlaps: consistent physics, same meta
        b = _arrays(other)
        a.update({k: b[k] for k in ("eps_g", "Q", "R", "T")})
        _rewrite(victim, a, "kept")
    elif case == "no checksum":  # a file of the previous format
        _rewrite(victim, a, "none")
    elif case == "another task":  # the other seed's whole file under this name
        victim.write_bytes(other.read_bytes())
    elif case == "truncated":
        victim.write_bytes(victim.read_bytes()[:300])


TAMPER = {"eps_g doubled": "is not eps_g of the stored Q, R, T", "checksum only": "fails its checksum",
          "no checksum": "has no checksum", "another task": "holds another task", "truncated": "cannot read"}


@pytest.mark.parametrize("method", ["sgd", "ode"])
@pytest.mark.parametrize("case", list(TAMPER))
def test_a_tampered_task_file_is_computed_again_with_a_warning(small_store, tmp_path, case, method):
    """A changed task file (valid .npz) is detected, computed again with one warning line naming
    the file and the reason, and results.csv is the untampered one bit for bit."""
    store = tmp_path / "store"
    shutil.copytree(small_store.store, store)
    tasks = [t for t in small_store.tasks if t.method == method]
    victim, other = (store / "tasks" / f"{t.key}.npz" for t in tasks)
    _tamper(case, victim, other)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sweep(BASE, method=("sgd", "ode"), store=store, scheduler="synchronous", **SMALL)
    assert res.table_path.read_bytes() == small_store.table_path.read_bytes()
    assert (res.n_computed, res.n_cached) == (1, 3)
    _same_trajectories(res, small_store)
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1, msgs
    assert str(victim) in msgs[0] and TAMPER[case] in msgs[0] and "computing the task again" in msgs[0], msgs[0]
    assert "\n" not in msgs[0]
    with warnings.catch_warnings(record=True) as caught:  # the file written again verifies
        warnings.simplefilter("always")
        again = sweep(BASE, method=("sgd", "ode"), store=store, scheduler="synchronous", **SMALL)
    assert not caught and (again.n_computed, again.n_cached) == (0, 4)


def test_eps_g_check_needs_order_parameters_and_checksum_is_kept_by_io(small_store, tmp_path):
    """A trajectory without Q, R, T (a closed form) has only its checksum; the io round trip keeps
    the checksum and detects a change of any array."""
    from twolayer.io import load_trajectory, save_trajectory
    from twolayer.problem.trajectory import Trajectory
    from twolayer.sweeps import _eps_g_mismatch

    tr = small_store.trajectories[small_store.tasks[0].key]
    bare = Trajectory(alpha=tr.alpha, eps_g=2.0 * tr.eps_g, config=tr.config, method="exact")
    assert _eps_g_mismatch(bare, BASE) is None
    assert "is not eps_g" in _eps_g_mismatch(Trajectory(alpha=tr.alpha, eps_g=2.0 * tr.eps_g, config=tr.config,
                                                        method="sgd", Q=tr.Q, R=tr.R, T=tr.T), BASE)
    path = save_trajectory(bare, tmp_path / "bare.npz", extra={"note": "x"})
    back, meta = load_trajectory(path, require_checksum=True)
    assert np.array_equal(back.eps_g, bare.eps_g) and meta["note"] == "x"
    a = _arrays(path)
    a["alpha"] = a["alpha"] * 1.5
    _rewrite(path, a, "kept")
    with pytest.raises(ValueError, match="fails its checksum"):
        load_trajectory(path)


# --------------------------------------------------------------------------------------------
# bad input: one-line ValueError naming the parameter
# --------------------------------------------------------------------------------------------
BAD = [
    (lambda: make_grid(BASE, K=[2, 0]), "K must be"),
    (lambda: make_grid(BASE, eta=[0.1, -1.0]), "eta must be"),
    (lambda: make_grid(BASE, activation=["erf", "softplus"]), "activation"),
    (lambda: make_grid(BASE, L=[4, 3]), "L must divide N"),
    (lambda: make_grid(BASE, bogus=[1]), "unknown grid parameter"),
    (lambda: make_grid(BASE, K=[]), "grid parameter K has no values"),
    (lambda: grid_from_strings({"K": "2,x"}), "--K values must be integers"),
    (lambda: grid_from_strings({"eta": "0.1,abc"}), "--eta values must be numbers"),
    (lambda: grid_from_strings({"beta": ","}), "--beta: no value"),
    (lambda: sweep([BASE, "x"], scheduler="synchronous"), "grid must be"),
    (lambda: sweep([BASE, BASE], scheduler="synchronous"), "same configuration twice"),
    (lambda: sweep(BASE, method="mc", scheduler="synchronous"), "method"),
    (lambda: sweep(BASE, seeds=[-1], scheduler="synchronous"), "seeds"),
    (lambda: sweep(BASE, rtol=5.0, method="ode", scheduler="synchronous"), "rtol"),
    (lambda: sweep(BASE, scheduler=3), "scheduler"),
]


@pytest.mark.parametrize("call,expect", BAD, ids=[f"{i}-{e}" for i, (_, e) in enumerate(BAD)])
def test_bad_grid_values_are_one_line_value_errors(call, expect, tmp_path):
    with pytest.raises(ValueError) as exc:
        call()
    msg = str(exc.value)
    assert expect in msg and "\n" not in msg, msg


# --------------------------------------------------------------------------------------------
# the CLI
# --------------------------------------------------------------------------------------------
def _cli(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_sweep_with_comma_separated_values(serial, client, tmp_path, capsys):
    store = tmp_path / "cli"
    args = ["sweep", "--method", "sgd", "--N", "32", "--L", "4", "--sigma-J", "0.1", "--K", "1,2", "--eta", "0.1, 0.3",
            "--seeds", "2", "--alpha-max", "5", "--points", "6", "--store", str(store)]
    code, out, err = _cli(capsys, *args, "--scheduler", client.scheduler.address)
    assert code == 0, err
    assert out.strip() == f"sweep: 8 tasks (8 computed, 0 from the store), table {store / 'results.csv'}"
    lib = sweep(_grid(), method="sgd", store=tmp_path / "lib", scheduler="synchronous", **KW)
    assert (store / "results.csv").read_bytes() == lib.table_path.read_bytes()
    # rerun without --scheduler (a local cluster of its own would start): nothing to compute
    code, out, err = _cli(capsys, *args, "--workers", "1")
    assert code == 0 and "(0 computed, 8 from the store)" in out
    # a bad value in a list: exit 2, one line, no store made
    code, out, err = _cli(capsys, "sweep", "--K", "2,0", "--N", "32", "--store", str(tmp_path / "bad"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "K must be" in err
    assert not (tmp_path / "bad").exists()
    code, _, err = _cli(capsys, "sweep", "--eta", "0.1,x", "--store", str(tmp_path / "bad"))
    assert code == 2 and "--eta values must be numbers" in err and err.count("\n") == 1


# --------------------------------------------------------------------------------------------
# a real scheduler and two workers started by hand
# --------------------------------------------------------------------------------------------
def test_hand_started_scheduler_equals_local_run(serial, dask_cluster, tmp_path):
    address = dask_cluster[0]
    from dask.distributed import Client

    res = sweep(_grid(), method=("sgd", "ode"), store=tmp_path / "s", scheduler=address, **KW)
    assert res.n_computed == 16
    assert res.table_path.read_bytes() == serial.table_path.read_bytes()
    _same_trajectories(res, serial)
    with Client(address, timeout="30s") as c:  # both hand-started workers served the sweep
        workers = c.scheduler_info()["workers"]
        assert sorted(w["name"] for w in workers.values()) == ["hand-0", "hand-1"]
