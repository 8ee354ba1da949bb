"""Boolean combinations of shapes: union, difference, intersection.

Membership combines the signed distances (min, max). The boundary of a combination is
made of pieces of its members' boundaries: a point ``p`` of a member's boundary with
normal ``n`` lies on the combination's boundary when, a tiny step either way, one side is
inside the combination and the other is not; the inside side fixes the outward normal (so
the circle of a hole gets normals pointing into the hole). Each member's pieces are drawn
uniformly and filtered, so the combination's boundary is uniform too.
"""

from __future__ import annotations

import functools
from abc import abstractmethod

import numpy as np

from .sampling import sobol
from .shapes import OPERATIONS, Draw, Piece, Sampler, Shape, ShapeError

MC_POINTS = 1 << 15  # Sobol points for the area estimate of a combination


class Boolean(Shape):
    """A combination of two or more shapes with the same coordinates."""

    op = ""

    def __init__(self, *shapes: Shape) -> None:
        kind = type(self).__name__
        if len(shapes) < 2:
            raise ShapeError(kind, "", f"found {len(shapes)} shape(s)", "two or more shapes",
                             f"pass the shapes to combine, e.g. {kind}(a, b)")
        names = shapes[0].names
        for k, s in enumerate(shapes[1:], 1):
            if sorted(s.names) != sorted(names):
                raise ShapeError(kind, "", f"shape {k} has coordinates {', '.join(s.names)}, "
                                 f"the first shape has {', '.join(names)}",
                                 "the same coordinates in every shape", "make them match",
                                 path=str(k))
        self.names = tuple(names)
        self.shapes = tuple(s.reordered(names) for s in shapes)
        lo, hi = self.bounds()
        self._step = 1e-7 * max(1.0, float(np.max(np.abs(np.concatenate([lo, hi])))))
        self._measure: float | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(s) for s in self.shapes)})"

    @abstractmethod
    def sdf(self, points: np.ndarray) -> np.ndarray: ...

    def measure(self) -> float:
        """Estimated on Sobol points of the bounding box (once: shapes do not change)."""
        if self._measure is None:
            lo, hi = self.bounds()
            pts = lo + sobol(MC_POINTS, len(lo), 0) * (hi - lo)
            self._measure = float(np.prod(hi - lo) * np.mean(self.sdf(pts) <= 0))
        return self._measure

    def pieces(self) -> list[Piece]:
        return [Piece(p.dim, p.measure, p.parts, functools.partial(self._draw, p.draw, k))
                for k, shape in enumerate(self.shapes) for p in shape.pieces()]

    def _draw(self, draw: Draw, member: int, n: int, sampler: Sampler, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
        pts, nrm = draw(n, sampler, seed)
        h = self._step
        behind, ahead = self.sdf(pts - h * nrm) < 0, self.sdf(pts + h * nrm) < 0
        keep = behind != ahead
        # a boundary shared with an earlier member (faces that coincide) is drawn from that
        # member only, so it is not counted twice
        tol = self.tolerance()
        for earlier in self.shapes[:member]:
            keep &= np.abs(earlier.sdf(pts)) > tol
        nrm = np.where(ahead[:, None], -nrm, nrm)
        return pts[keep], nrm[keep]


class Union(Boolean):
    """Points in any of the shapes: ``Union(a, b)`` or ``a | b``."""

    op = "union"

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        los, his = zip(*(s.bounds() for s in self.shapes), strict=True)
        return np.min(los, axis=0), np.max(his, axis=0)

    def sdf(self, points: np.ndarray) -> np.ndarray:
        return np.min([s.sdf(points) for s in self.shapes], axis=0)


class Intersection(Boolean):
    """Points in every shape: ``Intersection(a, b)`` or ``a & b``."""

    op = "intersection"

    def __init__(self, *shapes: Shape) -> None:
        super().__init__(*shapes)
        lo, hi = self.bounds()
        if np.any(hi <= lo):
            raise ShapeError(type(self).__name__, "", "the shapes' bounding boxes do not "
                             "overlap", "shapes that overlap", "check their positions")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        los, his = zip(*(s.bounds() for s in self.shapes), strict=True)
        return np.max(los, axis=0), np.min(his, axis=0)

    def sdf(self, points: np.ndarray) -> np.ndarray:
        return np.max([s.sdf(points) for s in self.shapes], axis=0)


class Difference(Boolean):
    """The first shape without the others: ``Difference(plate, hole)`` or ``plate - hole``."""

    op = "difference"

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.shapes[0].bounds()

    def sdf(self, points: np.ndarray) -> np.ndarray:
        return np.max([self.shapes[0].sdf(points), *(-s.sdf(points) for s in self.shapes[1:])],
                      axis=0)


OPERATIONS.update(union=Union, intersection=Intersection, difference=Difference)
