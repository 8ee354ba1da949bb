"""Reference solutions from tables: ``exact: {file: ref.csv}``.

A solver's output (FEM/FVM nodes, a spectral grid) is a table: one column per input and
one per field it knows, any subset of the outputs (a table with u and p but no v compares
u and p only). Errors are measured at the table's own points, never at interpolated
ones; for pictures the table is interpolated onto the picture grid (linear inside the
points' convex hull, the nearest point's value outside it; nearest everywhere for large
or high-dimensional tables, see ``LINEAR_ROWS``).

A run records the file's SHA-256 in its config.yaml (``exact: {file: ..., sha256: ...}``),
so a run folder read later compares against the table it was trained with or refuses:
``ReferenceChanged`` names the file and says how to compare with another one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config.schema import LIMITS
from .data import Where, coordinates, file_sha256, find_file, read_table, table_from_arrays
from .errors import ConfigError, did_you_mean, line_of
from .geometry import Shape

#: the keys of a table reference; anything else in ``exact: {...}`` is an output's expression
TABLE_KEYS = ("file", "table", "sha256")
#: largest tables interpolated linearly (Delaunay triangulation, built once): about a second
#: in 2-D, three in 3-D; larger ones, and 4+ inputs, use the nearest point's value
LINEAR_ROWS = {2: 200_000, 3: 50_000}


class ReferenceChanged(ConfigError):
    """A run's reference table is not the one it recorded (changed, or moved away)."""


def is_table_spec(spec: Any, outputs: Sequence[str]) -> bool:
    """Whether ``exact:`` names a table (``{file: ...}``) rather than expressions per output."""
    return isinstance(spec, Mapping) and any(k in spec for k in ("file", "table")) \
        and not any(k in outputs for k in ("file", "table"))


class ReferenceTable:
    """Values of some fields at a table's points; also a function (N, d) -> (N, outputs)
    that interpolates them (NaN for a field the table lacks), which pictures and checks use."""

    def __init__(self, path: str, sha256: str | None, x: np.ndarray,
                 values: Mapping[str, np.ndarray], outputs: Sequence[str],
                 file: Path | None = None) -> None:
        self.path, self.sha256, self.x = path, sha256, x  # path: as the config writes it
        self.file = file  # where it was found; None for columns given in memory
        self.outputs = tuple(outputs)
        self.values = {f: values[f] for f in self.outputs if f in values}
        self._interpolants: dict[bytes, Any] = {}

    @property
    def fields(self) -> tuple[str, ...]:
        """The outputs the table has a column for, in output order."""
        return tuple(self.values)

    def matrix(self) -> np.ndarray:
        """(N, len(outputs)) float64: the table's values, NaN where it has none."""
        out = np.full((len(self.x), len(self.outputs)), np.nan)
        for j, f in enumerate(self.outputs):
            if f in self.values:
                out[:, j] = self.values[f]
        return out

    def summary(self) -> str:
        missing = [f for f in self.outputs if f not in self.values]
        return (f"exact: {len(self.x)} reference points from {self.path}; compares "
                + ", ".join(self.fields)
                + (f" ({', '.join(missing)}: no reference)" if missing else ""))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        pts = x.detach().cpu().to(torch.float64).numpy()
        out = np.full((len(pts), len(self.outputs)), np.nan)
        for j, f in enumerate(self.outputs):
            if f in self.values:
                out[:, j] = self._interpolate(self.values[f], pts)
        return torch.as_tensor(out, dtype=x.dtype, device=x.device)

    def _interpolate(self, column: np.ndarray, pts: np.ndarray) -> np.ndarray:
        have = np.isfinite(column)
        key = np.packbits(have).tobytes()
        if key not in self._interpolants:  # one per set of rows with values (usually one)
            self._interpolants[key] = _interpolant(self.x[have])
        return self._interpolants[key](column[have], pts)


def _interpolant(x: np.ndarray) -> Any:
    """A function (values at ``x``, points) -> values at the points."""
    n, d = x.shape
    if d == 1:
        order = np.argsort(x[:, 0], kind="stable")

        def line(v: np.ndarray, pts: np.ndarray) -> np.ndarray:  # ends held flat outside
            return np.interp(pts[:, 0], x[order, 0], v[order])

        return line
    from scipy.spatial import Delaunay, QhullError, cKDTree

    tree = cKDTree(x)

    def nearest(v: np.ndarray, pts: np.ndarray) -> np.ndarray:
        return v[tree.query(pts)[1]]

    if n > LINEAR_ROWS.get(d, 0) or n <= d:
        return nearest
    try:
        triangulation = Delaunay(x)
    except QhullError:  # points on a line or plane (a slice of the domain): no simplices
        return nearest

    def linear(v: np.ndarray, pts: np.ndarray) -> np.ndarray:
        from scipy.interpolate import LinearNDInterpolator

        out = LinearNDInterpolator(triangulation, v)(pts)
        outside = ~np.isfinite(out)  # beyond the convex hull of the table's points
        out[outside] = nearest(v, pts[outside])
        return out

    return linear


def load_reference(spec: Mapping[str, Any], inputs: Sequence[str], outputs: Sequence[str],
                   shape: Shape, bases: Sequence[Path], lines: Mapping[str, int] | None = None,
                   source: str | None = None, prefix: str = "exact", file_key: str = "file"
                   ) -> ReferenceTable:
    """Read and check a reference table; ``spec`` is ``{file: ..., sha256: ...}`` or, from
    Python, ``{table: {x: xs, u: us}}``. Errors name ``<prefix>.<file_key>`` (``exact.file``;
    ``pinnkit eval`` passes ``--reference`` and "")."""
    where = Where(prefix, lines, source, file_key)
    for k in spec:
        if k in outputs:
            raise where.error(f"an expression for '{k}' beside a table (file:)",
                              "either a table or one expression per output",
                              f"put {k}'s values in the table as a column '{k}', or remove "
                              "file:", sub=str(k))
        if k not in TABLE_KEYS:
            raise where.error(f"unknown key '{k}'{did_you_mean(str(k), TABLE_KEYS)}",
                              "file: (a CSV or NPZ table) and optionally sha256:",
                              "a table's columns name the fields; remove the key", sub=str(k))
    file, sha = spec.get("file"), spec.get("sha256")
    most = LIMITS["table.rows"][0]
    if "table" in spec:
        table = table_from_arrays(spec["table"], f"{prefix}.table", where)
        digest, path = None, None
    else:
        if not isinstance(file, (str, Path)) or not str(file):
            raise where.error(f"found {type(file).__name__} {file!r}", "a file name",
                              "write exact: {file: data/reference.csv}")
        try:
            path = find_file(str(file), bases, where)
        except ConfigError:
            if not sha:
                raise
            # a run recorded this file: it was there when the run trained
            raise _changed(where, f"the reference table {file} is not there any more "
                           "(moved or deleted since the run was trained)") from None
        digest = file_sha256(path)
        if sha and sha != digest:
            raise _changed(where, f"{file} has changed since the run was trained: its sha256 "
                           f"is {digest[:12]}..., the run recorded {str(sha)[:12]}...",
                           sub="sha256")
        table = read_table(path, str(file), where, most)
    rows = len(next(iter(table.columns.values())))
    if rows > most:  # an in-memory table; files are bounded as they are read
        raise where.error(f"{table.path} has {rows:,} rows", f"at most {most:,}")
    return _checked(table, digest, inputs, outputs, shape, where, path)


def _changed(where: Where, found: str, sub: str = "file") -> ReferenceChanged:
    key = f"{where.prefix}.{sub}" if sub else where.prefix
    return ReferenceChanged(key, found, "the reference table the run was trained against",
                            "restore that file, or compare with another table: pinnkit eval "
                            "RUN --reference FILE (TrainedModel.table_errors(FILE) in Python)",
                            line_of(where.lines, key) if where.lines else None, where.source)


def _near(name: str, names: Sequence[str]) -> str:
    """did_you_mean, which also finds a name that differs in case only (``T`` for ``t``)."""
    same = [n for n in names if n.lower() == name.lower()]
    return f" (did you mean '{same[0]}'?)" if same else did_you_mean(name, names)


def _checked(table: Any, digest: str | None, inputs: Sequence[str], outputs: Sequence[str],
             shape: Shape, where: Where, file: Path | None) -> ReferenceTable:
    """Columns: every input, at least one output, nothing else; values finite or NaN."""
    expected = (f"columns named after the inputs ({', '.join(inputs)}) and outputs "
                f"({', '.join(outputs)})")
    for c in table.columns:
        if c not in inputs and c not in outputs:
            raise where.error(f"column '{c}' of {table.path} is neither an input nor an output"
                              f"{_near(c, [*inputs, *outputs])}", expected,
                              "rename the column after the field it holds, or remove it")
    fields = [f for f in outputs if f in table.columns]
    if not fields:
        raise where.error(f"{table.path} has no column for any output (columns: "
                          f"{', '.join(table.columns)})", expected,
                          f"add a column named after a field, e.g. {outputs[0]}")
    x = coordinates(table, inputs, shape, where)
    for f in fields:
        col = table.columns[f]
        inf = np.flatnonzero(np.isinf(col))
        if len(inf):
            raise where.error(f"{table.where(inf[0], f)}: found {col[inf[0]]}",
                              "a finite number, or nan (an empty cell) for no value",
                              "fix that cell")
        if not np.isfinite(col).any():
            raise where.error(f"{table.path}, column '{f}' has no values (all nan)",
                              "at least one number", "fill the column or remove it")
    return ReferenceTable(table.path, digest, x, {f: table.columns[f] for f in fields}, outputs,
                          file)
