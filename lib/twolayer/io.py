"""Files: atomic writes, learning curves as CSV, trajectories as .npz, initial overlaps.

Every file the package writes is written to a temporary file in the target directory and renamed
into place (``atomic_write``), so an interrupted run never leaves a half-written file; output
paths are checked before any computation (``check_output_path``) and may not overwrite an input.
"""

from __future__ import annotations

import csv
import hashlib
import io as _io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .problem.config import Config
from .problem.spectrum import groups
from .problem.trajectory import Trajectory

__all__ = ["atomic_write", "check_output_path", "load_initial_overlaps", "load_spectrum", "load_trajectory",
           "save_trajectory", "trajectory_bytes", "trajectory_csv", "trajectory_from_bytes", "write_csv"]


def check_output_path(path, inputs=()) -> Path:
    """The output ``path`` as a Path, after checking that it can be written: not empty, not a
    directory, its directory exists and is writable, and it is none of the ``inputs``."""
    if path is None or str(path).strip() == "":
        raise ValueError("the output path must not be empty")
    p = Path(path).expanduser()
    if p.is_dir():
        raise ValueError(f"the output path {p} is a directory")
    parent = p.resolve().parent
    if not parent.is_dir():
        raise ValueError(f"the directory {parent} of the output path does not exist")
    try:  # a real probe: permissions alone do not tell (root, read-only or virtual file systems)
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError:
        raise ValueError(f"the directory {parent} of the output path is not writable") from None
    if p.exists() and not os.access(p, os.W_OK):
        raise ValueError(f"the output file {p} is not writable")
    for q in inputs:
        if q is not None and Path(q).expanduser().resolve() == p.resolve():
            raise ValueError(f"the output path {p} is also an input; refusing to overwrite it")
    return p


def _default_file_mode() -> int:
    mask = os.umask(0o022)  # read the process umask (there is no read-only call) and restore it
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_file_mode()


def atomic_write(path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory + rename)."""
    p = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.resolve().parent)
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600; a written file gets the usual 0666 & ~umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return p


def trajectory_csv(traj: Trajectory) -> str:
    """The seed-mean curve as CSV text: ``alpha,eps_g`` (+ ``eps_g_sem`` for several seeds)."""
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    several = traj.n_seeds > 1
    w.writerow(["alpha", "eps_g"] + (["eps_g_sem"] if several else []))
    mean, sem = traj.mean(), traj.sem()
    for i, a in enumerate(traj.alpha):
        w.writerow([repr(float(a)), repr(float(mean[i]))] + ([repr(float(sem[i]))] if several else []))
    return buf.getvalue()


def write_csv(traj: Trajectory, path) -> Path:
    """Write ``trajectory_csv(traj)`` to ``path`` atomically."""
    return atomic_write(check_output_path(path), trajectory_csv(traj))


def _digest(arrays: dict) -> str:
    """sha256 over the arrays of a trajectory file (names, dtypes, shapes and bytes, by name)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode("utf-8"))
        h.update(a.tobytes())
    return h.hexdigest()


def trajectory_bytes(traj: Trajectory, extra: dict | None = None) -> bytes:
    """A trajectory as the bytes of an .npz archive: alpha, eps_g, Q, R, T, v, seeds, a JSON
    ``meta`` (the config, the method and ``extra``) and ``sha256``, the checksum of all of them."""
    arrays = {"alpha": traj.alpha, "eps_g": traj.eps_g}
    for name in ("Q", "R", "T", "v"):
        x = getattr(traj, name)
        if x is not None:
            arrays[name] = x
    if traj.seeds is not None:
        arrays["seeds"] = np.array(traj.seeds, dtype=np.int64)
    meta = {"config": traj.config.to_dict(), "method": traj.method, **(extra or {})}
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    arrays["sha256"] = np.frombuffer(_digest(arrays).encode("ascii"), dtype=np.uint8)
    buf = _io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def trajectory_from_bytes(data: bytes, name: str = "the data",
                          require_checksum: bool = False) -> tuple[Trajectory, dict]:
    """Inverse of ``trajectory_bytes``: (trajectory, meta).  ValueError if corrupt, if the checksum
    does not match, or (``require_checksum``) if there is none (a file of an older version)."""
    try:
        with np.load(_io.BytesIO(data), allow_pickle=False) as f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"cannot read {name} as a trajectory file ({' '.join(str(e).split())})") from None
    if "sha256" in arrays:
        stored = arrays.pop("sha256")
        if stored.dtype != np.uint8 or stored.tobytes() != _digest(arrays).encode("ascii"):
            raise ValueError(f"{name} fails its checksum (changed after it was written)")
    elif require_checksum:
        raise ValueError(f"{name} has no checksum (written by an older version)")
    try:
        meta = json.loads(bytes(arrays.pop("meta")).decode("utf-8"))
        cfg = {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["config"].items()}
        seeds = tuple(int(s) for s in arrays.pop("seeds")) if "seeds" in arrays else None
        traj = Trajectory(alpha=arrays["alpha"], eps_g=arrays["eps_g"], config=Config(**cfg), method=meta["method"],
                          Q=arrays.get("Q"), R=arrays.get("R"), T=arrays.get("T"), v=arrays.get("v"), seeds=seeds)
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{name} is not a valid trajectory file ({' '.join(str(e).split())})") from None
    return traj, meta


def save_trajectory(traj: Trajectory, path, extra: dict | None = None) -> Path:
    """Write ``trajectory_bytes(traj, extra)`` to ``path`` atomically."""
    return atomic_write(path, trajectory_bytes(traj, extra))


def load_trajectory(path, require_checksum: bool = False) -> tuple[Trajectory, dict]:
    """Read a file written by ``save_trajectory``; returns (trajectory, meta).  Raises
    ValueError on a missing or corrupt file (see ``trajectory_from_bytes``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read {path} ({e.strerror})") from None
    return trajectory_from_bytes(data, str(path), require_checksum)


def load_spectrum(path) -> tuple[float, ...]:
    """Eigenvalues of Sigma from a ``.npy`` file (a 1-d array of N values >= 0)."""
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"spectrum file {path} does not exist") from None
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"cannot read {path} as a .npy array ({' '.join(str(e).split())})") from None
    if not isinstance(a, np.ndarray) or a.ndim != 1 or a.size == 0:
        raise ValueError(f"spectrum file {path} must hold a 1-d array of eigenvalues")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"spectrum file {path} must hold real numbers, got dtype {a.dtype}")
    return tuple(float(x) for x in a)


def load_initial_overlaps(path, config: Config) -> dict:
    """Initial overlaps for the ODE from an ``.npz`` file.

    For L = 1 the arrays ``Q0`` (K x K), ``R0`` (K x M), ``T0`` (M x M); for any L the per-group
    overlaps ``q0`` (G x K x K), ``r0`` (G x K x M), ``t0`` (G x M x M) of the ODE's groups (the
    eigenvalue levels, split where N_l cuts one); optionally ``v0`` (K, the student's second
    layer) and ``vT`` (M, the teacher's).  Returns a dict with q0, r0, t0 and v0, vT (or None).
    Raises ValueError (naming the array and the expected shape) for a missing, unreadable or
    malformed file."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"--init-from: no such file {path}")
    try:
        f = np.load(p, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError("it is a .npy array, not an .npz archive")
        with f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"--init-from: cannot read {path} as .npz ({' '.join(str(e).split())})") from None
    grp = groups(config)
    K, M, G = config.K, config.M, grp.size
    glob, block = ("Q0", "R0", "T0"), ("q0", "r0", "t0")
    if G == 1 and all(k in arrays for k in glob):
        names, shapes = glob, ((K, K), (K, M), (M, M))
    elif all(k in arrays for k in block):
        names, shapes = block, ((G, K, K), (G, K, M), (G, M, M))
    else:
        want = "Q0 (K x K), R0 (K x M), T0 (M x M) or " if G == 1 else ""
        raise ValueError(f"--init-from: {path} must hold the arrays {want}q0 (G x K x K), r0 (G x K x M), "
                         f"t0 (G x M x M) for the G = {G} groups; it has {sorted(arrays) or 'none'}")
    out = {}
    for name, shape in list(zip(names, shapes)) + [("v0", (K,)), ("vT", (M,))]:
        if name not in arrays:
            out[name] = None
            continue
        a = arrays[name]
        if a.shape != shape:
            raise ValueError(f"--init-from: {name} must have shape {shape} (K={K}, M={M}, G={G}), got {a.shape}")
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"--init-from: {name} must hold real numbers, got dtype {a.dtype}")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"--init-from: {name} has non-finite entries")
        out[name] = a
    key = {"Q0": "q0", "R0": "r0", "T0": "t0"}
    return {key.get(n, n): (out[n].reshape((G,) + out[n].shape[-2:]) if n in names else out[n])
            for n in list(names) + ["v0", "vT"]}
