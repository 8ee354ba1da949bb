"""Turn an expression tree into a torch function of a table of derivative tensors.

The compiled function takes an ``Env``: a mapping from ``Partial`` (field derivatives) and
symbol names (inputs, constants, parameters, normals) to tensors or floats. Compilation
builds nested closures once, so evaluation is plain tensor arithmetic that
``torch.compile`` can trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from . import tree as t
from .analysis import partials, symbols
from .collapse import Combo, combos
from .names import Partial

Value = torch.Tensor | float
Env = Mapping[Partial | Combo | str, Value]

_FUNCS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "exp": torch.exp, "log": torch.log,
    "sqrt": torch.sqrt, "tanh": torch.tanh, "sinh": torch.sinh, "cosh": torch.cosh,
    "abs": torch.abs, "sign": torch.sign,
}
_OPS: dict[str, Callable[[Value, Value], Value]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "**": lambda a, b: a**b,
}
_CMP: dict[str, Callable[[Value, Value], Value]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class Compiled:
    """A compiled expression and exactly what it reads."""

    tree: t.Node
    fn: Callable[[Env], Value]
    needs: frozenset[Partial | Combo]  # Combo: a collapsed weighted sum, one stream
    names: frozenset[str]

    def __call__(self, env: Env) -> Value:
        return self.fn(env)


def compile_expr(node: t.Node) -> Compiled:
    needs = frozenset(partials(node)) | frozenset(combos(node))
    return Compiled(node, _build(node), needs, frozenset(symbols(node)))


def _as_tensor(v: Value) -> torch.Tensor:
    return v if isinstance(v, torch.Tensor) else torch.tensor(v)


def _build(node: t.Node) -> Callable[[Env], Value]:
    if isinstance(node, t.Num):
        value = node.value
        return lambda env: value
    if isinstance(node, t.Sym):
        name = node.name
        return lambda env: env[name]
    if isinstance(node, t.Field):
        key = node.partial
        return lambda env: env[key]
    if isinstance(node, t.ComboField):
        combo = node.combo
        return lambda env: env[combo]
    if isinstance(node, t.Neg):
        arg = _build(node.arg)
        return lambda env: -arg(env)
    if isinstance(node, (t.Bin, t.Compare)):
        op = (_OPS if isinstance(node, t.Bin) else _CMP)[node.op]
        left, right = _build(node.left), _build(node.right)
        return lambda env: op(left(env), right(env))
    if isinstance(node, t.Call):
        fn, arg = _FUNCS[node.func], _build(node.arg)
        return lambda env: fn(_as_tensor(arg(env)))
    if isinstance(node, t.Logic):
        args = [_build(a) for a in node.args]
        if node.op == "not":
            return lambda env: ~_as_tensor(args[0](env))
        combine = torch.logical_and if node.op == "and" else torch.logical_or

        def logic(env: Env) -> Value:
            out = _as_tensor(args[0](env))
            for a in args[1:]:
                out = combine(out, _as_tensor(a(env)))
            return out

        return logic
    raise TypeError(type(node).__name__)
