"""Using a finished (or stopped) run: load it, evaluate fields, derivatives and residuals.

``load("runs/heat")`` rebuilds the problem from the run's config.yaml and the network from
a checkpoint; ``TrainedModel.predict`` and ``.derivatives`` evaluate it anywhere.
``pinnkit eval`` is a thin layer over this module.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import PROBLEM_KEYS, Config, load_config, to_data
from .engines import derivatives as field_derivatives
from .engines import make_engine
from .errors import ConfigError, ExprError, PinnkitError
from .exact import ReferenceChanged, ReferenceTable, load_reference
from .problem import CompiledProblem, Problem
from .setup import resolve, run_config
from .training.checkpoint import load as load_checkpoint
from .training.metrics import errors_at, evaluation_points, predict, reference_errors
from .training.setup import DTYPES, build_model
from .training.state import check_model_class
from .training.trainer import Fitted
from .usercode import calling_user, user_files

GRID_POINTS = 40_000  # the fresh evaluation grid: 200 x 200 in 2-D (training monitors 128^2)
BATCH = 16_384  # points per derivative evaluation, to bound memory

Points = np.ndarray | torch.Tensor | Mapping[str, Any]


@dataclass
class TrainedModel:
    """A trained network with its problem; evaluates fields, derivatives and residuals."""

    model: torch.nn.Module
    problem: CompiledProblem
    config: Config
    run_dir: Path
    step: int                               # global step of the checkpoint
    params: dict[str, float] = field(default_factory=dict)  # learned parameters' values
    metrics: dict[str, Any] = field(default_factory=dict)   # metrics.json, when present
    # why the run's reference table was not read (changed or moved since training); the
    # errors against it then raise this, while predict and derivatives work as before
    stale_reference: str | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.problem.inputs

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.problem.outputs

    def predict(self, points: Points) -> Any:
        """The network's outputs (N, n_outputs) at ``points``: numpy in, numpy out."""
        x, as_numpy = self._points(points)
        out = predict(self.model, x)
        return out.cpu().numpy() if as_numpy else out

    def derivatives(self, points: Points, names: Sequence[str] | str) -> dict[str, Any]:
        """Each name's (N,) values: a field (``u``), a derivative (``u_xx``, ``d(u, x, x)``),
        an expression of them (``u_xx + u_yy``) or a residual's name (``heat``). A
        condition's residual reads the outward normal (``u_n``, ``nx``): on the boundary the
        normal there, elsewhere the unit gradient of the domain's signed distance."""
        names = split_names(names) if isinstance(names, str) else list(names)
        x, as_numpy = self._points(points)
        parts: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        for i in range(0, len(x), BATCH):
            for n, v in self._evaluate(x[i:i + BATCH], names).items():
                parts[n].append(v.detach())
        out = {n: torch.cat(v) if v else x.new_zeros(0) for n, v in parts.items()}
        return {n: v.cpu().numpy() for n, v in out.items()} if as_numpy else out

    def _evaluate(self, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
        terms = {t.name: t for t in self.problem.terms}
        exprs = [n for n in names if n not in terms]
        try:
            values = field_derivatives(self.model, x, exprs, self.inputs, self.outputs) \
                if exprs else {}
        except ExprError as exc:
            hint = (f"name fields, derivatives such as {self.outputs[0]}_{self.inputs[0]}, "
                    f"expressions of them, or a residual: {', '.join(terms)}")
            fix = f"{exc.fix}; or {hint}" if exc.fix else hint
            where = f" at column {exc.column + 1}" if exc.column is not None else ""
            raise PinnkitError(f"--fields: {exc.message}{where} in '{exc.text}'. Fix: {fix}"
                               ) from None
        wanted = [terms[n] for n in names if n in terms]
        for t in wanted:
            tabled = t.points is not None and bool(t.points.columns)
            if t.kind == "data" or t.periodic is not None or tabled:
                what = "compares with its observations" if t.kind == "data" else \
                    "pairs points on two faces" if t.periodic is not None else \
                    f"reads the columns of {t.points.origin if t.points else 'its table'}"
                raise PinnkitError(f"--fields: '{t.name}' {what}, so it has no value at a "
                                   "point of its own. Fix: evaluate the fields it reads, e.g. "
                                   f"--fields {','.join(self.outputs)}")
        if wanted:
            engine = make_engine("autograd", self.model)
            needs = frozenset().union(*(t.needs for t in wanted))
            table = engine(self.model, x, needs, self.outputs, create_graph=False)
            # a condition reads the outward normal (nx, u_n); off the boundary, the unit
            # gradient of the domain's signed distance stands in for it
            boundary = any(t.selector is not None for t in wanted)
            env = self.problem.env(x, table, self._normals(x) if boundary else None)
            with calling_user(files=user_files(self.problem.problem)):  # a raising method
                for t in wanted:
                    r = torch.as_tensor(t.residual(env), dtype=x.dtype, device=x.device)
                    values[t.name] = r.expand(len(x)) if r.ndim == 0 else r
        return {n: values[n] for n in names}

    def _normals(self, x: torch.Tensor) -> torch.Tensor:
        n = self.problem.shape.normals(x.detach().cpu().to(torch.float64).numpy())
        return torch.as_tensor(n, dtype=x.dtype, device=x.device)

    def _points(self, points: Points) -> tuple[torch.Tensor, bool]:
        p = next(self.model.parameters())
        if isinstance(points, Mapping):
            missing = [n for n in self.inputs if n not in points]
            if missing:
                raise PinnkitError(f"the points have no '{missing[0]}'; the inputs are "
                                   f"{', '.join(self.inputs)}")
            points = np.stack([np.asarray(points[n], dtype=np.float64).reshape(-1)
                               for n in self.inputs], axis=1)
        as_numpy = not torch.is_tensor(points)
        x = torch.as_tensor(points).to(device=p.device, dtype=p.dtype)
        if x.ndim == 1 and len(self.inputs) == 1:
            x = x.unsqueeze(-1)
        if x.ndim != 2 or x.shape[1] != len(self.inputs):
            raise PinnkitError(f"points of shape {tuple(x.shape)}: expected (N, "
                               f"{len(self.inputs)}) with columns {', '.join(self.inputs)}")
        return x, as_numpy

    def grid_errors(self, n: int = GRID_POINTS) -> tuple[int, dict[str, dict[str, float]]]:
        """Errors per field against the closed-form reference on a fresh grid of ~n points:
        ``{"l2_relative": {u: ...}, "mean_abs": ..., "max_abs": ..., "pooled":
        {"l2_relative": ...}}`` (see ``pinnkit.training.metrics.field_errors``)."""
        if self.stale_reference is not None:
            raise PinnkitError(self.stale_reference)
        if self.problem.reference is not None:
            raise PinnkitError(f"the reference of {self.run_dir} is the table "
                               f"{self.problem.reference.path}: its errors are measured at the "
                               "table's points, not on a grid. Fix: use table_errors() "
                               "(pinnkit eval RUN without --grid)")
        if self.problem.exact is None:
            raise PinnkitError(f"{self.run_dir} has no reference solution (exact), so there is "
                               "nothing to compare on a grid. Fix: add exact: to the config, or "
                               "evaluate fields with --points FILE --fields "
                               f"{','.join(self.outputs)}")
        check_grid(n)
        x = evaluation_points(self.problem.shape, n, seed=54321)
        return len(x), reference_errors(self.model, self.problem, x)

    def table_errors(self, reference: str | Path | Mapping[str, Any] | ReferenceTable | None
                     = None, *, key: str = "reference"
                     ) -> tuple[int, dict[str, dict[str, float]]]:
        """Errors per field at a reference table's points, as ``grid_errors`` gives them:
        the run's own table (``exact: {file: ...}``) or ``reference``, a CSV or NPZ file
        (relative to the working directory) or columns ``{"x": xs, "t": ts, "u": us}``.
        Its columns are the inputs and any of the outputs (a field without a column is
        not compared); its errors name ``key`` (the CLI's is ``--reference``). Returns
        (points, errors); the network is evaluated in batches."""
        table = reference if isinstance(reference, ReferenceTable) else \
            self.reference_table(reference, key=key)
        return len(table.x), errors_at(self.model, table.x, table.matrix(), self.outputs)

    def reference_table(self, reference: str | Path | Mapping[str, Any] | None = None, *,
                        key: str = "reference") -> ReferenceTable:
        """The table ``table_errors`` compares with, read and checked."""
        if reference is None:
            if self.stale_reference is not None:
                raise PinnkitError(self.stale_reference)
            if self.problem.reference is None:
                raise PinnkitError(f"{self.run_dir} has no reference table (exact: {{file: "
                                   "...}). Fix: pass one, table_errors('reference.csv') or "
                                   "pinnkit eval RUN --reference FILE")
            return self.problem.reference
        spec = {"table": reference} if isinstance(reference, Mapping) else {"file": reference}
        return load_reference(spec, self.inputs, self.outputs, self.problem.shape,
                              [Path.cwd()], prefix=key, file_key="")

    def outside(self, points: np.ndarray) -> str | None:
        """'3 of 10 points lie outside the domain Box(...)', or None when all lie inside
        (within the domain's tolerance; a non-finite point counts as outside)."""
        x = np.asarray(points, dtype=np.float64)
        shape = self.problem.shape
        finite = np.isfinite(x).all(axis=1)
        inside = np.zeros(len(x), dtype=bool)
        if finite.any():
            inside[finite] = shape.contains(x[finite], shape.tolerance())
        n = int((~inside).sum())
        if not n:
            return None
        return (f"{n} of {len(x)} point{'s' if len(x) > 1 else ''} lie outside the domain "
                f"{shape!r}: the network was not trained there")


@dataclass
class Run(TrainedModel):
    """What ``pinnkit.train`` returns: a ``TrainedModel`` (``predict``, ``derivatives``,
    ``grid_errors``) of the network at the last step, with the run's history and the
    network at its best checkpoint."""

    history: list[dict[str, float]] = field(default_factory=list)  # one record per log
    best_model: torch.nn.Module | None = None  # at the lowest validation error (best.pt)

    @classmethod
    def of(cls, fitted: Fitted) -> Run:
        metrics = fitted.metrics
        return cls(fitted.model, fitted.problem, fitted.config,
                   fitted.run_dir,  # type: ignore[arg-type]  # None when nothing was written
                   int(metrics["steps"]), dict(metrics.get("parameters", {})), metrics,
                   history=fitted.history, best_model=fitted.best_model)


def load(run_dir: str | Path, checkpoint: str = "last", device: str = "cpu",
         problem: Problem | None = None, model: torch.nn.Module | None = None,
         trust: bool = False) -> TrainedModel:
    """The trained model of a run folder. ``checkpoint``: ``last`` or ``best``.

    A run trained from a Python ``Problem`` whose class no file gives back needs it again
    (``problem=Heat()``); a run trained with your own module needs a module of that class
    (``model=Net()``), into which the weights are loaded. The Python file a run's
    config.yaml names is imported only when the run folder vouches for it (trained here
    from that file, unchanged since) or with ``trust=True``.
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise PinnkitError(f"{run_dir} is not a run folder: it has no config.yaml. Fix: give "
                           "the folder pinnkit train wrote, e.g. runs/heat")
    if checkpoint not in ("last", "best"):
        raise PinnkitError(f"checkpoint '{checkpoint}' is not known; expected 'last' or 'best'")
    try:
        compiled, cfg = _problem_of(cfg_path, problem, trust)
        stale = None
    except ReferenceChanged as exc:  # the network is still good: load it without the table
        if problem is not None:  # the Problem's own exact: nothing recorded to drop
            raise
        compiled, cfg = _problem_of(cfg_path, problem, trust, ["exact=null"])
        stale = str(exc)
    ckpt = load_checkpoint(run_dir / "checkpoints" / f"{checkpoint}.pt", device)
    state = ckpt["state"]
    model = (build_model(compiled, cfg) if model is None else model).to(
        device=device, dtype=DTYPES[cfg.model.dtype])
    check_model_class(state, model)
    try:
        model.load_state_dict(state["model"])
        # the checkpoint holds the raw, unconstrained numbers; residuals read their values
        # (a bounded parameter is lo + (hi - lo) * sigmoid(raw)) through the compiled problem
        compiled.parameters.raw.load_state_dict(state.get("params", {}))
    except RuntimeError as exc:
        raise PinnkitError(f"the checkpoint in {run_dir} does not fit its config.yaml "
                           f"({str(exc).splitlines()[0]}). Fix: do not edit a run's "
                           "config.yaml; train again instead") from None
    model.eval()
    compiled.parameters.to(device=device)
    params = compiled.parameters.floats()
    metrics = read_metrics(run_dir / "metrics.json")
    return TrainedModel(model, compiled, cfg, run_dir, int(state["step"]), params, metrics,
                        stale)


def read_metrics(path: Path) -> dict[str, Any]:
    """metrics.json as a dict; {} when absent, and a warning (not a failure) when damaged:
    the network is in the checkpoint, the metrics are only a summary of the run."""
    if not path.is_file():
        return {}
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        why = None if isinstance(metrics, dict) else \
            f"a JSON {type(metrics).__name__}, not an object"
    except OSError as exc:
        why = exc.strerror or str(exc)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        why = f"not JSON: {str(exc)[:80]}"
    if why is not None:
        warnings.warn(f"{path} is damaged ({why}); going on without it", stacklevel=3)
        return {}
    return metrics


def _problem_of(cfg_path: Path, problem: Problem | None, trust: bool = False,
                overrides: Sequence[str] = ()) -> tuple[CompiledProblem, Config]:
    if problem is not None:
        data = {k: v for k, v in to_data(load_config(cfg_path)).items()
                if k not in PROBLEM_KEYS}
        return resolve(problem, config=data)
    return resolve(run_config(cfg_path.parent, trust), overrides)


def split_names(text: str) -> list[str]:
    """``u,u_x,d(u, x, x)`` -> the names, splitting only at commas outside parentheses."""
    names, depth, start = [], 0, 0
    for i, ch in enumerate(text + ","):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            if text[start:i].strip():
                names.append(text[start:i].strip())
            start = i + 1
    return names


def read_points(path: str | Path, inputs: Sequence[str]) -> np.ndarray:
    """(N, len(inputs)) from a CSV with a header naming the inputs, or an .npz."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("--points", f"file '{path}' does not exist", "a .csv or .npz file",
                          "check the path")
    if path.suffix == ".npz":
        return _read_npz(path, inputs)
    if path.suffix != ".csv":
        raise ConfigError("--points", f"'{path.name}' is neither .csv nor .npz",
                          "a .csv or .npz file", "convert the points to one of them")
    return _read_csv(path, inputs)


def _read_npz(path: Path, inputs: Sequence[str]) -> np.ndarray:
    """The points of an .npz archive; anything else (random bytes, a pickle, a lone .npy,
    object arrays) is one line, never numpy's advice to allow pickles."""
    expected = f"arrays named {', '.join(inputs)}, or one (N, {len(inputs)}) array"
    fix = f"save it with np.savez(file, {inputs[0]}=...)"
    if not zipfile.is_zipfile(path):
        raise ConfigError("--points", f"{path} is not a NumPy .npz archive (not a zip file)",
                          expected, fix)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        why = "it holds Python objects" if "pickle" in str(exc) else "it is damaged"
        raise ConfigError("--points", f"cannot read {path}: {why}", expected, fix) from None
    try:
        if all(n in arrays for n in inputs):
            return np.stack([arrays[n].astype(np.float64).reshape(-1) for n in inputs], 1)
        two_d = [a for a in arrays.values() if a.ndim == 2]
        if len(two_d) == 1 and two_d[0].shape[1] == len(inputs):
            return two_d[0].astype(np.float64)
    except (ValueError, TypeError):  # text or ragged arrays
        raise ConfigError("--points", f"{path} holds arrays that are not numbers",
                          expected, fix) from None
    raise ConfigError("--points", f"{path} holds {', '.join(arrays) or 'nothing'}",
                      expected, fix)


def _read_csv(path: Path, inputs: Sequence[str]) -> np.ndarray:
    try:  # utf-8-sig: a byte-order mark (as Excel writes) is not part of the first name
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r]
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError("--points", f"line {line} of {path} is not UTF-8 text (byte "
                          f"0x{exc.object[exc.start]:02x})", "a UTF-8 CSV file",
                          "save the file as UTF-8") from None
    except (OSError, csv.Error) as exc:
        raise ConfigError("--points", f"cannot read {path}: {exc}", "a UTF-8 CSV file",
                          "check the file") from None
    header = [h.strip() for h in rows[0]] if rows else []
    missing = [n for n in inputs if n not in header]
    if missing:
        raise ConfigError("--points", f"{path} has no column '{missing[0]}' (its header: "
                          f"{','.join(header) or 'empty'})", "a header row naming the inputs",
                          f"make the first line {','.join(inputs)}")
    cols = [header.index(n) for n in inputs]
    out = np.empty((len(rows) - 1, len(inputs)))
    for i, row in enumerate(rows[1:]):
        try:
            out[i] = [float(row[c]) for c in cols]
        except (ValueError, IndexError):
            raise ConfigError("--points", f"line {i + 2} of {path} is not a row of numbers: "
                              f"{','.join(row)}", "one number per input column",
                              "fix or remove that line") from None
    return out


def errors_text(title: str, outputs: Sequence[str], errors: Mapping[str, Any]) -> str:
    """The table ``pinnkit eval`` prints: one row per field (a field the reference does not
    hold says so), then the relative L2 error pooled over the fields."""
    lines = [title, f"{'field':<10}{'rel L2':>12}{'mean abs':>12}{'max abs':>12}"]
    for f in outputs:
        if f not in errors["l2_relative"]:
            lines.append(f"{f:<10}{'(no reference)':>36}")
            continue
        lines.append(f"{f:<10}" + "".join(f"{errors[k][f]:>12.3e}"
                                         for k in ("l2_relative", "mean_abs", "max_abs")))
    if "pooled" in errors and len(errors["l2_relative"]) > 1:
        lines.append(f"{'pooled':<10}{errors['pooled']['l2_relative']:>12.3e}")
    return "\n".join(lines)


def check_grid(n: Any) -> None:
    """``--grid`` (``grid_errors(n)``): a positive number of points."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise PinnkitError(f"--grid {n}: expected a positive number of points. Fix: leave "
                           f"--grid out ({GRID_POINTS} points) or give e.g. --grid 10000")


def check_out(out: str | Path | None) -> None:
    """``--out`` before any work: a .csv or .npz name in a folder that exists."""
    if out is None:
        return
    path = Path(out)
    if path.suffix not in (".csv", ".npz"):
        raise ConfigError("--out", f"'{out}' is neither .csv nor .npz", "a .csv or .npz name",
                          "use e.g. --out values.csv")
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ConfigError("--out", f"the folder '{folder}' {what}",
                          "a file in an existing folder", f"create it first (mkdir -p {folder})"
                          " or write elsewhere")
    if path.is_dir():
        raise ConfigError("--out", f"'{out}' is a folder", "a file name",
                          f"name a file inside it, e.g. {path / 'values.csv'}")


def write_table(columns: Mapping[str, np.ndarray], out: str | Path | None) -> str | None:
    """Columns to ``out`` (.csv or .npz); to a returned CSV string when ``out`` is None."""
    check_out(out)
    try:
        return _write_table(columns, out)
    except OSError as exc:
        raise PinnkitError(f"--out: cannot write {out}: {exc.strerror or exc}. Fix: write to "
                           "a folder you can write to, with space left") from None


def _write_table(columns: Mapping[str, np.ndarray], out: str | Path | None) -> str | None:
    if out is not None and Path(out).suffix == ".npz":
        # numpy's stub reads the arrays in **kwds as its allow_pickle flag
        np.savez(out, **{k: np.asarray(v) for k, v in columns.items()})  # type: ignore[arg-type]
        return None
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(columns))
    # repr of a float is the shortest text that reads back to the same number
    writer.writerows(zip(*([repr(float(a)) for a in np.asarray(v).ravel()]
                           for v in columns.values()), strict=True))
    if out is None:
        return buf.getvalue()
    Path(out).write_text(buf.getvalue(), encoding="utf-8")
    return None
