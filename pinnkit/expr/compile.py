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
from .analysis import partials, symbols, walk
from .collapse import Combo, combos
from .names import Partial

Value = torch.Tensor | float
#: where an env holds the problem's coefficient fields (pinnkit.fields.FieldSet); not a
#: name, so no user's name can take it
FIELDS_KEY = "<fields>"
Env = Mapping[Partial | Combo | str | t.Node, Value]  # a Node: a coefficient field (Coef)

_FUNCS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "exp": torch.exp, "log": torch.log,
    "sqrt": torch.sqrt, "tanh": torch.tanh, "sinh": torch.sinh, "cosh": torch.cosh,
    "abs": torch.abs, "sign": torch.sign, "atan": torch.atan, "asin": torch.asin,
    "acos": torch.acos, "erf": torch.erf,
    # 1 above zero, 0 below, 1/2 at zero; sign's autograd derivative (0) comes with it,
    # where torch.heaviside has none
    "heaviside": lambda a: 0.5 * (1.0 + torch.sign(a)),
}
# functions of several tensors (numbers made tensors of the others' dtype and device first)
_MULTI: dict[str, Callable[..., torch.Tensor]] = {
    "atan2": torch.atan2,
    "min": torch.minimum,
    "max": torch.maximum,
    "clip": lambda a, lo, hi: torch.where(a < lo, lo, torch.where(a > hi, hi, a)),
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
    if isinstance(v, torch.Tensor):
        return v
    # a number in float64: sqrt(c) or sin(pi/3) in a float64 residual was rounded to
    # float32 (2e-8 off); a 0-d tensor does not change a float32 result's dtype
    is_number = isinstance(v, (int, float)) and not isinstance(v, bool)
    return torch.tensor(v, dtype=torch.float64) if is_number else torch.tensor(v)


def _tensors(values: list[Value]) -> list[torch.Tensor]:
    """``values`` as tensors; numbers take the dtype and device of the first tensor (a
    float64 run must not see a float32 0.1)."""
    ref = next((v for v in values if isinstance(v, torch.Tensor) and v.is_floating_point()),
               None)
    if ref is None:
        ref = next((v for v in values if isinstance(v, torch.Tensor)), None)
    if ref is None:
        return [torch.tensor(v, dtype=torch.float64) for v in values]
    return [v if isinstance(v, torch.Tensor) else
            torch.tensor(v, dtype=ref.dtype if ref.is_floating_point() else torch.float64,
                         device=ref.device) for v in values]


def _coefficient(coef: t.Coef) -> Callable[[Env], Value]:
    """A coefficient field's value or derivative: computed by the problem's fields (found
    in the env under ``FIELDS_KEY``) on the env's points the first time it is read, then
    kept in the env for the other expressions that read it."""

    def read(env: Env) -> Value:
        value = env.get(coef)
        if value is None:
            value = env[FIELDS_KEY].value(coef, env)  # type: ignore[union-attr]
            if isinstance(env, dict):
                env[coef] = value
        return value

    return read


def _where(node: t.Call) -> Callable[[Env], Value]:
    """``where(cond, a, b)``. With numbers in both branches the result takes the dtype of
    a value the condition compares (``where(x < 0.5, 0.1, 1)`` is float64 in a float64
    run), read from the env at call time."""
    cond, a, b = _build(node.arg), _build(node.rest[0]), _build(node.rest[1])
    probes = [_build(n) for n in walk(node.arg) if isinstance(n, (t.Sym, t.Field, t.Coef,
                                                                  t.ComboField))]

    def where(env: Env) -> Value:
        c, va, vb = cond(env), a(env), b(env)
        if not isinstance(c, torch.Tensor):  # a condition of numbers only
            return va if c else vb
        values = [va, vb] + [p(env) for p in probes]
        ta, tb = _tensors(values)[:2]
        return torch.where(c, ta, tb)

    return where


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
    if isinstance(node, t.Coef):
        return _coefficient(node)
    if isinstance(node, t.Jump):  # a dropped delta: zero at every point
        return lambda env: 0.0
    if isinstance(node, t.Call) and node.func == "where":
        return _where(node)
    if isinstance(node, t.Call) and node.rest:
        multi, parts = _MULTI[node.func], [_build(a) for a in node.args]
        return lambda env: multi(*_tensors([p(env) for p in parts]))
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
