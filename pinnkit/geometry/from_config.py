"""The ``domain:`` key of a config -> a Shape, with errors naming the key, line and fix.

Two forms. The plain box ``{x: [0, 1], t: [0, 1]}`` names one interval per input. The
shape form holds one shape and optionally ``time``::

    domain:
      difference:
        - box: {x: [-1, 1], y: [-1, 1]}
        - disk: {center: [0, 0], radius: 0.3, name: hole}
      time: {t: [0, 1]}        # optional: the shape x [0, 1], see product.py

Shapes are ``box`` (keys name the coordinates), ``disk``/``ball`` (center, radius),
``ellipse``/``ellipsoid`` (center, semi_axes, angle or axes), ``polygon`` (vertices),
``polyhedron`` (vertices of a convex hull), ``mesh`` (an STL or OBJ file, or ``{file,
scale, name}``; a relative path is found next to the YAML file, then in the working
directory) and ``union``/``difference``/``intersection`` (lists of shapes). Coordinates
of the others are the problem's inputs in order, without the time input. Any primitive
may carry ``name:``, which names its boundary as a part for ``on:``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, did_you_mean, line_of, one_of
from .csg import Difference, Intersection, Union
from .disk import Disk
from .ellipse import Ellipse
from .mesh import Mesh, Polyhedron
from .polygon import Polygon
from .product import SpaceTime
from .selectors import Selector
from .shapes import Box, Shape, ShapeError

COMBINATIONS: dict[str, Callable[..., Shape]] = {
    "union": Union, "difference": Difference, "intersection": Intersection}


@dataclass(frozen=True)
class _Ctx:
    space: tuple[str, ...]  # the coordinates shapes use, in input order
    inputs: tuple[str, ...]
    lines: Mapping[str, int]
    bases: tuple[Path, ...] = ()  # folders a relative mesh path is looked up in, in order

    def line(self, key: str) -> int | None:
        """The line of ``key``, or of the nearest enclosing key that has one."""
        return line_of(self.lines, key)

    def error(self, key: str, found: str, expected: str = "", fix: str = "") -> ConfigError:
        return ConfigError(key, found, expected, fix, self.line(key))

    def shape_error(self, exc: ShapeError, key: str) -> ConfigError:
        """A constructor's ShapeError at the YAML key of its argument, below the shape's
        ``key``, with its fix in YAML's words."""
        sub = f"{key}.{exc.path}" if exc.path else key
        value = exc.corrected if exc.corrected is not None else exc.example
        fix = exc.advice
        if value is not None:
            shown = _yaml_value(value)
            fix = f"{fix}, e.g. {shown}" if fix else f"write {shown}" \
                if exc.corrected is not None else f"write e.g. {sub.rpartition('.')[2]}: {shown}"
        return self.error(sub, exc.found, exc.expected, fix)


def _yaml_value(v: Any) -> str:
    """``[0, 1]``, ``[[0, 0], [1, 0]]``, ``1``: a value as YAML flow text, numbers short."""
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_yaml_value(x) for x in v) + "]"
    return f"{v:g}" if isinstance(v, float) else str(v)


def shape_from_config(spec: object, inputs: Sequence[str], key: str = "domain",
                      lines: Mapping[str, int] | None = None,
                      bases: Sequence[Path] = ()) -> Shape:
    """``{x: [0, 1], t: [0, 1]}`` -> Box; ``{disk: {...}, time: {...}}`` -> a shape.

    A relative mesh file is looked for in each of ``bases`` (the config file's folder,
    then the working directory), the working directory when none are given."""
    ctx = _Ctx(tuple(inputs), tuple(inputs), lines or {}, tuple(bases) or (Path.cwd(),))
    if not isinstance(spec, Mapping) or not spec:
        raise ctx.error(key, f"found {type(spec).__name__} {spec!r}",
                        "a mapping from each input to [low, high], or a shape",
                        "write e.g. domain: {x: [0, 1], t: [0, 1]} or domain: {disk: "
                        "{center: [0, 0], radius: 1}}")
    if any(isinstance(v, Mapping) for v in spec.values()) or any(
            k in COMBINATIONS or (k in BUILDERS and k not in inputs) for k in spec):
        return _shape_form(spec, key, ctx).reordered(list(inputs))
    return _box(spec, key, ctx, "input")


def require_selected(shape: Shape, selector: Selector, key: str, line: int | None = None,
                     source: str | None = None) -> None:
    """A condition's ``on:`` must pick some of the boundary; say which parts exist if not."""
    if shape.selected_measure(selector) > 0:
        return
    parts = ", ".join(shape.part_names())
    raise ConfigError(key, f"'{selector.text}' matches no point of the boundary of "
                      f"{shape!r}", f"a selector that picks part of the boundary; its parts "
                      f"are: {parts}", "check the numbers against the domain, or use a part, "
                      "e.g. on: boundary", line, source)


def _shape_form(spec: Mapping[str, Any], key: str, ctx: _Ctx) -> Shape:
    timed = isinstance(spec.get("time"), Mapping)
    kinds = [k for k in spec if not (timed and k == "time")]
    if not kinds:
        raise ctx.error(key, "holds only 'time'", "a shape and optionally time",
                        "add a shape, e.g. box: {x: [0, 1]}")
    if len(kinds) > 1:
        a, b = kinds[:2]
        raise ctx.error(f"{key}.{b}", f"a second shape '{b}' next to '{a}'",
                        "one shape (combine several with union, difference or intersection)"
                        " and optionally time",
                        f"write {key}: {{union: [{{{a}: ...}}, {{{b}: ...}}]}}")
    if not timed:
        return _one(kinds[0], spec[kinds[0]], f"{key}.{kinds[0]}", ctx)
    name, span = _time(spec["time"], f"{key}.time", ctx)
    space = _Ctx(tuple(n for n in ctx.inputs if n != name), ctx.inputs, ctx.lines, ctx.bases)
    if not space.space:
        raise ctx.error(f"{key}.time", f"'{name}' is the only input", "space inputs besides "
                        "time", "add the space coordinates to inputs")
    shape = _one(kinds[0], spec[kinds[0]], f"{key}.{kinds[0]}", space)
    try:
        return SpaceTime(shape, **{name: span})
    except ShapeError as exc:
        raise ctx.shape_error(exc, key) from None


def _time(spec: Mapping[str, Any], key: str, ctx: _Ctx) -> tuple[str, tuple[float, float]]:
    if len(spec) != 1:
        raise ctx.error(key, f"has {len(spec)} entries", "one: the time input and its "
                        "interval", "write time: {t: [0, 1]}")
    (name, span), = spec.items()
    if name not in ctx.inputs:
        raise ctx.error(f"{key}.{name}", f"'{name}' is not an input"
                        f"{did_you_mean(name, ctx.inputs)}", "one of: " + ", ".join(ctx.inputs),
                        "name the time input, e.g. time: {t: [0, 1]}")
    lo, hi = _pair(span, f"{key}.{name}", ctx)
    return name, (lo, hi)


def _one(kind: str, value: Any, key: str, ctx: _Ctx) -> Shape:
    if kind not in BUILDERS:
        fix = "write shape: {...} with one of those"
        if kind in ctx.inputs:
            fix = (f"put the bounds inside a box, box: {{{kind}: [low, high], ...}}, or give "
                   "every input [low, high] without shapes")
        raise ctx.error(key, f"unknown shape '{kind}'{did_you_mean(kind, BUILDERS)}",
                        one_of(BUILDERS), fix)
    return BUILDERS[kind](value, key, ctx)


def _fields(value: Any, key: str, ctx: _Ctx, allowed: Sequence[str], required: Sequence[str],
            example: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ctx.error(key, f"found {value!r}", "a mapping of " + ", ".join(allowed),
                        f"write {example}")
    for k in value:
        if k not in allowed:
            raise ctx.error(f"{key}.{k}", f"unknown key '{k}'{did_you_mean(k, allowed)}",
                            one_of(allowed), "fix the spelling or remove the key")
    for k in required:
        if k not in value:
            raise ctx.error(key, f"'{k}' is missing", "keys " + ", ".join(required),
                            f"write {example}")
    _part_name(value, key, ctx)
    return dict(value)


def _part_name(value: Mapping[str, Any], key: str, ctx: _Ctx) -> str | None:
    name = value.get("name")
    if name is not None and name in ctx.inputs:
        raise ctx.error(f"{key}.name", f"'{name}' is an input", "a part name that is not "
                        "an input", "choose another name, e.g. hole")
    return name


def _disk(value: Any, key: str, ctx: _Ctx) -> Shape:
    zero = ", ".join("0" for _ in ctx.space)
    spec = _fields(value, key, ctx, ("center", "radius", "name"), ("center", "radius"),
                   f"{{center: [{zero}], radius: 1}}")
    center = spec["center"]
    if not isinstance(center, list) or len(center) != len(ctx.space):
        n = len(center) if isinstance(center, list) else "no"
        raise ctx.error(f"{key}.center", f"found {center!r} ({n} numbers)",
                        f"one number per space coordinate ({', '.join(ctx.space)}: the "
                        "inputs, in order, without time)", f"write center: [{zero}]")
    nums = [_number(c, f"{key}.center.{i}", ctx) for i, c in enumerate(center)]
    return _built(lambda: Disk(nums, _number(spec["radius"], f"{key}.radius", ctx), ctx.space,
                               spec.get("name")), key, ctx)


def _polygon(value: Any, key: str, ctx: _Ctx) -> Shape:
    spec = _fields(value, key, ctx, ("vertices", "name"), ("vertices",),
                   "{vertices: [[0, 0], [1, 0], [0, 1]]}")
    if len(ctx.space) != 2:
        raise ctx.error(key, f"a polygon is 2-D; the space coordinates are "
                        f"{', '.join(ctx.space)}", "two space inputs",
                        "use box, disk or a combination in other dimensions")
    pts = _vertices(spec["vertices"], key, ctx, "[x, y]", "[[0, 0], [1, 0], [0, 1]]", repr)
    return _built(lambda: Polygon(pts, ctx.space, spec.get("name")), key, ctx)


def _vertices(vertices: Any, key: str, ctx: _Ctx, point: str, example: str,
              show: Callable[[object], str]) -> list[list[float]]:
    """``vertices:`` of a polygon or polyhedron: a list of points of ``point``'s length."""
    d = point.count(",") + 1
    if not isinstance(vertices, list) or not all(isinstance(v, list) and len(v) == d
                                                 for v in vertices):
        raise ctx.error(f"{key}.vertices", f"found {show(vertices)}", f"a list of {point} "
                        "points", f"write vertices: {example}")
    return [[_number(c, f"{key}.vertices.{i}.{j}", ctx) for j, c in enumerate(v)]
            for i, v in enumerate(vertices)]


def _numbers(v: Any, key: str, ctx: _Ctx, count: int, what: str, example: str) -> list[float]:
    if not isinstance(v, list) or len(v) != count:
        n = len(v) if isinstance(v, list) else "no"
        raise ctx.error(key, f"found {v!r} ({n} numbers)", f"{count} numbers: {what}",
                        f"write {key.rpartition('.')[2]}: {example}")
    return [_number(c, f"{key}.{i}", ctx) for i, c in enumerate(v)]


def _ellipse(value: Any, key: str, ctx: _Ctx) -> Shape:
    d = len(ctx.space)
    zero, ones = ", ".join("0" for _ in ctx.space), ", ".join("1" for _ in ctx.space)
    spec = _fields(value, key, ctx, ("center", "semi_axes", "angle", "axes", "name"),
                   ("center", "semi_axes"), f"{{center: [{zero}], semi_axes: [{ones}]}}")
    if d not in (2, 3):
        raise ctx.error(key, f"an ellipse is 2-D or 3-D; the space coordinates are "
                        f"{', '.join(ctx.space)}", "two or three space inputs",
                        "use disk or box in other dimensions")
    where = f"one per space coordinate ({', '.join(ctx.space)}: the inputs, in order, " \
        "without time)"
    center = _numbers(spec["center"], f"{key}.center", ctx, d, where, f"[{zero}]")
    semi = _numbers(spec["semi_axes"], f"{key}.semi_axes", ctx, d, "the half-widths along "
                    "the shape's axes", f"[{ones}]")
    angle = _number(spec.get("angle", 0.0), f"{key}.angle", ctx)
    axes = spec.get("axes")
    rows = None
    if axes is not None:
        if not isinstance(axes, list) or len(axes) != d:
            raise ctx.error(f"{key}.axes", f"found {axes!r}", f"{d} rows of {d} numbers, the "
                            "directions of the semi-axes", "write axes: [" + ", ".join(
                                "[" + ", ".join("1" if i == j else "0" for j in range(d)) + "]"
                                for i in range(d)) + "]")
        rows = [_numbers(r, f"{key}.axes.{i}", ctx, d, "a direction", "[1, 0, 0]")
                for i, r in enumerate(axes)]
    return _built(lambda: Ellipse(center, semi, angle, rows, ctx.space, spec.get("name")),
                  key, ctx)


def _polyhedron(value: Any, key: str, ctx: _Ctx) -> Shape:
    example = "{vertices: [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]}"
    spec = _fields(value, key, ctx, ("vertices", "name"), ("vertices",), example)
    if len(ctx.space) != 3:
        raise ctx.error(key, f"a polyhedron is 3-D; the space coordinates are "
                        f"{', '.join(ctx.space)}", "three space inputs",
                        "use polygon in 2-D, box or disk in other dimensions")
    pts = _vertices(spec["vertices"], key, ctx, "[x, y, z]",
                    "[[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]", _clip)
    return _built(lambda: Polyhedron(pts, ctx.space, spec.get("name")), key, ctx)


def _mesh(value: Any, key: str, ctx: _Ctx) -> Shape:
    spec = _fields({"file": value} if isinstance(value, str) else value, key, ctx,
                   ("file", "scale", "name"), ("file",), "{file: part.stl}")
    if len(ctx.space) != 3:
        raise ctx.error(key, f"a mesh is 3-D; the space coordinates are "
                        f"{', '.join(ctx.space)}", "three space inputs (time apart)",
                        "give three space inputs, e.g. inputs: [x, y, z]")
    file = spec["file"]
    fkey = f"{key}.file" if isinstance(value, Mapping) else key
    if not isinstance(file, str) or not file:
        raise ctx.error(fkey, f"found {file!r}", "the path of an STL or OBJ file",
                        "write mesh: part.stl")
    path = _find(file, fkey, ctx)
    scale = _number(spec.get("scale", 1.0), f"{key}.scale", ctx)
    try:
        return Mesh(path, scale=scale, names=ctx.space, name=spec.get("name"))
    except ShapeError as exc:
        if exc.path == "file":  # the file's own faults, at the key that names the file
            raise ctx.error(fkey, exc.found, exc.expected, exc.advice) from None
        raise ctx.shape_error(exc, key) from None


def _find(file: str, key: str, ctx: _Ctx) -> Path:
    p = Path(file)
    tried = [p] if p.is_absolute() else [b / p for b in ctx.bases]
    for c in tried:
        if c.is_file():
            return c
    folder = tried[0].parent
    near = did_you_mean(p.name, [c.name for c in folder.iterdir()]) if folder.is_dir() else ""
    raise ctx.error(key, f"file '{file}' not found{near} (looked in "
                    + ", ".join(str(c.parent) for c in tried) + ")", "an STL or OBJ file",
                    "paths are relative to the config file's folder, then the working "
                    "directory")


def _clip(v: object) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _box_shape(value: Any, key: str, ctx: _Ctx) -> Shape:
    if not isinstance(value, Mapping):
        raise ctx.error(key, f"found {value!r}", "a mapping from each space coordinate to "
                        "[low, high]", "write box: {" + ", ".join(f"{n}: [0, 1]"
                                                                 for n in ctx.space) + "}")
    name = _part_name(value, key, ctx)
    box = _box({k: v for k, v in value.items() if k != "name"}, key, ctx, "space coordinate")
    return _built(lambda: Box(list(box.names), box.lower.tolist(), box.upper.tolist(),
                              name=name), key, ctx)


def _combination(op: str) -> Callable[[Any, str, _Ctx], Shape]:
    def build(value: Any, key: str, ctx: _Ctx) -> Shape:
        if not isinstance(value, list) or len(value) < 2:
            raise ctx.error(key, f"found {value!r}", "a list of two or more shapes",
                            f"write {op}: [{{box: ...}}, {{disk: ...}}]")
        shapes = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping) or len(item) != 1:
                raise ctx.error(f"{key}.{i}", f"found {item!r}", "one shape, e.g. {disk: "
                                "{center: ..., radius: ...}}", "write each item as "
                                "{shape: {...}}")
            (kind, spec), = item.items()
            shapes.append(_one(kind, spec, f"{key}.{i}.{kind}", ctx))
        try:
            return COMBINATIONS[op](*shapes)
        except ShapeError as exc:
            raise ctx.shape_error(exc, key) from None
    return build


def _built(make: Callable[[], Shape], key: str, ctx: _Ctx) -> Shape:
    """Call a shape's constructor, giving its errors this key's path and line."""
    try:
        return make()
    except ShapeError as exc:
        raise ctx.shape_error(exc, key) from None


def _number(v: Any, key: str, ctx: _Ctx) -> float:
    if isinstance(v, str):  # YAML 1.1 reads 1e-3 as text
        try:
            return float(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ctx.error(key, f"found {v!r}", "a number", "write a plain number")
    if isinstance(v, str):
        raise ctx.error(key, f"found the text {v!r}", "a number", "write a plain number")
    return float(v)


def _pair(b: Any, key: str, ctx: _Ctx) -> tuple[float, float]:
    ok = isinstance(b, (list, tuple)) and len(b) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)
    if not ok:
        raise ctx.error(key, f"found {b!r}", "[low, high], two numbers",
                        f"write {key.rpartition('.')[2]}: [0, 1]")
    return float(b[0]), float(b[1])


def _box(spec: Mapping[str, Any], key: str, ctx: _Ctx, noun: str) -> Box:
    """One [low, high] per coordinate in ``ctx.space``; errors say which is wrong."""
    names = ctx.space
    extra = [k for k in spec if k not in names]
    if extra:
        raise ctx.error(f"{key}.{extra[0]}", f"'{extra[0]}' is not an {noun}"
                        if noun == "input" else f"'{extra[0]}' is not a {noun}",
                        f"one entry per {noun}: " + ", ".join(names),
                        "add it to 'inputs' or remove it" if noun == "input" else
                        "remove it (time goes in time: {t: [t0, t1]})")
    missing = [n for n in names if n not in spec]
    if missing:
        raise ctx.error(key, f"no bounds for {noun} '{missing[0]}'",
                        f"one entry per {noun}: " + ", ".join(names),
                        f"add {missing[0]}: [low, high]")
    bounds = [_pair(spec[n], f"{key}.{n}", ctx) for n in names]
    try:
        return Box(list(names), [b[0] for b in bounds], [b[1] for b in bounds])
    except ShapeError as exc:
        raise ctx.shape_error(exc, key) from None


BUILDERS: dict[str, Callable[[Any, str, _Ctx], Shape]] = {
    "box": _box_shape, "disk": _disk, "ball": _disk, "ellipse": _ellipse,
    "ellipsoid": _ellipse, "polygon": _polygon, "polyhedron": _polyhedron, "mesh": _mesh,
    **{op: _combination(op) for op in COMBINATIONS},
}
