"""Collapse weighted sums of same-order derivatives into one key (collapsed Taylor mode).

A residual such as ``u_xx + u_yy - f`` needs the Laplacian, never u_xx or u_yy alone.
Taylor-mode engines can carry a fixed linear combination of top-order coefficients as a
single stream, because the highest coefficient enters every layer linearly (Li et al.
2024, "forward Laplacian"; Dangel et al. 2025, "collapsed Taylor mode"). The rewrite here
finds such sums in an expression tree and replaces them by one ``ComboField`` node that
reads a :class:`Combo` key from the derivative table, so an engine sees the sum as one
request. Engines that cannot collapse evaluate a Combo as the sum of its partials.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from . import tree as t
from .analysis import walk
from .names import Partial

Orders = tuple[int, ...]


@dataclass(frozen=True, order=True)
class Combo:
    """``sum(coeff * d^orders field)`` over ``terms``; terms sorted, one per multi-index."""

    field: str
    terms: tuple[tuple[Orders, float], ...]

    @staticmethod
    def of(field: str, terms: Iterable[tuple[Orders, float]]) -> Combo:
        """A canonical Combo: equal multi-indices merged, zero coefficients dropped."""
        acc: dict[Orders, float] = defaultdict(float)
        for orders, coeff in terms:
            acc[tuple(orders)] += float(coeff)
        return Combo(field, tuple(sorted((o, c) for o, c in acc.items() if c != 0.0)))

    @property
    def partials(self) -> tuple[Partial, ...]:
        return tuple(Partial(self.field, o) for o, _ in self.terms)

    @property
    def order(self) -> int:
        return max((sum(o) for o, _ in self.terms), default=0)

    def name(self, inputs: Iterable[str]) -> str:
        names = list(inputs)
        return " + ".join(f"{c:g}*{Partial(self.field, o).name(names)}" for o, c in self.terms)


def _linear_terms(node: t.Node, sign: float, out: list[tuple[t.Node, float]]) -> None:
    """Flatten ``node`` into (term, coefficient) pairs over + and - and numeric factors."""
    if isinstance(node, t.Bin) and node.op in ("+", "-"):
        _linear_terms(node.left, sign, out)
        _linear_terms(node.right, sign if node.op == "+" else -sign, out)
    elif isinstance(node, t.Neg):
        _linear_terms(node.arg, -sign, out)
    elif isinstance(node, t.Bin) and node.op == "*" and isinstance(node.left, t.Num):
        _linear_terms(node.right, sign * node.left.value, out)
    elif isinstance(node, t.Bin) and node.op == "*" and isinstance(node.right, t.Num):
        _linear_terms(node.left, sign * node.right.value, out)
    else:
        out.append((node, sign))


def _rebuild(terms: list[tuple[t.Node, float]]) -> t.Node:
    result: t.Node = t.Num(0.0)
    for node, coeff in terms:
        if coeff == 1.0:
            result = t.add(result, node)
        elif coeff == -1.0:
            result = t.sub(result, node)
        else:
            result = t.add(result, t.mul(t.Num(coeff), node))
    return result


def _collapse_sum(node: t.Node, keep: set[Partial]) -> t.Node:
    """Collapse one flattened sum; partials in ``keep`` are read elsewhere and stay."""
    terms: list[tuple[t.Node, float]] = []
    _linear_terms(node, 1.0, terms)
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, (term, _) in enumerate(terms):
        if isinstance(term, t.Field) and term.partial.order >= 2 and term.partial not in keep:
            groups[(term.partial.field, term.partial.order)].append(i)
    merged: set[int] = set()
    combos: list[tuple[t.Node, float]] = []
    for (field, _), idx in sorted(groups.items()):
        if len({terms[i][0] for i in idx}) < 2:
            continue
        combo = Combo.of(field, ((cast(t.Field, terms[i][0]).partial.orders, terms[i][1])
                                 for i in idx))  # grouped above: Fields only
        merged.update(idx)
        if combo.terms:
            combos.append((t.ComboField(combo), 1.0))
    if not merged:
        return node
    rest = [(_rewrite(n, keep), c) for i, (n, c) in enumerate(terms) if i not in merged]
    return _rebuild(combos + rest)


def _rewrite(node: t.Node, keep: set[Partial]) -> t.Node:
    if (isinstance(node, t.Bin) and node.op in ("+", "-")) or isinstance(node, t.Neg):
        out = _collapse_sum(node, keep)
        if out is not node:
            return out
    if isinstance(node, t.Neg):
        return t.Neg(_rewrite(node.arg, keep))
    if isinstance(node, t.Call):
        return t.Call(node.func, _rewrite(node.arg, keep),
                      tuple(_rewrite(a, keep) for a in node.rest))
    if isinstance(node, (t.Bin, t.Compare)):
        return type(node)(node.op, _rewrite(node.left, keep), _rewrite(node.right, keep))
    return node


def collapse(node: t.Node) -> t.Node:
    """``node`` with every collapsible sum of same-order derivatives replaced by a Combo.

    A group collapses when it has at least two distinct partials of one field and one
    order >= 2, all with numeric coefficients, and none of them is read anywhere else in
    the tree (otherwise its stream is needed anyway and collapsing would only add one).
    """
    counts: dict[Partial, int] = defaultdict(int)
    for n in walk(node):
        if isinstance(n, t.Field):
            counts[n.partial] += 1
    keep = {p for p, c in counts.items() if c > 1}
    return _rewrite(node, keep)


def combos(node: t.Node) -> set[Combo]:
    """Every Combo key ``node`` reads (add these to the partials an engine must produce)."""
    return {n.combo for n in walk(node) if isinstance(n, t.ComboField)}
