"""Setup: a YAML file or a Problem object, with its recipe, config and overrides, turned
into the compiled problem and the validated config that checks, training and evaluation
start from; and a run folder's own config.yaml, when the folder vouches for it."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import PROBLEM_KEYS, Config, config_from_data, load_config, located
from .config.load import read_file
from .errors import ConfigError, PinnkitError, did_you_mean, line_of
from .geometry import get_sampler
from .models.activations import get_activation
from .problem import CompiledProblem, Problem, compile_problem, problem_from_config
from .training.folders import check_trust

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
    data, lines = read_file(target)  # once: the class's recipe may go under these keys
    cfg = config_from_data(copy.deepcopy(data), dict(lines), str(target), overrides)
    try:
        _check_names(cfg)
        problem = problem_from_config(cfg)
        recipe = recipe_of(type(problem))
        if recipe:  # the class's recipe under the file's keys
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
