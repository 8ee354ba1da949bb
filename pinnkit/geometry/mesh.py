"""Solids bounded by a closed triangle mesh: ``Mesh("part.stl")``, ``Mesh(vertices=...,
faces=...)``; and ``Polyhedron``, the convex hull of points, with one piece per flat face.

A mesh is checked once (closed, merged, oriented outward; surface.py), then: membership
is the winding number, the signed distance is the exact distance to the nearest face
with that sign, interior points are the bounding box's points that fall inside, and
boundary points are uniform by area over the faces (each face's normal is the outward
normal of its points). Named parts come from the file's groups or from ``parts=``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .shapes import Piece, Sampler, Shape, ShapeError, check_part_name
from .surface import Distance, closed_surface, sample_triangles, winding_numbers

#: the most faces a mesh may have: membership costs points x faces, so 1e5 faces take
#: seconds per resampling of 1e4 points; PINN meshes need 1e2 to 1e4
MAX_FACES = 100_000


class Mesh(Shape):
    """The solid inside a closed triangle surface in 3-D.

    ``Mesh("part.stl")`` or ``Mesh("part.obj", scale=1e-3)`` reads a file (needs the
    optional extra ``pinnkit[mesh]``); ``Mesh(vertices=v, faces=f)`` takes arrays (V, 3)
    and (F, 3), any orientation. ``scale`` multiplies the coordinates (files carry no
    units: a part drawn in millimetres needs 1e-3 to be in metres). ``parts`` names groups
    of faces (``{"inlet": [0, 1, 2]}``, face indices) for ``on:`` selectors; a file's
    groups are named parts already. ``name`` names the whole boundary.
    """

    def __init__(self, file: str | Path | None = None, *,
                 vertices: np.ndarray | Sequence[Sequence[float]] | None = None,
                 faces: np.ndarray | Sequence[Sequence[int]] | None = None,
                 parts: Mapping[str, Sequence[int] | np.ndarray] | None = None,
                 scale: float = 1.0, names: Sequence[str] = ("x", "y", "z"),
                 name: str | None = None) -> None:
        kind = "Mesh"
        self.file = None if file is None else Path(file)
        if (file is None) == (vertices is None and faces is None):
            raise ShapeError(kind, "file", "found both a file and arrays" if file is not None
                             else "found neither a file nor vertices and faces",
                             "a file, or vertices and faces", "write Mesh('part.stl') or "
                             "Mesh(vertices=v, faces=f)")
        self.scale = float(scale)
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ShapeError(kind, "scale", f"found {scale!r}", "a positive number",
                             example=1.0)
        groups: dict[str, np.ndarray] = {}
        arg = "file"
        if self.file is not None:
            from .meshfile import read_mesh

            data = read_mesh(self.file, kind)
            v, f, groups = data.vertices, data.faces, data.groups
        else:
            arg = "faces"
            v, f = _arrays(vertices, faces, kind)
        if len(f) > MAX_FACES:
            raise ShapeError(kind, arg, f"has {len(f)} faces", f"at most {MAX_FACES} (meshes "
                             "for PINNs need 1e2 to 1e4; membership costs points x faces)",
                             "decimate it, e.g. trimesh's simplify_quadric_decimation or "
                             "the CAD tool's coarser export")
        labels, self.groups = _labels(len(f), {**groups, **(parts or {})}, kind,
                                      "parts" if parts else arg)
        self.names = tuple(names)
        if len(self.names) != 3:
            raise ShapeError(kind, "names", f"a mesh is 3-D, but the coordinates are "
                             f"{', '.join(self.names)}", "three coordinates",
                             "use a mesh with three space inputs", path="file")
        self.name = check_part_name(name, kind)
        self.surface = closed_surface(v * self.scale, f, labels, kind, arg)
        self._tri = self.surface.triangles
        self._distance: Distance | None = None
        self._volume = self.surface.volume()

    def __repr__(self) -> str:
        what = f"'{self.file.name}'" if self.file is not None else \
            f"{len(self.surface.faces)} faces"
        return f"Mesh({what}" + (f", name='{self.name}')" if self.name else ")")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.surface.vertices.min(axis=0), self.surface.vertices.max(axis=0)

    def measure(self) -> float:
        return self._volume

    def distance(self, points: np.ndarray) -> np.ndarray:
        if self._distance is None:
            self._distance = Distance(self._tri)
        return self._distance(points)

    def inside(self, points: np.ndarray) -> np.ndarray:
        """Strictly inside (the winding number, 1 inside and 0 outside, above 1/2)."""
        return winding_numbers(points, self._tri) > 0.5

    def sdf(self, points: np.ndarray) -> np.ndarray:
        d = self.distance(points)
        return np.where(self.inside(points), -d, d)

    def contains(self, points: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        inside = self.inside(points)
        if tol == 0:
            return inside
        check = np.flatnonzero(~inside if tol > 0 else inside)
        if len(check):
            near = self.distance(points[check]) <= abs(tol)
            inside[check] = near if tol > 0 else ~near
        return inside

    def reordered(self, names: Sequence[str]) -> Mesh:
        idx = [self.names.index(n) for n in names]
        out = Mesh(vertices=self.surface.vertices[:, idx], faces=self.surface.faces,
                   parts={g: np.flatnonzero(self.surface.labels == k)
                          for k, g in enumerate(self.groups)}, names=names, name=self.name)
        out.file = self.file
        return out

    def pieces(self) -> list[Piece]:
        own = [self.name] if self.name else []
        out = []
        for k in range(-1, len(self.groups)):
            tri = self._tri[self.surface.labels == k]
            if len(tri):
                parts = frozenset({"boundary", *own, *([self.groups[k]] if k >= 0 else [])})
                out.append(Piece(2, _area(tri), parts, functools.partial(_draw_faces, tri)))
        return out


def _draw_faces(tri: np.ndarray, n: int, sampler: Sampler, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    return sample_triangles(tri, sampler(n, 3, seed))


def _area(tri: np.ndarray) -> float:
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return float(np.linalg.norm(n, axis=1).sum()) / 2


def _arrays(vertices: object, faces: object, kind: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        v = np.asarray(vertices, dtype=np.float64)
    except (TypeError, ValueError):
        v = np.zeros((0, 0))
    if v.ndim != 2 or v.shape[1] != 3 or len(v) < 4 or not np.all(np.isfinite(v)):
        raise ShapeError(kind, "vertices", f"found an array of shape {v.shape}",
                         "at least 4 points (x, y, z) of finite numbers",
                         "pass vertices as an array of shape (V, 3)")
    try:
        f = np.asarray(faces)
    except (TypeError, ValueError):
        f = np.zeros((0, 0))
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer) or \
            (f.size and (f.min() < 0 or f.max() >= len(v))):
        raise ShapeError(kind, "faces", f"found an array of shape {f.shape} and type "
                         f"{f.dtype}", f"triangles as rows of three vertex indices in "
                         f"[0, {len(v) - 1}]", "pass faces as an integer array of shape (F, 3)")
    return v, f.astype(np.int64)


def _labels(count: int, groups: Mapping[str, Sequence[int] | np.ndarray], kind: str,
            arg: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Group index of each face (-1: none), and the group names in that order."""
    labels = np.full(count, -1)
    names = tuple(groups)
    for k, (g, idx) in enumerate(groups.items()):
        try:
            check_part_name(g, kind)
        except ShapeError:
            raise ShapeError(kind, arg, f"the group '{g}' cannot name a boundary part",
                             "group names made of letters, digits and _ (not boundary, "
                             "initial, final, and, or, not, d, pi, e)",
                             "rename the group (OBJ: the 'g' line; STL: 'solid NAME')"
                             ) from None
        i = np.asarray(idx, dtype=np.int64).reshape(-1)
        if i.size and (i.min() < 0 or i.max() >= count):
            raise ShapeError(kind, arg, f"part '{g}' lists face {int(i.max())}, but there "
                             f"are {count} faces", f"face indices in [0, {count - 1}]",
                             "check the indices")
        if np.any(labels[i] >= 0):
            other = names[int(labels[i][labels[i] >= 0][0])]
            raise ShapeError(kind, arg, f"parts '{other}' and '{g}' share faces",
                             "each face in at most one part", "split the faces between them")
        labels[i] = k
    return labels, names


class Polyhedron(Shape):
    """``Polyhedron([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)])``: the convex hull of
    points in 3-D. Each flat face is drawn on its own; points inside the hull are allowed
    and ignored. A non-convex solid is a ``Mesh``. Coordinates are named ``names``; ``name``
    names the boundary as a part for ``on:`` selectors."""

    def __init__(self, vertices: Sequence[Sequence[float]] | np.ndarray,
                 names: Sequence[str] = ("x", "y", "z"), name: str | None = None) -> None:
        kind = "Polyhedron"
        try:
            p = np.asarray(vertices, dtype=np.float64)
        except (TypeError, ValueError):
            p = np.zeros((0, 0))
        if p.ndim != 2 or p.shape[1] != 3 or len(p) < 4 or not np.all(np.isfinite(p)):
            raise ShapeError(kind, "vertices", f"found {_short(vertices)}", "at least 4 "
                             "points [x, y, z] of finite numbers",
                             example=[(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)])
        from scipy.spatial import ConvexHull, QhullError

        try:
            hull = ConvexHull(p)
        except QhullError:
            raise ShapeError(kind, "vertices", "lie in one plane (or on one line)",
                             "the corners of a solid", "check the vertices") from None
        self.names = tuple(names)
        if len(self.names) != 3:
            raise ShapeError(kind, "names", f"a polyhedron is 3-D, but the coordinates are "
                             f"{', '.join(self.names)}", "three coordinates",
                             "use a polygon in 2-D", path="vertices")
        self.name = check_part_name(name, kind)
        self.vertices = p
        self.planes = _faces_of(hull.equations)  # (K, 4): unit outward normal and offset
        # the face of each triangle: the plane with its normal (convex: one per normal)
        labels = np.argmax(hull.equations[:, :3] @ self.planes[:, :3].T, axis=1)
        self.surface = closed_surface(p, hull.simplices, labels, kind, "vertices")
        self._tri = self.surface.triangles
        self._volume = float(hull.volume)
        self._distance: Distance | None = None

    def __repr__(self) -> str:
        return f"Polyhedron({len(self.planes)} faces" + \
            (f", name='{self.name}')" if self.name else ")")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    def measure(self) -> float:
        return self._volume

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Inside, minus the distance to the nearest face plane (exact for a convex solid);
        outside, the distance to the nearest face."""
        plane = np.max(points @ self.planes[:, :3].T + self.planes[:, 3], axis=1)
        out = np.flatnonzero(plane > 0)
        if len(out):
            if self._distance is None:
                self._distance = Distance(self._tri)
            plane[out] = self._distance(points[out])
        return plane

    def reordered(self, names: Sequence[str]) -> Polyhedron:
        idx = [self.names.index(n) for n in names]
        return Polyhedron(self.vertices[:, idx], names, self.name)

    def pieces(self) -> list[Piece]:
        parts = frozenset({"boundary", *([self.name] if self.name else [])})
        return [Piece(2, _area(self._tri[self.surface.labels == k]), parts,
                      functools.partial(_draw_faces, self._tri[self.surface.labels == k]))
                for k in range(len(self.planes)) if np.any(self.surface.labels == k)]


def _faces_of(equations: np.ndarray) -> np.ndarray:
    """The distinct planes among qhull's triangles' (coplanar triangles share a face)."""
    planes: list[np.ndarray] = []
    scale = max(1.0, float(np.max(np.abs(equations[:, 3]))))
    for e in equations:
        if not any(np.all(np.abs(e[:3] - q[:3]) < 1e-9) and abs(e[3] - q[3]) < 1e-9 * scale
                   for q in planes):
            planes.append(e)
    return np.array(planes)


def _short(v: object) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."
