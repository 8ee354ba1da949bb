"""Conditions at given points instead of sampled ones.

``{at: {x: 0, y: 0}, residual: p}`` holds at one point (or at each of a list of points):
the pressure pinned at a corner, the amplitude of an eigenfunction, a pure-Neumann
solution's constant. ``{on: t == 0, file: u0.csv, residual: u - u0}`` holds at the rows of
a table: the residual reads the table's other columns by name, at each row, so a target
known only as data (a measured initial state, a wall temperature from a sensor) is a
condition like any other, with no interpolation between its points. The selector says
where the rows lie and is checked against them.

Both are squared residuals averaged over their points, weighted like any term; their
points never change (no sampling, no resampling), and every rank of a torchrun holds all
of them, as it does a data set's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config.schema import LIMITS
from .data import Where, coordinates, load_table
from .errors import ConfigError, ExprError, did_you_mean, line_of
from .expr import Namespace, compile_expr, parse, parse_name
from .expr import tree as t
from .expr.analysis import walk
from .expr.names import unusable
from .geometry import Selector, Shape
from .geometry.normals import normal_names

Lines = Mapping[str, int]


@dataclass(frozen=True)
class FixedPoints:
    """The points a condition holds at, and what its residual reads there besides the
    network: the outward normal (on the boundary) and a table's columns."""

    x: np.ndarray                           # (n, len(inputs))
    normals: np.ndarray | None = None       # (n, len(inputs)); None: no normal is read
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n,) values
    origin: str = "at"                      # "at", or the table's file, for messages


def point_condition(value: Any, key: str, inputs: Sequence[str],
                    constants: Mapping[str, float], shape: Shape,
                    lines: Lines | None = None, source: str | None = None) -> FixedPoints:
    """``at:`` as points: a mapping {input: value} or a list of them; a value is a number
    or an expression of the constants (``L/2``). Every point must lie in the domain."""
    lines = lines or {}
    where = f"{key}.at"

    def error(found: str, expected: str, fix: str, sub: str = "") -> ConfigError:
        k = f"{where}.{sub}" if sub else where
        return ConfigError(k, found, expected, fix, line_of(lines, k), source)

    points = [value] if isinstance(value, Mapping) else value
    example = "{" + ", ".join(f"{n}: 0" for n in inputs) + "}"
    if not isinstance(points, (list, tuple)) or not points:
        raise error(f"found {type(value).__name__} {value!r}"[:90], f"a point {example} or a "
                    "list of points", f"write at: {example}")
    most, why = LIMITS["ConditionConfig.at"]
    if len(points) > most:
        raise error(f"lists {len(points):,} points", f"at most {most:,} ({why})",
                    "give a table of points instead: file: points.csv with on:")
    rows = []
    for i, point in enumerate(points):
        sub = str(i) if not isinstance(value, Mapping) else ""
        if not isinstance(point, Mapping):
            raise error(f"found {type(point).__name__} {point!r}"[:90], f"a point {example}",
                        f"write each point as {example}", sub)
        for name in point:
            if name not in inputs:
                raise error(f"'{name}' is not an input{did_you_mean(str(name), inputs)}",
                            "one value per input: " + ", ".join(inputs), "fix the name",
                            f"{sub}.{name}".strip("."))
        missing = [n for n in inputs if n not in point]
        if missing:
            raise error(f"the point gives no {missing[0]}", "one value per input: "
                        + ", ".join(inputs), f"add {missing[0]}: <value>", sub)
        rows.append([_coordinate(point[n], f"{sub}.{n}".strip("."), constants, error)
                     for n in inputs])
    x = np.array(rows, dtype=np.float64)
    outside = np.flatnonzero(~shape.contains(x, shape.tolerance()))
    if len(outside):
        i = int(outside[0])
        lo, hi = shape.bounds()
        at = ", ".join(f"{n} = {x[i, j]:g}" for j, n in enumerate(inputs))
        box = ", ".join(f"{n} in [{lo[j]:g}, {hi[j]:g}]" for j, n in enumerate(inputs))
        raise error(f"the point ({at}) lies outside the domain {shape!r}",
                    f"a point of the domain ({box})", "move the point into the domain, or "
                    "widen the domain", str(i) if not isinstance(value, Mapping) else "")
    return FixedPoints(x)


def _coordinate(v: Any, sub: str, constants: Mapping[str, float], error: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise error(f"found {type(v).__name__} {v!r}"[:90], "a number, or an expression of "
                    "the constants such as L/2", "write a number", sub)
    if isinstance(v, str):
        try:  # YAML reads 1e-3 as text; 'L/2' names a constant
            tree = parse(v, Namespace((), (), tuple(constants)))
            env: dict[Any, Any] = dict(constants)
            v = compile_expr(tree).fn(env)
        except ExprError as exc:
            raise error(f"{exc.message} in '{exc.text}'", "a number, or an expression of the "
                        "constants such as L/2", exc.fix or "write a number", sub) from None
    value = float(v)
    if not math.isfinite(value):
        raise error(f"found {value}", "a finite number", "write a finite number", sub)
    return value


def table_condition(file: str, key: str, selector: Selector, ns: Namespace, shape: Shape,
                    bases: Sequence[Path], lines: Lines | None = None,
                    source: str | None = None) -> tuple[FixedPoints, Namespace]:
    """A condition's table: its rows' points (on the selected part of the boundary) with
    their outward normals, its other columns as names the residual may read, and that
    namespace (``ns``, a condition's, plus the columns)."""
    where = Where(key, lines, source)
    table, _ = load_table(file, where, bases, LIMITS["table.rows"][0])
    x = coordinates(table, ns.inputs, shape, where)
    names = [c for c in table.columns if c not in ns.inputs]
    taken = set(ns.known())
    for c in names:
        why = unusable(c) or ("already a name of the problem" if c in taken else "") or \
            ("it reads as a derivative" if parse_name(c, ns.inputs, ns.outputs) else "")
        if why:
            raise where.error(f"column '{c}' of {table.path} cannot be read by name ({why})",
                              "columns named after the inputs and new names for the values, "
                              "e.g. x, t, u0", "rename the column, e.g. "
                              + (f"{c}_data" if c.isidentifier() else "g"))
        col = table.columns[c]
        bad = np.flatnonzero(~np.isfinite(col))
        if len(bad):
            raise where.error(f"{table.where(int(bad[0]), c)}: found {col[bad[0]]}",
                              "a finite number in every cell of a condition's table",
                              "fill the cell, or drop the row")
    parts = [n.name for n in walk(selector.tree) if isinstance(n, t.Sym)
             and n.name in shape.part_names() and n.name != "boundary"]
    if parts:
        raise ConfigError(f"{key}.on", f"names the boundary part '{parts[0]}', but the points "
                          f"come from {table.path}", "comparisons of the inputs, or "
                          "'boundary', which the table's points are checked against",
                          "write the part as comparisons of the inputs (e.g. x == 0)",
                          line_of(lines or {}, f"{key}.on"), source)
    normals = shape.normals(x)
    cols: dict[str, np.ndarray] = {n: x[:, i] for i, n in enumerate(ns.inputs)}
    for sym, i in normal_names(ns.inputs).items():
        cols[sym] = normals[:, i]
    on_boundary = np.abs(shape.sdf(x)) <= shape.tolerance()
    chosen = selector(cols, {"boundary": on_boundary}, shape.tolerance()) & on_boundary
    off = np.flatnonzero(~chosen)
    if len(off):
        i = int(off[0])
        at = ", ".join(f"{n} = {x[i, j]:g}" for j, n in enumerate(ns.inputs))
        rows = f"{len(off)} of {len(x)} rows"
        raise where.error(f"{table.where(i, ns.inputs[0])}: the point ({at}) is not on "
                          f"'{selector.text}' ({rows})", "points of the boundary where on: "
                          "holds", "drop those rows, or change on:")
    names_ns = dataclasses.replace(ns, symbols=(*ns.symbols, *names))
    return FixedPoints(x, normals, {c: table.columns[c] for c in names}, table.path), names_ns
