"""What a sweep trains: seeds times grid points, each run a list of ``--set`` overrides.

``expand`` crosses the grid's values (``model.width=[32, 64]``) with the seeds; each run
gets a folder label (``width=32_seed=0``) and the overrides that make its config. Which
runs can share a stack is ``stack_key``: everything that shapes the network or the step,
i.e. the whole resolved config except the seed, the loss weights, the run folder and (for
expression residuals) the constants, whose values the vectorised step takes per run.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config, to_data
from ..config.load import read_value
from ..errors import ConfigError, PinnkitError, line_of
from ..problem import CompiledProblem
from .files import os_error

MAX_RUNS = 4096  # one sweep: runs in all (seeds x grid points)
#: keys a grid may not vary: the sweep sets them itself
RESERVED = {"training.seed": "use --seeds (seeds=) for the seeds",
            "logging.dir": "the sweep names each run's folder (use --out for the sweep's)",
            "name": "the runs keep the config's name; their folders carry the grid values"}
#: options that couple a run's points or weights to its own network between steps: the
#: vectorised step does not carry them (see the README's 'Sweeps' section)
COUPLED = {
    "training.balance": "adaptive loss weights measure each term's gradient of one run",
    "training.causal": "causal weights are measured from one run's per-point losses",
    "training.points.adaptive": "adaptive resampling draws points from one run's residuals",
}


@dataclass(frozen=True)
class Spec:
    """One run of a sweep: its folder label, seed, grid values and overrides."""

    label: str
    seed: int
    values: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()


def parse_grid(items: Sequence[str] | Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """``['model.width=[32,64]', ...]`` (or ``{'model.width': [32, 64]}``) as {key: values}."""
    if isinstance(items, Mapping):
        pairs = [(str(k), v) for k, v in items.items()]
    else:
        pairs = []
        for item in items:
            key, eq, raw = item.partition("=")
            if not eq or not key.strip():
                raise ConfigError(item, "--grid needs KEY=[VALUES]", "e.g. --grid "
                                  "'model.width=[32,64]'", "write --grid 'key.path=[a, b]'", 0)
            pairs.append((key.strip(), read_value(raw, key.strip())))
    grid: dict[str, list[Any]] = {}
    for key, values in pairs:
        if key in RESERVED:
            raise ConfigError(key, "is set by the sweep itself", "another key to vary",
                              RESERVED[key], 0)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ConfigError(key, f"--grid value {values!r} is not a list", "a non-empty "
                              "list of values, e.g. [0.01, 0.02]",
                              f"write --grid '{key}=[{values!r}]'", 0)
        if key in grid:
            raise ConfigError(key, "is given twice in --grid", "each key once",
                              "put all its values in one list", 0)
        grid[key] = list(values)
    return grid


def seed_list(seeds: int | Sequence[int], first: int) -> list[int]:
    """``8`` -> first, first + 1, ..., first + 7; a list is taken as the seeds."""
    if isinstance(seeds, bool) or not isinstance(seeds, (int, Sequence)):
        raise PinnkitError(f"seeds={seeds!r}; expected a number of seeds or a list of seeds")
    if isinstance(seeds, int):
        if seeds < 1:
            raise PinnkitError(f"--seeds {seeds}: expected at least 1 seed")
        return [first + i for i in range(seeds)]
    out = [int(s) for s in seeds]
    if not out or len(set(out)) != len(out) or min(out) < 0:
        raise PinnkitError(f"seeds {out}: expected distinct non-negative seeds")
    return out


def read_seeds(text: str) -> int | list[int]:
    """The CLI's --seeds: ``8`` (eight seeds) or ``0,3,5`` (those seeds)."""
    try:
        return [int(s) for s in text.split(",") if s.strip()] if "," in text else int(text)
    except ValueError:
        raise PinnkitError(f"--seeds {text!r}: expected a number (8) or a comma-separated "
                           "list of seeds (0,3,5)") from None


def expand(seeds: Sequence[int], grid: Mapping[str, Sequence[Any]]) -> list[Spec]:
    """Every grid point times every seed, grid points outermost."""
    keys = list(grid)
    leaves = [k.rsplit(".", 1)[-1] for k in keys]
    names = [leaf if leaves.count(leaf) == 1 else k for leaf, k in zip(leaves, keys,
                                                                         strict=True)]
    points = list(itertools.product(*(grid[k] for k in keys)))
    if len(points) * len(seeds) > MAX_RUNS:
        raise PinnkitError(f"the sweep has {len(points) * len(seeds)} runs; at most {MAX_RUNS}. "
                           "Fix: fewer seeds or grid values")
    specs = []
    for point in points:
        values = dict(zip(keys, point, strict=True))
        sets = tuple(f"{k}={json.dumps(v)}" for k, v in values.items())
        for seed in seeds:
            parts = [f"{n}={_short(v)}" for n, v in zip(names, point, strict=True)]
            label = "_".join([*parts, f"seed={seed}"])
            specs.append(Spec(label, seed, values, (*sets, f"training.seed={seed}")))
    return specs


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return re.sub(r"[^A-Za-z0-9.+=,-]+", "-", text).strip("-")[:40] or "value"


def check_sweepable(problem: CompiledProblem, cfg: Config) -> None:
    """Refuse the options a sweep's vectorised step cannot carry, naming the key."""
    for key, why in COUPLED.items():
        value: Any = cfg
        for part in key.split("."):
            value = getattr(value, part)
        if value is not None:
            raise ConfigError(key, f"is set, and {why}, while a sweep trains its runs' Adam "
                              "stages in one vectorised step", f"a config without {key} "
                              "for pinnkit sweep", f"remove {key}, or train each seed on its "
                              "own: pinnkit train CONFIG --set training.seed=N",
                              line_of(cfg.lines, key), cfg.source or None)
    if len(problem.parameters):
        raise ConfigError("parameters", f"learnable parameters "
                          f"({', '.join(problem.parameters.names)}) are not stacked by a sweep "
                          "yet", "a problem without parameters: for pinnkit sweep",
                          "train each seed on its own: pinnkit train CONFIG --set "
                          "training.seed=N", line_of(cfg.lines, "parameters"),
                          cfg.source or None)


def stack_key(problem: CompiledProblem, cfg: Config) -> str:
    """Runs with equal keys train in one stack (same shapes, stages and problem terms)."""
    data = to_data(cfg)
    data["training"].pop("seed", None)
    data["training"].pop("weights", None)
    data.get("logging", {}).pop("dir", None)
    # an expression residual reads constants from the step's inputs, one value per run; a
    # Python method (self.alpha) or an output transform reads the problem's own numbers
    if all(t.tree is not None for t in problem.terms) and cfg.model.transform is None:
        data.pop("constants", None)
    return json.dumps(data, sort_keys=True, default=str)


def claim_folder(base: Path) -> Path:
    """``base``, or the first free ``base-2``, ``base-3``... created for this sweep."""
    base.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        path = base if n == 1 else base.parent / f"{base.name}-{n}"
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            n += 1
        except OSError as exc:
            raise os_error(exc, path, "create the sweep folder") from None
