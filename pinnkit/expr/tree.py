"""pinnkit's own expression tree: the only thing a user's string becomes.

Nodes are frozen dataclasses, so trees hash, compare and can be cached. ``Field`` is a
network output or one of its partial derivatives; ``Sym`` is anything else with a name
(an input coordinate, a constant, a learnable parameter, a normal component).
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
class Call(Node):
    func: str
    arg: Node


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
    if b == Num(1.0):
        return a
    return Bin("/", a, b)


def neg(a: Node) -> Node:
    if isinstance(a, Num):
        return Num(-a.value)
    if isinstance(a, Neg):
        return a.arg
    return Neg(a)


def power(a: Node, b: Node) -> Node:
    if b == Num(1.0):
        return a
    if b == Num(0.0):
        return Num(1.0)
    return Bin("**", a, b)
