"""Command-line interface: ``twolayer`` (console script) or ``python -m twolayer``.

Subcommands
-----------
``twolayer run``
    One learning curve eps_g(alpha) on the log grid ``twolayer.results.alpha_grid`` and written
    with ``LearningCurve.to_csv``: columns ``alpha,eps_g`` (+ ``eps_g_sem`` when several seeds
    are averaged).  ``--method sgd`` runs online SGD (``twolayer.sgd.simulate``) for the seeds
    ``seed, seed+1, ..., seed+seeds-1``; ``--method ode`` integrates the block order-parameter
    ODEs (``twolayer.theory.ode``) from each of those seeds' sampled initial weights
    (``--init sampled``), from their expectation (``--init mean``, one curve) or from overlaps
    given in an ``.npz`` file (``--init-from``).  Defaults are the paper's Fig. 1 caption
    (N=1024, L=1, K=M=2, beta=1, eta=0.1, sigma_J=0.01, erf).

``twolayer plateau``
    The symmetric plateau fixed point (eps_p and the overlaps Q, R, T) and the escape rate, from
    ``twolayer.theory.plateau.plateau``; ``--json`` prints one JSON object.

Exit status
-----------
0 success; 1 a needed library module is missing; 2 bad command line or bad parameter value
(one line ``twolayer: error: ...`` on stderr, never a traceback); 3 the run diverged (SGD weights blew up, ``DivergenceError``, or
the ODE integrator failed or its eps_g exceeded 1e6, ``OdeError``); 130 interrupted.

Progress
--------
A tqdm bar (one tick per seed) goes to stderr when stderr is a terminal or ``--progress`` is
given; ``--no-progress`` switches it off.  Nothing else is written to stderr on success, and the
results do not depend on the bar.

The ``--init-from FILE.npz`` format: for L = 1 the arrays ``Q0`` (K x K), ``R0`` (K x M),
``T0`` (M x M); for L > 1 the per-block overlaps ``q0`` (L x K x K), ``r0`` (L x K x M),
``t0`` (L x M x M) of each eigenvalue block l (q^l = J_l J_l^T / N etc., chapter "Order-parameter
dynamics"), which are passed as ``init=(q0, r0, t0)`` to ``twolayer.theory.ode.integrate``.
(The per-block names are accepted for L = 1 too, with a leading axis of length 1.)  The ODE's
groups equal the eigenvalue blocks only when ``--trainable`` does not cut a block, so
``--init-from`` together with a block-cutting ``--trainable`` is refused.  ``--init mean`` and
``--init-from`` give one curve (``--seeds`` is then irrelevant).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np

from . import __version__

PROG = "twolayer"
EXIT_OK = 0
EXIT_UNAVAILABLE = 1
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130

EPS_G_DIVERGED = 1e6  # an ODE curve above this is reported as diverged (exit 3)

# the paper's Fig. 1 caption
DEFAULTS = dict(N=1024, L=1, K=2, M=2, beta=1.0, eta=0.1, sigma_J=0.01, activation="erf")


class UsageError(ValueError):
    """A bad command-line value found by the CLI itself (reported like a library ValueError)."""


class Unavailable(RuntimeError):
    """A part of the library the subcommand needs is not installed (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``twolayer: error: ...``) and exit status 2."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(EXIT_USAGE, f"{PROG}: error: {_one_line(message)} (see '{self.prog} --help')\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except for flags (booleans) and unset options (None)."""

    def _get_help_string(self, action):
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def _one_line(message) -> str:
    return " ".join(str(message).split())


# ---------------------------------------------------------------------------------------------
# argument parser
# ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Online SGD and order-parameter theory of two-layer networks with power-law "
        "data spectra (Worschech & Rosenow, ICLR 2025).",
        epilog="Exit status: 0 ok, 1 missing module, 2 bad arguments, 3 diverged run, 130 interrupted.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{run,plateau}", parser_class=_Parser)
    sub.required = True

    r = sub.add_parser(
        "run",
        help="learning curve eps_g(alpha) from SGD or the ODEs, written as CSV",
        description="Learning curve eps_g(alpha) on a log grid of whole SGD steps, written as CSV "
        "(alpha,eps_g[,eps_g_sem]). Defaults: the paper's Fig. 1 caption.",
        formatter_class=_Formatter,
    )
    r.add_argument("--method", choices=("sgd", "ode"), default="sgd", help="simulation or block ODEs")
    r.add_argument("--activation", choices=("erf", "linear"), default=DEFAULTS["activation"],
                   help="g(x) = erf(x/sqrt 2) or x")
    r.add_argument("--N", type=int, default=DEFAULTS["N"], help="input dimension")
    r.add_argument("--L", type=int, default=DEFAULTS["L"], help="number of distinct eigenvalues (divides N)")
    r.add_argument("--K", type=int, default=DEFAULTS["K"], help="student hidden units")
    r.add_argument("--M", type=int, default=DEFAULTS["M"], help="teacher hidden units")
    r.add_argument("--beta", type=float, default=DEFAULTS["beta"], help="spectral exponent (> 0)")
    r.add_argument("--eta", type=float, default=DEFAULTS["eta"], help="learning rate (> 0)")
    r.add_argument("--sigma-J", dest="sigma_J", type=float, default=DEFAULTS["sigma_J"],
                   help="std of the initial student weights (>= 0)")
    r.add_argument("--alpha-max", dest="alpha_max", type=float, default=1000.0, help="last alpha = steps/N")
    r.add_argument("--points", type=int, default=60, help="log-spaced grid points (fewer after rounding to steps)")
    r.add_argument("--seeds", type=int, default=1, help="number S of seeds: seed, seed+1, ..., seed+S-1")
    r.add_argument("--seed", type=int, default=0, help="first seed (>= 0)")
    r.add_argument("--trainable", type=int, default=None, metavar="N_l",
                   help="train only the N_l coordinates of largest eigenvalue (default: all N)")
    r.add_argument("--init", choices=("sampled", "mean"), default="sampled",
                   help="ODE initial overlaps: each seed's sampled weights or their expectation "
                   "(SGD always starts from the sampled weights)")
    r.add_argument("--init-from", dest="init_from", default=None, metavar="FILE.npz",
                   help="ODE only: initial overlaps Q0,R0,T0 (L=1) or per-block q0,r0,t0 (L>1)")
    r.add_argument("--readout", choices=("sum", "sqrt"), default="sum",
                   help="second layer: plain sum (paper) or sum / sqrt(#units)")
    r.add_argument("--no-eta2", dest="eta2", action="store_false",
                   help="ODE only: drop the O(eta^2) term (small-eta ODE)")
    r.add_argument("--rtol", type=float, default=None,
                   help="ODE only: relative tolerance of the integrator (default 1e-6)")
    r.add_argument("--workers", type=int, default=None, help="SGD only: threads (default min(S, #cores))")
    r.add_argument("--out", required=True, metavar="FILE.csv", help="output CSV file")
    _progress_flags(r)

    pl = sub.add_parser(
        "plateau",
        help="symmetric plateau fixed point and escape rate (erf)",
        description="Symmetric plateau fixed point (eps_p, Q, R, T) and its escape rate for the erf "
        "network. The fixed point depends on N only through L and the blocks' fractions; "
        "N defaults to L.",
        formatter_class=_Formatter,
    )
    pl.add_argument("--K", type=int, default=DEFAULTS["K"], help="student hidden units")
    pl.add_argument("--M", type=int, default=DEFAULTS["M"], help="teacher hidden units")
    pl.add_argument("--L", type=int, default=DEFAULTS["L"], help="number of distinct eigenvalues")
    pl.add_argument("--N", type=int, default=None, help="input dimension (default: L)")
    pl.add_argument("--beta", type=float, default=DEFAULTS["beta"], help="spectral exponent (> 0)")
    pl.add_argument("--eta", type=float, default=DEFAULTS["eta"], help="learning rate (> 0)")
    pl.add_argument("--readout", choices=("sum", "sqrt"), default="sum", help="second layer: sum or sum/sqrt(#units)")
    pl.add_argument("--no-eta2", dest="eta2", action="store_false", help="drop the O(eta^2) term")
    pl.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def _progress_flags(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="progress bar on stderr (default: only when stderr is a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _want_progress(flag) -> bool:
    if flag is not None:
        return bool(flag)
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------
def _config(args, **extra):
    from .config import Config

    return Config(
        N=args.N, L=args.L, K=args.K, M=args.M, beta=args.beta, eta=args.eta,
        readout=args.readout, eta2=args.eta2, **extra,
    )


def _check_run_flags(args) -> None:
    if args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    if args.method == "sgd":
        ode_only = [
            ("--init mean", args.init == "mean"),
            ("--init-from", args.init_from is not None),
            ("--no-eta2", not args.eta2),
            ("--rtol", args.rtol is not None),
        ]
        bad = [name for name, given in ode_only if given]
        if bad:
            raise UsageError(f"{', '.join(bad)} only apply to --method ode (SGD starts from each seed's sampled weights)")
        if args.workers is not None and args.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {args.workers}")
    else:
        if args.workers is not None:
            raise UsageError("--workers only applies to --method sgd")
        if args.rtol is not None and not (math.isfinite(args.rtol) and 0 < args.rtol < 1):
            raise UsageError(f"--rtol must be in (0, 1), got {args.rtol}")
        if args.init_from is not None and args.init == "mean":
            raise UsageError("--init mean and --init-from exclude each other")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise UsageError(f"--out: directory {out_dir} does not exist")
    if os.path.isdir(args.out):
        raise UsageError(f"--out: {args.out} is a directory")


def load_init(path, cfg):
    """Initial block overlaps (q0, r0, t0) for the ODE from an ``.npz`` file (see module doc).

    Raises ValueError (naming the array and the expected shape) on a missing, unreadable or
    malformed file, and when ``--trainable`` cuts an eigenvalue block (groups != blocks).
    """
    from .data import groups_for

    groups = groups_for(cfg)
    if groups.size != cfg.L:
        raise ValueError(
            f"--init-from gives one overlap per eigenvalue block, but --trainable {cfg.trainable} cuts a "
            f"block of size N/L = {cfg.N // cfg.L} (use a multiple of N/L, or no --init-from)"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except FileNotFoundError:
        raise ValueError(f"--init-from: no such file {path}") from None
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"--init-from: cannot read {path} as .npz ({_one_line(e)})") from None
    if not isinstance(arrays, dict):
        raise ValueError(f"--init-from: {path} is not an .npz archive")
    K, M, L = cfg.K, cfg.M, cfg.L
    glob, block = ("Q0", "R0", "T0"), ("q0", "r0", "t0")
    if L == 1 and all(k in arrays for k in glob):
        names, shapes = glob, ((K, K), (K, M), (M, M))
    elif all(k in arrays for k in block):
        names, shapes = block, ((L, K, K), (L, K, M), (L, M, M))
    else:
        want = "Q0 (K x K), R0 (K x M), T0 (M x M)" if L == 1 else "q0 (L x K x K), r0 (L x K x M), t0 (L x M x M)"
        raise ValueError(f"--init-from: {path} must hold arrays {want} for L = {L}; it has {sorted(arrays) or 'none'}")
    out = []
    for name, shape in zip(names, shapes):
        a = arrays[name]
        if a.shape != shape:
            raise ValueError(
                f"--init-from: {name} must have shape {shape} (K={K}, M={M}, L={L}), got {a.shape}"
            )
        if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            raise ValueError(f"--init-from: {name} must be real numbers, got dtype {a.dtype}")
        a = a.astype(float)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"--init-from: {name} has non-finite entries")
        out.append(a.reshape((L,) + shape[-2:]))
    q0, r0, t0 = out
    for name, a in (("q0/Q0", q0), ("t0/T0", t0)):
        if not np.allclose(a, np.swapaxes(a, -1, -2), rtol=1e-10, atol=1e-14):
            raise ValueError(f"--init-from: {name} must be symmetric")
    return q0, r0, t0


def _bar(total, enabled, desc):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False)


def cmd_run(args) -> int:
    from .results import alpha_grid

    _check_run_flags(args)
    cfg = _config(args, sigma_J=args.sigma_J, activation=args.activation, trainable=args.trainable)
    alpha = alpha_grid(args.alpha_max, args.points, cfg.N)
    seeds = list(range(args.seed, args.seed + args.seeds))
    progress = _want_progress(args.progress)

    if args.method == "sgd":
        from .sgd import simulate

        curve = simulate(cfg, alpha=alpha, seeds=seeds, workers=args.workers, progress=progress)
    else:
        curve = _run_ode(args, cfg, alpha, seeds, progress)

    curve.to_csv(args.out)
    s = curve.n_seeds
    print(
        f"wrote {args.out}: {args.method}, {len(curve.alpha)} points, alpha in "
        f"[{curve.alpha[0]:.4g}, {curve.alpha[-1]:.4g}], {s} {'curve' if s == 1 else 'curves'}, "
        f"final eps_g = {curve.mean[-1]:.4g}"
    )
    return EXIT_OK


def _run_ode(args, cfg, alpha, seeds, progress):
    """``ode.solve(cfg, alpha, init, seeds, rtol=...)``; with a progress bar, one solve per seed."""
    from .results import LearningCurve
    from .theory import ode

    kw = {} if args.rtol is None else {"rtol": args.rtol}
    if args.init_from is not None:
        init, seeds = load_init(args.init_from, cfg), [0]
    elif args.init == "mean":
        init, seeds = "mean", [0]
    else:
        init = "sampled"
    if progress:
        bar = _bar(len(seeds), True, "ode")
        try:
            rows = []
            for s in seeds:
                rows.append(ode.solve(cfg, alpha, init, [s], **kw).eps_g[0])
                bar.update(1)
        finally:
            bar.close()
    else:
        rows = ode.solve(cfg, alpha, init, seeds, **kw).eps_g
    rows = np.array(rows)
    # the integrator follows an unstable solution as long as it stays finite; report it like a
    # diverged SGD run instead of writing astronomically large errors
    if not np.all(np.isfinite(rows)) or np.max(np.abs(rows)) > EPS_G_DIVERGED:
        a = alpha[np.argmax(~np.isfinite(rows).all(axis=0) | (np.abs(rows) > EPS_G_DIVERGED).any(axis=0))]
        raise ode.OdeError(
            f"eps_g blew up (non-finite or > {EPS_G_DIVERGED:.0e}) by alpha = {a:.4g}; eta = {cfg.eta} is too large for this setting"
        )
    return LearningCurve(alpha=np.asarray(alpha, float), eps_g=rows, method="ode", meta={"cfg": cfg})


# ---------------------------------------------------------------------------------------------
# plateau
# ---------------------------------------------------------------------------------------------
def _jsonable(x):
    a = np.asarray(x, dtype=float)
    return a.tolist()


def cmd_plateau(args) -> int:
    from .config import Config

    N = args.L if args.N is None else args.N
    cfg = Config(N=N, L=args.L, K=args.K, M=args.M, beta=args.beta, eta=args.eta,
                 activation="erf", readout=args.readout, eta2=args.eta2)
    try:
        from .theory.plateau import plateau
    except ImportError as e:  # the module is written separately
        raise Unavailable(f"twolayer.theory.plateau is not available ({_one_line(e)})") from None
    pl = plateau(cfg)
    Q, R, T = pl.overlaps(1)
    result = {
        "N": cfg.N, "L": cfg.L, "K": cfg.K, "M": cfg.M, "beta": cfg.beta, "eta": cfg.eta,
        "readout": cfg.readout, "eta2": cfg.eta2,
        "eps_p": float(pl.eps_p), "escape_rate": float(pl.escape_rate),
        "Q": _jsonable(Q), "R": _jsonable(R), "T": _jsonable(T),
    }
    if args.json:
        print(json.dumps(result))
        return EXIT_OK
    fmt = {"float_kind": lambda v: f"{v: .6g}"}
    print(f"symmetric plateau: K={cfg.K} M={cfg.M} L={cfg.L} N={cfg.N} beta={cfg.beta:g} eta={cfg.eta:g} "
          f"readout={cfg.readout} eta2={cfg.eta2}")
    print(f"eps_p       = {result['eps_p']:.6g}")
    print(f"escape_rate = {result['escape_rate']:.6g}")
    for name, A in (("Q", Q), ("R", R), ("T", T)):
        body = np.array2string(np.asarray(A, float), formatter=fmt, prefix=f"{name} = ")
        print(f"{name} = {body}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------
def _fail(code: int, message) -> int:
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help/--version (0) or a usage error (2, already printed)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    try:
        if args.command == "run":
            return cmd_run(args)
        return cmd_plateau(args)
    except RuntimeError as e:
        # imported here so that argument errors stay fast (the SGD engine loads numba)
        from .sgd import DivergenceError
        from .theory.ode import OdeError

        if isinstance(e, DivergenceError):
            return _fail(EXIT_DIVERGED, e)
        if isinstance(e, OdeError):
            return _fail(EXIT_DIVERGED, f"ODE: {e}")
        if isinstance(e, Unavailable):
            return _fail(EXIT_UNAVAILABLE, e)
        raise
    except ValueError as e:  # Config / library validation, UsageError
        return _fail(EXIT_USAGE, e)
    except OSError as e:
        return _fail(EXIT_USAGE, f"{e.strerror or e}: {e.filename}" if getattr(e, "filename", None) else e)
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
