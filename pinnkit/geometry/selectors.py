"""``on:`` selectors: which boundary points a condition applies to.

A selector is an expression such as ``x == 0 or x == 1``, ``t == 0``, ``boundary`` or
``x == 1 and y > 0``, parsed by the expression parser and evaluated here on numpy points.
``==`` compares with a tolerance relative to the domain's size, since boundary points are
produced by floating-point arithmetic. Selectors may also read the outward normal
(``boundary and nx > 0``: the outflow side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ExprError
from ..expr import Namespace, parse
from ..expr import tree as t
from .normals import normal_names

_NUMPY_FUNCS: dict[str, Any] = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "log": np.log,
    "sqrt": np.sqrt, "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh, "abs": np.abs,
    "sign": np.sign, "heaviside": lambda a: 0.5 * (1.0 + np.sign(a)), "atan": np.arctan,
    "asin": np.arcsin, "acos": np.arccos, "erf": lambda a: _erf(a), "atan2": np.arctan2,
    "min": np.minimum, "max": np.maximum, "where": np.where,
    "clip": lambda a, lo, hi: np.where(a < lo, lo, np.where(a > hi, hi, a)),
}


def _erf(a: Any) -> Any:
    from scipy import special  # a second of importing, for the rare selector that asks

    return special.erf(a)


@dataclass(frozen=True)
class Selector:
    text: str
    tree: t.Node
    constants: Mapping[str, float] = field(default_factory=dict)  # values of named constants

    def __call__(self, columns: Mapping[str, np.ndarray], parts: Mapping[str, np.ndarray],
                 tol: float) -> np.ndarray:
        n = len(next(iter(columns.values())))
        env: dict[str, Any] = {**self.constants, **columns}  # constants and columns
        out = _eval(self.tree, env, parts, tol)
        return np.broadcast_to(np.asarray(out, dtype=bool), (n,))


def parse_selector(text: str, inputs: Sequence[str],
                   constants: Sequence[str] | Mapping[str, float], parts: Sequence[str]
                   ) -> Selector:
    """Parse an ``on:`` selector; give ``constants`` as a mapping to allow ``x == L``."""
    ns = Namespace(tuple(inputs), (), tuple(constants),
                   symbols=tuple(normal_names(inputs, tuple(constants))), parts=tuple(parts))
    try:
        node = parse(str(text), ns, selector=True)
    except ExprError as exc:
        if not exc.message.startswith("unknown name"):
            raise
        raise ExprError(exc.text, exc.message, exc.column,
                        "the boundary parts are " + ", ".join(parts) + "; or compare inputs, "
                        f"e.g. '{inputs[0]} == 0'") from None
    if not isinstance(node, (t.Compare, t.Logic)) and not (
        isinstance(node, t.Sym) and node.name in parts
    ):
        raise ExprError(str(text), "a selector must be a comparison or a boundary part",
                        fix="write e.g. 'x == 0', 'x == 0 or x == 1', or 'boundary'")
    values = {k: float(v) for k, v in constants.items()} if isinstance(constants, Mapping) \
        else {}
    return Selector(str(text), node, values)


def _eval(node: t.Node, cols: Mapping[str, np.ndarray], parts: Mapping[str, np.ndarray],
          tol: float):
    if isinstance(node, t.Num):
        return node.value
    if isinstance(node, t.Sym):
        return parts[node.name] if node.name in parts else cols[node.name]
    if isinstance(node, t.Neg):
        return -_eval(node.arg, cols, parts, tol)
    if isinstance(node, t.Call):
        return _NUMPY_FUNCS[node.func](*(_eval(a, cols, parts, tol) for a in node.args))
    if isinstance(node, t.Bin):
        a, b = _eval(node.left, cols, parts, tol), _eval(node.right, cols, parts, tol)
        return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
                "**": np.power}[node.op](a, b)
    if isinstance(node, t.Compare):
        a, b = _eval(node.left, cols, parts, tol), _eval(node.right, cols, parts, tol)
        close = np.abs(np.asarray(a) - b) <= tol
        return {"==": close, "!=": ~close, "<": (a < b) & ~close, "<=": (a < b) | close,
                ">": (a > b) & ~close, ">=": (a > b) | close}[node.op]
    if isinstance(node, t.Logic):
        vals = [np.asarray(_eval(a, cols, parts, tol), dtype=bool) for a in node.args]
        if node.op == "not":
            return ~vals[0]
        out = vals[0]
        for v in vals[1:]:
            out = (out & v) if node.op == "and" else (out | v)
        return out
    raise TypeError(type(node).__name__)
