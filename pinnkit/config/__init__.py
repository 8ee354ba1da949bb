"""Config: YAML -> validated frozen dataclasses, with the line of every key."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, line_of
from .load import apply_overrides, read_file, read_yaml
from .schema import (
    AdaptivePointsConfig,
    BalanceConfig,
    CausalConfig,
    ConditionConfig,
    Config,
    FourierConfig,
    LoggingConfig,
    ModelConfig,
    PointsConfig,
    StageConfig,
    TrainingConfig,
    build,
)


def config_from_data(data: Any, lines: dict[str, int] | None = None, source: str = "",
                     overrides: Sequence[str] = ()) -> Config:
    """Validate plain data (as read from YAML) into a ``Config``."""
    lines = dict(lines or {})
    if data is None and source and not source.startswith("<"):
        raise ConfigError("", "the file is empty (or holds only comments)",
                          "a YAML mapping with keys such as inputs, outputs, equations",
                          "start from configs/heat.yaml", None, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("", f"the file holds {type(data).__name__}, not a mapping",
                          "a YAML mapping with keys such as inputs, outputs, equations",
                          "see configs/heat.yaml for the layout", None, source)
    apply_overrides(data, lines, overrides)
    cfg = build(Config, data, lines, "", source)
    given = "name" in data
    name = cfg.name if given else \
        (Path(source).stem if source and not source.startswith("<") else "run")
    check_name(name, line_of(lines, "name") if given else None, source)
    return dataclasses.replace(cfg, name=name, lines=lines, source=source,
                               given=frozenset(data))


MAX_NAME = 200  # characters; file systems allow 255 bytes, and runs/NAME-12 must still fit


def check_name(name: str, line: int | None, source: str = "") -> None:
    """A run name is one folder name under runs/: not empty, not a path, not '.' or '..',
    no control characters, at most MAX_NAME characters."""
    why = _not_a_name(name)
    if why:
        raise ConfigError("name", why, "a run name: one folder name under runs/ (letters, "
                          f"digits, - _ .; at most {MAX_NAME} characters)",
                          "write e.g. name: heat; to write the run somewhere else, set "
                          "logging.dir (or --out DIR)", line, source or None)


def _not_a_name(name: str) -> str:
    shown = repr(name if len(name) <= 40 else name[:37] + "...")
    if not name.strip():
        return f"found {shown}: it is empty"
    if name in (".", ".."):
        return f"found {shown}: '.' is this folder and '..' the one above, not names"
    if "/" in name or "\\" in name or os.path.isabs(name) or name[1:2] == ":":
        return f"found {shown}: it is a path, not a name"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"found {shown}: it holds control characters"
    if len(name) > MAX_NAME:
        return f"found {shown}: {len(name)} characters"
    return ""


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read and validate a YAML config file, applying ``--set`` overrides first."""
    data, lines = read_file(path)
    return config_from_data(data, lines, str(path), overrides)


def located(exc: ConfigError, cfg: Config) -> ConfigError:
    """``exc`` with the config's line and file filled in where the raiser did not know them."""
    if exc.source and exc.line is not None:
        return exc
    line = exc.line if exc.line is not None else line_of(cfg.lines, exc.key)
    return ConfigError(exc.key, exc.found, exc.expected, exc.fix, line,
                       exc.source or cfg.source or None)


#: the top-level keys that describe the problem; with ``problem: file.py:Class`` the class
#: supplies those the YAML does not give
PROBLEM_KEYS = ("inputs", "outputs", "domain", "exact", "constants", "equations", "conditions",
                "objective", "parameters", "data", "fields")


def to_data(cfg: Config) -> dict[str, Any]:
    """The resolved config as plain data (what ``config.yaml`` in a run folder holds).

    With ``problem: file.py:Class``, problem keys the YAML did not give are left out: read
    back, an empty ``inputs: []`` would replace the class's inputs.
    """

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)
                    if not f.metadata.get("internal")}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    data = plain(cfg)
    if cfg.problem:
        for key in PROBLEM_KEYS:
            if key not in cfg.given:
                data.pop(key, None)
    return data


def relocated(cfg: Config, folder: Path) -> Config:
    """``cfg`` with its relative file paths (``problem:``, ``data.*.file``, ``fields.*.file``,
    ``conditions.*.file``, ``exact.file`` with the reference table's SHA-256 beside it, a
    ``domain:`` mesh) rewritten to be found from ``folder``, where a run folder's
    ``config.yaml`` is written: ``--resume``, ``eval`` and ``plot`` then read that file from
    any working directory. A path that does not name an existing file is left as written."""
    bases = [Path.cwd()]
    if cfg.source and not cfg.source.startswith("<"):
        bases.insert(0, Path(cfg.source).resolve().parent)

    def move(text: str) -> str:
        path = Path(text)
        if not text or path.is_absolute():
            return text
        found = next((b / path for b in bases if (b / path).is_file()), None)
        return text if found is None else os.path.relpath(found.resolve(), folder.resolve())

    problem = cfg.problem
    if problem and ":" in problem:
        file, cls = problem.rsplit(":", 1)
        problem = f"{move(file)}:{cls}"
    data = {k: dataclasses.replace(v, file=move(v.file)) for k, v in cfg.data.items()}
    fields = {k: dataclasses.replace(v, file=move(v.file)) for k, v in cfg.fields.items()}
    conditions = {k: dataclasses.replace(v, file=move(v.file)) for k, v in
                  cfg.conditions.items()}  # a condition's table (file:)
    return dataclasses.replace(cfg, problem=problem, data=data, fields=fields,
                               conditions=conditions,
                               exact=_recorded_table(cfg.exact, cfg.outputs, bases, move),
                               domain=_moved_meshes(cfg.domain, move))


def _moved_meshes(spec: Any, move: Callable[[str], str]) -> Any:
    """``domain`` with the path of every ``mesh: FILE`` / ``mesh: {file: FILE}`` moved, at
    any depth of combinations."""
    if isinstance(spec, list):
        return [_moved_meshes(v, move) for v in spec]
    if not isinstance(spec, dict):
        return spec
    out: dict[str, Any] = {}
    for k, v in spec.items():
        if k == "mesh" and isinstance(v, str):
            out[k] = move(v)
        elif k == "mesh" and isinstance(v, dict) and isinstance(v.get("file"), str):
            out[k] = {**v, "file": move(v["file"])}
        else:
            out[k] = _moved_meshes(v, move)
    return out


def _recorded_table(exact: Any, outputs: Sequence[str], bases: list[Path],
                    move: Callable[[str], str]) -> Any:
    """``exact: {file: ...}`` as a run records it: the path moved like the others, and
    the file's SHA-256, so that the run compares against that table or refuses later."""
    file = exact.get("file") if isinstance(exact, dict) and "file" not in outputs else None
    if not isinstance(file, str) or not file:
        return exact
    path = Path(file)
    found = path if path.is_absolute() else next((b / path for b in bases
                                                  if (b / path).is_file()), None)
    if found is None or not found.is_file():
        return exact
    digest = hashlib.sha256(found.read_bytes()).hexdigest()
    return {**exact, "file": move(file), "sha256": exact.get("sha256") or digest}


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_data(cfg), sort_keys=False)


__all__ = [
    "PROBLEM_KEYS",
    "AdaptivePointsConfig", "BalanceConfig", "CausalConfig",
    "ConditionConfig", "Config", "ConfigError", "FourierConfig", "LoggingConfig", "ModelConfig",
    "PointsConfig", "StageConfig", "TrainingConfig", "build", "config_from_data", "load_config",
    "located", "read_yaml", "relocated", "to_data", "to_yaml",
]
