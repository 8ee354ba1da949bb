"""``pinnkit`` command line: train and check. Exit 0 ok, 2 user error, 1 anything else."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from .errors import CheckWarning, PinnkitError
from .train.trainer import TrainingError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pinnkit", description="Physics-informed neural networks "
                                "from PDEs written as text.")
    sub = p.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a config; writes runs/NAME/")
    tr.add_argument("config", help="YAML file, e.g. configs/heat.yaml")
    tr.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="KEY=VALUE", help="override a config value, e.g. model.width=32")
    tr.add_argument("--device", help="cpu, cuda, cuda:1 (overrides training.device)")
    tr.add_argument("--out", help="run folder (overrides logging.dir)")
    tr.add_argument("--overwrite", action="store_true",
                    help="replace an earlier run in the same folder instead of runs/NAME-2")
    tr.add_argument("--quiet", action="store_true", help="no progress output")
    ck = sub.add_parser("check", help="run every pre-training check without training")
    ck.add_argument("config", nargs="+")
    ck.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ck.add_argument("--json", action="store_true",
                    help="one JSON object per config (one line each) instead of the report")
    return p


def _train(args: argparse.Namespace) -> int:
    from .api import preflight, resolve, run_folder
    from .train.trainer import fit

    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"training.device={args.device}")
    if args.out:
        overrides.append(f"logging.dir={args.out}")
    problem, cfg = resolve(args.config, overrides)
    preflight(problem, cfg)
    folder = run_folder(cfg, overwrite=args.overwrite)
    print(f"pinnkit: training '{cfg.name}' -> {folder}", flush=True)
    run = fit(problem, cfg, folder, progress=not args.quiet)
    errs = ", ".join(f"{k} {v:.3e}" for k, v in run.metrics["l2_relative_error"].items())
    print(f"pinnkit: done in {run.metrics['wall_time_s']:.1f} s, {run.metrics['steps']} steps"
          + (f"; relative L2 error: {errs}" if errs else "") + f"; wrote {folder}", flush=True)
    return 0


def _check(args: argparse.Namespace) -> int:
    from .api import check_report

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
    return 2 if failed else 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Check warnings as one plain line; others as Python shows them."""
    text = f"pinnkit: warning: {message}\n" if issubclass(category, CheckWarning) else \
        warnings.formatwarning(message, category, filename, lineno, line)
    print(text, end="", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():  # restores the caller's warning display afterwards
            warnings.showwarning = _show_warning
            return {"train": _train, "check": _check}[args.command](args)
    except TrainingError as exc:
        print(f"pinnkit: training stopped: {exc}", file=sys.stderr)
        return 1
    except PinnkitError as exc:
        print(f"pinnkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pinnkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
