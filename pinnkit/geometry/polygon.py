"""Polygons in the plane, from their vertices: L-shaped plates, channels, triangles."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from .shapes import Piece, Sampler, Shape, ShapeError, check_part_name


class Polygon(Shape):
    """``Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])``: a simple polygon.

    Vertices may go either way round; the edges must not cross. Coordinates are named
    ``names`` (x, y). ``name`` names its boundary as a part for ``on:`` selectors.
    """

    def __init__(self, vertices: Sequence[Sequence[float]] | np.ndarray,
                 names: Sequence[str] = ("x", "y"), name: str | None = None) -> None:
        v = np.asarray(vertices, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3 or not np.all(np.isfinite(v)):
            raise ShapeError("Polygon", "vertices", f"found {_short(vertices)}",
                             "at least 3 points [x, y] of finite numbers",
                             example=[(0, 0), (1, 0), (0, 1)])
        crossing = _crossing_edges(v)
        if crossing is not None:
            i, j = crossing
            raise ShapeError("Polygon", "vertices", f"edge {i} -> {i + 1} crosses edge {j} -> "
                             f"{(j + 1) % len(v)}", "a simple polygon (edges meet only at "
                             "shared corners)", "list the vertices in order around the shape")
        area = _signed_area(v)
        if abs(area) <= 1e-12 * float(np.ptp(v, axis=0).max()) ** 2:
            raise ShapeError("Polygon", "vertices", "enclose no area (they lie on one line)",
                             "the corners of a polygon", "check the vertices")
        self.vertices = v if area > 0 else v[::-1].copy()  # counter-clockwise
        self.names = tuple(names)
        if len(self.names) != 2:
            raise ShapeError("Polygon", "names", f"a polygon is 2-D, but the coordinates are "
                             f"{', '.join(self.names)}", "two coordinates",
                             "use a box or a disk in other dimensions", path="vertices")
        self.name = check_part_name(name, "Polygon")
        self._a = self.vertices
        self._b = np.roll(self.vertices, -1, axis=0)

    def __repr__(self) -> str:
        return f"Polygon({len(self.vertices)} vertices" + \
            (f", name='{self.name}')" if self.name else ")")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    def measure(self) -> float:
        return abs(_signed_area(self.vertices))

    def reordered(self, names: Sequence[str]) -> Polygon:
        idx = [self.names.index(n) for n in names]
        return Polygon(self.vertices[:, idx], names, self.name)

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Distance to the nearest edge, negative inside (even-odd crossing rule)."""
        p = points[:, None, :]  # (n, 1, 2) against edges (E, 2)
        ab = self._b - self._a
        t = np.clip(np.sum((p - self._a) * ab, axis=2) / np.sum(ab * ab, axis=1), 0.0, 1.0)
        dist = np.linalg.norm(p - (self._a + t[..., None] * ab), axis=2).min(axis=1)
        ya, yb = self._a[:, 1], self._b[:, 1]
        py, px = points[:, 1:2], points[:, 0:1]
        straddles = (ya <= py) != (yb <= py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = self._a[:, 0] + (py - ya) / (yb - ya) * (self._b[:, 0] - self._a[:, 0])
        inside = np.sum(straddles & (px < x_cross), axis=1) % 2 == 1
        return np.where(inside, -dist, dist)

    def pieces(self) -> list[Piece]:
        parts = frozenset({"boundary", *([self.name] if self.name else [])})
        lengths = np.linalg.norm(self._b - self._a, axis=1)
        return [Piece(1, float(lengths[k]), parts, functools.partial(self._edge, k))
                for k in range(len(self.vertices)) if lengths[k] > 0]

    def _edge(self, k: int, n: int, sampler: Sampler, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
        a, b = self._a[k], self._b[k]
        pts = a + sampler(n, 1, seed) * (b - a)
        # counter-clockwise: the outside is on the right of each edge
        normal = np.array([b[1] - a[1], a[0] - b[0]]) / np.linalg.norm(b - a)
        return pts, np.broadcast_to(normal, pts.shape).copy()


def _signed_area(v: np.ndarray) -> float:
    x, y = v[:, 0], v[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _crossing_edges(v: np.ndarray) -> tuple[int, int] | None:
    """The first pair of non-adjacent edges that touch or cross, or None."""
    n = len(v)
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing edge
            if _segments_meet(v[i], v[(i + 1) % n], v[j], v[(j + 1) % n]):
                return i, j
    return None


def _segments_meet(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    def on_segment(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
        return bool(np.all(np.minimum(a, b) <= c) and np.all(c <= np.maximum(a, b)))

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
        return True
    return any(d == 0 and on_segment(a, b, c) for d, a, b, c in
               ((d1, q1, q2, p1), (d2, q1, q2, p2), (d3, p1, p2, q1), (d4, p1, p2, q2)))


def _short(v: object) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."
