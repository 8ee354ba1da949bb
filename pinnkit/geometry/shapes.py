"""Domains: where collocation points live, and their boundary parts.

A shape knows its input names, its bounding box (used to normalise network inputs), a
signed distance (negative inside; it decides membership), how to sample its interior, and
its boundary as a list of ``Piece``\\s: smooth parts that can each be drawn uniformly by
measure, with outward unit normals. Sampling the points a selector picks is the same for
every shape (see ``Shape.sample_boundary``), so a new shape only describes its pieces.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import PinnkitError
from .sampling import uniform
from .selectors import Selector, normal_names

Sampler = Callable[[int, int, int], np.ndarray]
Draw = Callable[[int, Sampler, int], tuple[np.ndarray, np.ndarray]]
# The classes of the set operations, which csg.py defines as subclasses of Shape and
# enters here when it is imported (pinnkit.geometry imports it, so before any Shape is
# built): importing csg from this module would be an import cycle.
OPERATIONS: dict[str, Callable[..., Shape]] = {}

PROBE = 1024  # points per piece used to estimate how much of it a selector keeps


class ShapeError(PinnkitError):
    """A shape built with a wrong argument, said in Python: ``Box(x=(1, 0))`` raises
    "Box(x=...): bounds [1, 0] are empty or reversed; expected low < high. Fix: pass
    x=(0, 1)".

    The parts are kept for the config layer (``shape_from_config``), which reports the same
    mistake at the YAML key and line it came from, in YAML's words: ``path`` is the
    argument's place below the shape's key (``x``, ``radius``, ``1`` for a combination's
    second shape, "" for the shape as a whole), ``advice`` is a fix in neither language,
    ``corrected`` the argument put right and ``example`` a valid value to copy.
    """

    def __init__(self, shape: str, arg: str, found: str, expected: str, advice: str = "", *,
                 corrected: Any = None, example: Any = None, path: str | None = None) -> None:
        self.shape, self.arg, self.found, self.expected = shape, arg, found, expected
        self.advice, self.corrected, self.example = advice, corrected, example
        self.path = arg if path is None else path
        value = corrected if corrected is not None else example
        call = f"{arg}={python_value(value)}" if value is not None else ""
        if advice and call:
            fix = f"{advice}, e.g. {call}"
        elif call:
            fix = f"pass {call}" if corrected is not None else f"pass e.g. {call}"
        else:
            fix = advice
        head = f"{shape}({arg}=...)" if arg else f"{shape}(...)"
        super().__init__(f"{head}: {found}; expected {expected}" +
                         (f". Fix: {fix}" if fix else ""))


def python_value(v: Any) -> str:
    """``(0, 1)``, ``[(0, 0), (1, 0)]``, ``1``: a value as Python source, numbers short."""
    if isinstance(v, tuple):
        return "(" + ", ".join(python_value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(python_value(x) for x in v) + "]"
    return f"{v:g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class BoundarySample:
    points: np.ndarray  # (n, d)
    normals: np.ndarray  # (n, d), outward unit normals


@dataclass(frozen=True)
class Piece:
    """A smooth part of a boundary, drawn uniformly by measure.

    ``draw(n, sampler, seed)`` returns up to ``n`` points and their outward unit normals.
    A piece cut by a boolean combination returns only its points on the combined
    boundary, so the share it returns is the share of its ``measure`` that survives.
    """

    dim: int  # dimension of the piece: 0 for the ends of an interval
    measure: float  # length, area, ...; 1 for a point
    parts: frozenset[str]  # the named boundary parts it belongs to
    draw: Draw


class Shape(ABC):
    """A domain in the space of the problem's inputs.

    Combine shapes with ``a | b`` (union), ``a - b`` (difference) and ``a & b``
    (intersection).
    """

    names: tuple[str, ...]

    @abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners of the bounding box, in ``names`` order."""

    @abstractmethod
    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (or a function with its sign and zero set): < 0 inside."""

    @abstractmethod
    def pieces(self) -> list[Piece]:
        """The boundary, as pieces that can be drawn uniformly."""

    @abstractmethod
    def measure(self) -> float:
        """Length, area or volume of the interior."""

    def contains(self, points: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """Inside or within ``tol`` of the boundary; a negative ``tol`` demands depth."""
        return self.sdf(points) <= tol

    def sample_interior(self, n: int, sampler: Sampler, seed: int) -> np.ndarray:
        """Points of the bounding box that fall inside, until there are ``n``."""
        return rejection(self, n, sampler, seed)

    def part_names(self) -> tuple[str, ...]:
        named = {p for piece in self.pieces() for p in piece.parts} - {"boundary"}
        return ("boundary", *sorted(named))

    def tolerance(self) -> float:
        lo, hi = self.bounds()
        return 1e-9 * max(1.0, float(np.max(np.abs(np.concatenate([lo, hi])))))

    def reordered(self, names: Sequence[str]) -> Shape:
        """The same shape with coordinates in ``names`` order."""
        return self if tuple(names) == self.names else Permuted(self, names)

    def normals(self, points: np.ndarray) -> np.ndarray:
        """Outward unit normals at boundary points, from central differences of ``sdf``."""
        h = 1e-6 * max(1.0, float(np.max(np.abs(np.concatenate(self.bounds())))))
        grad = np.empty_like(points, dtype=np.float64)
        for i in range(points.shape[1]):
            step = np.zeros(points.shape[1])
            step[i] = h
            grad[:, i] = (self.sdf(points + step) - self.sdf(points - step)) / (2 * h)
        return grad / np.linalg.norm(grad, axis=1, keepdims=True)

    def __or__(self, other: Shape) -> Shape:
        return OPERATIONS["union"](self, other)

    def __sub__(self, other: Shape) -> Shape:
        return OPERATIONS["difference"](self, other)

    def __and__(self, other: Shape) -> Shape:
        return OPERATIONS["intersection"](self, other)

    # --- boundary points a selector picks; the same for every shape -------------------

    def selected_measure(self, selector: Selector, seed: int = 0) -> float:
        """Estimated measure of the boundary ``selector`` picks (0: it picks nothing), on
        uniform probe points: this runs in every ``pinnkit check``, which then needs no
        Sobol sampler (scipy.stats takes a second to import)."""
        return float(sum(w for *_, w in self._chosen(selector, uniform, seed)))

    def sample_boundary(self, n: int, sampler: Sampler, seed: int,
                        selector: Selector) -> BoundarySample:
        """``n`` points spread over the selected boundary uniformly by measure.

        Each piece gets points in proportion to the measure of it the selector keeps
        (estimated on probe points). On a 1-D domain the boundary is points: each selected
        one is returned once, which weighs the same in a mean as many copies would.
        """
        chosen = self._chosen(selector, sampler, seed + 7)
        if not chosen:
            raise PinnkitError(f"selector '{selector.text}' matches no boundary point of "
                               f"{self!r}; its parts are {', '.join(self.part_names())}")
        if all(piece.dim == 0 for piece, *_ in chosen):
            pts, nrm = zip(*(piece.draw(1, sampler, seed) for piece, *_ in chosen),
                           strict=True)
            return BoundarySample(np.concatenate(pts), np.concatenate(nrm))
        weights = np.array([w for *_, w in chosen])
        counts = _split(n, weights / weights.sum())
        pts_all, nrm_all = [], []
        for k, ((piece, frac, _), count) in enumerate(zip(chosen, counts, strict=True)):
            p, q = self._draw_selected(piece, frac, count, sampler, seed + 101 * k, selector)
            pts_all.append(p)
            nrm_all.append(q)
        return BoundarySample(np.concatenate(pts_all), np.concatenate(nrm_all))

    def _chosen(self, selector: Selector, sampler: Sampler, seed: int
                ) -> list[tuple[Piece, float, float]]:
        """(piece, share of drawn points kept, selected measure) for each piece it touches."""
        out = []
        for k, piece in enumerate(self.pieces()):
            m = PROBE if piece.dim > 0 else 1
            pts, nrm = piece.draw(m, sampler, seed + 13 * k)
            frac = float(np.sum(self._select(selector, pts, nrm, piece.parts))) / m
            if frac > 0:
                out.append((piece, frac, frac * piece.measure))
        return out

    def _draw_selected(self, piece: Piece, frac: float, count: int, sampler: Sampler,
                       seed: int, selector: Selector) -> tuple[np.ndarray, np.ndarray]:
        kept_p, kept_n, have = [], [], 0
        draw = int(np.ceil(count / frac * 1.1)) + 8
        for attempt in range(50):
            pts, nrm = piece.draw(draw, sampler, seed + 1000 * attempt)
            mask = self._select(selector, pts, nrm, piece.parts)
            kept_p.append(pts[mask])
            kept_n.append(nrm[mask])
            have += int(mask.sum())
            if have >= count:
                break
            draw *= 2
        return np.concatenate(kept_p)[:count], np.concatenate(kept_n)[:count]

    def _select(self, selector: Selector, pts: np.ndarray, nrm: np.ndarray,
                parts: frozenset[str]) -> np.ndarray:
        cols = {name: pts[:, i] for i, name in enumerate(self.names)}
        for sym, i in normal_names(self.names).items():
            cols[sym] = nrm[:, i]
        masks = {p: np.full(len(pts), p in parts) for p in self.part_names()}
        return selector(cols, masks, self.tolerance()) if len(pts) else np.zeros(0, bool)


def rejection(shape: Shape, n: int, sampler: Sampler, seed: int) -> np.ndarray:
    """``n`` points inside ``shape``: the first ones of the bounding box's that fall inside.

    Keeping a prefix of a Sobol sequence's accepted points keeps them well spread.
    """
    lo, hi = shape.bounds()
    box_volume = float(np.prod(hi - lo))
    share = min(1.0, max(shape.measure() / box_volume, 1e-3)) if box_volume > 0 else 1.0
    kept, have, draw = [], 0, int(np.ceil(n / share * 1.05)) + 16
    for attempt in range(60):
        pts = lo + sampler(draw, len(lo), seed + 7919 * attempt) * (hi - lo)
        pts = pts[shape.contains(pts, 0.0)]
        kept.append(pts)
        have += len(pts)
        if have >= n:
            return np.concatenate(kept)[:n]
        draw *= 2
    raise PinnkitError(f"{shape!r} has (almost) no interior: {have} of the points drawn in "
                       "its bounding box fell inside. Fix: check the shape's size")


def _split(n: int, fractions: np.ndarray) -> list[int]:
    """n split by fractions (largest remainder), every part at least 1."""
    raw = fractions * n
    counts = np.maximum(np.floor(raw).astype(int), 1)
    for i in np.argsort(raw - np.floor(raw))[::-1][: max(0, n - counts.sum())]:
        counts[i] += 1
    return counts.tolist()


def check_part_name(name: str | None, shape: str) -> str | None:
    """A part name must be a plain name that selectors can use."""
    reserved = {"boundary", "initial", "final", "and", "or", "not", "d", "pi", "e"}
    if name is not None and (not isinstance(name, str) or not name.isidentifier()
                             or name in reserved):
        raise ShapeError(shape, "name", f"'{name}' cannot name a boundary part",
                         "a name made of letters, digits and _, other than " +
                         ", ".join(sorted(reserved)), "choose another name, e.g. hole")
    return name


class Box(Shape):
    """An axis-aligned box ``Box(x=(0, 1), t=(0, 1))`` of any dimension.

    ``name`` names its boundary as a part for ``on:`` selectors (useful inside a
    combination); it cannot also be a coordinate.
    """

    def __init__(self, _names: Sequence[str] | None = None, _lower: Sequence[float] | None = None,
                 _upper: Sequence[float] | None = None, *, name: str | None = None,
                 **bounds: Sequence[float]) -> None:
        if _names is not None:
            names, lower, upper = list(_names), list(_lower or []), list(_upper or [])
        else:
            names = list(bounds)
            lower = [float(b[0]) for b in bounds.values()]
            upper = [float(b[1]) for b in bounds.values()]
        self.names = tuple(names)
        self.name = check_part_name(name, "Box")
        self.lower = np.asarray(lower, dtype=np.float64)
        self.upper = np.asarray(upper, dtype=np.float64)
        for name_, lo, hi in zip(self.names, self.lower, self.upper, strict=True):
            if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(hi - lo)):
                raise ShapeError("Box", name_, f"bounds [{lo:g}, {hi:g}] are not finite or too "
                                 "far apart", "two finite numbers [low, high]",
                                 "truncate an unbounded domain to a finite interval",
                                 example=(-10, 10))
            if hi <= lo:
                raise ShapeError("Box", name_, f"bounds [{lo:g}, {hi:g}] are empty or reversed",
                                 "low < high", corrected=(float(min(lo, hi)), float(
                                     max(lo, hi) if hi != lo else lo + 1)))

    def __repr__(self) -> str:
        inside = ", ".join(f"{n}=({lo:g}, {hi:g})"
                           for n, lo, hi in zip(self.names, self.lower, self.upper, strict=True))
        return f"Box({inside}" + (f", name='{self.name}')" if self.name else ")")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lower.copy(), self.upper.copy()

    def measure(self) -> float:
        return float(np.prod(self.upper - self.lower))

    def reordered(self, names: Sequence[str]) -> Box:
        idx = [self.names.index(n) for n in names]
        return Box(list(names), self.lower[idx].tolist(), self.upper[idx].tolist(),
                   name=self.name)

    def contains(self, points: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        return np.all((points >= self.lower - tol) & (points <= self.upper + tol), axis=1)

    def sdf(self, points: np.ndarray) -> np.ndarray:
        q = np.abs(points - (self.lower + self.upper) / 2) - (self.upper - self.lower) / 2
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
        return outside + np.minimum(np.max(q, axis=1), 0.0)

    def sample_interior(self, n: int, sampler: Sampler, seed: int) -> np.ndarray:
        u = sampler(n, len(self.names), seed)
        return self.lower + u * (self.upper - self.lower)

    def faces(self) -> list[tuple[int, int]]:
        """(axis, side) for each face; side 0 is the lower one."""
        return [(i, s) for i in range(len(self.names)) for s in (0, 1)]

    def pieces(self) -> list[Piece]:
        parts = frozenset({"boundary", *([self.name] if self.name else [])})
        return [Piece(len(self.names) - 1, self._face_measure(axis), parts,
                      functools.partial(self._face, axis, side)) for axis, side in self.faces()]

    def _face(self, axis: int, side: int, n: int, sampler: Sampler, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
        normals = np.zeros((n, len(self.names)))
        normals[:, axis] = 1.0 if side else -1.0
        return self._face_points(axis, side, n, sampler, seed), normals

    def _face_points(self, axis: int, side: int, n: int, sampler: Sampler, seed: int
                     ) -> np.ndarray:
        d = len(self.names)
        others = [j for j in range(d) if j != axis]
        pts = np.empty((n, d))
        u = sampler(n, d - 1, seed)
        for k, j in enumerate(others):
            pts[:, j] = self.lower[j] + u[:, k] * (self.upper[j] - self.lower[j])
        pts[:, axis] = self.upper[axis] if side else self.lower[axis]
        return pts

    def _face_measure(self, axis: int) -> float:
        widths = np.delete(self.upper - self.lower, axis)
        return float(np.prod(widths)) if widths.size else 1.0


class Permuted(Shape):
    """``inner`` with its coordinates in another order (how a problem's inputs list them)."""

    def __init__(self, inner: Shape, names: Sequence[str]) -> None:
        if sorted(names) != sorted(inner.names):
            raise PinnkitError(f"cannot order {inner!r}'s coordinates {inner.names} as "
                               f"{tuple(names)}")
        self.inner, self.names = inner, tuple(names)
        self._out = [inner.names.index(n) for n in self.names]  # inner column of each name
        self._in = [self.names.index(n) for n in inner.names]  # our column of each inner one

    def __repr__(self) -> str:
        return f"{self.inner!r} as ({', '.join(self.names)})"

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.inner.bounds()
        return lo[self._out], hi[self._out]

    def sdf(self, points: np.ndarray) -> np.ndarray:
        return self.inner.sdf(points[:, self._in])

    def measure(self) -> float:
        return self.inner.measure()

    def reordered(self, names: Sequence[str]) -> Shape:
        return self.inner.reordered(names)

    def sample_interior(self, n: int, sampler: Sampler, seed: int) -> np.ndarray:
        return self.inner.sample_interior(n, sampler, seed)[:, self._out]

    def pieces(self) -> list[Piece]:
        return [Piece(p.dim, p.measure, p.parts, functools.partial(self._draw, p.draw))
                for p in self.inner.pieces()]

    def _draw(self, draw: Draw, n: int, sampler: Sampler, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
        pts, nrm = draw(n, sampler, seed)
        return pts[:, self._out], nrm[:, self._out]
