"""Read YAML keeping the line of every key, and apply ``--set a.b.0.c=value`` overrides."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, did_you_mean

Lines = dict[str, int]


def read_yaml(text: str, source: str = "<string>") -> tuple[Any, Lines]:
    """Parse YAML text into plain Python data plus {dotted key path: 1-based line}."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            lines: Lines = {}
            data = _convert(node, "", lines, loader, source) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError("", f"not valid YAML: {problem}", "a YAML mapping",
                          "check the indentation and quoting around that line", line,
                          source) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError("", f"cannot be read as YAML ({exc.__class__.__name__})",
                          "a YAML text file", "", None, source) from None
    return data, lines


def _convert(node: yaml.Node, path: str, lines: Lines, loader: yaml.SafeLoader, source: str
             ) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            # keys are names: take the text, so YAML 1.1 does not turn `on:` into True
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(path, "a key is a list or mapping", "names as keys", "",
                                  key_node.start_mark.line + 1, source)
            key = str(key_node.value)
            sub = f"{path}.{key}" if path else key
            if key in out:
                raise ConfigError(sub, "appears twice", "each key once",
                                  "remove one of them", key_node.start_mark.line + 1, source)
            lines[sub] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, sub, lines, loader, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, f"{path}.{i}" if path else str(i), lines, loader, source)
                for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def read_file(path: str | Path) -> tuple[Any, Lines]:
    p = Path(path)
    if not p.is_file():
        near = did_you_mean(p.name, [c.name for c in p.parent.glob("*.y*ml")]) \
            if p.parent.is_dir() else ""
        raise ConfigError("", f"config file '{path}' does not exist{near}", "a YAML file",
                          "check the path")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"cannot read '{path}': {exc.__class__.__name__}",
                          "a readable UTF-8 YAML file", "", None, str(path)) from None
    return read_yaml(text, str(path))


def apply_overrides(data: dict[str, Any], lines: Lines, overrides: Sequence[str]) -> None:
    """Apply ``a.b.0.c=value`` strings in place; the value is read as YAML."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(item, "--set needs KEY=VALUE", "e.g. --set model.width=32",
                              "write --set key.path=value", source="--set")
        path, raw = item.split("=", 1)
        keys = path.strip().split(".")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        _set_path(data, keys, value, path)
        lines[path] = 0  # 0 marks a value that came from the command line


def _set_path(data: Any, keys: list[str], value: Any, path: str) -> None:
    node = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) > len(node):
                raise ConfigError(path, f"'{key}' is not an index of {'.'.join(keys[:depth])} "
                                  f"(it has {len(node)} entries)", "an index 0.."
                                  f"{len(node)}", "check the --set path", source="--set")
            idx = int(key)
            if last:
                node[idx:idx + 1] = [value]
            else:
                if idx == len(node):
                    node.append({})
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                if key not in node or node[key] is None:
                    node[key] = {}
                node = node[key]
        else:
            parent = ".".join(keys[:depth])
            raise ConfigError(path, f"'{parent}' holds the value {node!r}, so '{key}' cannot go "
                              "inside it", "a path through mappings and lists",
                              "check the --set path", source="--set")
