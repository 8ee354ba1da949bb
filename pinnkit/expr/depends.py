"""Outputs that depend on some inputs only: their other derivatives are exactly zero.

``outputs: [u, {a: [x, y]}]`` declares a field a(x, y) beside u(x, y, t). Any derivative
of ``a`` along ``t`` (``a_t``, ``a_xt``, ...) is then identically zero, not a quantity to
compute: ``drop_independent`` replaces those derivatives by 0 in a residual's tree
(before collapsing), so the engines are never asked for them and the checks can see what
was dropped. ``Depends`` maps each restricted field to the input positions it reads.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import tree as t
from .analysis import map_fields, partials
from .collapse import Combo
from .names import Partial

Depends = Mapping[str, tuple[int, ...]]  # restricted field -> positions of its inputs


def independent(p: Partial, depends: Depends) -> bool:
    """Whether ``p`` differentiates a restricted field along an input it does not read."""
    own = depends.get(p.field)
    return own is not None and any(k and i not in own for i, k in enumerate(p.orders))


def drop_independent(node: t.Node, depends: Depends) -> tuple[t.Node, frozenset[Partial]]:
    """``node`` with every identically-zero derivative replaced by 0, and those derivatives
    (sorted into a frozenset, for messages and checks)."""
    if not depends:
        return node, frozenset()
    zero = frozenset(p for p in partials(node) if independent(p, depends))
    if not zero:
        return node, zero
    return map_fields(node, lambda p: t.Num(0.0) if p in zero else None), zero


def reduce_key(key: Partial | Combo, depends: Depends) -> Partial | Combo | None:
    """``key`` without its identically-zero part: None when all of it is zero, a Combo
    with fewer terms when some of them are."""
    if isinstance(key, Partial):
        return None if independent(key, depends) else key
    kept = [(o, c) for o, c in key.terms if not independent(Partial(key.field, o), depends)]
    if not kept:
        return None
    return key if len(kept) == len(key.terms) else Combo.of(key.field, kept)


__all__ = ["Depends", "drop_independent", "independent", "reduce_key"]
