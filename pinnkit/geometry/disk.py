"""Disks and balls of any dimension: an interval, a disk, a ball, a hyperball."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .shapes import Draw, Piece, Sampler, Shape, ShapeError, check_part_name


def default_names(dim: int) -> tuple[str, ...]:
    """x, y, z for up to three coordinates, else x1, x2, ..."""
    return ("x", "y", "z")[:dim] if dim <= 3 else tuple(f"x{i + 1}" for i in range(dim))


def coordinate_names(names: Sequence[str] | None, dim: int, kind: str) -> tuple[str, ...]:
    """The coordinates of a shape centred at a ``dim``-number center: ``names``, or x, y, z."""
    out = tuple(names) if names is not None else default_names(dim)
    if len(out) != dim:
        raise ShapeError(kind, "center", f"has {dim} coordinates but the shape's "
                         f"coordinates are {', '.join(out)}",
                         f"{len(out)} numbers", "give one number per coordinate")
    return out


def directions(u: np.ndarray, dim: int) -> np.ndarray:
    """Unit vectors spread uniformly over the sphere, from ``directions_needed(dim)`` uniforms.

    Each map sends uniform points to uniform directions, so Sobol points stay well spread:
    an angle in 2-D, Archimedes' height-and-angle map in 3-D, normalised Gaussians beyond.
    """
    if dim == 1:
        return np.where(u[:, :1] < 0.5, -1.0, 1.0)
    if dim == 2:
        theta = 2 * np.pi * u[:, 0]
        return np.stack([np.cos(theta), np.sin(theta)], axis=1)
    if dim == 3:
        z, phi = 2 * u[:, 0] - 1, 2 * np.pi * u[:, 1]
        rho = np.sqrt(np.clip(1 - z**2, 0.0, None))
        return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)
    from scipy.special import ndtri  # 0.35 s to import: only when directions are drawn

    g = ndtri(np.clip(u[:, :dim], 1e-12, 1 - 1e-12))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def directions_needed(dim: int) -> int:
    return {1: 1, 2: 1, 3: 2}.get(dim, dim)


class Disk(Shape):
    """``Disk(center=(0, 0), radius=1)``: all points within ``radius`` of ``center``.

    The dimension is the center's length (an interval in 1-D, a ball in 3-D); coordinates
    are named x, y, z unless ``names`` says otherwise. ``name`` names its boundary as a part
    for ``on:`` selectors, e.g. ``hole``.
    """

    def __init__(self, center: Sequence[float] | np.ndarray, radius: float,
                 names: Sequence[str] | None = None, name: str | None = None) -> None:
        self.center = np.asarray(center, dtype=np.float64).reshape(-1)
        self.radius = float(radius)
        kind = type(self).__name__
        if self.center.size == 0 or not np.all(np.isfinite(self.center)):
            raise ShapeError(kind, "center", f"found {list(center)!r}",
                             "one finite number per coordinate",
                             example=tuple(0 for _ in range(max(self.center.size, 2))))
        if not (math.isfinite(self.radius) and self.radius > 0):
            raise ShapeError(kind, "radius", f"found {radius!r}", "a positive number",
                             example=1)
        dim = self.center.size
        self.names = coordinate_names(names, dim, kind)
        self.name = check_part_name(name, kind)

    def __repr__(self) -> str:
        c = ", ".join(f"{v:g}" for v in self.center)
        return f"Disk(center=({c}), radius={self.radius:g}" + \
            (f", name='{self.name}')" if self.name else ")")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.center - self.radius, self.center + self.radius

    def sdf(self, points: np.ndarray) -> np.ndarray:
        return np.linalg.norm(points - self.center, axis=1) - self.radius

    def measure(self) -> float:
        d = self.center.size
        return math.pi ** (d / 2) / math.gamma(d / 2 + 1) * self.radius**d

    def surface(self) -> float:
        """Length, area... of the boundary (2 points count 1 each in 1-D)."""
        d = self.center.size
        return 1.0 if d == 1 else d * self.measure() / self.radius

    def reordered(self, names: Sequence[str]) -> Disk:
        idx = [self.names.index(n) for n in names]
        return Disk(self.center[idx], self.radius, names, self.name)

    def sample_interior(self, n: int, sampler: Sampler, seed: int) -> np.ndarray:
        """Uniform by volume: radius r = R u**(1/d) from one uniform, direction from the rest."""
        d = self.center.size
        if d == 1:
            return self.center + self.radius * (2 * sampler(n, 1, seed) - 1)
        u = sampler(n, 1 + directions_needed(d), seed)
        r = self.radius * u[:, :1] ** (1.0 / d)
        return self.center + r * directions(u[:, 1:], d)

    def pieces(self) -> list[Piece]:
        parts = frozenset({"boundary", *([self.name] if self.name else [])})
        d = self.center.size
        if d == 1:
            return [Piece(0, 1.0, parts, self._end(side)) for side in (-1.0, 1.0)]
        return [Piece(d - 1, self.surface(), parts, self._sphere)]

    def _sphere(self, n: int, sampler: Sampler, seed: int) -> tuple[np.ndarray, np.ndarray]:
        d = self.center.size
        normal = directions(sampler(n, directions_needed(d), seed), d)
        return self.center + self.radius * normal, normal

    def _end(self, side: float) -> Draw:
        def draw(n: int, sampler: Sampler, seed: int) -> tuple[np.ndarray, np.ndarray]:
            normal = np.full((n, 1), side)
            return self.center + self.radius * normal, normal
        return draw


Ball = Disk  # the same shape; "ball" reads better in 3-D
