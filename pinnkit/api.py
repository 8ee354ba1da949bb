"""The one place that wires the chain: config -> problem -> checks -> trainer -> run folder."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .checks import Report, report_from_error, run_checks
from .config import Config, StageConfig, config_from_data, load_config
from .errors import CheckWarning, PinnkitError
from .problem import PROBLEM_KEYS, CompiledProblem, Problem, compile_problem, problem_from_config
from .train.losses import SampleLosses
from .train.trainer import DTYPES, Run, build_model, fit


def resolve(target: str | Path | Problem, overrides: Sequence[str] = (),
            config: Mapping[str, Any] | Config | None = None) -> tuple[CompiledProblem, Config]:
    """A YAML path or a Problem (plus optional config data) -> compiled problem and config."""
    if isinstance(target, Problem):
        if isinstance(config, Config):
            cfg = config
        else:
            data = dict(config or {})
            data.setdefault("name", type(target).__name__.lower())
            cfg = config_from_data(data, {}, "<python>", overrides)
        problem = target
        for key in PROBLEM_KEYS:
            if key in cfg.given:
                raise ValueError(f"config key '{key}' belongs on the Problem when training a "
                                 "Problem object")
    else:
        cfg = load_config(target, overrides)
        problem = problem_from_config(cfg)
    return compile_problem(problem, cfg), cfg


def run_folder(cfg: Config, resume: bool = False, overwrite: bool = False) -> Path:
    """runs/NAME, or runs/NAME-2, -3... when NAME holds an earlier run (never clobbered)."""
    base = Path(cfg.logging.dir or Path("runs") / cfg.name)
    if resume or overwrite or not (base / "checkpoints").exists():
        return base
    n = 2
    while (base.parent / f"{base.name}-{n}" / "checkpoints").exists():
        n += 1
    return base.parent / f"{base.name}-{n}"


def train(target: str | Path | Problem, steps: int | None = None, *,
          overrides: Sequence[str] = (), config: Mapping[str, Any] | None = None,
          run_dir: str | Path | None | bool = True, progress: bool = True) -> Run:
    """Train a problem from a YAML file or a ``Problem`` object and return the ``Run``.

    ``steps`` replaces the stages with one Adam stage of that many steps. ``run_dir``:
    True writes runs/NAME (or a fresh runs/NAME-k), a path writes there, False or None
    writes nothing.
    """
    problem, cfg = resolve(target, overrides, config)
    if steps is not None:
        stages = (StageConfig(optimizer="adam", steps=int(steps)),)
        cfg = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, stages=stages))
    folder = run_folder(cfg) if run_dir is True else (Path(run_dir) if run_dir else None)
    preflight(problem, cfg)
    return fit(problem, cfg, folder, progress=progress)


def check_problem(problem: CompiledProblem, cfg: Config) -> Report:
    """Every pre-training check, on the network training will build (same seed and dtype,
    on the CPU: the checks evaluate small samples only)."""
    dtype = DTYPES[cfg.model.dtype]
    model = build_model(problem, cfg).to(dtype=dtype)
    losses = SampleLosses(problem, cfg.training.points, cfg.training.seed, dtype)
    return run_checks(problem, cfg, model, losses)


def preflight(problem: CompiledProblem, cfg: Config) -> Report:
    """The checks at the start of training: warn for each warning, raise CheckError (exit
    2) on an error."""
    report = check_problem(problem, cfg)
    for finding in report.of_level("warning"):
        warnings.warn(CheckWarning(finding.render(level=False)), stacklevel=3)
    report.raise_for_errors()
    return report


def check_report(target: str | Path | Problem, *, overrides: Sequence[str] = (),
                 config: Mapping[str, Any] | None = None) -> Report:
    """All pre-training checks as a Report; a config that cannot be read or compiled
    becomes a report of that one error (``report.error`` holds its full message)."""
    try:
        problem, cfg = resolve(target, overrides, config)
        return check_problem(problem, cfg)
    except PinnkitError as exc:
        return report_from_error(exc, "" if isinstance(target, Problem) else str(target))


def check(target: str | Path | Problem, *, overrides: Sequence[str] = (),
          config: Mapping[str, Any] | None = None) -> CompiledProblem:
    """Validate config and problem and run every pre-training check, without training.

    Returns the compiled problem; warns (CheckWarning) for each warning; raises ConfigError
    for an invalid config and CheckError when a check fails. ``check_report`` gives the
    whole report instead.
    """
    problem, cfg = resolve(target, overrides, config)
    preflight(problem, cfg)
    return problem
