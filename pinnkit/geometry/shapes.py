"""Domains: where collocation points live, and their boundary parts.

A shape knows its input names, its bounding box (used to normalise network inputs), how
to sample its interior, and how to sample the points of its boundary that a selector
picks, with outward unit normals. Time is just another coordinate of a box.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, PinnkitError
from .selectors import Selector

Sampler = Callable[[int, int, int], np.ndarray]


@dataclass(frozen=True)
class BoundarySample:
    points: np.ndarray  # (n, d)
    normals: np.ndarray  # (n, d), outward unit normals


class Shape(ABC):
    """A domain in the space of the problem's inputs."""

    names: tuple[str, ...]

    @abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners of the bounding box, in ``names`` order."""

    @abstractmethod
    def sample_interior(self, n: int, sampler: Sampler, seed: int) -> np.ndarray: ...

    @abstractmethod
    def sample_boundary(self, n: int, sampler: Sampler, seed: int,
                        selector: Selector) -> BoundarySample: ...

    @abstractmethod
    def contains(self, points: np.ndarray, tol: float = 1e-9) -> np.ndarray: ...

    def part_names(self) -> tuple[str, ...]:
        return ("boundary",)

    def tolerance(self) -> float:
        lo, hi = self.bounds()
        return 1e-9 * max(1.0, float(np.max(np.abs(np.concatenate([lo, hi])))))

    def reordered(self, names: Sequence[str]) -> Shape:
        """The same shape with coordinates in ``names`` order."""
        raise NotImplementedError(f"{type(self).__name__} cannot be reordered")


class Box(Shape):
    """An axis-aligned box ``Box(x=(0, 1), t=(0, 1))`` of any dimension."""

    def __init__(self, _names: Sequence[str] | None = None, _lower: Sequence[float] | None = None,
                 _upper: Sequence[float] | None = None, **bounds: Sequence[float]) -> None:
        if _names is not None:
            names, lower, upper = list(_names), list(_lower or []), list(_upper or [])
        else:
            names = list(bounds)
            lower = [float(b[0]) for b in bounds.values()]
            upper = [float(b[1]) for b in bounds.values()]
        self.names = tuple(names)
        self.lower = np.asarray(lower, dtype=np.float64)
        self.upper = np.asarray(upper, dtype=np.float64)
        for name, lo, hi in zip(self.names, self.lower, self.upper, strict=True):
            if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(hi - lo)):
                raise ConfigError(f"domain.{name}", f"bounds [{lo:g}, {hi:g}] are not finite "
                                  "or too far apart", "two finite numbers [low, high]",
                                  "truncate an unbounded domain to a finite interval, "
                                  "e.g. [-10, 10]")
            if hi <= lo:
                raise ConfigError(f"domain.{name}", f"bounds [{lo:g}, {hi:g}] are empty or "
                                  "reversed", "low < high", f"write [{min(lo, hi):g}, "
                                  f"{max(lo, hi) if hi != lo else lo + 1:g}]")

    def __repr__(self) -> str:
        inside = ", ".join(f"{n}=({lo:g}, {hi:g})"
                           for n, lo, hi in zip(self.names, self.lower, self.upper, strict=True))
        return f"Box({inside})"

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lower.copy(), self.upper.copy()

    def reordered(self, names: Sequence[str]) -> Box:
        idx = [self.names.index(n) for n in names]
        return Box(list(names), self.lower[idx].tolist(), self.upper[idx].tolist())

    def contains(self, points: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        return np.all((points >= self.lower - tol) & (points <= self.upper + tol), axis=1)

    def sample_interior(self, n: int, sampler: Sampler, seed: int) -> np.ndarray:
        u = sampler(n, len(self.names), seed)
        return self.lower + u * (self.upper - self.lower)

    def faces(self) -> list[tuple[int, int]]:
        """(axis, side) for each face; side 0 is the lower one."""
        return [(i, s) for i in range(len(self.names)) for s in (0, 1)]

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

    def sample_boundary(self, n: int, sampler: Sampler, seed: int,
                        selector: Selector) -> BoundarySample:
        """Points spread over the selected faces in proportion to their selected measure.

        The share of each face the selector keeps is estimated on probe points; a face of
        dimension 0 (the ends of a 1-D interval) gets a single point, which weighs the same
        in a mean as many copies would.
        """
        tol, d = self.tolerance(), len(self.names)
        chosen: list[tuple[int, int, float]] = []
        for axis, side in self.faces():
            probe = self._face_points(axis, side, 256 if d > 1 else 1, sampler, seed + 7)
            frac = float(np.mean(self._select(selector, probe, tol)))
            if frac > 0:
                chosen.append((axis, side, frac * self._face_measure(axis)))
        if not chosen:
            raise PinnkitError(f"selector '{selector.text}' matches no boundary point of "
                               f"{self!r}")
        if d == 1:
            pts = np.array([[self.upper[0] if s else self.lower[0]] for _, s, _ in chosen])
            normals = np.array([[1.0 if s else -1.0] for _, s, _ in chosen])
            return BoundarySample(pts, normals)
        weights = np.array([w for *_, w in chosen])
        counts = _split(n, weights / weights.sum())
        pts_all, normals_all = [], []
        for (axis, side, _), count in zip(chosen, counts, strict=True):
            got = self._selected_on_face(axis, side, count, sampler, seed + 101 * axis + side,
                                         selector, tol)
            normal = np.zeros((len(got), d))
            normal[:, axis] = 1.0 if side else -1.0
            pts_all.append(got)
            normals_all.append(normal)
        return BoundarySample(np.concatenate(pts_all), np.concatenate(normals_all))

    def _selected_on_face(self, axis: int, side: int, count: int, sampler: Sampler, seed: int,
                          selector: Selector, tol: float) -> np.ndarray:
        kept: list[np.ndarray] = []
        have, draw = 0, count
        for attempt in range(50):
            cand = self._face_points(axis, side, draw, sampler, seed + 1000 * attempt)
            cand = cand[self._select(selector, cand, tol)]
            kept.append(cand)
            have += len(cand)
            if have >= count:
                break
            draw = 2 * draw
        return np.concatenate(kept)[:count]

    def _select(self, selector: Selector, pts: np.ndarray, tol: float) -> np.ndarray:
        cols = {name: pts[:, i] for i, name in enumerate(self.names)}
        return selector(cols, {"boundary": np.ones(len(pts), dtype=bool)}, tol)


def _split(n: int, fractions: np.ndarray) -> list[int]:
    """n split by fractions (largest remainder), every part at least 1."""
    raw = fractions * n
    counts = np.maximum(np.floor(raw).astype(int), 1)
    for i in np.argsort(raw - np.floor(raw))[::-1][: max(0, n - counts.sum())]:
        counts[i] += 1
    return counts.tolist()


def shape_from_config(spec: object, inputs: Sequence[str], key: str = "domain",
                      lines: Mapping[str, int] | None = None) -> Shape:
    """``{x: [0, 1], t: [0, 1]}`` -> Box, with errors naming the key and line."""
    lines = lines or {}
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(key, f"found {type(spec).__name__} {spec!r}",
                          "a mapping from each input to [low, high]",
                          "write e.g. domain: {x: [0, 1], t: [0, 1]}", lines.get(key))
    missing = [n for n in inputs if n not in spec]
    extra = [k for k in spec if k not in inputs]
    if extra:
        raise ConfigError(f"{key}.{extra[0]}", f"'{extra[0]}' is not an input",
                          "one entry per input: " + ", ".join(inputs),
                          "add it to 'inputs' or remove it", lines.get(f"{key}.{extra[0]}"))
    if missing:
        raise ConfigError(key, f"no bounds for input '{missing[0]}'",
                          "one entry per input: " + ", ".join(inputs),
                          f"add {missing[0]}: [low, high]", lines.get(key))
    lower, upper = [], []
    for name in inputs:
        b, k = spec[name], f"{key}.{name}"
        ok = isinstance(b, (list, tuple)) and len(b) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)
        if not ok:
            raise ConfigError(k, f"found {b!r}", "[low, high], two numbers",
                              f"write {name}: [0, 1]", lines.get(k))
        lower.append(float(b[0]))
        upper.append(float(b[1]))
    try:
        return Box(list(inputs), lower, upper)
    except ConfigError as exc:
        raise ConfigError(exc.key.replace("domain", key, 1), exc.found, exc.expected, exc.fix,
                          lines.get(exc.key.replace("domain", key, 1))) from None
