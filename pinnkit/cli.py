"""``pinnkit`` command line: train, check, eval, plot. Exit 0 ok, 2 user error, 1 anything else.

A run stopped with Ctrl-C (after a checkpoint) exits 130 and prints how to resume it.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from .errors import CheckWarning, PinnkitError, TrainingError

TRUST_HELP = ("import the Python file (problem:) that the run's config.yaml names even where "
              "the run folder does not vouch for it (trained elsewhere, or the file changed "
              "since)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pinnkit", description="Physics-informed neural networks "
                                "from PDEs written as text.")
    sub = p.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a config; writes runs/NAME/")
    tr.add_argument("config", help="YAML file, e.g. configs/heat.yaml; with --resume also a "
                    "run folder such as runs/heat")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run (the latest runs/NAME-k) from its last checkpoint")
    tr.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="KEY=VALUE", help="override a config value, e.g. model.width=32")
    tr.add_argument("--device", help="cpu, cuda, cuda:1 (overrides training.device)")
    tr.add_argument("--out", help="run folder (overrides logging.dir)")
    tr.add_argument("--overwrite", action="store_true",
                    help="replace an earlier run in the same folder instead of runs/NAME-2")
    tr.add_argument("--quiet", action="store_true", help="no progress output")
    tr.add_argument("--trust", action="store_true", help="with --resume: " + TRUST_HELP)
    ck = sub.add_parser("check", help="run every pre-training check without training")
    ck.add_argument("config", nargs="+")
    ck.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ck.add_argument("--json", action="store_true",
                    help="one JSON object per config (one line each) instead of the report")
    ev = sub.add_parser("eval", help="errors of a run on a fresh grid, or fields at points")
    ev.add_argument("run", help="run folder, e.g. runs/heat")
    ev.add_argument("--points", help="CSV (header naming the inputs) or NPZ of points")
    ev.add_argument("--fields", help="comma-separated: fields, derivatives (u_x, d(u, x, x)), "
                    "expressions of them, residual names; default: all outputs")
    ev.add_argument("--out", help="write the values to this .csv or .npz (default: print CSV)")
    ev.add_argument("--checkpoint", choices=("last", "best"), default="last")
    ev.add_argument("--grid", type=int, default=40_000, help="points of the error grid")
    ev.add_argument("--reference", metavar="FILE", help="errors at the points of this CSV/NPZ "
                    "table (columns: the inputs and any outputs) instead of the run's own")
    ev.add_argument("--trust", action="store_true", help=TRUST_HELP)
    pl = sub.add_parser("plot", help="PNGs of prediction, reference, error and loss history")
    pl.add_argument("run", help="run folder, e.g. runs/heat")
    pl.add_argument("--checkpoint", choices=("last", "best"), default="last")
    pl.add_argument("--out", help="folder for the PNGs (default: RUN/plots)")
    pl.add_argument("--trust", action="store_true", help=TRUST_HELP)
    sw = sub.add_parser("sweep", help="many seeds and grid points in one process (stacked)")
    sw.add_argument("config", help="YAML file, e.g. configs/heat.yaml")
    sw.add_argument("--seeds", default="1", help="number of seeds from training.seed on "
                    "(8), or the seeds (0,3,5)")
    sw.add_argument("--grid", nargs="+", default=[], metavar="KEY=[VALUES]",
                    help="values to cross, e.g. 'model.width=[32,64]' 'constants.nu=[0.01,0.02]'")
    sw.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="KEY=VALUE", help="override a config value for every run")
    sw.add_argument("--device", help="cpu, cuda, cuda:1 (overrides training.device)")
    sw.add_argument("--out", help="sweep folder (default: runs/NAME-sweep)")
    sw.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def _sweep(args: argparse.Namespace) -> int:
    from .api import sweep
    from .training.summary import markdown
    from .training.sweepgrid import read_seeds

    overrides = [*args.overrides, *([f"training.device={args.device}"] if args.device else [])]
    done = sweep(args.config, read_seeds(args.seeds), args.grid, overrides=overrides,
                 out=args.out, progress=not args.quiet)
    shown = [m for m in dict.fromkeys(r["metric"] for r in done.summary)
             if m.startswith(("l2/", "linf/")) or m == "loss/total"]
    print(markdown(done.summary, done.grid_keys, shown), flush=True)
    failed = [r for r in done.rows if str(r["status"]).startswith("failed")]
    print(f"pinnkit: sweep of {len(done.rows)} runs wrote {done.folder} (sweep.csv, "
          f"summary.csv)" + (f"; {len(failed)} failed: " + ", ".join(r["run"] for r in failed)
                             if failed else ""), flush=True)
    if not done.finished:
        print("pinnkit: sweep stopped; continue a run with: pinnkit train RUN_FOLDER --resume",
              flush=True)
        return 130
    return 1 if failed else 0


def _train(args: argparse.Namespace) -> int:
    from .training.distributed import from_env, init, shutdown

    dist = from_env()  # torchrun's ranks, or a single process
    init(dist)
    try:
        return _train_ranks(args, dist)
    finally:
        shutdown(dist)


def _train_ranks(args: argparse.Namespace, dist) -> int:
    from .training.distributed import all_ok
    from .training.trainer import fit

    say = (lambda text: print(text, flush=True)) if dist.main else (lambda text: None)
    try:
        setup, folder = _prepare(args, say, dist)
    except PinnkitError:
        all_ok(False, dist)  # tell the other ranks before they wait for us forever
        raise
    if not all_ok(True, dist):
        print(f"pinnkit: rank {dist.rank} stopping: another rank failed during set-up "
              "(its error is above)", file=sys.stderr)
        return 2
    run = fit(setup, folder, progress=not args.quiet, resume=args.resume, dist=dist)
    errs = ", ".join(f"{k} {v:.3e}" for k, v in run.metrics["l2_relative_error"].items())
    if not run.metrics["finished"]:
        say(f"pinnkit: stopped at step {run.metrics['steps']}; continue with: pinnkit train "
            f"{folder} --resume")
        return 130
    say(f"pinnkit: done in {run.metrics['wall_time_s']:.1f} s, {run.metrics['steps']} steps"
        + (f"; relative L2 error: {errs}" if errs else "") + _params(run.metrics)
        + _best(run.metrics) + f"; wrote {folder}")
    return 0


def _params(metrics: dict) -> str:
    values = metrics.get("parameters") or {}
    return "; " + ", ".join(f"{k} = {v:.6g}" for k, v in values.items()) if values else ""


def _best(metrics: dict) -> str:
    """The best checkpoint, where it is not the last step and is better."""
    best, last = metrics.get("best") or {}, metrics["l2_relative_error"]
    if not best or best["step"] == metrics["steps"] or not last:
        return ""
    l2 = best["l2_relative_error"]
    if sum(l2.values()) >= sum(last.values()):
        return ""
    return (f"; best at step {best['step']} (checkpoints/best.pt): "
            + ", ".join(f"{k} {v:.3e}" for k, v in l2.items()))


def _prepare(args: argparse.Namespace, say, dist):
    """The setup and run folder for ``train`` (every rank does this)."""
    from .api import preflight, resolve, resume_target, run_base, run_folder
    from .training.setup import build_setup

    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"training.device={args.device}")
    if args.out:
        overrides.append(f"logging.dir={args.out}")
    if args.resume:
        if args.overwrite:
            raise PinnkitError("--resume continues a run and --overwrite replaces it. Fix: "
                               "give one of them")
        problem, cfg, folder = resume_target(args.config, overrides, trust=args.trust)
        setup = build_setup(problem, cfg, dist=dist)
        say(f"pinnkit: resuming '{cfg.name}' in {folder}")
    else:
        problem, cfg = resolve(args.config, overrides)
        setup = build_setup(problem, cfg, dist=dist)
        if dist.main:  # the checks once; a failure reaches the other ranks as a failed set-up
            preflight(setup)
        # rank 0 claims the folder (and alone writes it); the others only name it
        folder = run_folder(cfg, overwrite=args.overwrite) if dist.main else run_base(cfg)
        say(f"pinnkit: training '{cfg.name}' -> {folder}")
    return setup, folder


def _check(args: argparse.Namespace) -> int:
    from .api import check_report, resolve

    failed = False
    for path in args.config:
        report = check_report(path, overrides=args.overrides)
        failed = failed or not report.ok
        if args.json:
            print(report.to_json(), flush=True)
        elif report.error:  # the config itself is invalid: the usual error line
            print(f"pinnkit: error: {report.error}", file=sys.stderr, flush=True)
        else:
            print(report.render(), flush=True)
            compiled = resolve(path, args.overrides)[0]
            for obs in compiled.data:  # rows, NaN cells skipped
                print(f"  {obs.summary()}", flush=True)
            if compiled.reference is not None:  # its points, and the fields it compares
                print(f"  {compiled.reference.summary()}", flush=True)
    return 2 if failed else 0


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Every warning as one ``pinnkit: warning:`` line, without a source path: pinnkit's
    own as they are, a library's (torch, numpy) with the library's name in front."""
    text = " ".join(str(message).split())
    path = os.path.abspath(filename) if filename else ""
    if not (issubclass(category, CheckWarning) or path.startswith(_PACKAGE_DIR)):
        parts = path.replace("\\", "/").split("/")
        origin = parts[parts.index("site-packages") + 1] if "site-packages" in parts[:-1] \
            else os.path.splitext(os.path.basename(path))[0] or "python"
        text = f"{origin}: {text}"
    print(f"pinnkit: warning: {text}", file=file or sys.stderr)


def _eval(args: argparse.Namespace) -> int:
    from .evaluate import (
        check_grid,
        check_out,
        errors_text,
        load,
        read_points,
        split_names,
        write_table,
    )

    if args.points is None and (args.fields or args.out):
        raise PinnkitError("--fields and --out need --points FILE.csv|npz. Fix: add "
                           "--points, or leave them out to see the errors on a grid")
    if args.points is not None and args.reference is not None:
        raise PinnkitError("--reference measures errors at its table's points and --points "
                           "evaluates fields at others. Fix: give one of them")
    check_grid(args.grid)  # before any work, like --out
    check_out(args.out)  # before any work: a missing folder is found now, not at the end
    trained = load(args.run, args.checkpoint, trust=args.trust)
    if args.points is None:
        head = f"{args.run} ({args.checkpoint}.pt, step {trained.step})"
        if args.reference is not None or trained.problem.reference is not None:
            table = trained.reference_table(args.reference, key="--reference")
            n, errors = trained.table_errors(table)
            shown = os.path.relpath(table.file) if table.file is not None else table.path
            where = f"at the {n} points of {shown}"
        else:
            n, errors = trained.grid_errors(args.grid)
            where = f"on {n} grid points"
        print(errors_text(f"{head} {where}:", trained.outputs, errors))
        return 0
    x = read_points(args.points, trained.inputs)
    outside = trained.outside(x)
    if outside:
        warnings.warn(f"--points: {outside}", stacklevel=1)
    names = split_names(args.fields) if args.fields else list(trained.outputs)
    values = trained.derivatives(x, names)
    columns = {n: x[:, i] for i, n in enumerate(trained.inputs)} | values
    text = write_table(columns, args.out)
    if text is not None:
        sys.stdout.write(text)
    else:
        print(f"pinnkit: wrote {', '.join(names)} at {len(x)} points to {args.out}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from .plot import plot_run

    for path in plot_run(args.run, args.checkpoint, args.out, trust=args.trust):
        print(f"pinnkit: wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    commands = {"train": _train, "check": _check, "eval": _eval, "plot": _plot,
                "sweep": _sweep}
    try:
        args = _parser().parse_args(argv)
        with warnings.catch_warnings():  # restores the caller's warning display afterwards
            warnings.showwarning = _show_warning
            return commands[args.command](args)
    except TrainingError as exc:
        print(f"pinnkit: training stopped: {exc}", file=sys.stderr)
        return 1
    except PinnkitError as exc:
        print(f"pinnkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pinnkit: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk, a read-only folder: one located line, exit 2
        from .training.files import os_error

        doing = "read or write" if exc.filename else "write the run's files"
        print(f"pinnkit: error: {os_error(exc, exc.filename or '', doing)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not _interrupted(exc):
            raise
        print("pinnkit: interrupted", file=sys.stderr)
        return 130


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a Ctrl-C: one during an extension's import (scipy's,
    torch's at start-up) surfaces as ImportError('initialization failed') from it."""
    seen: set[int] = set()
    chain: BaseException | None = exc
    while chain is not None and id(chain) not in seen:
        if isinstance(chain, KeyboardInterrupt):
            return True
        seen.add(id(chain))
        chain = chain.__cause__ or chain.__context__
    return False


if __name__ == "__main__":
    sys.exit(main())
