"""Which values can an expression take when its fields and derivatives are free?

Two views, both used by the boundedness check:

- ``interval``: interval arithmetic, with every field or derivative ranging over the whole
  real line and each named symbol over a given interval. A finite lower end proves the
  expression bounded below (``exp(u)``, ``u_x**2 + sin(x)*u_xx**2``); an infinite one
  proves nothing, since intervals overestimate.
- ``polynomial``: the expression as a polynomial in its fields and derivatives, with
  coefficients evaluated numerically at sample points (they may depend on the inputs and
  constants). ``None`` when a field sits inside a function (``exp(u)``) or a denominator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from . import tree as t
from .analysis import partials
from .names import Partial

Interval = tuple[float, float]
Poly = dict[tuple[int, ...], np.ndarray]  # exponents per variable -> coefficient per sample
FREE: Interval = (-math.inf, math.inf)
MAX_DEGREE = 8  # u**20 is left to the numeric probe


def _mul(a: Interval, b: Interval) -> Interval:
    def prod(x: float, y: float) -> float:
        return 0.0 if x == 0 or y == 0 else x * y  # 0 * inf = 0 for interval ends

    ps = [prod(x, y) for x in a for y in b]
    return min(ps), max(ps)


def _pow(x: float, n: float) -> float:
    try:
        return x**n
    except OverflowError:
        return math.inf if x > 0 or n % 2 == 0 else -math.inf
    except ZeroDivisionError:  # 0 ** negative
        return math.inf


def _power(a: Interval, n: float) -> Interval:
    lo, hi = a
    if float(n).is_integer() and n >= 0:
        if int(n) % 2 == 1 or lo >= 0:  # increasing on the interval
            return _pow(lo, n), _pow(hi, n)
        if hi <= 0:
            return _pow(hi, n), _pow(lo, n)
        return 0.0, _pow(max(-lo, hi), n)
    if lo >= 0:  # real powers of non-negative bases are monotone
        ends = sorted([_pow(lo, n), _pow(hi, n)])
        return ends[0], ends[1]
    return FREE


def _monotone(f: Callable[[float], float], a: Interval) -> Interval:
    return f(a[0]), f(a[1])


def _safe(f: Callable[[float], float]) -> Callable[[float], float]:
    def g(x: float) -> float:
        try:
            return f(x)
        except OverflowError:
            return math.inf if x > 0 else -math.inf
    return g


_FUNC_RANGES: dict[str, Callable[[Interval], Interval]] = {
    "sin": lambda a: (-1.0, 1.0), "cos": lambda a: (-1.0, 1.0),
    "tanh": lambda a: _monotone(math.tanh, a), "sign": lambda a: _monotone(_sign, a),
    "exp": lambda a: _monotone(_safe(math.exp), a), "sinh": lambda a: _monotone(
        _safe(math.sinh), a),
    "cosh": lambda a: (1.0 if a[0] <= 0 <= a[1] else _safe(math.cosh)(min(abs(a[0]),
                                                                          abs(a[1]))),
                       _safe(math.cosh)(max(abs(a[0]), abs(a[1])))),
    "abs": lambda a: (0.0 if a[0] <= 0 <= a[1] else min(abs(a[0]), abs(a[1])),
                      max(abs(a[0]), abs(a[1]))),
    "sqrt": lambda a: (math.sqrt(max(a[0], 0.0)), math.sqrt(max(a[1], 0.0))),
    "log": lambda a: (math.log(a[0]) if a[0] > 0 else -math.inf,
                      math.log(a[1]) if a[1] > 0 else -math.inf),
    "tan": lambda a: FREE,
    "heaviside": lambda a: _monotone(lambda v: 0.5 * (1.0 + _sign(v)), a),
    "atan": lambda a: _monotone(math.atan, a),
    "erf": lambda a: _monotone(math.erf, a),
    # defined on [-1, 1] only: a wider argument is NaN there, which no bound can hold
    "asin": lambda a: _monotone(math.asin, (max(a[0], -1.0), min(a[1], 1.0)))
    if a[0] <= 1 and a[1] >= -1 else FREE,
    "acos": lambda a: (math.acos(min(a[1], 1.0)), math.acos(max(a[0], -1.0)))
    if a[0] <= 1 and a[1] >= -1 else FREE,
}


def _sign(v: float) -> float:
    return 0.0 if v == 0 else math.copysign(1.0, v)


def _atan2(y: Interval, x: Interval) -> Interval:
    lo, hi = -math.pi, math.pi
    if y[0] >= 0:
        lo = 0.0
    if y[1] <= 0:
        hi = 0.0
    if x[0] > 0:  # right half-plane
        lo, hi = max(lo, -math.pi / 2), min(hi, math.pi / 2)
    return lo, hi


def _several(func: str, a: list[Interval]) -> Interval:
    if func == "atan2":
        return _atan2(a[0], a[1])
    if func == "min":
        return min(a[0][0], a[1][0]), min(a[0][1], a[1][1])
    if func == "max":
        return max(a[0][0], a[1][0]), max(a[0][1], a[1][1])
    if func == "clip":  # min(max(a, lo), hi)
        m = _several("max", [a[0], a[1]])
        return _several("min", [m, a[2]])
    # where(cond, a, b): either branch
    return min(a[1][0], a[2][0]), max(a[1][1], a[2][1])


def interval(node: t.Node, known: dict[str, Interval]) -> Interval:
    """An interval containing every value of ``node``; fields are free, ``known`` bounds
    the named symbols (an unknown symbol is free) and the values of coefficient fields."""
    if isinstance(node, t.Num):
        return node.value, node.value
    if isinstance(node, t.Sym):
        return known.get(node.name, FREE)
    if isinstance(node, (t.Field, t.ComboField)):
        return FREE
    if isinstance(node, t.Neg):
        lo, hi = interval(node.arg, known)
        return -hi, -lo
    if isinstance(node, t.Jump):
        return 0.0, 0.0
    if isinstance(node, t.Coef):  # a field's value ranges over its table's values
        return known.get(node.partial.field, FREE) if node.partial.order == 0 else FREE
    if isinstance(node, t.Call) and node.func == "where":
        return _several("where", [FREE, *(interval(a, known) for a in node.rest)])
    if isinstance(node, t.Call) and node.rest:
        return _several(node.func, [interval(a, known) for a in node.args])
    if isinstance(node, t.Call):
        return _FUNC_RANGES[node.func](interval(node.arg, known))
    if isinstance(node, t.Bin):
        a, b = interval(node.left, known), interval(node.right, known)
        if node.op == "+":
            return a[0] + b[0], a[1] + b[1]
        if node.op == "-":
            return a[0] - b[1], a[1] - b[0]
        if node.op == "*":
            return _mul(a, b)
        if node.op == "/":
            if b[0] <= 0 <= b[1]:
                return FREE
            return _mul(a, (1 / b[1], 1 / b[0]))
        if node.op == "**" and b[0] == b[1]:
            return _power(a, b[0])
    return FREE


def summands(node: t.Node, sign: float = 1.0) -> list[tuple[float, t.Node]]:
    """``a - b + c`` -> [(1, a), (-1, b), (1, c)]."""
    if isinstance(node, t.Bin) and node.op in "+-":
        right = -sign if node.op == "-" else sign
        return summands(node.left, sign) + summands(node.right, right)
    if isinstance(node, t.Neg):
        return summands(node.arg, -sign)
    return [(sign, node)]


def polynomial(node: t.Node, variables: Sequence[Partial],
               value_of: Callable[[t.Node], np.ndarray]) -> Poly | None:
    """``node`` as {exponents: coefficients}, or None if it is not a polynomial in
    ``variables``. ``value_of`` evaluates a variable-free subtree at the sample points."""
    index = {p: i for i, p in enumerate(variables)}
    zero = (0,) * len(variables)

    def go(n: t.Node) -> Poly | None:
        if not partials(n):
            return {zero: value_of(n)}
        if isinstance(n, t.Field):
            e = [0] * len(variables)
            e[index[n.partial]] = 1
            return {tuple(e): value_of(t.Num(1.0))}
        if isinstance(n, t.Neg):
            inner = go(n.arg)
            return None if inner is None else {k: -v for k, v in inner.items()}
        if not isinstance(n, t.Bin):
            return None  # a field inside a function
        if n.op in "+-":
            a, b = go(n.left), go(n.right)
            if a is None or b is None:
                return None
            return _add(a, b, -1.0 if n.op == "-" else 1.0)
        if n.op == "*":
            a, b = go(n.left), go(n.right)
            return None if a is None or b is None else _times(a, b)
        if n.op == "/" and not partials(n.right):
            a, d = go(n.left), value_of(n.right)
            return None if a is None else {k: v / d for k, v in a.items()}
        if n.op == "**" and isinstance(n.right, t.Num):
            k = n.right.value
            base = go(n.left)
            if base is None or not float(k).is_integer() or not 0 <= k <= MAX_DEGREE:
                return None
            out: Poly = {zero: value_of(t.Num(1.0))}
            for _ in range(int(k)):
                out = _times(out, base)
            return out
        return None

    return go(node)


def _add(a: Poly, b: Poly, sign: float) -> Poly:
    out = dict(a)
    for k, v in b.items():
        out[k] = out[k] + sign * v if k in out else sign * v
    return out


def _times(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for ka, va in a.items():
        for kb, vb in b.items():
            k = tuple(x + y for x, y in zip(ka, kb, strict=True))
            out[k] = out[k] + va * vb if k in out else va * vb
    return out


def free_variables(node: t.Node) -> list[Partial]:
    """The fields and derivatives ``node`` reads, in a stable order."""
    return sorted(partials(node), key=lambda p: (p.field, p.order, p.orders))


__all__ = ["FREE", "Interval", "Poly", "free_variables", "interval", "polynomial",
           "summands"]
