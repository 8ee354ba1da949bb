"""Observations: CSV or NPZ files whose columns are inputs, fields and derivatives.

A data entry ``obs: {file: data/obs.csv}`` whose file has columns ``x, t, u, u_x`` gives
two squared-error terms, ``obs.u`` and ``obs.u_x``, evaluated at the file's points. Fitting
``u_x`` as well as ``u`` (Sobolev training) is what makes a network's derivatives follow the
data, not only its values. A target column is any expression of the problem's language, so
``u_x`` and ``d(u, xi)`` both work; a NaN there (or an empty cell) drops that row from that
target only. Everything wrong with a file is a ``ConfigError`` naming the YAML key
``data.<name>.file``, the file, the row and the column.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import math
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config.schema import LIMITS, DataConfig, build
from .errors import ConfigError, ExprError, did_you_mean, line_of
from .expr import Namespace, compile_expr, parse
from .expr.analysis import partials
from .expr.compile import Compiled
from .geometry import Shape

Lines = Mapping[str, int]
_MISSING = {"", "nan", "na", "n/a", "null", "none"}  # cells read as "no value here"


@dataclass(frozen=True)
class Table:
    """Columns of floats (NaN where a value is missing) and where each row came from."""

    path: str
    columns: dict[str, np.ndarray]
    file_lines: tuple[int, ...] | None = None  # CSV: the file line of each data row

    def where(self, row: int, column: str) -> str:
        """'data/obs.csv, line 7 (row 6), column 'u'' for row index ``row`` (0-based)."""
        at = f"line {self.file_lines[row]} (row {row + 1})" if self.file_lines else \
            f"row {row + 1}"
        return f"{self.path}, {at}, column '{column}'"


@dataclass(frozen=True)
class Target:
    """One fitted column: its term name, expression, and the rows that have a value."""

    name: str  # term name, "<entry>.<column>"
    column: str
    expr: Compiled
    values: np.ndarray  # (k,) observed values of the rows that have one
    rows: np.ndarray  # (k,) indices of those rows among the entry's points
    weight: float
    missing: int  # rows skipped because this column is NaN there

    def residual(self, env: Mapping[Any, Any]) -> torch.Tensor:
        """Prediction minus observation at the rows that have a value."""
        pred = self.expr.fn(env)
        pred = pred[env[("rows", self.name)]] if torch.is_tensor(pred) and pred.ndim else pred
        return pred - env[("values", self.name)]


@dataclass(frozen=True)
class Observations:
    """One data entry: points (n, len(inputs)) and the targets fitted there."""

    name: str
    path: str
    x: np.ndarray
    targets: tuple[Target, ...]

    def tensors(self, device: torch.device, dtype: torch.dtype) -> dict[Any, torch.Tensor]:
        """The env entries the targets' residuals read: rows and observed values."""
        out: dict[Any, torch.Tensor] = {}
        for t in self.targets:
            out[("rows", t.name)] = torch.as_tensor(t.rows, dtype=torch.long, device=device)
            out[("values", t.name)] = torch.as_tensor(t.values, dtype=dtype, device=device)
        return out

    def summary(self) -> str:
        parts = [f"{t.name} {len(t.rows)} rows" + (f" ({t.missing} NaN skipped)"
                                                   if t.missing else "") for t in self.targets]
        return f"data.{self.name}: {len(self.x)} points from {self.path}; " + ", ".join(parts)


class Where:
    """Where a table's errors point: the YAML key that names the file (``data.obs``,
    ``exact``, ``fields.kappa``; or ``--reference``), its line and the config file."""

    def __init__(self, prefix: str, lines: Lines | None = None, source: str | None = None,
                 file: str = "file") -> None:
        self.prefix, self.lines, self.source, self.file = prefix, lines or {}, source, file

    def error(self, found: str, expected: str = "", fix: str = "", sub: str | None = None
              ) -> ConfigError:
        """A ConfigError at ``<prefix>.<sub>``; ``sub`` defaults to the key of the file
        (``file``; "" where the prefix itself names it, as ``--reference`` does)."""
        sub = self.file if sub is None else sub
        key = f"{self.prefix}.{sub}" if sub else self.prefix
        line = line_of(self.lines, key) if self.lines else None
        return ConfigError(key, found, expected, fix, line, self.source)


def file_bases(source: str | None, owner: type | None = None) -> list[Path]:
    """Where a relative file name in a config is looked for, in order: the config file's
    folder, the folder of the Python file that defines ``owner`` (a Problem class), then
    the working directory."""
    bases = []
    if source and not source.startswith("<"):
        bases.append(Path(source).resolve().parent)
    if owner is not None:
        try:
            bases.append(Path(inspect.getfile(owner)).resolve().parent)
        except (TypeError, OSError):  # a class defined interactively has no file
            pass
    bases.append(Path.cwd())
    return list(dict.fromkeys(bases))


def load_table(file: str, where: Where, bases: Sequence[Path], max_rows: int | None = None
               ) -> tuple[Table, Path]:
    """Find ``file`` (absolute, else under ``bases``) and read it as a CSV or NPZ table;
    every problem is a ConfigError at ``where``'s key (``<prefix>.file``). ``max_rows``:
    a larger table is refused (see ``LIMITS["table.rows"]``)."""
    path = find_file(file, bases, where)
    return read_table(path, file, where, max_rows), path


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes: what a run records to know its tables again."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_spec(cls: type[Any], key: str, value: Any, lines: Lines | None, source: str | None,
               missing: tuple[str, str], form: tuple[str, str]) -> tuple[Any, Any]:
    """A path, a mapping of options or an instance of the config class ``cls`` -> (options,
    in-memory table or None): what a key that names a CSV/NPZ table (``data.NAME``,
    ``fields.NAME``) may hold. From Python, ``{"table": {"x": xs, "u": us}}`` gives the
    columns directly. ``missing``: (expected, fix) when neither file nor table is given;
    ``form``: (expected, fix) for a value of another type."""
    if isinstance(value, (str, Path)):
        return cls(file=str(value)), None
    if isinstance(value, cls):
        return value, None
    if isinstance(value, Mapping):
        options: dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v
                                   for k, v in value.items()}
        table = options.pop("table", None)
        spec = build(cls, options, dict(lines or {}), key, source or "")
        if table is None and not spec.file:
            raise Where(key, lines, source).error("is missing", *missing)
        return spec, table
    raise ConfigError(key, f"found {type(value).__name__} {value!r}", *form,
                      (lines or {}).get(key), source)


def data_spec(name: str, value: Any, lines: Lines | None = None, source: str | None = None
              ) -> tuple[DataConfig, Mapping[str, Any] | None]:
    """``data.NAME``: a path, a mapping of options or a ``DataConfig`` (see table_spec)."""
    return table_spec(DataConfig, f"data.{name}", value, lines, source,
                      ("a CSV or NPZ file of observations", f"add data.{name}.file: "
                       f"data/{name}.csv"),
                      ("a file path or {file: ..., weight: ...}",
                       f"write {name}: {{file: data/{name}.csv}}"))


def find_file(file: str, bases: Sequence[Path], where: Where) -> Path:
    """``file`` as given if absolute, else the first of bases/file that exists."""
    p = Path(file)
    tried = [p] if p.is_absolute() else [b / p for b in bases]
    for c in tried:
        if c.is_file():
            return c
    folder = tried[0].parent
    near = did_you_mean(p.name, [c.name for c in folder.iterdir()]) if folder.is_dir() else ""
    raise where.error(f"file '{file}' not found{near} (looked in "
                      + ", ".join(str(c.parent) for c in tried) + ")",
                      "a CSV or NPZ file", "paths are relative to the config file's folder, "
                      "then the working directory" if len(bases) > 1 else
                      f"check the path (a relative one is read from {bases[0]})")


def read_table(path: Path, shown: str, where: Where, max_rows: int | None = None) -> Table:
    """Read a .csv (header row of names, '#' comment lines) or .npz (one array per column);
    with ``max_rows``, a longer table is an error (a CSV's before its cells are parsed)."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise where.error(f"'{shown}' is neither .csv nor .npz", "a .csv or .npz file",
                          "save the table as CSV with a header row x,t,u or as NPZ")
    table = _read_csv(path, shown, where, max_rows) if suffix == ".csv" else \
        _read_npz(path, shown, where)
    rows = len(next(iter(table.columns.values())))
    if max_rows is not None and rows > max_rows:
        raise too_many_rows(shown, f"{rows:,}", max_rows, where)
    return table


def too_many_rows(shown: str, rows: str, most: int, where: Where) -> ConfigError:
    return where.error(f"{shown} has {rows} rows",
                       f"at most {most:,} ({LIMITS['table.rows'][1]})",
                       "keep a random subset of the rows, e.g. with numpy: "
                       "table[rng.choice(len(table), 100_000, replace=False)]")


def _read_csv(path: Path, shown: str, where: Where, max_rows: int | None = None) -> Table:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise where.error(f"cannot read '{shown}' ({type(exc).__name__})",
                          "a UTF-8 CSV text file") from None
    header: list[str] | None = None
    rows: list[list[str]] = []
    file_lines: list[int] = []
    reader = csv.reader(text.splitlines())
    try:
        for cells in reader:
            if not cells or all(not c.strip() for c in cells) or cells[0].lstrip()[:1] == "#":
                continue
            if header is None:
                header = [c.strip() for c in cells]
                header_line = reader.line_num
                continue
            if len(cells) != len(header):
                raise where.error(f"{shown}, line {reader.line_num}: {len(cells)} values, but "
                                  f"the header (line {header_line}) names {len(header)} columns",
                                  "one value per column in every row",
                                  "fix that row; leave a cell empty or write nan for no value")
            rows.append(cells)
            file_lines.append(reader.line_num)
            if max_rows is not None and len(rows) > max_rows:  # before any cell is parsed
                raise too_many_rows(shown, f"more than {max_rows:,}", max_rows, where)
    except csv.Error as exc:
        raise where.error(f"{shown} does not parse as CSV at line {reader.line_num}: {exc}",
                          "comma-separated values with a header row") from None
    if header is None or not rows:
        raise where.error(f"{shown} has no " + ("header row" if header is None else "data rows"),
                          "a header row such as x,t,u and one row per observation")
    _check_names(header, shown, where, f"line {header_line}")
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        col = np.empty(len(rows))
        for i, cells in enumerate(rows):
            col[i] = _number(cells[j], name, i, shown, file_lines, where)
        columns[name] = col
    return Table(shown, columns, tuple(file_lines))


def _number(cell: str, column: str, row: int, shown: str, file_lines: list[int],
            where: Where) -> float:
    s = cell.strip()
    if s.lower() in _MISSING:
        return math.nan
    try:
        return float(s)
    except ValueError:
        at = Table(shown, {}, tuple(file_lines)).where(row, column)
        raise where.error(f"{at}: found the text {s!r}", "a number (or empty / nan for "
                          "no value)", "fix the cell; a numeric column holds numbers only"
                          ) from None


def _check_names(names: Sequence[str], shown: str, where: Where, at: str) -> None:
    for n in names:
        if not n:
            raise where.error(f"{shown}, {at}: a column has no name", "a name for every "
                              "column", "name the columns after inputs, fields and "
                              "derivatives, e.g. x,t,u,u_x")
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise where.error(f"{shown}, {at}: column '{dup}' appears twice", "distinct names",
                          "remove or rename one of them")


def _read_npz(path: Path, shown: str, where: Where) -> Table:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # numpy's own text for an object array advises allow_pickle: never the fix here
        why = "it holds Python objects, which pinnkit never unpickles" if "pickle" in str(exc) \
            else f"{type(exc).__name__}: {exc}"
        raise where.error(f"{shown} does not parse as NPZ ({why})",
                          "a file written by numpy.savez with one 1-D array per column"
                          ) from None
    return table_from_arrays(arrays, shown, where)


def table_from_arrays(arrays: Mapping[str, Any], shown: str, where: Where) -> Table:
    """Columns given as arrays (NPZ, or a Python ``table``) -> Table, checked."""
    if not arrays:
        raise where.error(f"{shown} holds no columns", "one 1-D array per column")
    _check_names(list(arrays), shown, where, "column names")
    columns: dict[str, np.ndarray] = {}
    n = None
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.ndim == 2 and a.shape[1] == 1:
            a = a[:, 0]
        if a.ndim != 1:
            raise where.error(f"{shown}, column '{name}' has shape {a.shape}",
                              "one 1-D array per column", "save each column separately")
        if a.dtype.kind not in "biuf":
            bad = next((i for i, v in enumerate(a) if not _is_number(v)), None)
            at = f"{shown}, row {bad + 1}, column '{name}': found {a[bad]!r}" if bad is not None \
                else f"{shown}, column '{name}' has dtype {a.dtype}"
            raise where.error(at, "numbers", "a numeric column holds numbers only")
        if n is not None and len(a) != n:
            raise where.error(f"{shown}, column '{name}' has {len(a)} rows, the others {n}",
                              "columns of equal length")
        n = len(a)
        columns[name] = a.astype(np.float64)
    if not n:
        raise where.error(f"{shown} has no data rows", "one row per observation")
    return Table(shown, columns)


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def load_observations(name: str, value: Any, ns: Namespace, shape: Shape,
                      term_weights: Mapping[str, float], bases: Sequence[Path],
                      lines: Lines | None = None, source: str | None = None) -> Observations:
    """Read, check and compile one data entry of a problem."""
    where = Where(f"data.{name}", lines, source)
    spec, arrays = data_spec(name, value, lines, source)
    if arrays is not None:
        table = table_from_arrays(arrays, f"data.{name}.table", where)
    else:
        path = find_file(spec.file, bases, where)
        table = read_table(path, spec.file, where)
    x = coordinates(table, ns.inputs, shape, where)
    columns = spec.targets or tuple(c for c in table.columns if c not in ns.inputs)
    if not columns:
        raise where.error(f"{table.path} has only input columns ({', '.join(table.columns)})",
                          "at least one column of a field or derivative, e.g. "
                          + ", ".join(ns.outputs[:1] or ("u",)),
                          "add a column named after a field (u) or a derivative (u_x)")
    for option in ("weights", "sigma"):
        for c in getattr(spec, option):
            if c not in columns:
                raise where.error(f"'{c}' is not a fitted column{did_you_mean(c, columns)}",
                                  "one of: " + ", ".join(columns), "use a target column's name",
                                  sub=f"{option}.{c}")
    targets = tuple(_target(name, c, table, spec, ns, term_weights, where) for c in columns)
    return Observations(name, table.path, x, targets)


def coordinates(table: Table, inputs: Sequence[str], shape: Shape, where: Where
                ) -> np.ndarray:
    """The table's rows as points (n, len(inputs)): every input has a column, every
    coordinate is finite and every point lies in the domain (within its tolerance)."""
    missing = [n for n in inputs if n not in table.columns]
    if missing:
        raise where.error(f"{table.path} has no column '{missing[0]}'"
                          f"{did_you_mean(missing[0], table.columns)} (columns: "
                          f"{', '.join(table.columns)})", "one column per input: "
                          + ", ".join(inputs), f"add a column '{missing[0]}' with its coordinates")
    x = np.stack([table.columns[n] for n in inputs], axis=1)
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        i, j = bad[0]
        raise where.error(f"{table.where(i, inputs[j])}: the coordinate is {x[i, j]}",
                          "a finite number in every input column",
                          "fix or remove that row; only target columns may hold nan")
    outside = np.flatnonzero(~shape.contains(x, shape.tolerance()))
    if len(outside):
        i = outside[0]
        lo, hi = shape.bounds()
        j = next((k for k in range(len(inputs)) if not lo[k] <= x[i, k] <= hi[k]), 0)
        rows = f"{len(outside)} such row" + ("s" if len(outside) > 1 else "")
        raise where.error(f"{table.where(i, inputs[j])}: {inputs[j]} = {x[i, j]:g} lies outside "
                          f"the domain ({rows})", f"{inputs[j]} in [{lo[j]:g}, {hi[j]:g}]",
                          "drop those rows or widen the domain")
    return x


def _target(entry: str, column: str, table: Table, spec: DataConfig, ns: Namespace,
            term_weights: Mapping[str, float], where: Where) -> Target:
    sub = "targets" if spec.targets else "file"
    if column not in table.columns:
        raise where.error(f"target '{column}' is not a column of {table.path}"
                          f"{did_you_mean(column, table.columns)}",
                          "one of: " + ", ".join(table.columns), "fix the name", sub=sub)
    if column in ns.inputs:
        raise where.error(f"target '{column}' is an input", "fields or derivatives",
                          f"remove '{column}' from targets", sub=sub)
    try:
        tree = parse(column, ns)
    except ExprError as exc:
        raise where.error(f"column '{column}' of {table.path} is not a field or derivative: "
                          f"{exc.message}", "columns named after inputs ("
                          + ", ".join(ns.inputs) + "), fields (" + ", ".join(ns.outputs)
                          + ") or derivatives such as " + f"{ns.outputs[0]}_{ns.inputs[0]}",
                          "rename the column, or list the columns to fit in "
                          f"data.{entry}.targets", sub=sub) from None
    if not partials(tree):
        raise where.error(f"column '{column}' of {table.path} reads no field",
                          "a field or derivative such as " + ", ".join(ns.outputs),
                          f"list the columns to fit in data.{entry}.targets", sub=sub)
    col = table.columns[column]
    inf = np.flatnonzero(np.isinf(col))
    if len(inf):
        raise where.error(f"{table.where(inf[0], column)}: found {col[inf[0]]}",
                          "a finite number, or nan for no value", "fix that cell")
    rows = np.flatnonzero(np.isfinite(col))
    if not len(rows):
        raise where.error(f"{table.path}, column '{column}' has no values (all nan)",
                          "at least one number", "fill the column or drop it from targets")
    name = f"{entry}.{column}"
    weight = spec.weights.get(column, term_weights.get(name, spec.weight))
    sigma = spec.sigma.get(column)
    for opt, v in (("weights", weight), ("sigma", sigma)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise where.error(f"found {v}", "a positive number", "", sub=f"{opt}.{column}")
    if sigma is not None:
        weight = weight / sigma**2  # Gaussian noise: the log-likelihood weighs 1/sigma^2
    missing = len(col) - len(rows)
    if missing:
        warnings.warn(f"data.{entry}: {missing} of {len(col)} rows have no value (nan) in "
                      f"column '{column}'; term {name} uses the other {len(rows)}",
                      stacklevel=2)
    return Target(name, column, compile_expr(tree), col[rows], rows, float(weight), missing)
