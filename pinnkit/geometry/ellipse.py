"""Ellipses and ellipsoids: a disk or ball stretched along its axes and turned.

``Ellipse(center=(0, 0), semi_axes=(2, 1), angle=0.5)`` in 2-D, or three semi-axes (and
optionally ``axes``, the directions they lie along) for an ellipsoid in 3-D.

Interior points are the unit ball's uniform points mapped by the linear map that makes
the ellipse, which keeps them uniform by area (volume) and needs no rejection. Boundary
points are uniform by arc length: a uniform number times the perimeter is turned into the
angle parameter by inverting the tabulated arc length (Gauss-Legendre cells, then Newton
on the exact speed), not drawn uniform in the angle, which would crowd the points at the
ends of the long axis. On an ellipsoid, sphere points are kept with probability
proportional to the area element of the map (exact: the kept points are uniform by area).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .disk import coordinate_names, directions, directions_needed
from .shapes import Piece, Sampler, Shape, ShapeError, check_part_name

CELLS = 256  # arc-length table cells over [0, 2 pi): Gauss-Legendre in each, exact to round-off
_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)


class Ellipse(Shape):
    """``Ellipse(center=(0, 0), semi_axes=(2, 1), angle=0.3)``: the points x with
    ``sum((R^T (x - center))_i**2 / semi_axes_i**2) <= 1``.

    2-D: ``angle`` (radians, counter-clockwise) turns the first semi-axis away from the
    first coordinate. 3-D (an ellipsoid; ``Ellipsoid`` is the same class): ``axes``, an
    orthonormal 3 x 3 matrix whose rows are the directions of the semi-axes (default:
    the coordinate axes). Coordinates are named x, y, z unless ``names`` says otherwise;
    ``name`` names the boundary as a part for ``on:`` selectors.
    """

    def __init__(self, center: Sequence[float] | np.ndarray,
                 semi_axes: Sequence[float] | np.ndarray, angle: float = 0.0,
                 axes: Sequence[Sequence[float]] | np.ndarray | None = None,
                 names: Sequence[str] | None = None, name: str | None = None) -> None:
        kind = type(self).__name__
        self.center = _vector(center, "center", kind, None)
        dim = self.center.size
        if dim not in (2, 3):
            raise ShapeError(kind, "center", f"has {dim} coordinates", "2 (an ellipse) or 3 "
                             "(an ellipsoid)", "use a Disk/Ball in other dimensions",
                             example=(0, 0))
        self.semi_axes = _vector(semi_axes, "semi_axes", kind, dim)
        if np.any(self.semi_axes <= 0):
            raise ShapeError(kind, "semi_axes", f"found {_listed(self.semi_axes)}",
                             f"{dim} positive numbers",
                             corrected=tuple(abs(float(v)) or 1.0 for v in self.semi_axes))
        self.angle = float(angle)
        if not math.isfinite(self.angle):
            raise ShapeError(kind, "angle", f"found {angle!r}", "a finite angle in radians",
                             example=0.0)
        if axes is not None and self.angle != 0.0:
            raise ShapeError(kind, "angle", "both angle and axes are given",
                             "one way to turn the shape", "drop one of them")
        if dim == 3 and self.angle != 0.0:
            raise ShapeError(kind, "angle", "an angle turns a 2-D ellipse only",
                             "axes=[[...], [...], [...]] in 3-D", "give the directions of "
                             "the semi-axes as axes, rows of an orthonormal matrix")
        self.axes = _rotation(axes, dim, kind) if axes is not None else _turn(self.angle, dim)
        self.names = coordinate_names(names, dim, kind)
        self.name = check_part_name(name, kind)
        # x = center + M u maps the unit ball onto the shape: M = axes^T diag(semi_axes)
        self._map = self.axes.T * self.semi_axes
        self._table: tuple[np.ndarray, np.ndarray] | None = None
        self._surface: float | None = None

    def __repr__(self) -> str:
        c = ", ".join(f"{v:g}" for v in self.center)
        s = ", ".join(f"{v:g}" for v in self.semi_axes)
        turn = f", angle={self.angle:g}" if self.angle else ""
        return f"{type(self).__name__}(center=({c}), semi_axes=({s}){turn}" + \
            (f", name='{self.name}')" if self.name else ")")

    # --- membership -------------------------------------------------------------------

    def _local(self, points: np.ndarray) -> np.ndarray:
        """Coordinates along the semi-axes, divided by them: the unit ball's coordinates."""
        return (points - self.center) @ self.axes.T / self.semi_axes

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        half = np.linalg.norm(self._map, axis=1)  # extent along each coordinate
        return self.center - half, self.center + half

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """g / |grad g| with g = |local| - 1: zero on the boundary, its sign the side, equal
        to the distance to first order near the boundary (the exact distance to an ellipse
        needs a root per point; membership and the combinations need only this)."""
        u = self._local(points)
        r = np.linalg.norm(u, axis=1)
        g = np.linalg.norm((u / self.semi_axes) @ self.axes, axis=1)  # r |grad r|
        centre = g == 0  # the center: r = 0, as deep as the shortest semi-axis
        return np.where(centre, -float(self.semi_axes.min()),
                        (r - 1.0) * r / np.where(centre, 1.0, g))

    def normals(self, points: np.ndarray) -> np.ndarray:
        grad = (self._local(points) / self.semi_axes) @ self.axes
        return grad / np.linalg.norm(grad, axis=1, keepdims=True)

    def measure(self) -> float:
        d = self.center.size
        return math.pi ** (d / 2) / math.gamma(d / 2 + 1) * float(np.prod(self.semi_axes))

    def surface(self) -> float:
        """Perimeter (2-D) or area (3-D) of the boundary, by quadrature to round-off."""
        if self._surface is None:
            if self.center.size == 2:
                self._surface = float(self._arc_table()[1][-1])
            else:
                self._surface = _ellipsoid_area(self.semi_axes)
        return self._surface

    def reordered(self, names: Sequence[str]) -> Ellipse:
        idx = [self.names.index(n) for n in names]
        out = Ellipse(self.center[idx], self.semi_axes, axes=self.axes[:, idx], names=names,
                      name=self.name)
        out.angle = self.angle  # shown by repr; the turn is in axes
        return out

    # --- points -----------------------------------------------------------------------

    def sample_interior(self, n: int, sampler: Sampler, seed: int) -> np.ndarray:
        d = self.center.size
        u = sampler(n, 1 + directions_needed(d), seed)
        ball = u[:, :1] ** (1.0 / d) * directions(u[:, 1:], d)
        return self.center + ball @ self._map.T

    def pieces(self) -> list[Piece]:
        parts = frozenset({"boundary", *([self.name] if self.name else [])})
        draw = self._curve if self.center.size == 2 else self._shell
        return [Piece(self.center.size - 1, self.surface(), parts, draw)]

    def _on_boundary(self, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points and outward normals for unit vectors of the ball (their preimages)."""
        pts = self.center + unit @ self._map.T
        nrm = (unit / self.semi_axes) @ self.axes
        return pts, nrm / np.linalg.norm(nrm, axis=1, keepdims=True)

    def _curve(self, n: int, sampler: Sampler, seed: int) -> tuple[np.ndarray, np.ndarray]:
        theta = self.arc_angles(sampler(n, 1, seed)[:, 0])
        return self._on_boundary(np.stack([np.cos(theta), np.sin(theta)], axis=1))

    def _shell(self, n: int, sampler: Sampler, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """n points uniform by area: sphere points kept with probability |u / semi_axes|
        over its largest value (the ellipsoid's area element over the sphere's, up to a
        constant), in draws that grow until n are kept."""
        kept, have, draw = [], 0, int(n * float(self.semi_axes.max() / self.semi_axes.min())
                                      ) + 16
        for attempt in range(60):
            u = sampler(draw, 3, seed + 7919 * attempt)
            unit = directions(u[:, :2], 3)
            accept = np.linalg.norm(unit / self.semi_axes, axis=1) * self.semi_axes.min()
            kept.append(unit[u[:, 2] < accept])
            have += len(kept[-1])
            if have >= n:
                break
            draw *= 2
        return self._on_boundary(np.concatenate(kept)[:n])

    def _speed(self, theta: np.ndarray) -> np.ndarray:
        a, b = self.semi_axes
        return np.hypot(a * np.sin(theta), b * np.cos(theta))

    def _arc_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell edges in the angle and the arc length from 0 to each, exact to round-off
        (16-point Gauss-Legendre on each of CELLS cells of an analytic integrand)."""
        if self._table is None:
            edges = np.linspace(0.0, 2 * np.pi, CELLS + 1)
            half = (edges[1] - edges[0]) / 2
            mid = edges[:-1] + half
            cells = half * (self._speed(mid[:, None] + half * _GL_X) @ _GL_W)
            self._table = edges, np.concatenate([[0.0], np.cumsum(cells)])
        return self._table

    def arc_angles(self, u: np.ndarray) -> np.ndarray:
        """The angle parameters whose arc length from angle 0 is u times the perimeter."""
        edges, length = self._arc_table()
        target = np.clip(u, 0.0, 1.0) * length[-1]
        cell = np.clip(np.searchsorted(length, target, side="right") - 1, 0, CELLS - 1)
        lo, width = edges[cell], edges[1] - edges[0]
        theta = lo + (target - length[cell]) / (length[cell + 1] - length[cell]) * width
        for _ in range(4):  # Newton on s(theta) = target with the exact speed
            half = (theta - lo) / 2
            partial = half * (self._speed((lo + half)[:, None] + half[:, None] * _GL_X) @ _GL_W)
            theta = theta - (length[cell] + partial - target) / self._speed(theta)
            theta = np.clip(theta, lo, lo + width)
        return theta


Ellipsoid = Ellipse  # the same shape; "ellipsoid" reads better in 3-D


def _vector(v: object, arg: str, kind: str, size: int | None) -> np.ndarray:
    try:
        out = np.asarray(v, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        out = np.zeros(0)
    bad = out.size == 0 or not np.all(np.isfinite(out)) or (size is not None and out.size != size)
    if bad:
        want = f"{size} finite numbers" if size else "one finite number per coordinate"
        raise ShapeError(kind, arg, f"found {v!r}", want,
                         example=tuple(1.0 if arg == "semi_axes" else 0.0
                                       for _ in range(size or 2)))
    return out


def _listed(v: np.ndarray) -> str:
    return "[" + ", ".join(f"{x:g}" for x in v) + "]"


def _turn(angle: float, dim: int) -> np.ndarray:
    if dim != 2:
        return np.eye(dim)
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, s], [-s, c]])  # rows: the directions of the semi-axes


def _rotation(axes: object, dim: int, kind: str) -> np.ndarray:
    try:
        m = np.asarray(axes, dtype=np.float64)
    except (TypeError, ValueError):
        m = np.zeros(0)
    if m.shape != (dim, dim) or not np.all(np.isfinite(m)) or \
            not np.allclose(m @ m.T, np.eye(dim), atol=1e-9):
        raise ShapeError(kind, "axes", f"found {axes!r}", f"a {dim} x {dim} orthonormal "
                         "matrix: one unit row per semi-axis, at right angles",
                         example=[tuple(1.0 if i == j else 0.0 for j in range(dim))
                                  for i in range(dim)])
    return m


def _ellipsoid_area(e: np.ndarray) -> float:
    """Area of the ellipsoid with semi-axes e: a e b c times the mean over the unit sphere
    of |u / e|, by Gauss-Legendre in z and the trapezoid rule in the azimuth (both
    spectrally accurate for this smooth integrand)."""
    z, wz = np.polynomial.legendre.leggauss(96)
    phi = np.linspace(0.0, 2 * np.pi, 192, endpoint=False)
    rho = np.sqrt(1 - z**2)[:, None]
    u = np.stack([rho * np.cos(phi), rho * np.sin(phi), np.broadcast_to(z[:, None],
                                                                         (len(z), len(phi)))],
                 axis=-1)
    f = np.linalg.norm(u / e, axis=-1)
    mean_on_sphere = float(wz @ f.mean(axis=1)) / 2  # integral over z in [-1, 1] is 2
    return 4 * math.pi * float(np.prod(e)) * mean_on_sphere
