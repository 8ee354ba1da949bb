"""Config: YAML -> validated frozen dataclasses, with the line of every key."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
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
    name = cfg.name or (Path(source).stem if source and not source.startswith("<") else "run")
    return dataclasses.replace(cfg, name=name, lines=lines, source=source,
                               given=frozenset(data))


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read and validate a YAML config file, applying ``--set`` overrides first."""
    data, lines = read_file(path)
    return config_from_data(data, lines, str(path), overrides)


def located(exc: ConfigError, cfg: Config) -> ConfigError:
    """``exc`` with the config's line and file filled in where the raiser did not know them."""
    if exc.source and exc.line is not None:
        return exc
    line = exc.line if exc.line is not None else _line_for(exc.key, cfg.lines)
    return ConfigError(exc.key, exc.found, exc.expected, exc.fix, line,
                       exc.source or cfg.source or None)


def _line_for(key: str, lines: dict[str, int]) -> int | None:
    """The line of ``key`` or of its nearest ancestor that has one."""
    parts = key.split(".")
    while parts:
        if ".".join(parts) in lines:
            return lines[".".join(parts)]
        parts.pop()
    return None


def to_data(cfg: Config) -> dict[str, Any]:
    """The resolved config as plain data (what ``config.yaml`` in a run folder holds)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)
                    if not f.metadata.get("internal")}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_data(cfg), sort_keys=False)


__all__ = [
    "AdaptivePointsConfig", "BalanceConfig", "CausalConfig",
    "ConditionConfig", "Config", "ConfigError", "FourierConfig", "LoggingConfig", "ModelConfig",
    "PointsConfig", "StageConfig", "TrainingConfig", "build", "config_from_data", "load_config",
    "located", "read_yaml", "to_data", "to_yaml",
]
