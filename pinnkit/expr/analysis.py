"""What an expression needs, and its symbolic derivative."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

from . import tree as t
from .names import Partial


def walk(node: t.Node) -> Iterator[t.Node]:
    yield node
    for child in children(node):
        yield from walk(child)


def children(node: t.Node) -> tuple[t.Node, ...]:
    if isinstance(node, t.Call):
        return node.args
    if isinstance(node, t.Neg):
        return (node.arg,)
    if isinstance(node, (t.Bin, t.Compare)):
        return (node.left, node.right)
    if isinstance(node, t.Logic):
        return node.args
    return ()


def tree_size(node: t.Node) -> int:
    """Nodes of ``node`` counted as a tree (a shared subtree once per use), in time linear in
    the distinct nodes: what walking, compiling and evaluating it costs."""
    memo: dict[int, int] = {}
    stack = [node]
    while stack:  # iterative: a derivative can be deeper than Python's recursion limit
        n = stack[-1]
        kids = [c for c in children(n) if id(c) not in memo]
        if kids:
            stack.extend(kids)
            continue
        stack.pop()
        memo[id(n)] = 1 + sum(memo[id(c)] for c in children(n))
    return memo[id(node)]


def partials(node: t.Node) -> set[Partial]:
    """Every field value or derivative ``node`` reads."""
    return {n.partial for n in walk(node) if isinstance(n, t.Field)}


def symbols(node: t.Node) -> set[str]:
    return {n.name for n in walk(node) if isinstance(n, t.Sym)}


def coefficients(node: t.Node) -> set[t.Coef]:
    """Every coefficient field value or derivative ``node`` reads."""
    return {n for n in walk(node) if isinstance(n, t.Coef)}


def jumps(node: t.Node) -> list[t.Jump]:
    """The deltas differentiating ``node`` dropped, each once, in the order found."""
    return list(dict.fromkeys(n for n in walk(node) if isinstance(n, t.Jump)))


def max_order(node: t.Node) -> int:
    return max((p.order for p in partials(node)), default=0)


def differentiate(node: t.Node, i: int, inputs: Sequence[str]) -> t.Node:
    """d(node)/d(inputs[i]) by the chain rule; fields become higher derivatives.

    Constants and parameters do not depend on the inputs; normals (``nx``) are treated as
    constants too, because they are only used pointwise on the boundary.
    """
    d = lambda n: differentiate(n, i, inputs)  # noqa: E731
    if isinstance(node, t.Num):
        return t.Num(0.0)
    if isinstance(node, t.Sym):
        return t.Num(1.0 if node.name == inputs[i] else 0.0)
    if isinstance(node, t.Field):
        return t.Field(node.partial.raised(i))
    if isinstance(node, t.Neg):
        return t.neg(d(node.arg))
    if isinstance(node, t.Bin):
        a, b = node.left, node.right
        if node.op == "+":
            return t.add(d(a), d(b))
        if node.op == "-":
            return t.sub(d(a), d(b))
        if node.op == "*":
            return t.add(t.mul(d(a), b), t.mul(a, d(b)))
        if node.op == "/":
            return t.sub(t.div(d(a), b), t.div(t.mul(a, d(b)), t.mul(b, b)))
        if node.op == "**":
            db = d(b)
            if db == t.Num(0.0):  # a**c: c a**(c-1) a'
                return t.mul(t.mul(b, t.power(a, t.sub(b, t.Num(1.0)))), d(a))
            # a**b = exp(b log a)
            return t.mul(node, t.add(t.mul(db, t.Call("log", a)), t.div(t.mul(b, d(a)), a)))
    if isinstance(node, t.Coef):
        return t.Coef(node.partial.raised(i))
    if isinstance(node, t.Jump):
        return node  # the derivative of a dropped delta is dropped too
    if isinstance(node, t.Call):
        if node.rest:
            return _differentiate_call(node, d, i, inputs)
        inner, a = d(node.arg), node.arg
        if inner == t.Num(0.0):
            return t.Num(0.0)
        if node.func in ("sign", "heaviside"):  # zero on each side, a delta at a = 0
            return t.Jump(node.func, a)
        one = t.Num(1.0)
        outer = {
            "sin": lambda: t.Call("cos", a),
            "cos": lambda: t.neg(t.Call("sin", a)),
            "tan": lambda: t.add(one, t.power(t.Call("tan", a), t.Num(2.0))),
            "exp": lambda: node,
            "log": lambda: t.div(one, a),
            "sqrt": lambda: t.div(t.Num(0.5), node),
            "tanh": lambda: t.sub(one, t.power(node, t.Num(2.0))),
            "sinh": lambda: t.Call("cosh", a),
            "cosh": lambda: t.Call("sinh", a),
            "abs": lambda: t.Call("sign", a),
            "atan": lambda: t.div(one, t.add(one, t.power(a, t.Num(2.0)))),
            "asin": lambda: t.div(one, t.Call("sqrt", t.sub(one, t.power(a, t.Num(2.0))))),
            "acos": lambda: t.neg(t.div(one, t.Call("sqrt", t.sub(one, t.power(a, t.Num(2.0)))))),
            "erf": lambda: t.mul(t.Num(2.0 / math.sqrt(math.pi)),
                                 t.Call("exp", t.neg(t.power(a, t.Num(2.0))))),
        }[node.func]
        return t.mul(outer(), inner)
    raise TypeError(f"cannot differentiate {type(node).__name__}")


def _differentiate_call(node: t.Call, d: Callable[[t.Node], t.Node], i: int,
                        inputs: Sequence[str]) -> t.Node:
    """The functions of several arguments. Piecewise ones differentiate piecewise: the
    derivative of ``max(a, b)`` is ``where(a >= b, a', b')``; a condition that moves with
    ``inputs[i]`` adds the ``Jump`` the derivative of a jump drops."""
    a, rest = node.arg, node.rest
    if node.func == "atan2":  # d atan2(y, x) = (x dy - y dx) / (x^2 + y^2)
        y, x = a, rest[0]
        top = t.sub(t.mul(x, d(y)), t.mul(y, d(x)))
        return t.div(top, t.add(t.power(x, t.Num(2.0)), t.power(y, t.Num(2.0))))
    if node.func in ("min", "max"):
        b = rest[0]
        return t.where(t.Compare("<=" if node.func == "min" else ">=", a, b), d(a), d(b))
    if node.func == "clip":  # lo <= hi: lo below lo, hi above hi, a between
        lo, hi = rest
        return t.where(t.Compare("<", a, lo), d(lo),
                       t.where(t.Compare(">", a, hi), d(hi), d(a)))
    if node.func == "where":
        out = t.where(a, d(rest[0]), d(rest[1]))
        moves = any(differentiate(t.sub(c.left, c.right), i, inputs) != t.Num(0.0)
                    for c in walk(a) if isinstance(c, t.Compare))
        return t.add(out, t.Jump("where", a)) if moves else out
    raise TypeError(f"cannot differentiate {node.func}")


def map_leaves(node: t.Node, fn: Callable[[t.Node], t.Node | None]) -> t.Node:
    """``node`` with each leaf (number, name, field) n replaced by ``fn(n)`` (None: kept);
    sums and products are rebuilt with the simplifying constructors."""
    r = lambda n: map_leaves(n, fn)  # noqa: E731
    if isinstance(node, t.Neg):
        return t.neg(r(node.arg))
    if isinstance(node, t.Call):
        return t.Call(node.func, r(node.arg), tuple(r(a) for a in node.rest))
    if isinstance(node, t.Bin):
        build = {"+": t.add, "-": t.sub, "*": t.mul, "/": t.div, "**": t.power}[node.op]
        return build(r(node.left), r(node.right))
    if isinstance(node, t.Compare):
        return t.Compare(node.op, r(node.left), r(node.right))
    if isinstance(node, t.Logic):
        return t.Logic(node.op, tuple(r(a) for a in node.args))
    new = fn(node)
    return node if new is None else new


def map_fields(node: t.Node, fn: Callable[[Partial], t.Node | None]) -> t.Node:
    """``node`` with each field derivative p replaced by ``fn(p)`` (None: kept)."""
    return map_leaves(node, lambda n: fn(n.partial) if isinstance(n, t.Field) else None)


def rename_field(node: t.Node, old: str, new: str) -> t.Node:
    """``node`` with every derivative of field ``old`` read as the same one of ``new``."""
    return map_fields(node, lambda p: t.Field(Partial(new, p.orders)) if p.field == old
                      else None)


def render(node: t.Node, inputs: Sequence[str]) -> str:
    """The expression as text, for messages."""
    if isinstance(node, t.Num):
        return f"{node.value:g}"
    if isinstance(node, t.Sym):
        return node.name
    if isinstance(node, t.Field):
        return node.partial.name(inputs)
    if isinstance(node, t.ComboField):
        return f"[{node.combo.name(inputs)}]"
    if isinstance(node, t.Neg):
        return f"-({render(node.arg, inputs)})"
    if isinstance(node, t.Bin):
        return f"({render(node.left, inputs)} {node.op} {render(node.right, inputs)})"
    if isinstance(node, t.Coef):
        return node.partial.name(inputs)
    if isinstance(node, t.Jump):
        return f"<delta dropped by {node.func} at {render(node.at, inputs)}>"
    if isinstance(node, t.Call):
        return f"{node.func}({', '.join(_bare(render(a, inputs)) for a in node.args)})"
    if isinstance(node, t.Compare):
        return f"{render(node.left, inputs)} {node.op} {render(node.right, inputs)}"
    if isinstance(node, t.Logic):
        if node.op == "not":
            return f"not ({render(node.args[0], inputs)})"
        return f" {node.op} ".join(f"({render(a, inputs)})" for a in node.args)
    raise TypeError(type(node).__name__)


def _bare(text: str) -> str:
    """``(a + b)`` -> ``a + b`` where the parentheses wrap the whole text."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for k, c in enumerate(text):
        depth += (c == "(") - (c == ")")
        if depth == 0 and k < len(text) - 1:
            return text
    return text[1:-1]
