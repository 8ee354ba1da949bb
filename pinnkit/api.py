"""The one place that wires the chain: config -> problem -> checks -> trainer -> run folder."""

from __future__ import annotations

import copy
import dataclasses
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .checks import Report, report_from_error, run_checks
from .config import PROBLEM_KEYS, Config, StageConfig, located
from .engines import make_engine
from .errors import CheckWarning, ConfigError, PinnkitError, line_of
from .evaluate import Run
from .problem import CompiledProblem, Problem
from .setup import resolve, run_config
from .training.folders import claim, is_run_folder, latest
from .training.losses import SampleLosses
from .training.metrics import check_reference
from .training.monitor import Monitor
from .training.sizes import check_sizes
from .training.techniques import validate_options
from .training.trainer import DTYPES, build_model, fit, resolve_device, validate_stages


def scaled_stages(stages: Sequence[StageConfig], steps: int) -> tuple[StageConfig, ...]:
    """The stages with ``steps`` steps in all, shared in the stages' proportions (largest
    remainder, each stage at least one step): ``steps=`` shortens or lengthens a recipe
    without dropping its second-order stage. Fewer steps than stages keeps the first ones."""
    if steps < 1:
        raise PinnkitError(f"steps={steps}; expected a positive number of steps")
    stages = tuple(stages[:steps])
    total = sum(s.steps for s in stages)
    exact = [steps * s.steps / total for s in stages]
    counts = [max(1, int(x)) for x in exact]
    order = sorted(range(len(stages)), key=lambda i: int(exact[i]) - exact[i])
    for i in order[:max(0, steps - sum(counts))]:
        counts[i] += 1
    while sum(counts) > steps:  # the max(1, .) floors took steps from nowhere
        i = max(range(len(counts)), key=lambda j: counts[j])
        counts[i] -= 1
    return tuple(dataclasses.replace(s, steps=n) for s, n in zip(stages, counts, strict=True))


def problem_spec(problem: Problem) -> str | None:
    """``file.py:Class`` for a Problem whose class can be imported again from its file
    (so the CLI can evaluate, plot and resume its run); None for a class defined in a
    script or a notebook, or an object whose problem attributes were changed after
    construction (its file would not give it back)."""
    cls = type(problem)
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if cls.__module__ == "__main__" or not file or not file.endswith(".py") \
            or "<locals>" in cls.__qualname__ or getattr(module, cls.__name__, None) is not cls:
        return None
    if any(key in vars(problem) for key in PROBLEM_KEYS if key != "constants"):
        return None
    return f"{Path(file).resolve()}:{cls.__name__}"


def _device(cfg: Config) -> torch.device:
    """training.device as a torch device; one this machine lacks is an error at its line."""
    try:
        return resolve_device(cfg.training.device)
    except ConfigError as exc:
        raise located(exc, cfg) from None


def run_folder(cfg: Config, resume: bool = False, overwrite: bool = False) -> Path:
    """runs/NAME (or logging.dir), claimed for this run before it trains (``folders.claim``):
    runs/NAME-2, -3... when NAME holds an earlier run or another run claimed it first; with
    ``overwrite``, NAME itself with the earlier run's files removed. A folder that is not a
    run folder is refused, never written into.

    With ``resume``: the latest of those that wrote checkpoints (nothing is claimed).
    """
    base = run_base(cfg)
    return latest(base) if resume else claim(base, overwrite)


def run_base(cfg: Config) -> Path:
    """The folder a run of ``cfg`` is named for: logging.dir, else runs/NAME (a claim may
    take runs/NAME-k instead)."""
    return Path(cfg.logging.dir or Path("runs") / cfg.name)


def resume_target(target: str | Path, overrides: Sequence[str] = (), trust: bool = False
                  ) -> tuple[CompiledProblem, Config, Path]:
    """What ``train --resume`` continues: a run folder (its config.yaml), or a config's run.

    ``trust``: import the Python file a run folder's config.yaml names even where the
    folder does not vouch for it (a ``--set problem=...`` is the user's own choice)."""
    path = Path(target)
    if path.is_dir():
        if not (path / "config.yaml").is_file() and is_run_folder(path):
            raise PinnkitError(f"nothing to resume in {path}: a run claimed it and stopped "
                               "before writing config.yaml and checkpoints (or --overwrite "
                               "cleared it). Fix: train the config without --resume")
        if not (path / "config.yaml").is_file():
            raise PinnkitError(f"{path} is a folder without config.yaml, so not a run folder. "
                               "Fix: give a run folder such as runs/heat, or a YAML config")
        named = any(o.split("=", 1)[0].strip() == "problem" for o in overrides)
        problem, cfg = resolve(run_config(path, trust or named), overrides)
        check_sizes(problem, cfg, _device(cfg))  # --set points...
        return problem, cfg, path
    problem, cfg = resolve(path, overrides)
    check_sizes(problem, cfg, _device(cfg))
    return problem, cfg, run_folder(cfg, resume=True)


def train(target: str | Path | Problem, steps: int | None = None, *,
          overrides: Sequence[str] = (), config: Mapping[str, Any] | None = None,
          run_dir: str | Path | None | bool = True, progress: bool = True,
          resume: bool = False, model: torch.nn.Module | None = None,
          overwrite: bool = False) -> Run:
    """Train a problem from a YAML file or a ``Problem`` object and return the ``Run``.

    The recipe is the Problem class's ``recipe`` (YAML keys), then ``config`` (or the YAML
    file), then ``overrides`` (``"model.width=32"``, as ``--set``). ``steps`` sets the
    total number of steps, shared among the recipe's stages in their proportions.
    ``run_dir``: True writes runs/NAME (or a fresh runs/NAME-k), a path writes there, False
    or None writes nothing. ``resume`` continues that folder (for True: the latest
    runs/NAME-k) from its last checkpoint. ``progress``: the console bar or lines.
    ``run.metrics["best"]`` and ``run.best_model`` are the best checkpoint's. ``model``:
    your own ``torch.nn.Module`` (N x inputs -> N x outputs), checked and trained in place
    of pinnkit's MLP; it sees the raw inputs (the MLP normalises them to [-1, 1]).
    """
    problem, cfg = resolve(target, overrides, config)
    if steps is not None:
        stages = scaled_stages(cfg.training.stages, int(steps))
        cfg = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, stages=stages))
    if isinstance(target, Problem) and not cfg.problem:
        spec = problem_spec(target)
        if spec is not None:  # config.yaml names the class, and the constants it was given
            cfg = dataclasses.replace(cfg, problem=spec, constants=dict(target.constants),
                                      given=cfg.given | {"problem", "constants"})
    if resume and not run_dir:
        raise PinnkitError("resume=True needs a run folder. Fix: pass run_dir=True or a path")
    if model is not None:
        built_in = [k for k in ("transform", "periodic", "fourier_features")
                    if getattr(cfg.model, k) is not None]
        if built_in:
            raise PinnkitError(f"model.{built_in[0]} is built into pinnkit's MLP, and model= "
                               "replaces it. Fix: build it into your module, or drop model=")
    if not resume:  # a resumed run was checked when it started
        preflight(problem, cfg, model)
    elif model is not None:
        _user_model(model, problem)
    if run_dir is True:
        folder = run_folder(cfg, resume=resume, overwrite=overwrite)
    elif run_dir:  # claimed only now: a failed check leaves no folder behind
        folder = Path(run_dir) if resume else claim(Path(run_dir), overwrite)
    else:
        folder = None
    return Run.of(fit(problem, cfg, folder, progress=progress, resume=resume, model=model))


def check_problem(problem: CompiledProblem, cfg: Config,
                  model: torch.nn.Module | None = None) -> Report:
    """Every pre-training check, on the network training will build (same seed and dtype,
    on the CPU: the checks evaluate small samples only).

    Before the checks it builds, with the constructors ``fit`` uses, what training builds
    from the config before its first step (network, stages, derivative engine, the
    monitor's grids), so that a config error training would raise is raised here: before
    training starts, and by ``pinnkit check`` too."""
    validate_options(problem, cfg)  # the technique options (build_model checks the model's)
    device = _device(cfg)
    check_sizes(problem, cfg, device)  # before any allocation
    dtype = DTYPES[cfg.model.dtype]
    model = build_model(problem, cfg).to(dtype=dtype) if model is None else \
        _user_model(model, problem).to(dtype=dtype)
    validate_stages(problem, cfg, model, device)
    try:
        make_engine(cfg.model.engine, model)
    except ConfigError as exc:
        raise located(exc, cfg) from None
    Monitor(problem, cfg)  # logging.slice and logging.grid, located
    key = "exact.{field}" if isinstance(problem.problem.exact, Mapping) else "exact"
    check_reference(problem, key, line_of(cfg.lines, "exact"), cfg.source or None)
    losses = SampleLosses(problem, cfg.training.points, cfg.training.seed, dtype)
    return run_checks(problem, cfg, model, losses)


def _user_model(model: Any, problem: CompiledProblem) -> torch.nn.Module:
    """A copy of the user's module for the checks (they must not move or cast the one
    that will be trained), after checking it maps the inputs to the outputs."""
    if not isinstance(model, torch.nn.Module):
        raise PinnkitError(f"model= is a {type(model).__name__}; expected a torch.nn.Module "
                           f"from {len(problem.inputs)} input columns to "
                           f"{len(problem.outputs)} output columns")
    copy_ = copy.deepcopy(model).cpu()
    probe = next((p for p in copy_.parameters() if p.is_floating_point()), None)
    x = torch.zeros(2, len(problem.inputs), dtype=probe.dtype if probe is not None else None)
    try:
        y = copy_(x)
    except Exception as exc:  # noqa: BLE001 - the user's module may raise anything
        raise PinnkitError(f"model= raised {type(exc).__name__} on a batch of shape "
                           f"{tuple(x.shape)} ({', '.join(problem.inputs)}): {exc}. Fix: a "
                           f"module from (N, {len(problem.inputs)}) to "
                           f"(N, {len(problem.outputs)})") from None
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (2, len(problem.outputs)):
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise PinnkitError(f"model= maps (2, {len(problem.inputs)}) to {shape}; expected "
                           f"(2, {len(problem.outputs)}) for outputs "
                           f"{', '.join(problem.outputs)}")
    return copy_


def preflight(problem: CompiledProblem, cfg: Config,
              model: torch.nn.Module | None = None) -> Report:
    """The checks at the start of training: warn for each warning, raise CheckError (exit
    2) on an error."""
    report = check_problem(problem, cfg, model)
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
