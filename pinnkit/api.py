"""The one place that wires the chain: config -> problem -> checks -> trainer -> run folder."""

from __future__ import annotations

import copy
import dataclasses
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .checks import Report, report_from_error, run_checks
from .config import PROBLEM_KEYS, Config, StageConfig, config_from_data, load_config, located
from .config.load import read_file
from .engines import make_engine
from .errors import CheckWarning, ConfigError, PinnkitError, did_you_mean, line_of
from .geometry import get_sampler
from .models.activations import get_activation
from .problem import CompiledProblem, Problem, compile_problem, problem_from_config
from .training.folders import check_trust, claim, is_run_folder, latest
from .training.losses import SampleLosses
from .training.metrics import check_reference
from .training.monitor import Monitor
from .training.sizes import check_sizes
from .training.techniques import validate_options
from .training.trainer import DTYPES, Run, build_model, fit, resolve_device, validate_stages

#: the keys a Problem class's ``recipe`` may hold: how to train it, not what it is
RECIPE_KEYS = ("name", "model", "training", "logging", "checks")


def recipe_of(cls: type[Problem]) -> dict[str, Any]:
    """A Problem class's training recipe (``recipe = {"model": ..., "training": ...}``, the
    YAML keys), as plain data; checked for keys that belong on the class itself."""
    recipe = getattr(cls, "recipe", None)
    if recipe is None:
        return {}
    if not isinstance(recipe, Mapping):
        raise PinnkitError(f"{cls.__name__}.recipe is {type(recipe).__name__}; expected a "
                           "mapping of YAML keys, e.g. recipe = {'model': {'width': 20}}")
    for key in recipe:
        if key not in RECIPE_KEYS:
            where = "an attribute of the class" if key in PROBLEM_KEYS else "not a recipe key"
            raise PinnkitError(f"{cls.__name__}.recipe has key '{key}': {where}"
                               f"{did_you_mean(str(key), RECIPE_KEYS)}. Fix: use "
                               f"{', '.join(RECIPE_KEYS)}")
    return _plain(recipe)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def merged(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: mappings merge key by key, anything else (a list of stages)
    is replaced whole."""
    out = dict(base)
    for k, v in top.items():
        out[k] = merged(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) \
            else v
    return out


def resolve(target: str | Path | Problem, overrides: Sequence[str] = (),
            config: Mapping[str, Any] | Config | None = None) -> tuple[CompiledProblem, Config]:
    """A YAML path or a Problem (plus optional config data) -> compiled problem and config.

    A Problem class's ``recipe`` comes first, then ``config`` (or the YAML file's keys),
    then the overrides."""
    _check_call(target, overrides)
    if isinstance(target, Problem):
        if isinstance(config, Config):
            cfg = config
        else:
            data = merged(recipe_of(type(target)), _plain(dict(config or {})))
            data.setdefault("name", type(target).__name__.lower())
            cfg = config_from_data(data, {}, "<python>", overrides)
        problem = target
        for key in PROBLEM_KEYS:
            if key in cfg.given:
                raise PinnkitError(f"config key '{key}' belongs on the Problem when training "
                                   f"a Problem object. Fix: set {type(target).__name__}.{key} "
                                   "(a class attribute), or train a YAML file")
        _check_names(cfg)
        return compile_problem(problem, cfg), cfg
    cfg = load_config(target, overrides)
    try:
        _check_names(cfg)
        problem = problem_from_config(cfg)
        recipe = recipe_of(type(problem))
        if recipe:  # the class's recipe under the file's keys
            data, lines = read_file(target)
            cfg = config_from_data(merged(recipe, data or {}), lines, str(target), overrides)
            _check_names(cfg)
        return compile_problem(problem, cfg), cfg
    except ConfigError as exc:
        raise located(exc, cfg) from None


def _check_call(target: Any, overrides: Any) -> None:
    """Python-API mistakes, worded for Python rather than YAML."""
    if isinstance(target, type) and issubclass(target, Problem):
        raise PinnkitError(f"got the class {target.__name__}, not a problem. Fix: pass an "
                           f"instance, {target.__name__}()")
    if not isinstance(target, (str, Path, Problem)):
        raise PinnkitError(f"got a {type(target).__name__}; expected a YAML path or a Problem "
                           "object, e.g. pinnkit.train('configs/heat.yaml') or "
                           "pinnkit.train(Heat())")
    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise PinnkitError(f"overrides={overrides!r}; expected a list of 'key=value' strings, "
                           "e.g. overrides=['model.width=32']")


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
    base = Path(cfg.logging.dir or Path("runs") / cfg.name)
    return latest(base) if resume else claim(base, overwrite)


def run_config(run_dir: Path, trust: bool = False) -> Path:
    """A run folder's config.yaml, unless the run was trained from a Python Problem object
    (whose equations a YAML file cannot hold), or it names a Python file that the run
    folder does not vouch for (``folders.check_trust``) and ``trust`` is not given."""
    path = run_dir / "config.yaml"
    cfg = load_config(path)
    if not cfg.inputs and not cfg.problem:
        raise PinnkitError(f"{run_dir} was trained from a Python Problem object whose class "
                           "cannot be imported from a file (defined in a script or a notebook), "
                           "so its config.yaml cannot name it. Fix: pass the object again, "
                           f"pinnkit.load('{run_dir}', problem=<the Problem>) or pinnkit.train("
                           f"<the Problem>, run_dir='{run_dir}', resume=True); or define the "
                           "class in a module file")
    check_trust(run_dir, cfg.problem, trust)
    return path


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
    if model is not None:
        built_in = [k for k in ("transform", "periodic", "fourier_features")
                    if getattr(cfg.model, k) is not None]
        if built_in:
            raise PinnkitError(f"model.{built_in[0]} is built into pinnkit's MLP, and model= "
                               "replaces it. Fix: build it into your module, or drop model=")
    return fit(problem, cfg, folder, progress=progress, resume=resume, model=model)


def check_problem(problem: CompiledProblem, cfg: Config,
                  model: torch.nn.Module | None = None) -> Report:
    """Every pre-training check, on the network training will build (same seed and dtype,
    on the CPU: the checks evaluate small samples only).

    Before the checks it builds, with the constructors ``fit`` uses, what training builds
    from the config before its first step (network, stages, derivative engine, the
    monitor's grids), so that a config error training would raise is raised here: before
    training starts, and by ``pinnkit check`` too."""
    validate_options(problem, cfg)  # the technique options (build_model checks the model's)
    check_sizes(problem, cfg, _device(cfg))  # before any allocation
    dtype = DTYPES[cfg.model.dtype]
    model = build_model(problem, cfg).to(dtype=dtype) if model is None else \
        _user_model(model, problem).to(dtype=dtype)
    validate_stages(problem, cfg, model, _device(cfg))
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
