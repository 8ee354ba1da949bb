"""Which univariate Taylor streams a set of requested derivatives needs.

The engine propagates, for a few input directions v, the derivatives
``D_v^k u = d^k/dt^k u(x + t v)`` for k = 1..m_v. A partial derivative is read off by
polarisation: ``D_v^k u = sum_{|b|=k} k!/b! v^b d^b u`` is linear in the order-k partials,
so a target ``sum_b c_b d^b u`` equals ``sum_v w_v D_v^k u`` whenever the vectors
``(k!/b! v^b)_b`` of the chosen directions combine to ``c``. Pure derivatives use the axis
(u_xxx = D_x^3 u); mixed ones use a few extra directions (u_xy from x, y and the diagonal).

Why univariate streams rather than multivariate coefficients: each direction is an
independent copy of the same scalar recursion, so all directions of one order stack into
one (R, N, W) tensor and cost one matmul per layer. A weighted sum of top-order targets
needs only the sum of their top coefficients, which enters each layer linearly, so it is
carried as one *collapsed* stream (Laplacian: value + one first-order stream per axis + 1).

Directions are chosen per target by a small exhaustive search over candidates (axes, the
directions already chosen, diagonals, and in 2-D every multiple of 15 degrees) for the
fewest new streams; the isotropic 2-D biharmonic thus uses three directions 60 degrees
apart. Stream counts: Burgers 4, Poisson 4, KdV 5, u_xxxx 5, 2-D biharmonic 11.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..expr.collapse import Combo
from ..expr.names import Partial

Key = Partial | Combo
Orders = tuple[int, ...]
#: how one key is read: (source, order, index, weight); source "val" (index = 0), "dir"
#: (index = direction) or "col" (index = collapsed stream)
Term = tuple[str, int, int, float]
_TOL = 1e-9
_BUDGET = 20000  # least-squares solves allowed per target in the subset search


@dataclass(frozen=True)
class Plan:
    """Directions (sorted by stream depth, deepest first), collapsed streams and readers."""

    n_inputs: int
    directions: tuple[tuple[float, ...], ...]
    depth: tuple[int, ...]  # number of per-direction orders carried, non-increasing
    collapsed: tuple[tuple[int, tuple[float, ...]], ...]  # (order K, weights over dirs)
    reads: tuple[tuple[Key, str, tuple[Term, ...]], ...]  # (key, field, terms)

    @property
    def streams(self) -> int:
        """Tensors of width N x W each layer carries: value, per-direction orders, sums."""
        return 1 + sum(self.depth) + len(self.collapsed)

    @property
    def max_order(self) -> int:
        return max([*self.depth, *(k for k, _ in self.collapsed)], default=0)

    def rows(self, k: int) -> int:
        """Directions carrying order k (a prefix, since depths are sorted)."""
        return sum(1 for m in self.depth if m >= k)


def _monomials(k: int, support: tuple[int, ...], d: int) -> list[Orders]:
    out = []
    for combo in itertools.combinations_with_replacement(support, k):
        b = [0] * d
        for i in combo:
            b[i] += 1
        out.append(tuple(b))
    return sorted(set(out))


def _row(v: np.ndarray, monos: list[Orders], k: int) -> np.ndarray:
    """The polarisation vector (k!/b! v^b)_b: how D_v^k weights each partial."""
    fk = math.factorial(k)
    return np.array([fk / math.prod(math.factorial(e) for e in b)
                     * math.prod(v[i] ** e for i, e in enumerate(b)) for b in monos])


def _unit(v: np.ndarray) -> np.ndarray:
    v = v / np.linalg.norm(v)
    first = v[np.flatnonzero(np.abs(v) > 1e-12)[0]]
    return v if first > 0 else -v


@dataclass
class _Builder:
    d: int
    dirs: list[np.ndarray] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)
    collapsed: list[tuple[int, dict[int, float]]] = field(default_factory=list)

    def index(self, v: np.ndarray) -> int | None:
        for i, u in enumerate(self.dirs):
            if np.allclose(u, v, atol=1e-12):
                return i
        return None

    def use(self, v: np.ndarray, need: int) -> int:
        i = self.index(v)
        if i is None:
            self.dirs.append(v)
            self.depth.append(0)
            i = len(self.dirs) - 1
        self.depth[i] = max(self.depth[i], need)
        return i

    def cost(self, v: np.ndarray, need: int) -> int:
        i = self.index(v)
        return need if i is None else max(0, need - self.depth[i])

    def candidates(self, support: tuple[int, ...]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        inside = lambda v: all(abs(v[i]) < 1e-12 for i in range(self.d) if i not in support)
        pool = [u for u in self.dirs if inside(u)]
        pool += [np.eye(self.d)[i] for i in support]
        if len(support) == 2:
            i, j = support
            for a in range(12):  # every 15 degrees: contains axes, diagonals, 60-degree sets
                v = np.zeros(self.d)
                v[i], v[j] = math.cos(math.pi * a / 12), math.sin(math.pi * a / 12)
                pool.append(v)
        elif len(support) <= 4:
            for signs in itertools.product((-1.0, 0.0, 1.0), repeat=len(support)):
                if sum(s != 0 for s in signs) >= 2:
                    v = np.zeros(self.d)
                    v[list(support)] = signs
                    pool.append(v)
        for v in map(_unit, pool):
            if not any(np.allclose(v, u, atol=1e-12) for u in out):
                out.append(v)
        return out

    def decompose(self, target: dict[Orders, float], k: int, need: int
                  ) -> tuple[list[np.ndarray], np.ndarray] | None:
        """Directions and weights with sum_v w_v D_v^k = target, fewest new streams."""
        support = tuple(sorted({i for b in target for i, e in enumerate(b) if e}))
        if all(sum(e > 0 for e in b) == 1 for b in target):  # diagonal: the axes themselves
            axes = [np.eye(self.d)[next(i for i, e in enumerate(b) if e)] for b in target]
            return axes, np.array(list(target.values()))
        monos = _monomials(k, support, self.d)
        c = np.array([target.get(b, 0.0) for b in monos])
        cands = self.candidates(support)
        rows = np.stack([_row(v, monos, k) for v in cands], axis=1)  # (M, candidates)
        costs = np.array([self.cost(v, need) for v in cands])
        best = _search(rows, c, costs)
        if best is None:
            return self._griewank(c, monos, k)
        return [cands[i] for i in best[0]], best[1]

    def _griewank(self, c: np.ndarray, monos: list[Orders], k: int
                  ) -> tuple[list[np.ndarray], np.ndarray]:
        """Fallback: the directions b/|b| for |b| = k determine every order-k partial
        (Griewank, Utke & Walther 2000), so the square system is solvable."""
        dirs = [_unit(np.array(b, dtype=float)) for b in monos]
        w = np.linalg.solve(np.stack([_row(v, monos, k) for v in dirs], axis=1), c)
        keep = np.abs(w) > 1e-14
        return [v for v, m in zip(dirs, keep, strict=True) if m], w[keep]


def _targets(key: Key) -> list[tuple[int, dict[Orders, float], bool]]:
    """(order, coefficients, collapsible) pieces of a key, one per derivative order."""
    terms = [(key.orders, 1.0)] if isinstance(key, Partial) else list(key.terms)
    by_order: dict[int, dict[Orders, float]] = {}
    for orders, coeff in terms:
        by_order.setdefault(sum(orders), {})[tuple(orders)] = coeff
    top = max(by_order, default=0)
    return [(k, c, isinstance(key, Combo) and k == top and k >= 2 and len(c) > 1)
            for k, c in sorted(by_order.items())]


def _place(b: _Builder, k: int, target: dict[Orders, float], collapsible: bool
           ) -> list[Term]:
    """Choose directions for one target and return how to read it."""
    if k == 0:
        return [("val", 0, 0, target[(0,) * b.d])]
    plain = b.decompose(target, k, k)
    assert plain is not None
    if collapsible:
        folded = b.decompose(target, k, k - 1)
        assert folded is not None
        cost_plain = sum(b.cost(v, k) for v in plain[0])
        cost_fold = 1 + sum(b.cost(v, k - 1) for v in folded[0])
        if cost_fold < cost_plain:
            weights = {b.use(v, k - 1): float(w) for v, w in zip(*folded, strict=True)}
            for i, (order, ws) in enumerate(b.collapsed):
                if order == k and ws.keys() == weights.keys() and \
                        all(abs(ws[j] - weights[j]) < 1e-14 for j in ws):
                    return [("col", k, i, 1.0)]
            b.collapsed.append((k, weights))
            return [("col", k, len(b.collapsed) - 1, 1.0)]
    return [("dir", k, b.use(v, k), float(w)) for v, w in zip(*plain, strict=True)]


def build_plan(keys: tuple[Key, ...], n_inputs: int, outputs: tuple[str, ...]) -> Plan:
    """The streams for ``keys``: plain targets first (they are needed regardless), then
    collapsible ones, which may then reuse the directions already chosen."""
    b = _Builder(n_inputs)
    pieces = [(key, *piece) for key in keys for piece in _targets(key)]
    order = sorted(range(len(pieces)), key=lambda i: (
        pieces[i][3], -pieces[i][1],
        max((sum(e > 0 for e in o) for o in pieces[i][2]), default=0)))
    raw: dict[int, list[Term]] = {}
    for i in order:
        key, k, target, collapsible = pieces[i]
        if key.field not in outputs:
            raise KeyError(f"'{key.field}' is not an output of the network {outputs}")
        raw[i] = _place(b, k, target, collapsible)
    # renumber directions deepest first, so every order's directions form a prefix
    perm = sorted(range(len(b.dirs)), key=lambda i: -b.depth[i])
    new = {old: pos for pos, old in enumerate(perm)}
    reads: dict[Key, list[Term]] = {key: [] for key in keys}
    for i, (key, *_rest) in enumerate(pieces):
        reads[key] += [(s, k, new[j] if s == "dir" else j, w) for s, k, j, w in raw[i]]
    collapsed = []
    for k, ws in b.collapsed:
        vec = [0.0] * sum(1 for i in perm if b.depth[i] >= k - 1)
        for j, w in ws.items():
            vec[new[j]] = w
        collapsed.append((k, tuple(vec)))
    return Plan(n_inputs, tuple(tuple(float(x) for x in b.dirs[i]) for i in perm),
                tuple(b.depth[i] for i in perm), tuple(collapsed),
                tuple((key, key.field, tuple(reads[key])) for key in keys))


def _search(rows: np.ndarray, c: np.ndarray, costs: np.ndarray
            ) -> tuple[list[int], np.ndarray] | None:
    """Cheapest subset of candidate columns that reproduces ``c`` exactly.

    All subsets of one size are solved at once with a stacked pseudo-inverse; sizes grow
    until one more size past the first solution (an extra free direction can still be
    cheaper), or until the budget of solves is spent.
    """
    n = rows.shape[1]
    best: tuple[tuple[int, int], list[int], np.ndarray] | None = None
    solves = 0
    for size in range(1, min(rows.shape[0], n) + 1):
        subsets = np.array(list(itertools.combinations(range(n), size)))
        if solves + len(subsets) > _BUDGET and best is not None:
            break
        subsets = subsets[: max(1, _BUDGET - solves)]
        solves += len(subsets)
        a = rows[:, subsets].transpose(1, 0, 2)  # (S, M, size)
        w = np.einsum("smk,k->sm", np.linalg.pinv(a), c)  # (S, size)
        ok = (np.abs(np.einsum("skm,sm->sk", a, w) - c).max(axis=1)
              <= _TOL * max(1.0, np.abs(c).max())) & (np.abs(w).min(axis=1) > 1e-12)
        for s in np.flatnonzero(ok):
            score = (int(costs[subsets[s]].sum()), size)
            if best is None or score < best[0]:
                best = (score, list(subsets[s]), w[s])
        if (best is not None and size >= best[0][1] + 1) or solves >= _BUDGET:
            break
    return None if best is None else (best[1], best[2])
