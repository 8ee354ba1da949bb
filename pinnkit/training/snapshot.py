"""Fields on a picture grid: what TensorBoard images and ``pinnkit plot`` show.

One input gives a line; two give a heatmap; with more, the picture is a 2-D slice: the
inputs named in ``logging.slice`` are held at their given values, the first two others
are plotted, and any further ones are held at the middle of their range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError, did_you_mean, one_of
from ..geometry import Shape
from ..problem import CompiledProblem
from .metrics import predict

LINE_POINTS = 512  # points along the axis of a 1-input problem


@dataclass(frozen=True)
class PlotGrid:
    """A regular grid over one or two inputs, the others held fixed."""

    axes: tuple[str, ...]                   # plotted inputs (1 or 2), in problem order
    coords: tuple[np.ndarray, ...]          # coordinates along each plotted input
    fixed: dict[str, float]                 # inputs held fixed and their values
    points: np.ndarray                      # (M, d) grid points in the problem's input order
    inside: np.ndarray                      # (M,) which points lie in the domain

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.coords)

    def title(self) -> str:
        held = ", ".join(f"{k}={v:g}" for k, v in self.fixed.items())
        return f"{' vs '.join(self.axes)}" + (f" at {held}" if held else "")


@dataclass(frozen=True)
class FieldSnapshot:
    """Prediction (and reference) per output on a grid; NaN outside the domain."""

    grid: PlotGrid
    prediction: dict[str, np.ndarray]       # field -> array of grid.shape
    reference: dict[str, np.ndarray] | None  # None without an exact solution; a table's
    #                                          fields only (interpolated onto the grid)

    def reference_of(self, field: str) -> np.ndarray | None:
        """The reference of ``field`` on the grid, or None where there is none."""
        return None if self.reference is None else self.reference.get(field)

    def error(self, field: str) -> np.ndarray:
        assert self.reference is not None
        return np.abs(self.prediction[field] - self.reference[field])


def plot_grid(shape: Shape, inputs: tuple[str, ...], n: int,
              fixed: Mapping[str, float] | None = None) -> PlotGrid:
    """The grid pictures use; ``fixed`` is ``logging.slice`` and is checked here (the
    errors name the key; ``picture_grid`` adds where in the config it is)."""
    lo, hi = shape.bounds()
    held: dict[str, float] = {}
    for name, value in (fixed or {}).items():
        key = f"logging.slice.{name}"
        if name not in inputs:
            raise ConfigError(key, f"'{name}' is not an input{did_you_mean(name, inputs)}",
                              one_of(inputs), "name an input to hold fixed")
        i = inputs.index(name)
        if not lo[i] <= value <= hi[i]:
            raise ConfigError(key, f"{value:g} lies outside the domain [{lo[i]:g}, {hi[i]:g}]",
                              f"a value in [{lo[i]:g}, {hi[i]:g}]", "pick a value inside")
        held[name] = float(value)
    free = [name for name in inputs if name not in held]
    if not free:
        raise ConfigError("logging.slice", "holds every input fixed",
                          f"at most {len(inputs) - 1} of {', '.join(inputs)}",
                          "leave one or two inputs out of logging.slice")
    for name in free[2:]:  # beyond two: the middle of the range
        i = inputs.index(name)
        held[name] = float((lo[i] + hi[i]) / 2)
    axes = tuple(free[:2])
    count = LINE_POINTS if len(axes) == 1 else n
    coords = tuple(np.linspace(lo[inputs.index(a)], hi[inputs.index(a)], count) for a in axes)
    mesh = np.meshgrid(*coords, indexing="ij")
    points = np.empty((mesh[0].size, len(inputs)))
    for i, name in enumerate(inputs):
        points[:, i] = mesh[axes.index(name)].ravel() if name in axes else held[name]
    ordered = {k: held[k] for k in inputs if k in held}
    return PlotGrid(axes, coords, ordered, points, shape.contains(points))


def snapshot(model: torch.nn.Module, problem: CompiledProblem, grid: PlotGrid
             ) -> FieldSnapshot:
    """Evaluate the network (and ``exact``: a reference table interpolated) on ``grid``."""
    p = next(model.parameters())
    x = torch.as_tensor(grid.points, dtype=p.dtype, device=p.device)
    pred = predict(model, x).to(torch.float64).cpu().numpy()
    ref = None
    if problem.exact is not None:
        xt = torch.as_tensor(grid.points, dtype=torch.float64)
        with torch.no_grad():
            ref = problem.exact(xt).to(torch.float64).cpu().numpy()

    def shaped(a: np.ndarray, j: int) -> np.ndarray:
        col = np.where(grid.inside, a[:, j], np.nan)
        return col.reshape(grid.shape)

    fields = problem.outputs
    # a reference table may hold some of the fields only: the others have no reference
    known = problem.reference.fields if problem.reference is not None else fields
    return FieldSnapshot(grid, {f: shaped(pred, j) for j, f in enumerate(fields)},
                         None if ref is None else {f: shaped(ref, j)
                                                   for j, f in enumerate(fields) if f in known})
