"""The one place that wires the chain: config -> problem -> checks -> trainer -> run folder."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import Config, StageConfig, config_from_data, load_config, located
from .errors import ConfigError, PinnkitError
from .problem import CompiledProblem, Problem, compile_problem, problem_from_config
from .train.trainer import Run, fit


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
        for key in ("inputs", "outputs", "domain", "exact", "constants", "equations",
                    "conditions"):
            if key in cfg.given:
                raise ValueError(f"config key '{key}' belongs on the Problem when training a "
                                 "Problem object")
        return compile_problem(problem, cfg), cfg
    cfg = load_config(target, overrides)
    try:
        return compile_problem(problem_from_config(cfg), cfg), cfg
    except ConfigError as exc:
        raise located(exc, cfg) from None


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
    return fit(problem, cfg, folder, progress=progress, resume=resume)


def check(target: str | Path | Problem, *, overrides: Sequence[str] = (),
          config: Mapping[str, Any] | None = None) -> CompiledProblem:
    """Validate config and problem without training; raises a PinnkitError on a problem."""
    problem, _ = resolve(target, overrides, config)
    return problem
