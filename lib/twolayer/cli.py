"""Command-line interface: ``twolayer`` (console script) or ``python -m twolayer``.

Subcommands
-----------
``twolayer run``
    One learning curve eps_g(alpha) on the log grid ``alpha_grid`` of whole SGD steps, written as
    CSV: columns ``alpha,eps_g`` (+ ``eps_g_sem`` when several seeds are averaged).
    ``--method sgd`` runs online SGD (``twolayer.simulate``) for the seeds seed, seed+1, ...,
    seed+S-1; ``--method ode`` integrates the block ODEs (``twolayer.solve_ode``) from each of
    those seeds' sampled initial weights (``--init sampled``), from their expectation
    (``--init mean``) or from overlaps in an ``.npz`` file (``--init-from``).
``twolayer plateau``
    The symmetric plateau fixed point (eps_p, Q, R, T) and its escape rate; ``--json`` prints
    one JSON object.
``twolayer sweep``
    A parameter grid (comma-separated values) on Dask with a resumable store (see
    ``twolayer.sweep``).
``twolayer frontier``
    The compute-optimal frontier of the linear network (K = M = 1, L = N) at the given budgets
    C = P N_l (``twolayer.theory.frontier.exact_frontier``): a table of C, N_l*, alpha, P*, eps*,
    printed or written as CSV (``--out``).

The options of the setting are generated from the fields of ``twolayer.Config`` (names, help,
defaults, choices), so the CLI and the library share one source of defaults.

Exit status
-----------
0 success; 2 bad command line, bad parameter value, unreadable input or a request beyond the
memory/time budget (one line ``twolayer: error: ...`` on stderr, never a traceback); 3 the run
diverged (``DivergenceError``) or the ODE integrator gave up (``IntegrationError``);
130 interrupted (Ctrl-C stops within a fraction of a second).

Progress: a bar on stderr that advances with alpha, when stderr is a terminal (never with
``CI=true``) or with ``--progress``; ``--no-progress`` switches it off.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import warnings

import numpy as np

from ._version import __version__
from .engines.sgd import simulate
from .io import check_output_path, load_initial_overlaps, load_spectrum, write_csv
from .problem.checks import MAX_SEEDS
from .problem.config import Config
from .problem.errors import DivergenceError, IntegrationError, one_line
from .problem.resources import Budget
from .problem.trajectory import alpha_grid
from .theory.ode import solve_ode
from .theory.plateau import plateau

PROG = "twolayer"
EXIT_OK, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 2, 3, 130

#: Config fields that are not options of ``run`` (set from other flags) and CLI-only spellings.
_SPECIAL = {"spectrum": "--spectrum-file", "student_readout": None, "teacher_readout": None}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``twolayer: error: ...``) and exit status 2."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(EXIT_USAGE, f"{PROG}: error: {one_line(message)} (see '{self.prog} --help')\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action):
        if action.default is None or isinstance(action.default, bool) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip() != "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one number")
    return vals


def _flag(f: dataclasses.Field) -> str:
    return _SPECIAL.get(f.name) or f.metadata.get("cli") or "--" + f.name.replace("_", "-")


def add_config_options(p: argparse.ArgumentParser, only=None, list_values: bool = False) -> None:
    """Options for the fields of ``Config`` (all, or those in ``only``); with ``list_values``
    every numeric and choice option takes comma-separated values (for sweeps)."""
    for f in dataclasses.fields(Config):
        if (only is not None and f.name not in only) or f.name in ("student_readout", "teacher_readout"):
            continue
        flag, dest, help_ = _flag(f), f.name, f.metadata.get("help", "")
        default = f.default
        if f.name == "spectrum":
            p.add_argument(flag, dest="spectrum_file", default=None, metavar="FILE.npy",
                           help="user-given eigenvalues of Sigma (a 1-d .npy array of N values >= 0)")
            continue
        if isinstance(default, bool):
            p.add_argument(flag, dest=dest, action="store_true", default=False, help=help_)
            continue
        if list_values:
            p.add_argument(flag, dest=dest, default=None if default is None else str(default), metavar="V[,V...]",
                           help=help_ + " (comma-separated values span the grid)")
            continue
        kind = f.metadata.get("type") or (int if f.name in Config.integer_fields() else float)
        if f.metadata.get("choices"):
            p.add_argument(flag, dest=dest, choices=f.metadata["choices"], default=default, help=help_)
        else:
            p.add_argument(flag, dest=dest, type=kind, default=default, metavar=f.metadata.get("metavar"), help=help_)
    if only is None or "student_readout" in only:
        p.add_argument("--readout-weights", dest="readout_weights", nargs=2, type=_floats, default=None,
                       metavar=("V_STUDENT", "V_TEACHER"),
                       help="fixed second layers: K comma-separated student weights, then M teacher weights")


def _budget_options(p):
    p.add_argument("--max-memory", dest="max_memory", type=float, default=None, metavar="GiB",
                   help="largest memory a run may need (default: 80%% of this machine's)")
    p.add_argument("--max-hours", dest="max_hours", type=float, default=48.0,
                   help="largest estimated running time")


def _progress_flags(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="progress bar on stderr (default: only when stderr is a terminal and CI is not set)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _want_progress(flag) -> bool:
    if flag is not None:
        return bool(flag)
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Online SGD and order-parameter theory of two-layer networks with "
                "power-law data spectra (Worschech & Rosenow, ICLR 2025).",
                epilog="Exit status: 0 ok, 2 bad arguments or input, 3 diverged run, 130 interrupted.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{run,plateau,sweep,frontier}", parser_class=_Parser)
    sub.required = True

    r = sub.add_parser("run", help="learning curve eps_g(alpha) from SGD or the ODEs, written as CSV",
                       description="Learning curve eps_g(alpha) on a log grid of whole SGD steps, written as CSV "
                       "(alpha,eps_g[,eps_g_sem]). Defaults: paper Fig. 1 caption with L = 1.",
                       formatter_class=_Formatter)
    r.add_argument("--method", choices=("sgd", "ode"), default="sgd", help="simulation or block ODEs")
    add_config_options(r)
    r.add_argument("--alpha-max", dest="alpha_max", type=float, default=1000.0, help="last alpha = steps/N")
    r.add_argument("--points", type=int, default=60, help="log-spaced grid points (fewer after rounding to steps)")
    r.add_argument("--seeds", type=int, default=1, help="number S of seeds: seed, seed+1, ..., seed+S-1")
    r.add_argument("--seed", type=int, default=0, help="first seed (>= 0)")
    r.add_argument("--init", choices=("sampled", "mean"), default="sampled",
                   help="ODE initial overlaps: each seed's sampled weights or their expectation")
    r.add_argument("--init-from", dest="init_from", default=None, metavar="FILE.npz",
                   help="ODE only: initial overlaps Q0,R0,T0 (one group) or per-group q0,r0,t0; optional v0, vT")
    r.add_argument("--no-eta2", dest="eta2", action="store_false", help="ODE only: drop the O(eta^2) term")
    r.add_argument("--rtol", type=float, default=None, help="ODE only: relative tolerance (default 1e-6)")
    r.add_argument("--workers", type=int, default=None,
                   help="threads (default #cores): SGD runs seeds in parallel, and a seed with a second thread "
                        "draws its inputs on it; the ODE shares each step's groups (large problems); the results "
                        "do not depend on it")
    r.add_argument("--backend", choices=("numba", "torch"), default="numba",
                   help="SGD only: compiled engine or PyTorch (batched seeds)")
    r.add_argument("--device", default=None, help="torch backend only: cpu or cuda (default: cuda if available)")
    r.add_argument("--out", required=True, metavar="FILE.csv", help="output CSV file")
    _budget_options(r)
    _progress_flags(r)

    pl = sub.add_parser("plateau", help="symmetric plateau fixed point and escape rate",
                        description="Symmetric plateau fixed point (eps_p, Q, R, T) and its escape rate. It depends "
                        "on N only through the blocks' fractions; N defaults to L.", formatter_class=_Formatter)
    add_config_options(pl, only=("K", "M", "L", "beta", "eta", "activation", "readout", "noise"))
    pl.add_argument("--N", type=int, default=None, help="input dimension (default: L)")
    pl.add_argument("--no-eta2", dest="eta2", action="store_false", help="drop the O(eta^2) term")
    pl.add_argument("--json", action="store_true", help="print one JSON object")
    _budget_options(pl)

    sw = sub.add_parser("sweep", help="a parameter grid on Dask with a resumable store",
                        description="Every combination of the comma-separated values is a configuration; every "
                        "(configuration, seed) one task, stored atomically in DIR as soon as it is done. A re-run "
                        "computes only what is missing. DIR/results.csv is the tidy table.",
                        formatter_class=_Formatter)
    sw.add_argument("--method", choices=("sgd", "ode"), default="sgd", help="simulation or block ODEs")
    add_config_options(sw, list_values=True)
    sw.add_argument("--alpha-max", dest="alpha_max", type=float, default=1000.0, help="last alpha = steps/N")
    sw.add_argument("--points", type=int, default=60, help="log-spaced grid points")
    sw.add_argument("--seeds", type=int, default=1, help="seeds 0..S-1 per configuration")
    sw.add_argument("--rtol", type=float, default=1e-6, help="ODE only: relative tolerance")
    sw.add_argument("--store", required=True, metavar="DIR", help="store directory (created if needed)")
    sw.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                    help="a running Dask scheduler (default: a local cluster on this machine's cores)")
    sw.add_argument("--workers", type=int, default=None, help="local cluster only: worker processes (default: #cores)")
    _budget_options(sw)
    _progress_flags(sw)

    fr = sub.add_parser("frontier", help="compute-optimal trained dimension and error of the linear network",
                        description="The compute-optimal frontier of the linear network (K = M = 1, L = N, mean "
                        "initial errors) from the exact closed form: at every budget C = P N_l (P = alpha N "
                        "samples) the number N_l of trained directions with the smallest error.",
                        formatter_class=_Formatter)
    fr.add_argument("--beta", type=float, required=True, help="spectral exponent beta > 0")
    fr.add_argument("--N", type=int, required=True, help="input dimension N = L (>= 2)")
    fr.add_argument("--eta", type=float, default=0.5, help="learning rate")
    fr.add_argument("--sigma-J", dest="sigma_J", type=float, default=0.01, help="initial student weight scale")
    fr.add_argument("--budgets", default=None, metavar="C1,C2,...",
                    help="comma-separated budgets C > 0 (default: 10 N, 100 N, ..., 1e6 N)")
    fr.add_argument("--n-max", dest="n_max", type=int, default=None,
                    help="largest candidate N_l (default N; one eigendecomposition of size N_l per candidate)")
    fr.add_argument("--out", default=None, metavar="FILE.csv", help="write CSV instead of printing")
    return p


def config_from_args(args, **overrides) -> Config:
    """A ``Config`` from parsed ``run`` options (and ``overrides``)."""
    values = {}
    for f in dataclasses.fields(Config):
        if f.name in ("spectrum", "student_readout", "teacher_readout"):
            continue
        if hasattr(args, f.name):
            values[f.name] = getattr(args, f.name)
    if getattr(args, "spectrum_file", None):
        values["spectrum"] = load_spectrum(args.spectrum_file)
    if getattr(args, "readout_weights", None):
        values["student_readout"], values["teacher_readout"] = args.readout_weights
    values.update(overrides)
    return Config(**values)


def _budget(args) -> Budget:
    return Budget(memory_gib=args.max_memory, hours=args.max_hours)


def _check_seed_count(args) -> None:
    if not 1 <= args.seeds <= MAX_SEEDS:
        raise ValueError(f"--seeds must be an integer in [1, {MAX_SEEDS}], got {args.seeds}")


def _check_run_flags(args) -> None:
    _check_seed_count(args)
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if args.method == "sgd":
        bad = [name for name, given in (("--init mean", args.init == "mean"), ("--init-from", args.init_from is not None),
                                         ("--no-eta2", not args.eta2), ("--rtol", args.rtol is not None)) if given]
        if bad:
            raise ValueError(f"{', '.join(bad)} only apply to --method ode (SGD starts from each seed's sampled weights)")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.method != "sgd":
        if args.backend != "numba" or args.device is not None:
            raise ValueError("--backend and --device only apply to --method sgd")
        if args.rtol is not None and not (math.isfinite(args.rtol) and 1e-14 <= args.rtol <= 0.1):
            raise ValueError(f"--rtol must be in [1e-14, 0.1], got {args.rtol}")
        if args.init_from is not None and args.init == "mean":
            raise ValueError("--init mean and --init-from exclude each other")
    if args.device is not None and args.backend != "torch":
        raise ValueError("--device only applies to --backend torch")


def _warn_symmetric(cfg: Config) -> None:
    if cfg.sigma_J == 0.0 and cfg.K >= 2 and cfg.activation != "linear":
        print(f"{PROG}: warning: sigma_J = 0 with K >= 2: the students start identical and never leave the "
              f"symmetric subspace (the plateau lasts forever)", file=sys.stderr)


def cmd_run(args) -> int:
    _check_run_flags(args)
    out = check_output_path(args.out, inputs=(args.init_from, getattr(args, "spectrum_file", None)))
    init = "mean" if args.init == "mean" else "sampled"
    overrides = {}
    if args.init_from is not None:
        cfg0 = config_from_args(args)
        loaded = load_initial_overlaps(args.init_from, cfg0)
        if loaded["vT"] is not None:
            overrides["teacher_readout"] = tuple(loaded["vT"])
        if loaded["v0"] is not None:
            overrides["student_readout"] = tuple(loaded["v0"])
    cfg = config_from_args(args, **overrides)
    _warn_symmetric(cfg)
    alpha = alpha_grid(args.alpha_max, args.points, cfg.N, batch=cfg.batch)
    seeds = range(args.seed, args.seed + args.seeds)
    progress = _want_progress(args.progress)
    if args.method == "sgd":
        if args.backend == "torch":
            traj = simulate(cfg, alpha, seeds=seeds, backend="torch", device=args.device, progress=progress,
                            budget=_budget(args))
        else:
            traj = simulate(cfg, alpha, seeds=seeds, workers=args.workers, progress=progress, budget=_budget(args))
    else:
        kw = {} if args.rtol is None else {"rtol": args.rtol}
        if args.init_from is not None:
            init = (loaded["q0"], loaded["r0"], loaded["t0"]) + ((loaded["v0"],) if loaded["v0"] is not None else ())
        traj = solve_ode(cfg, alpha, seeds=seeds, init=init, eta2=args.eta2, workers=args.workers, progress=progress,
                         budget=_budget(args), **kw)
    write_csv(traj, out)
    s = traj.n_seeds
    print(f"wrote {out}: {args.method}, {len(traj.alpha)} points, alpha in [{traj.alpha[0]:.4g}, "
          f"{traj.alpha[-1]:.4g}], {s} {'curve' if s == 1 else 'curves'}, final eps_g = {traj.mean()[-1]:.4g}")
    return EXIT_OK


def cmd_plateau(args) -> int:
    cfg = config_from_args(args, N=args.L if args.N is None else args.N)
    pl = plateau(cfg, eta2=args.eta2, budget=_budget(args))
    Q, R, T = pl.overlaps(1)
    result = {"N": cfg.N, "L": cfg.L, "K": cfg.K, "M": cfg.M, "beta": cfg.beta, "eta": cfg.eta,
              "activation": cfg.activation_name, "readout": cfg.readout, "eta2": args.eta2,
              "eps_p": float(pl.eps_p),
              "escape_rate": None if pl.escape_rate is None else float(pl.escape_rate),
              "escape_rate_reason": pl.escape_rate_reason,
              "Q": np.asarray(Q).tolist(), "R": np.asarray(R).tolist(), "T": np.asarray(T).tolist()}
    if args.json:
        print(json.dumps(result))
        return EXIT_OK
    fmt = {"float_kind": lambda v: f"{v: .6g}"}
    print(f"symmetric plateau: K={cfg.K} M={cfg.M} L={cfg.L} N={cfg.N} beta={cfg.beta:g} eta={cfg.eta:g} "
          f"activation={cfg.activation_name} readout={cfg.readout} eta2={args.eta2}")
    print(f"eps_p       = {result['eps_p']:.6g}")
    if pl.escape_rate is None:
        print(f"escape_rate = none: {pl.escape_rate_reason}")
    else:
        print(f"escape_rate = {result['escape_rate']:.6g}")
    for name, A in (("Q", Q), ("R", R), ("T", T)):
        print(f"{name} = {np.array2string(np.asarray(A, float), formatter=fmt, prefix=f'{name} = ')}")
    return EXIT_OK


def cmd_sweep(args) -> int:
    # Dask is slow to import: loaded only for sweeps
    from .sweeps import grid_from_strings, sweep

    _check_seed_count(args)

    grid = grid_from_strings({f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
                              if hasattr(args, f.name) and getattr(args, f.name) is not None},
                             spectrum_file=getattr(args, "spectrum_file", None))
    res = sweep(grid, seeds=range(args.seeds), method=args.method, store=args.store, scheduler=args.scheduler,
                alpha_max=args.alpha_max, points=args.points, rtol=args.rtol, workers=args.workers,
                progress=_want_progress(args.progress), budget=_budget(args))
    print(f"sweep: {res.n_tasks} tasks ({res.n_computed} computed, {res.n_cached} from the store), "
          f"table {res.table_path}")
    return EXIT_OK


def _parse_budgets(text: str | None, N: int) -> np.ndarray:
    if text is None:
        return N * 10.0 ** np.arange(1, 7)
    try:
        values = np.array([float(v) for v in text.split(",") if v.strip()])
    except ValueError:
        raise ValueError(f"--budgets must be comma-separated numbers, got {text!r}") from None
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"--budgets must be finite numbers > 0, got {text!r}")
    return values


def cmd_frontier(args) -> int:
    from .io import atomic_write
    from .theory.frontier import asymptotic_exponents, candidate_grid, exact_frontier

    if not (isinstance(args.N, int) and args.N >= 2):
        raise ValueError(f"--N must be an integer >= 2, got {args.N}")
    if not (math.isfinite(args.beta) and args.beta > 0):
        raise ValueError(f"--beta must be finite and > 0, got {args.beta}")
    out = None if args.out is None else check_output_path(args.out)
    budgets = _parse_budgets(args.budgets, args.N)
    cfg = Config(N=args.N, L=args.N, K=1, M=1, beta=args.beta, eta=args.eta, sigma_J=args.sigma_J,
                 activation="linear")
    cands = candidate_grid(args.N, args.n_max)
    front = exact_frontier(cfg, budgets, n_trainable=cands)
    if out is not None:
        atomic_write(out, front.to_csv(index=False, float_format="%.10g"))
        print(f"wrote {out}: {len(front)} budgets, N_l* in [{front['n_trainable'].min()}, "
              f"{front['n_trainable'].max()}]")
        return EXIT_OK
    ex = asymptotic_exponents(args.beta)
    print(f"compute frontier: linear K = M = 1, N = L = {cfg.N}, beta = {cfg.beta:g}, eta = {cfg.eta:g}; "
          f"C = P N_l, P = alpha N")
    print(f"asymptotic exponents: N_l* ~ C^{ex['n_trainable']:.4g}, P* ~ C^{ex['samples']:.4g}, "
          f"eps* ~ C^{ex['eps']:.4g}")
    print(front.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    edge = int((front["n_trainable"] == cands.max()).sum()) if cands.max() < cfg.N else 0
    if edge:
        print(f"{PROG}: warning: at {edge} budgets the optimum is the largest candidate N_l = {cands.max()} "
              "(raise --n-max)", file=sys.stderr)
    return EXIT_OK


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"{PROG}: warning: {one_line(message)}", file=sys.stderr)


def _fail(code: int, message) -> int:
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help/--version (0) or a usage error (2, already printed)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning   # a warning is one line too
            return {"run": cmd_run, "plateau": cmd_plateau, "sweep": cmd_sweep,
                    "frontier": cmd_frontier}[args.command](args)
    except (DivergenceError, IntegrationError) as e:
        return _fail(EXIT_DIVERGED, e)
    except ValueError as e:  # validation, budget, unreadable input
        return _fail(EXIT_USAGE, e)
    except MemoryError:
        return _fail(EXIT_USAGE, "out of memory (lower the request or --max-memory)")
    except OSError as e:
        return _fail(EXIT_USAGE, f"{e.strerror or e}: {e.filename}" if getattr(e, "filename", None) else e)
    except KeyboardInterrupt:
        return _fail(EXIT_INTERRUPTED, "interrupted")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
