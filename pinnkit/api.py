"""The one place that wires the chain: config -> problem -> checks -> trainer -> run folder."""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .checks import Report, report_from_error, run_checks
from .config import PROBLEM_KEYS, Config, StageConfig
from .errors import CheckWarning, PinnkitError
from .evaluate import Run
from .problem import CompiledProblem, Problem
from .setup import resolve, run_config
from .training.folders import claim, is_run_folder, latest
from .training.losses import SampleLosses
from .training.setup import Setup, build_setup
from .training.trainer import fit


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
        return problem, cfg, path
    problem, cfg = resolve(path, overrides)
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
    cfg = _named_problem(target, cfg)
    if resume and not run_dir:
        raise PinnkitError("resume=True needs a run folder. Fix: pass run_dir=True or a path")
    if model is not None:
        built_in = [k for k in ("transform", "periodic", "fourier_features")
                    if getattr(cfg.model, k) is not None]
        if built_in:
            raise PinnkitError(f"model.{built_in[0]} is built into pinnkit's MLP, and model= "
                               "replaces it. Fix: build it into your module, or drop model=")
    setup = build_setup(problem, cfg, model=model)
    if not resume:  # a resumed run was checked when it started
        preflight(setup)
    if run_dir is True:
        folder = run_folder(cfg, resume=resume, overwrite=overwrite)
    elif run_dir:  # claimed only now: a failed check leaves no folder behind
        folder = Path(run_dir) if resume else claim(Path(run_dir), overwrite)
    else:
        folder = None
    return Run.of(fit(setup, folder, progress=progress, resume=resume))


def _named_problem(target: Any, cfg: Config) -> Config:
    """``cfg`` naming the Problem class ``target`` is, where its file gives it back, so
    config.yaml (and eval, plot, resume) can import it again."""
    if isinstance(target, Problem) and not cfg.problem:
        spec = problem_spec(target)
        if spec is not None:  # config.yaml names the class, and the constants it was given
            cfg = dataclasses.replace(cfg, problem=spec, constants=dict(target.constants),
                                      given=cfg.given | {"problem", "constants"})
    return cfg


@dataclasses.dataclass
class Sweep:
    """What ``pinnkit.sweep`` returns: each run (None where it failed or was stopped),
    the rows of sweep.csv, the spread across seeds per grid point (summary.csv) and the
    sweep folder."""

    runs: list[Run | None]
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    folder: Path
    grid_keys: list[str]
    finished: bool = True  # False when Ctrl-C stopped it (each run folder can be resumed)


def sweep(target: str | Path | Problem, seeds: int | Sequence[int] = 1,
          grid: Mapping[str, Sequence[Any]] | Sequence[str] | None = None, *,
          overrides: Sequence[str] = (), config: Mapping[str, Any] | None = None,
          out: str | Path | None = None, progress: bool = True) -> Sweep:
    """Train ``seeds`` (a count from training.seed on, or a list) times every point of
    ``grid`` ({"model.width": [32, 64]}, or --grid strings) in one process.

    Runs that share their network's shapes, stages and terms are stacked: their Adam
    stages take one vectorised step for all (each run with its own Adam state, learning
    rate and stopping); second-order stages then run one run at a time. Each run writes
    its own run folder, as ``train`` would, under the sweep folder (``out``, default
    runs/NAME-sweep, or a fresh -2, -3...), which also gets sweep.csv (one row per run)
    and summary.csv (mean, median, std, min, max of each metric across the seeds).
    """
    from .training import sweepgrid as sg
    from .training.summary import run_row, write
    from .training.sweep import Member, train_group

    problem, cfg = resolve(target, overrides, config)
    keys = sg.parse_grid(grid or {})
    specs = sg.expand(sg.seed_list(seeds, cfg.training.seed), keys)
    setups, checked = [], set()
    for spec in specs:  # every run resolved and checked before any folder or training
        problem, cfg = resolve(target, [*overrides, *spec.overrides], config)
        cfg = _named_problem(target, cfg)
        sg.check_sweepable(problem, cfg)
        setup = build_setup(problem, cfg)
        point = repr(sorted(spec.values.items()))
        if point not in checked:  # the checks read the problem: once per grid point
            preflight(setup)
            checked.add(point)
        setups.append(setup)
    base = Path(out) if out is not None else run_base(cfg).with_name(
        f"{run_base(cfg).name}-sweep")
    folder = sg.claim_folder(base)
    members = [Member(spec.label, setup, claim(folder / spec.label))
               for spec, setup in zip(specs, setups, strict=True)]
    groups: dict[str, list[Member]] = {}
    for m in members:
        groups.setdefault(sg.stack_key(m.setup.problem, m.setup.config), []).append(m)
    say = (lambda text: print(text, flush=True)) if progress else (lambda text: None)
    finished = True
    for i, group in enumerate(groups.values()):
        say(f"pinnkit: sweep group {i + 1}/{len(groups)}: {len(group)} runs "
            f"({', '.join(m.label for m in group[:4])}{', ...' if len(group) > 4 else ''})")
        if not train_group(group, progress, say):
            finished = False
            break
    rows = [run_row(m.label, spec.values, spec.seed, m.status,
                    m.fitted.metrics if m.fitted else None, m.fitted.history if m.fitted else [])
            for m, spec in zip(members, specs, strict=True)]
    summary = write(folder, rows, list(keys), {"config": str(target) if not isinstance(
        target, Problem) else type(target).__name__, "overrides": list(overrides),
        "seeds": sorted({s.seed for s in specs}), "grid": keys,
        "runs": {m.label: str(m.run_dir) for m in members}})
    runs = [Run.of(m.fitted) if m.fitted is not None and m.status == "finished" else None
            for m in members]
    return Sweep(runs, rows, summary, folder, list(keys), finished)


def check_problem(setup: Setup) -> Report:
    """Every pre-training check, on a copy of the network training will train (same seed
    and dtype, on the CPU: the checks evaluate small samples only). ``build_setup`` has
    already built, with the constructors training uses, everything training builds from
    the config, so a config error training would raise was raised there: before training
    starts, and by ``pinnkit check`` too."""
    problem, cfg = setup.problem, setup.config
    losses = SampleLosses(problem, cfg.training.points, cfg.training.seed, setup.dtype)
    return run_checks(problem, cfg, setup.check_model(), losses)


def preflight(setup: Setup) -> Report:
    """The checks at the start of training: warn for each warning, raise CheckError (exit
    2) on an error."""
    report = check_problem(setup)
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
        return check_problem(build_setup(problem, cfg))
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
    preflight(build_setup(problem, cfg))
    return problem
