"""A space shape times a time interval, for time-dependent problems.

``SpaceTime(Disk((0, 0), 1), t=(0, 1))``. Its boundary parts are named for what
conditions need: ``boundary`` is the lateral boundary (the space shape's boundary at every
time, with the space shape's named parts, e.g. ``hole``), ``initial`` is the slice
``t == t0`` and ``final`` the slice ``t == t1``. So ``on: boundary`` sets a wall condition
for all times and ``on: initial`` (or ``on: t == 0``) the initial condition.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from .shapes import Draw, Piece, Sampler, Shape, ShapeError


class SpaceTime(Shape):
    """``space`` x [t0, t1]; the time coordinate comes last (``reordered`` moves it)."""

    def __init__(self, space: Shape, **time: Sequence[float]) -> None:
        if len(time) != 1:
            raise ShapeError("SpaceTime", "", f"found {len(time)} time coordinates",
                             "one, e.g. t=(0, 1)", "write SpaceTime(space, t=(0, 1))",
                             path="time")
        (self.time_name, span), = time.items()
        self.t0, self.t1 = float(span[0]), float(span[1])
        if not (math.isfinite(self.t0) and math.isfinite(self.t1) and self.t1 > self.t0):
            raise ShapeError("SpaceTime", self.time_name, f"found [{self.t0:g}, {self.t1:g}]",
                             "[start, end] with start < end", example=(0, 1),
                             path=f"time.{self.time_name}")
        if self.time_name in space.names:
            raise ShapeError("SpaceTime", self.time_name, f"'{self.time_name}' is also a space "
                             "coordinate", "a time name distinct from the space coordinates",
                             "rename one of them", path=f"time.{self.time_name}")
        self.space = space
        self.names = (*space.names, self.time_name)

    def __repr__(self) -> str:
        return f"SpaceTime({self.space!r}, {self.time_name}=({self.t0:g}, {self.t1:g}))"

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.space.bounds()
        return np.append(lo, self.t0), np.append(hi, self.t1)

    def sdf(self, points: np.ndarray) -> np.ndarray:
        t = points[:, -1]
        return np.max([self.space.sdf(points[:, :-1]), self.t0 - t, t - self.t1], axis=0)

    def measure(self) -> float:
        return self.space.measure() * (self.t1 - self.t0)

    def pieces(self) -> list[Piece]:
        lateral = [Piece(p.dim + 1, p.measure * (self.t1 - self.t0), p.parts,
                         functools.partial(self._lateral, p.draw))
                   for p in self.space.pieces()]
        dim, area = len(self.space.names), self.space.measure()
        return [*lateral, Piece(dim, area, frozenset({"initial"}), self._slice(self.t0, -1.0)),
                Piece(dim, area, frozenset({"final"}), self._slice(self.t1, 1.0))]

    def _lateral(self, draw: Draw, n: int, sampler: Sampler, seed: int
                 ) -> tuple[np.ndarray, np.ndarray]:
        pts, nrm = draw(n, sampler, seed)
        t = self.t0 + sampler(len(pts), 1, seed + 1) * (self.t1 - self.t0)
        return np.hstack([pts, t]), np.hstack([nrm, np.zeros((len(pts), 1))])

    def _slice(self, t: float, direction: float) -> Draw:
        def draw(n: int, sampler: Sampler, seed: int) -> tuple[np.ndarray, np.ndarray]:
            pts = self.space.sample_interior(n, sampler, seed)
            normal = np.zeros((n, len(self.names)))
            normal[:, -1] = direction
            return np.hstack([pts, np.full((n, 1), t)]), normal
        return draw
