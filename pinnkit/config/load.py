"""Read YAML keeping the line of every key, and apply ``--set a.b.0.c=value`` overrides."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, did_you_mean

Lines = dict[str, int]

MAX_DEPTH = 32  # nesting of mappings and lists; real configs use 4 or 5
MAX_NODES = 20_000  # values after expanding YAML aliases; real configs have a few hundred
MAX_BYTES = 10_000_000  # a config is text a person writes
_FLOW = re.compile(r"[\[\]{}]")


def read_yaml(text: str, source: str = "<string>") -> tuple[Any, Lines]:
    """Parse YAML text into plain Python data plus {dotted key path: 1-based line}."""
    try:
        _check_flow_depth(text, source)
        loader = _Loader(text, source)
        try:
            node = loader.get_single_node()
            lines: Lines = {}
            budget = [MAX_NODES]
            data = _convert(node, "", lines, loader, source, budget) \
                if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        fix = "check the indentation and quoting around that line"
        if "\\t" in problem or "\t" in problem:
            fix = "indent with spaces; YAML does not allow tabs for indentation"
        raise ConfigError("", f"not valid YAML: {problem}", "a YAML mapping", fix, line,
                          source) from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError("", f"cannot be read as YAML ({exc.__class__.__name__}: {exc})",
                          "a YAML text file", "check the value the message names, or "
                          "compare with configs/heat.yaml", None, source) from None
    return data, lines


def _too_deep(key: str, line: int, source: str | None) -> ConfigError:
    """``key`` is the path of a ``--set`` value (then the line is 0, "from --set")."""
    return ConfigError(key, f"mappings and lists nested more than {MAX_DEPTH} deep",
                       "a config nested a few levels deep",
                       "flatten the structure; see configs/heat.yaml", 0 if key else line,
                       source)


def _check_flow_depth(text: str, source: str | None, key: str = "") -> None:
    """Refuse ``[[[[...`` nested too deep before PyYAML scans it.

    PyYAML's scanner reads a whole run of opening brackets before the parser sees the
    first one, in time quadratic in their number (3000 took 5 s), so counting brackets
    in the text is the only early way out; brackets in strings or comments count too,
    which only matters past 32 of them.
    """
    depth = 0
    for m in _FLOW.finditer(text):
        depth = depth + 1 if m.group() in "[{" else max(depth - 1, 0)
        if depth > MAX_DEPTH:
            raise _too_deep(key, text.count("\n", 0, m.start()) + 1, source)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses block nesting deeper than MAX_DEPTH, and reads ``1e3`` as a
    number.

    PyYAML composes nodes recursively, so deep enough nesting would overflow the stack.
    YAML 1.1 (PyYAML's dialect) wants a dot in a float, so ``[0, 1e3]`` was two values of
    which one is text; YAML 1.2 and every person read it as a thousand.
    """

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source, self.depth = source, 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        step = int(self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent))
        self.depth += step
        try:
            if self.depth > MAX_DEPTH:
                raise _too_deep("", self.peek_event().start_mark.line + 1, self.source)
            return super().compose_node(parent, index)
        finally:
            self.depth -= step


# YAML 1.2's floats without a dot (1e3, -2E-5, 1_000e2 is not one); those with one are
# YAML 1.1's already. The resolver runs only for plain scalars: '1e3' in quotes stays text.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _convert(node: yaml.Node, path: str, lines: Lines, loader: yaml.SafeLoader, source: str,
             budget: list[int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    # aliases share nodes, so nine aliases of nine aliases... expand exponentially
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(path, f"expands to more than {MAX_NODES} values (YAML aliases "
                          "that refer to aliases?)", "a config of a few hundred values",
                          "write the values out instead of nesting &anchors and *aliases",
                          node.start_mark.line + 1, source)
    if isinstance(node, yaml.MappingNode):
        return _mapping(node, path, lines, loader, source, budget)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, f"{path}.{i}" if path else str(i), lines, loader, source, budget)
                for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _mapping(node: yaml.MappingNode, path: str, lines: Lines, loader: yaml.SafeLoader,
             source: str, budget: list[int]) -> dict[str, Any]:
    # YAML merge keys (`model: {<<: *defaults, width: 32}`) come first after flattening;
    # a key written out may override a merged one, but not another key written out
    own = sum(k.tag != "tag:yaml.org,2002:merge" for k, _ in node.value)
    loader.flatten_mapping(node)
    merged = len(node.value) - own
    out: dict[str, Any] = {}
    written: set[str] = set()
    for i, (key_node, value_node) in enumerate(node.value):
        # keys are names: take the text, so YAML 1.1 does not turn `on:` into True
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(path, "a key is a list or mapping", "names as keys",
                              "write a plain name before the ':'",
                              key_node.start_mark.line + 1, source)
        key = str(key_node.value)
        sub = f"{path}.{key}" if path else key
        if key in written:
            raise ConfigError(sub, "appears twice", "each key once",
                              "remove one of them", key_node.start_mark.line + 1, source)
        if i >= merged:
            written.add(key)
        lines[sub] = key_node.start_mark.line + 1
        out[key] = _convert(value_node, sub, lines, loader, source, budget)
    return out


def read_file(path: str | Path) -> tuple[Any, Lines]:
    p = Path(path)
    if p.is_dir():
        raise ConfigError("", f"'{path}' is a folder", "a YAML file",
                          f"name a file inside it, e.g. {p / 'heat.yaml'}")
    if not p.is_file():
        near = did_you_mean(p.name, [c.name for c in p.parent.glob("*.y*ml")]) \
            if p.parent.is_dir() else ""
        raise ConfigError("", f"config file '{path}' does not exist{near}", "a YAML file",
                          "check the path")
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError("", f"the file is {size:,} bytes",
                              f"a YAML config under {MAX_BYTES:,} bytes",
                              "point at the config, not at a data file", None, str(path))
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read '{path}': {exc.strerror or exc}",
                          "a readable YAML file", "check the file's permissions", None,
                          str(path)) from None
    return read_yaml(_decode(raw, str(path)), str(path))


def _decode(raw: bytes, source: str) -> str:
    """UTF-8 text, or an error that says which line holds the first bad byte."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError("", "the file is UTF-16 text", "UTF-8 text",
                          "save it as UTF-8 in your editor", 1, source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        found = "binary data, not text" if b"\0" in raw else \
            f"byte 0x{raw[exc.start]:02x}, which is not UTF-8"
        raise ConfigError("", found, "a YAML text file in UTF-8",
                          "save it as UTF-8, or check that this is the config file", line,
                          source) from None
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise ConfigError("", "binary data, not text (a NUL character)", "a YAML text file",
                          "check that this is the config file", line, source)
    return text.removeprefix("\ufeff")


def apply_overrides(data: dict[str, Any], lines: Lines, overrides: Sequence[str]) -> None:
    """Apply ``a.b.0.c=value`` strings in place; the value is read as YAML, by the loader
    that reads files (keys as text, the depth and alias limits)."""
    for item in overrides:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise ConfigError(item, "--set needs KEY=VALUE", "e.g. --set model.width=32",
                              "write --set key.path=value", line=0)
        path, raw = item.split("=", 1)
        keys = path.strip().split(".")
        value = read_value(raw, path.strip())
        _set_path(data, keys, value, path)
        path = path.strip()
        for stale in [k for k in lines if k.startswith(path + ".")]:
            del lines[stale]  # the file's keys below it are gone: line_of finds the 0 above
        lines[path] = 0  # 0 marks a value that came from the command line


def read_value(raw: str, path: str) -> Any:
    """A ``--set`` value as YAML; text that is not YAML stays text (the schema says whether
    text fits). A value past the limits is refused under the key it was set for."""
    if not raw.strip():
        return ""
    _check_flow_depth(raw, None, path)
    try:
        loader = _Loader(raw, "--set")
        try:
            node = loader.get_single_node()
            return _convert(node, "", {}, loader, "--set", [MAX_NODES]) \
                if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError:
        return raw
    except ConfigError as exc:  # nested too deep or an alias bomb
        key = f"{path}.{exc.key}" if exc.key else path
        raise ConfigError(key, exc.found, exc.expected, exc.fix, 0) from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError(path, f"cannot be read as YAML ({exc.__class__.__name__})",
                          "a YAML value", "quote the value, or simplify it", 0) from None


def _set_path(data: Any, keys: list[str], value: Any, path: str) -> None:
    node = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) > len(node):
                raise ConfigError(path, f"'{key}' is not an index of {'.'.join(keys[:depth])} "
                                  f"(it has {len(node)} entries)", "an index 0.."
                                  f"{len(node)}", "check the --set path", line=0)
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
                              "check the --set path", line=0)
