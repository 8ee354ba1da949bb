"""The one place that wires the chain: config -> problem -> checks -> trainer -> run folder."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import Config, StageConfig, config_from_data, load_config
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
                    "conditions", "parameters", "data"):
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
    return fit(problem, cfg, folder, progress=progress)


def check(target: str | Path | Problem, *, overrides: Sequence[str] = (),
          config: Mapping[str, Any] | None = None) -> CompiledProblem:
    """Validate config and problem without training; raises a PinnkitError on a problem."""
    problem, _ = resolve(target, overrides, config)
    return problem
