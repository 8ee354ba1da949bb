"""``pinnkit`` command line: train and check. Exit 0 ok, 2 user error, 1 anything else."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import PinnkitError
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
    ck = sub.add_parser("check", help="validate a config without training")
    ck.add_argument("config", nargs="+")
    ck.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return p


def _train(args: argparse.Namespace) -> int:
    from .api import resolve, run_folder
    from .train.trainer import fit

    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"training.device={args.device}")
    if args.out:
        overrides.append(f"logging.dir={args.out}")
    problem, cfg = resolve(args.config, overrides)
    folder = run_folder(cfg, overwrite=args.overwrite)
    print(f"pinnkit: training '{cfg.name}' -> {folder}", flush=True)
    run = fit(problem, cfg, folder, progress=not args.quiet)
    errs = ", ".join(f"{k} {v:.3e}" for k, v in run.metrics["l2_relative_error"].items())
    print(f"pinnkit: done in {run.metrics['wall_time_s']:.1f} s, {run.metrics['steps']} steps"
          + (f"; relative L2 error: {errs}" if errs else "") + f"; wrote {folder}", flush=True)
    return 0


def _check(args: argparse.Namespace) -> int:
    from .api import check

    for path in args.config:
        problem = check(path, overrides=args.overrides)
        terms = ", ".join(f"{t.name} (order {t.order})" for t in problem.terms)
        print(f"{path}: ok — {len(problem.terms)} terms: {terms}")
        for obs in problem.data:  # rows per data term, and how many NaN cells were skipped
            print(f"  {obs.summary()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
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
