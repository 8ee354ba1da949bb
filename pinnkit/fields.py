"""Coefficient fields: tables interpolated over the inputs, read in expressions by name.

``fields: {kappa: {file: kappa.csv, interpolate: cubic}}`` makes ``kappa`` a function of
the inputs: ``u_t - d(kappa*u_x, x)``, ``kappa_x`` and ``d(kappa, x, x)`` read it and its
derivatives. The table has one column per input the field depends on (a subset: columns
x, y give kappa(x, y), constant in t) and one named after the field; other columns are
ignored, so one file can hold several fields. It is read by the reader behind ``data:``.

Rows that form a full grid (every combination of the distinct coordinates, once, in any
order) are a *grid*; others are *scattered* points.

- grid, ``nearest``: the nearest node's value; piecewise constant.
- grid, ``linear``: multilinear; first derivatives piecewise constant.
- grid, ``cubic``: tensor-product cubic spline with not-a-knot ends (scipy's
  ``CubicSpline`` along each axis in turn; ``RectBivariateSpline(s=0)`` in 2-D): twice
  continuously differentiable.
- scattered, ``nearest``: the nearest point's value.
- scattered, ``linear``: barycentric on the Delaunay triangulation (scipy.spatial, built
  once): continuous, gradient constant on each simplex.

Evaluation is torch on the points' device and dtype, batched, no per-point Python: a grid
cell is found by ``searchsorted`` along each axis; a scattered point by a lookup grid of
buckets, each holding the simplices (or points) that can contain (or be nearest to) any
point of the bucket, padded to the longest list. Outside the table a grid is clamped to
its edge (the value of the nearest edge point, derivatives across the edge zero);
scattered linear uses the nearest simplex with clamped barycentric weights. The checks
say when the domain leaves the table (``field_range``) and when a residual differentiates
a field beyond what its interpolant has (``smoothness``).
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config.schema import LIMITS, FieldConfig
from .data import Table, Where, load_table, table_from_arrays, table_spec
from .engines.compile import untraced
from .errors import ConfigError, did_you_mean
from .expr import tree as t
from .expr.compile import FIELDS_KEY
from .expr.names import parse_name, unusable
from .geometry import Shape

INTERPOLATIONS = ("nearest", "linear", "cubic")
#: derivatives along each axis of a grid interpolant that are right (no dropped delta)
GRID_ORDER = {"nearest": 0, "linear": 1, "cubic": 2}
#: total order of derivatives of a scattered interpolant that are right
SCATTERED_ORDER = {"nearest": 0, "linear": 1}
_WHY = {
    ("grid", "nearest"): "piecewise constant: its derivatives are zero inside each cell and "
                         "miss the jumps between cells",
    ("grid", "linear"): "piecewise linear along each axis: its first derivative is piecewise "
                        "constant, so the second is zero inside each cell and misses the "
                        "jumps at the grid lines",
    ("grid", "cubic"): "a cubic spline: twice continuously differentiable, its third "
                       "derivative jumps at the grid lines",
    ("scattered", "nearest"): "piecewise constant around each point: its derivatives are "
                              "zero and miss the jumps between points",
    ("scattered", "linear"): "piecewise linear on the Delaunay triangles: its gradient is "
                             "constant on each and jumps across edges, so second derivatives "
                             "are zero and miss those jumps",
}


class CoefficientField(ABC):
    """One field: its table, how it is interpolated, and its values on torch points."""

    kind: str  # "grid" or "scattered"

    def __init__(self, name: str, axes: tuple[str, ...], method: str, path: str,
                 points: np.ndarray, values: np.ndarray) -> None:
        self.name, self.axes, self.method, self.path = name, axes, method, path
        self.points, self.values = points, values  # the table: (n, len(axes)), (n,)
        self.lo, self.hi = points.min(axis=0), points.max(axis=0)
        self._cache: dict[tuple[torch.device, torch.dtype], dict[str, Any]] = {}

    @abstractmethod
    def _arrays(self) -> dict[str, Any]:
        """The numpy arrays (and ints) the evaluation reads; made tensors per device."""

    @abstractmethod
    def _evaluate(self, arrays: dict[str, Any], q: list[torch.Tensor],
                  orders: tuple[int, ...]) -> torch.Tensor:
        """The interpolant's derivative of ``orders`` (one per axis) at the points ``q``."""

    @abstractmethod
    def value_range(self) -> tuple[float, float]:
        """An interval holding every value the interpolant takes (for the bounds)."""

    @abstractmethod
    def smooth_enough(self, orders: tuple[int, ...]) -> bool:
        """Whether the derivative of ``orders`` (per axis) misses no delta."""

    @abstractmethod
    def describe(self) -> str:
        """'41 x 41 grid, cubic', for messages."""

    @property
    def why(self) -> str:
        return _WHY[(self.kind, self.method)]

    def __call__(self, q: Sequence[torch.Tensor], orders: tuple[int, ...]) -> torch.Tensor:
        """The field (or a derivative) at points given as one column per axis."""
        ref = q[0]
        arrays = self._cache.get((ref.device, ref.dtype))
        if arrays is None:  # the table follows the points' device and dtype
            arrays = self.tensors(ref.device, ref.dtype)
        # the field does not depend on the weights: no graph through it
        return self._evaluate(arrays, [c.detach() for c in q], orders)

    @untraced
    def tensors(self, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
        """The table as tensors on ``device`` in ``dtype``, made once. Never traced: numpy
        work inside a compiled step would break its graph; CPU float32 and float64 are made
        when the field is built, so a compiled CPU step finds them ready."""
        key = (torch.device(device), dtype)
        if key not in self._cache:
            self._cache[key] = {
                k: torch.as_tensor(v, device=device, dtype=dtype if v.dtype.kind == "f" else None)
                if isinstance(v, np.ndarray) else v for k, v in self._arrays().items()}
        return self._cache[key]

    def _ready(self) -> CoefficientField:
        for dtype in (torch.float32, torch.float64):
            self.tensors(torch.device("cpu"), dtype)
        return self

    def summary(self) -> str:
        ranges = ", ".join(f"{a} in [{lo:g}, {hi:g}]" for a, lo, hi in
                           zip(self.axes, self.lo, self.hi, strict=True))
        return f"{self.describe()}, over {ranges}, from {self.path}"


class GridField(CoefficientField):
    """Values on a full grid: nearest, multilinear or tensor-product cubic spline."""

    kind = "grid"

    def __init__(self, name: str, axes: tuple[str, ...], method: str, path: str,
                 points: np.ndarray, values: np.ndarray, nodes: list[np.ndarray],
                 grid: np.ndarray) -> None:
        super().__init__(name, axes, method, path, points, values)
        self.nodes, self.grid = nodes, grid  # grid: values shaped (n_0, ..., n_{d-1})
        self.types = list(itertools.product((0, 1), repeat=len(axes))) if method == "cubic" \
            else [(0,) * len(axes)]
        self.coefficients = _spline_coefficients(nodes, grid, self.types)

    def _arrays(self) -> dict[str, Any]:
        shape = self.grid.shape
        strides = [int(np.prod(shape[k + 1:])) for k in range(len(shape))]
        out: dict[str, Any] = {"G": self.coefficients, "strides": strides}
        for k, g in enumerate(self.nodes):
            out[f"g{k}"] = g
            out[f"h{k}"] = np.diff(g) if len(g) > 1 else np.ones(1)
            out[f"mid{k}"] = (g[1:] + g[:-1]) / 2
        return out

    def _evaluate(self, arrays: dict[str, Any], q: list[torch.Tensor],
                  orders: tuple[int, ...]) -> torch.Tensor:
        strides, G = arrays["strides"], arrays["G"]
        if self.method == "nearest":
            if any(orders):
                return torch.zeros_like(q[0])
            flat = sum(torch.searchsorted(arrays[f"mid{k}"], qk.contiguous()) * strides[k]
                       for k, qk in enumerate(q))
            return G[0][flat]
        cells, weights = [], []
        for k, qk in enumerate(q):
            i, w = _axis_weights(self.method, arrays[f"g{k}"], arrays[f"h{k}"], qk, orders[k])
            cells.append(i)
            weights.append(w)  # (types along this axis, 2 corners, N)
        total = torch.zeros_like(q[0])
        for corner in itertools.product((0, 1), repeat=len(q)):
            flat = sum((cells[k] + c) * strides[k] for k, c in enumerate(corner))
            w = weights[0][:, corner[0]]
            for k in range(1, len(q)):  # outer product over axes: axis 0 most significant
                w = (w[:, None] * weights[k][None, :, corner[k]]).reshape(-1, w.shape[-1])
            total = total + (w * G[:, flat]).sum(0)
        return total

    def value_range(self) -> tuple[float, float]:
        lo, hi = float(self.grid.min()), float(self.grid.max())
        if self.method != "cubic":
            return lo, hi
        # s = (the multilinear interpolant of the values) + terms in the second-derivative
        # arrays, each at most max|G| times h^2/8 per axis it differentiates
        h2 = [float(np.max(np.diff(g))) ** 2 / 8 for g in self.nodes]
        extra = sum(float(np.max(np.abs(self.coefficients[j]))) *
                    math.prod(h2[k] for k, c in enumerate(tp) if c)
                    for j, tp in enumerate(self.types) if any(tp))
        return lo - extra, hi + extra

    def smooth_enough(self, orders: tuple[int, ...]) -> bool:
        return max(orders, default=0) <= GRID_ORDER[self.method]

    def describe(self) -> str:
        if len(self.nodes) == 1:
            return f"{len(self.nodes[0])}-point grid, {self.method}"
        return " x ".join(str(len(g)) for g in self.nodes) + f" grid, {self.method}"


class ScatteredField(CoefficientField):
    """Values at scattered points (2+ axes): nearest point, or linear on a triangulation."""

    kind = "scattered"

    def __init__(self, name: str, axes: tuple[str, ...], method: str, path: str,
                 points: np.ndarray, values: np.ndarray, box: tuple[np.ndarray, np.ndarray],
                 where: Where) -> None:
        super().__init__(name, axes, method, path, points, values)
        lo, hi = np.minimum(box[0], self.lo), np.maximum(box[1], self.hi)
        self.box_lo, self.width = lo, np.where(hi > lo, hi - lo, 1.0)
        if method == "linear":
            self._triangulate(where)
        else:
            self._near_points()

    def _buckets(self, count: int) -> np.ndarray:
        d = len(self.axes)
        per_axis = max(1, int(round(count ** (1 / d))))
        return np.full(d, per_axis)

    def _triangulate(self, where: Where) -> None:
        from scipy.spatial import Delaunay, QhullError  # only for scattered linear fields

        try:
            tri = Delaunay(self.points)
        except (QhullError, ValueError) as exc:
            raise where.error(f"{self.path}: the {len(self.points)} points of '{self.name}' "
                              f"cannot be triangulated ({str(exc).splitlines()[0]})",
                              f"points that span the {len(self.axes)}-D space of "
                              + ", ".join(self.axes),
                              "use interpolate: nearest, or add points off the line or "
                              "plane they lie on") from None
        d = len(self.axes)
        self.simplices = tri.simplices.astype(np.int64)  # (S, d + 1) vertex indices
        self.transform = tri.transform  # (S, d + 1, d): barycentric T and offset r
        grads = np.zeros((len(self.simplices), d))
        for v in range(d + 1):  # gradient of sum f_v b_v; b_d = 1 - sum of the others
            gb = self.transform[:, v, :] if v < d else -self.transform[:, :d, :].sum(axis=1)
            grads += self.values[self.simplices[:, v]][:, None] * gb
        self.gradients = grads
        self.n_buckets = self._buckets(len(self.simplices))
        corners = self.points[self.simplices]  # (S, d + 1, d)
        first = self._bucket_of(corners.min(axis=1))
        last = self._bucket_of(corners.max(axis=1))
        self.candidates = _bucket_lists(first, last, self.n_buckets, where, self.path)

    def _near_points(self) -> None:
        from scipy.spatial import cKDTree  # only for scattered nearest fields

        self.n_buckets = self._buckets(len(self.points))
        w = self.width / self.n_buckets
        axes = [self.box_lo[k] + (np.arange(n) + 0.5) * w[k] for k, n in
                enumerate(self.n_buckets)]
        centers = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))
        tree = cKDTree(self.points)
        r0, _ = tree.query(centers)
        # any point of a bucket is within half a diagonal of its center, so its nearest
        # table point is within r0 + 2 * half-diagonal of the center
        reach = r0 + float(np.sqrt(np.sum(w**2))) * (1 + 1e-9)
        lists = tree.query_ball_point(centers, reach)
        k = max(len(c) for c in lists)
        table = np.full((len(lists), k), -1, dtype=np.int64)
        for b, c in enumerate(lists):
            table[b, :len(c)] = c
        self.candidates = table

    def _bucket_of(self, p: np.ndarray) -> np.ndarray:
        idx = np.floor((p - self.box_lo) / self.width * self.n_buckets).astype(np.int64)
        return np.clip(idx, 0, self.n_buckets - 1)

    def _arrays(self) -> dict[str, Any]:
        d = len(self.axes)
        strides = [int(np.prod(self.n_buckets[k + 1:])) for k in range(d)]
        out: dict[str, Any] = {"points": self.points, "values": self.values,
                               "candidates": self.candidates, "strides": strides,
                               "lo": self.box_lo, "width": self.width,
                               "n": self.n_buckets.astype(np.float64)}
        if self.method == "linear":
            out.update(simplices=self.simplices, T=self.transform[:, :d, :],
                       r=self.transform[:, d, :], gradients=self.gradients)
        return out

    def _evaluate(self, arrays: dict[str, Any], q: list[torch.Tensor],
                  orders: tuple[int, ...]) -> torch.Tensor:
        x = torch.stack(q, -1)  # (N, d)
        cell = ((x - arrays["lo"]) / arrays["width"] * arrays["n"]).floor()
        cell = torch.minimum(cell.clamp(min=0), arrays["n"] - 1).long()
        bucket = sum(cell[:, k] * s for k, s in enumerate(arrays["strides"]))
        cand = arrays["candidates"][bucket]  # (N, K), -1 pads
        valid = cand >= 0
        cand = cand.clamp(min=0)
        order = sum(orders)
        if self.method == "nearest":
            if order:
                return torch.zeros_like(q[0])
            dist = ((arrays["points"][cand] - x[:, None, :]) ** 2).sum(-1)
            best = torch.where(valid, dist, torch.full_like(dist, math.inf)).argmin(1)
            return arrays["values"][cand.gather(1, best[:, None])[:, 0]]
        b = torch.einsum("nkij,nkj->nki", arrays["T"][cand], x[:, None, :] - arrays["r"][cand])
        bary = torch.cat([b, 1 - b.sum(-1, keepdim=True)], -1)  # (N, K, d + 1)
        score = torch.where(valid, bary.min(-1).values, torch.full_like(bary[..., 0], -math.inf))
        best = score.argmax(1)
        simplex = cand.gather(1, best[:, None])[:, 0]
        inside = (score.gather(1, best[:, None])[:, 0] >= -1e-12).to(x.dtype)
        if order > 1:
            return torch.zeros_like(q[0])
        if order == 1:
            axis = next(k for k, o in enumerate(orders) if o)
            return arrays["gradients"][simplex, axis] * inside
        w = bary.gather(1, best[:, None, None].expand(-1, 1, bary.shape[-1]))[:, 0]
        w = w.clamp(min=0)  # outside the hull: the nearest simplex, clamped
        w = w / w.sum(-1, keepdim=True)
        return (w * arrays["values"][arrays["simplices"][simplex]]).sum(-1)

    def value_range(self) -> tuple[float, float]:
        return float(self.values.min()), float(self.values.max())

    def smooth_enough(self, orders: tuple[int, ...]) -> bool:
        return sum(orders) <= SCATTERED_ORDER[self.method]

    def describe(self) -> str:
        return f"{len(self.points)} scattered points, {self.method}"

    def outside(self, x: np.ndarray) -> np.ndarray:
        """Which of the points ``x`` (n, len(axes)) lie outside the table's range: the
        convex hull for linear, the bounding box for nearest."""
        if self.method == "nearest":
            return np.any((x < self.lo) | (x > self.hi), axis=1)
        from scipy.spatial import Delaunay

        return Delaunay(self.points).find_simplex(x) < 0


def _axis_weights(method: str, g: torch.Tensor, h: torch.Tensor, q: torch.Tensor,
                  order: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell index (N,) and weights (types, 2 corners, N) of one axis for the derivative of
    ``order``: types (value, second derivative) for cubic, (value,) for linear.

    The cubic spline on a cell of width h, t = (q - g_i)/h, in terms of the values f and
    second derivatives M at its two nodes:
    s = (1-t) f_i + t f_i+1 + h^2/6 [((1-t)^3 - (1-t)) M_i + (t^3 - t) M_i+1]."""
    n = g.shape[0]
    inside = ((q >= g[0]) & (q <= g[-1])).to(q.dtype)
    qc = torch.minimum(torch.maximum(q, g[0]), g[-1])  # clamped to the edge
    i = (torch.searchsorted(g, qc.contiguous(), right=True) - 1).clamp(0, max(n - 2, 0))
    hi = h[i]
    tt = (qc - g[i]) / hi
    s = 1 - tt
    zero = torch.zeros_like(tt)
    if order == 0:
        a = [s, tt]
    elif order == 1:
        a = [-inside / hi, inside / hi]
    else:
        a = [zero, zero]
    if method == "linear":
        return i, (torch.stack(a)[None] if order <= 1 else torch.zeros(1, 2, len(q), dtype=q.dtype,
                                                                       device=q.device))
    h2 = hi**2 / 6
    if order == 0:
        c = [h2 * (s**3 - s), h2 * (tt**3 - tt)]
    elif order == 1:
        c = [inside * hi / 6 * (1 - 3 * s**2), inside * hi / 6 * (3 * tt**2 - 1)]
    elif order == 2:
        c = [inside * s, inside * tt]
    elif order == 3:
        c = [-inside / hi, inside / hi]
    else:
        c = [zero, zero]
    return i, torch.stack([torch.stack(a), torch.stack(c)])


def _spline_coefficients(nodes: list[np.ndarray], grid: np.ndarray,
                         types: list[tuple[int, ...]]) -> np.ndarray:
    """(types, grid size): for each type, the values differentiated twice along the axes it
    marks 1, by the not-a-knot cubic spline of each grid line (the tensor-product spline
    is local in these: see ``_axis_weights``). Linear and nearest read type (0, ..., 0)."""
    arrays: dict[tuple[int, ...], np.ndarray] = {(): grid}
    for k, g in enumerate(nodes):
        more: dict[tuple[int, ...], np.ndarray] = {}
        for tp, arr in arrays.items():
            more[tp + (0,)] = arr
            if any(t_[k] for t_ in types):
                from scipy.interpolate import CubicSpline  # only for cubic grids

                more[tp + (1,)] = CubicSpline(g, arr, axis=k)(g, 2)
        arrays = more
    return np.stack([arrays[tp].reshape(-1) for tp in types])


def _bucket_lists(first: np.ndarray, last: np.ndarray, n: np.ndarray, where: Where,
                  path: str) -> np.ndarray:
    """(buckets, K) simplex ids, -1 padded: every simplex in each bucket its box overlaps."""
    spans = last - first + 1  # (S, d)
    count = spans.prod(axis=1)
    total = int(count.sum())
    if total > 20_000_000:
        raise where.error(f"{path}: the triangulation is too uneven to index "
                          f"({total:,} simplex-cell pairs)", "points spread over their box",
                          "use interpolate: nearest, or resample the table onto a grid")
    owner = np.repeat(np.arange(len(first)), count)
    local = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    d = first.shape[1]
    flat = np.zeros(total, dtype=np.int64)
    for k in range(d - 1, -1, -1):  # decode the local index into offsets per axis
        s = spans[owner, k]
        off = local % s
        local = local // s
        stride = int(np.prod(n[k + 1:]))
        flat += (first[owner, k] + off) * stride
    order = np.argsort(flat, kind="stable")
    flat, owner = flat[order], owner[order]
    buckets = int(np.prod(n))
    per = np.bincount(flat, minlength=buckets)
    k_max = max(int(per.max()), 1)
    table = np.full((buckets, k_max), -1, dtype=np.int64)
    slot = np.arange(len(flat)) - np.repeat(np.cumsum(per) - per, per)
    table[flat, slot] = owner
    return table


class FieldSet:
    """The problem's coefficient fields. In an env (``FIELDS_KEY``) it computes what an
    expression reads (``tree.Coef``) on that env's points, once per key."""

    def __init__(self, inputs: Sequence[str] = (),
                 fields: Mapping[str, CoefficientField] | None = None) -> None:
        self.inputs = tuple(inputs)
        self.fields = dict(fields or {})

    def __bool__(self) -> bool:
        return bool(self.fields)

    def __iter__(self) -> Iterator[CoefficientField]:
        return iter(self.fields.values())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.fields)

    def axis_orders(self, coef: t.Coef) -> tuple[tuple[int, ...], bool]:
        """(orders along the field's own axes, whether it is differentiated along an input
        it does not depend on, which makes it exactly zero)."""
        field = self.fields[coef.partial.field]
        orders = dict(zip(self.inputs, coef.partial.orders, strict=True))
        other = any(k for name, k in orders.items() if name not in field.axes)
        return tuple(orders[a] for a in field.axes), other

    def value(self, coef: t.Coef, env: Mapping[Any, Any]) -> torch.Tensor:
        field = self.fields[coef.partial.field]
        orders, other = self.axis_orders(coef)
        cols = [env[a] for a in field.axes]
        if other:
            return torch.zeros_like(cols[0])
        return field(cols, orders)


def field_spec(name: str, value: Any, lines: Mapping[str, int] | None, source: str | None
               ) -> tuple[FieldConfig, Mapping[str, Any] | None]:
    """A path, ``{file: ..., interpolate: ...}`` (or from Python ``{table: {x: xs, kappa:
    ks}, interpolate: ...}``) or a ``FieldConfig`` -> (options, in-memory columns)."""
    key = f"fields.{name}"
    return table_spec(FieldConfig, key, value, lines, source,
                      ("a CSV or NPZ table of the field's values", f"add {key}.file: "
                       f"{name}.csv (columns: the inputs it depends on and {name})"),
                      ("a file path or {file: ..., interpolate: ...}",
                       f"write {name}: {{file: {name}.csv, interpolate: linear}}"))


def check_field_name(name: Any, inputs: Sequence[str], outputs: Sequence[str],
                     others: Sequence[str], fields: Sequence[str],
                     lines: Mapping[str, int] | None, source: str | None) -> None:
    """A field's name must be free, and neither it nor its derivatives (``kappa_x``) may
    read as another name: ``u_x`` is u's derivative, a constant ``kappa_x`` would be hidden
    by kappa's."""
    key = f"fields.{name}"
    line = (lines or {}).get(key)

    def refuse(found: str, fix: str) -> ConfigError:
        return ConfigError(key, found, "a name that is not an input, output, constant, "
                           "parameter or function, and does not read as a derivative",
                           fix, line, source)

    why = unusable(name)
    if why:
        raise refuse(f"'{name}' is not a usable name ({why})", "rename it, e.g. kappa")
    if name in (*inputs, *outputs, *others):
        kind = "an input" if name in inputs else "an output" if name in outputs else \
            "a constant or parameter"
        raise refuse(f"'{name}' is already {kind}", f"rename the field, e.g. {name}_field"
                     if "_" not in name else "rename the field")
    partial = parse_name(name, inputs, outputs)
    if partial is not None:
        raise refuse(f"'{name}' is how the derivative of output '{partial.field}' is "
                     "written", f"rename the field, e.g. {name.replace('_', '')}")
    for other in (*outputs, *others, *(f for f in fields if f != name)):
        p = parse_name(other, inputs, [name])
        if p is not None and p.order:
            raise refuse(f"'{other}' would read as the derivative of field '{name}'",
                         f"rename '{other}' or the field")


def load_field(name: str, value: Any, inputs: Sequence[str], shape: Shape,
               bases: Sequence[Path], lines: Mapping[str, int] | None = None,
               source: str | None = None) -> CoefficientField:
    """Read, check and build one coefficient field."""
    spec, arrays = field_spec(name, value, lines, source)
    where = Where(f"fields.{name}", lines, source, file="file" if arrays is None else "table")
    if arrays is not None:
        table = table_from_arrays(arrays, f"fields.{name}.table", where)
    else:
        table, _ = load_table(spec.file, where, bases, LIMITS["table.rows"][0])
    axes = tuple(c for c in inputs if c in table.columns)
    if not axes:
        raise where.error(f"{table.path} has no input column (columns: "
                          f"{', '.join(table.columns)})", "a column for each input the field "
                          "depends on: " + ", ".join(inputs),
                          f"add columns named after the inputs, e.g. {inputs[0]},{name}")
    if name not in table.columns:
        raise where.error(f"{table.path} has no column '{name}'"
                          f"{did_you_mean(name, list(table.columns))} (columns: "
                          f"{', '.join(table.columns)})", f"a column named '{name}' with the "
                          "field's values", f"name the values column '{name}', or rename "
                          "the field after it")
    for col in (*axes, name):
        bad = np.flatnonzero(~np.isfinite(table.columns[col]))
        if len(bad):
            raise where.error(f"{table.where(int(bad[0]), col)}: found "
                              f"{table.columns[col][bad[0]]} ({len(bad)} such row"
                              f"{'s' if len(bad) > 1 else ''})", "a finite number in every "
                              "row of the inputs' and the field's columns",
                              "fill or drop those rows (a field has a value everywhere)")
    points = np.stack([table.columns[a] for a in axes], 1)
    values = np.asarray(table.columns[name], dtype=np.float64)
    return _build(name, axes, spec.interpolate, table, points, values, shape, inputs, where)


def _build(name: str, axes: tuple[str, ...], method: str, table: Table, points: np.ndarray,
           values: np.ndarray, shape: Shape, inputs: Sequence[str], where: Where
           ) -> CoefficientField:
    uniq, seen = np.unique(points, axis=0, return_index=True)
    if len(uniq) < len(points):
        dup = int(np.setdiff1d(np.arange(len(points)), seen)[0])
        first = int(np.flatnonzero(np.all(points == points[dup], axis=1))[0])
        raise where.error(f"{table.where(dup, axes[0])}: the point repeats row {first + 1}",
                          "each point once", "drop the repeated rows (or average them)")
    nodes = [np.unique(points[:, k]) for k in range(len(axes))]
    is_grid = math.prod(len(g) for g in nodes) == len(points)
    need = {"nearest": 1, "linear": 2, "cubic": 4}[method]
    if is_grid:
        short = next((k for k, g in enumerate(nodes) if len(g) < need), None)
        if short is not None:
            raise where.error(f"{table.path}: {len(nodes[short])} grid point"
                              f"{'s' if len(nodes[short]) > 1 else ''} along "
                              f"{axes[short]}", f"at least {need} per axis for "
                              f"interpolate: {method}", "add grid lines, or use a lower "
                              "order (linear needs 2, cubic 4)", sub="interpolate")
        grid = np.empty([len(g) for g in nodes])
        index = tuple(np.searchsorted(g, points[:, k]) for k, g in enumerate(nodes))
        grid[index] = values
        return GridField(name, axes, method, table.path, points, values, nodes, grid)._ready()
    if method == "cubic":
        raise where.error(f"{table.path}: interpolate: cubic needs the points on a grid "
                          f"(every combination of the distinct {', '.join(axes)} once); "
                          f"these {len(points)} points are scattered "
                          f"({' x '.join(str(len(g)) for g in nodes)} distinct values)",
                          "linear or nearest for scattered points",
                          "use interpolate: linear, or resample the table onto a grid",
                          sub="interpolate")
    lo, hi = shape.bounds()
    box = (np.array([lo[list(inputs).index(a)] for a in axes], dtype=np.float64),
           np.array([hi[list(inputs).index(a)] for a in axes], dtype=np.float64))
    return ScatteredField(name, axes, method, table.path, points, values, box, where)._ready()


def load_fields(spec: Mapping[str, Any], inputs: Sequence[str], outputs: Sequence[str],
                others: Sequence[str], shape: Shape, bases: Sequence[Path],
                lines: Mapping[str, int] | None = None, source: str | None = None
                ) -> FieldSet:
    """Every field of a problem, names checked against the problem's other names."""
    if not isinstance(spec, Mapping):
        raise ConfigError("fields", f"found {type(spec).__name__} {spec!r}",
                          "a mapping of names to tables", "write fields = {'kappa': "
                          "{'file': 'kappa.csv'}}", (lines or {}).get("fields"), source)
    for name in spec:
        check_field_name(name, inputs, outputs, others, list(spec), lines, source)
    return FieldSet(inputs, {str(n): load_field(str(n), v, inputs, shape, bases, lines, source)
                             for n, v in spec.items()})


__all__ = ["FIELDS_KEY", "GRID_ORDER", "INTERPOLATIONS", "SCATTERED_ORDER", "CoefficientField",
           "FieldSet", "GridField", "ScatteredField", "check_field_name", "load_field",
           "load_fields"]
