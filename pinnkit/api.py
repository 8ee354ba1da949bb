"""The one place that wires the chain: config -> problem -> checks -> trainer -> run folder."""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .checks import Report, report_from_error, run_checks
from .config import PROBLEM_KEYS, Config, StageConfig, config_from_data, load_config, located
from .engines import make_engine
from .errors import CheckWarning, ConfigError, PinnkitError, did_you_mean, line_of
from .geometry import get_sampler
from .models.activations import get_activation
from .problem import CompiledProblem, Problem, compile_problem, problem_from_config
from .training.losses import SampleLosses
from .training.monitor import Monitor
from .training.techniques import validate_options
from .training.trainer import DTYPES, Run, build_model, fit, resolve_device, validate_stages


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
        _check_names(cfg)
        return compile_problem(problem, cfg), cfg
    cfg = load_config(target, overrides)
    try:
        _check_names(cfg)
        return compile_problem(problem_from_config(cfg), cfg), cfg
    except ConfigError as exc:
        raise located(exc, cfg) from None


DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _check_names(cfg: Config) -> None:
    """Names that map to code past the config layer, checked before any compute is spent."""
    get_activation(cfg.model.activation, line=line_of(cfg.lines, "model.activation"))
    get_sampler(cfg.training.points.sampler, line=line_of(cfg.lines, "training.points.sampler"))
    device = cfg.training.device
    if not DEVICE.fullmatch(device):
        kinds = ["auto", "cpu", "cuda", "mps"]
        raise ConfigError("training.device", f"'{device}' is not a device"
                          f"{did_you_mean(device, kinds)}", "auto, cpu, cuda, cuda:N or mps",
                          "use device: auto (cuda when available, else cpu)",
                          line_of(cfg.lines, "training.device"))


def run_folder(cfg: Config, resume: bool = False, overwrite: bool = False) -> Path:
    """runs/NAME, or runs/NAME-2, -3... when NAME holds an earlier run (never clobbered).

    With ``resume``: the latest of those that exists (the one a plain train wrote last).
    """
    base = Path(cfg.logging.dir or Path("runs") / cfg.name)
    if overwrite or not (base / "checkpoints").exists():
        return base
    n = 2
    while (base.parent / f"{base.name}-{n}" / "checkpoints").exists():
        n += 1
    if resume:
        return base if n == 2 else base.parent / f"{base.name}-{n - 1}"
    return base.parent / f"{base.name}-{n}"


def run_config(run_dir: Path) -> Path:
    """A run folder's config.yaml, unless the run was trained from a Python Problem object
    (whose equations a YAML file cannot hold)."""
    path = run_dir / "config.yaml"
    cfg = load_config(path)
    if not cfg.inputs and not cfg.problem:
        raise PinnkitError(f"{run_dir} was trained from a Python Problem object, which its "
                           "config.yaml cannot name. Fix: pass the object again, e.g. "
                           f"pinnkit.train(Heat(), run_dir='{run_dir}', resume=True) or "
                           f"pinnkit.load('{run_dir}', problem=Heat())")
    return path


def resume_target(target: str | Path, overrides: Sequence[str] = ()
                  ) -> tuple[CompiledProblem, Config, Path]:
    """What ``train --resume`` continues: a run folder (its config.yaml), or a config's run."""
    path = Path(target)
    if path.is_dir():
        if not (path / "config.yaml").is_file():
            raise PinnkitError(f"{path} is a folder without config.yaml, so not a run folder. "
                               "Fix: give a run folder such as runs/heat, or a YAML config")
        problem, cfg = resolve(run_config(path), overrides)
        return problem, cfg, path
    problem, cfg = resolve(path, overrides)
    return problem, cfg, run_folder(cfg, resume=True)


def train(target: str | Path | Problem, steps: int | None = None, *,
          overrides: Sequence[str] = (), config: Mapping[str, Any] | None = None,
          run_dir: str | Path | None | bool = True, progress: bool = True,
          resume: bool = False) -> Run:
    """Train a problem from a YAML file or a ``Problem`` object and return the ``Run``.

    ``steps`` replaces the stages with one Adam stage of that many steps. ``run_dir``:
    True writes runs/NAME (or a fresh runs/NAME-k), a path writes there, False or None
    writes nothing. ``resume`` continues that folder (for True: the latest runs/NAME-k)
    from its last checkpoint.
    """
    problem, cfg = resolve(target, overrides, config)
    if steps is not None:
        stages = (StageConfig(optimizer="adam", steps=int(steps)),)
        cfg = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, stages=stages))
    folder = run_folder(cfg, resume=resume) if run_dir is True else \
        (Path(run_dir) if run_dir else None)
    if resume and folder is None:
        raise PinnkitError("resume=True needs a run folder. Fix: pass run_dir=True or a path")
    if not resume:  # a resumed run was checked when it started
        preflight(problem, cfg)
    return fit(problem, cfg, folder, progress=progress, resume=resume)


def check_problem(problem: CompiledProblem, cfg: Config) -> Report:
    """Every pre-training check, on the network training will build (same seed and dtype,
    on the CPU: the checks evaluate small samples only).

    Before the checks it builds, with the constructors ``fit`` uses, what training builds
    from the config before its first step (network, stages, derivative engine, the
    monitor's grids), so that a config error training would raise is raised here: before
    training starts, and by ``pinnkit check`` too."""
    validate_options(problem, cfg)  # the technique options (build_model checks the model's)
    dtype = DTYPES[cfg.model.dtype]
    model = build_model(problem, cfg).to(dtype=dtype)
    validate_stages(problem, cfg, model, resolve_device(cfg.training.device))
    try:
        make_engine(cfg.model.engine, model)
    except ConfigError as exc:
        raise located(exc, cfg) from None
    Monitor(problem, cfg)  # logging.slice and logging.grid, located
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
