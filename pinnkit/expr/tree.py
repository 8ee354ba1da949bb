"""pinnkit's own expression tree: the only thing a user's string becomes.

Nodes are frozen dataclasses, so trees hash, compare and can be cached. ``Field`` is a
network output or one of its partial derivatives; ``Coef`` a coefficient field (a table
interpolated over the inputs, see pinnkit.fields) or one of its derivatives; ``Sym`` is
anything else with a name (an input coordinate, a constant, a learnable parameter, a
normal component). ``Jump`` marks where differentiation dropped a delta (see its doc).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .names import FUNCTIONS as FUNCTIONS  # the functions a Call may name
from .names import Partial

if TYPE_CHECKING:
    from .collapse import Combo



class Node:
    """Base of every expression node."""

    __slots__ = ()


@dataclass(frozen=True)
class Num(Node):
    value: float


@dataclass(frozen=True)
class Sym(Node):
    name: str


@dataclass(frozen=True)
class Field(Node):
    partial: Partial


@dataclass(frozen=True)
class ComboField(Node):
    """A weighted sum of same-order derivatives of one field, read as one table key."""

    combo: Combo


@dataclass(frozen=True)
class Neg(Node):
    arg: Node


@dataclass(frozen=True)
class Bin(Node):
    op: str  # one of + - * / **
    left: Node
    right: Node


@dataclass(frozen=True)
class Coef(Node):
    """A coefficient field's value or derivative: ``partial.field`` names the field."""

    partial: Partial


@dataclass(frozen=True)
class Call(Node):
    """``func(arg, *rest)``. ``where(cond, a, b)`` has the condition (a ``Compare`` or
    ``Logic``) as ``arg`` and the two values as ``rest``."""

    func: str
    arg: Node
    rest: tuple[Node, ...] = ()

    @property
    def args(self) -> tuple[Node, ...]:
        return (self.arg, *self.rest)


@dataclass(frozen=True)
class Jump(Node):
    """A delta that differentiation dropped: the derivative of a function that jumps
    (``sign``, ``heaviside``, ``where``, hence of the first derivative of ``abs``, ``min``,
    ``max``, ``clip``) is zero on each side and a delta on the set where ``at`` (the
    argument, or the condition) changes sign. Its value is 0 (what collocation points
    see); it stays in the tree so that the smoothness check can say what was dropped.
    It has no children: what it marks is not evaluated."""

    func: str
    at: Node


@dataclass(frozen=True)
class Compare(Node):
    """``left op right`` with op in == != < <= > >=; only in boundary selectors."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Logic(Node):
    """``and``/``or`` of comparisons, or ``not`` of one (then ``args`` has one item)."""

    op: str
    args: tuple[Node, ...]


def add(a: Node, b: Node) -> Node:
    if a == Num(0.0):
        return b
    if b == Num(0.0):
        return a
    if isinstance(a, Num) and isinstance(b, Num):
        return Num(a.value + b.value)
    return Bin("+", a, b)


def sub(a: Node, b: Node) -> Node:
    if b == Num(0.0):
        return a
    if a == Num(0.0):
        return neg(b)
    if isinstance(a, Num) and isinstance(b, Num):
        return Num(a.value - b.value)
    return Bin("-", a, b)


def mul(a: Node, b: Node) -> Node:
    if a == Num(0.0) or b == Num(0.0):
        return Num(0.0)
    if isinstance(a, Jump) or isinstance(b, Jump):  # zero, but remembered
        return a if isinstance(a, Jump) else b
    if a == Num(1.0):
        return b
    if b == Num(1.0):
        return a
    if isinstance(a, Num) and isinstance(b, Num):
        return Num(a.value * b.value)
    return Bin("*", a, b)


def div(a: Node, b: Node) -> Node:
    if a == Num(0.0):
        return Num(0.0)
    if isinstance(a, Jump):
        return a
    if b == Num(1.0):
        return a
    return Bin("/", a, b)


def neg(a: Node) -> Node:
    if isinstance(a, Num):
        return Num(-a.value)
    if isinstance(a, Jump):
        return a
    if isinstance(a, Neg):
        return a.arg
    return Neg(a)


def power(a: Node, b: Node) -> Node:
    if b == Num(1.0):
        return a
    if b == Num(0.0):
        return Num(1.0)
    return Bin("**", a, b)


def where(cond: Node, a: Node, b: Node) -> Node:
    """``where(cond, a, b)``, or ``a`` when both branches are the same."""
    return a if a == b else Call("where", cond, (a, b))
