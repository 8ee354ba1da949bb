"""Nested reverse-mode derivatives with a cache: each partial derivative once.

One ``torch.autograd.grad`` call on a derivative q gives all of q's first partials, so
``u_x`` and ``u_y`` come from one call on ``u``, and ``u_xx`` and ``u_xy`` from one call on
``u_x``. The plan below picks, for every requested derivative, a parent so that as few
distinct parents as possible are differentiated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from ..expr.collapse import Combo
from ..expr.names import Partial

Key = Partial | Combo


def plan(wanted: Iterable[Partial]) -> dict[Partial, Partial]:
    """child -> parent for every derivative needed (requested or intermediate)."""
    parent_of: dict[Partial, Partial] = {}
    level: set[Partial] = {p for p in wanted if p.order > 0}
    differentiated: set[Partial] = set()
    while level:
        top = max(p.order for p in level)
        # pure derivatives have one possible parent: place them first so mixed ones reuse it
        current = sorted((p for p in level if p.order == top),
                         key=lambda p: (sum(k > 0 for k in p.orders), p))
        rest = {p for p in level if p.order < top}
        for child in current:
            candidates = [_lowered(child, i) for i, k in enumerate(child.orders) if k > 0]
            parent = next((c for c in candidates if c in differentiated), None) or \
                next((c for c in candidates if c in rest), None) or candidates[-1]
            parent_of[child] = parent
            differentiated.add(parent)
            if parent.order > 0:
                rest.add(parent)
        level = rest
    return parent_of


def _lowered(p: Partial, i: int) -> Partial:
    orders = list(p.orders)
    orders[i] -= 1
    return Partial(p.field, tuple(orders))


class AutogradEngine:
    """Computes requested partials of ``module`` at ``x`` (N, d) by cached reverse mode."""

    name = "autograd"

    def __init__(self) -> None:
        self.backward_calls = 0  # grad calls in the last evaluation, for tests and benchmarks

    def __call__(
        self,
        module: torch.nn.Module,
        x: torch.Tensor,
        wanted: Iterable[Key],
        outputs: Sequence[str],
        create_graph: bool = True,
    ) -> dict[Key, torch.Tensor]:
        """Each wanted key's (N,) tensor; a Combo is the weighted sum of its partials."""
        wanted = set(wanted)
        partials = {k for k in wanted if isinstance(k, Partial)}
        for key in wanted:
            if isinstance(key, Combo):
                partials.update(key.partials)
        values = self._partials(module, x, partials, outputs, create_graph)
        return {k: values[k] if isinstance(k, Partial) else _combine(k, values, x)
                for k in wanted}

    def _partials(self, module: torch.nn.Module, x: torch.Tensor, wanted: set[Partial],
                  outputs: Sequence[str], create_graph: bool) -> dict[Partial, torch.Tensor]:
        parent_of = plan(wanted)
        need_grad = bool(parent_of)
        if need_grad and not x.requires_grad:
            x = x.detach().requires_grad_(True)
        y = module(x)
        if y.ndim == 1:
            y = y.unsqueeze(-1)
        d = x.shape[-1]
        values: dict[Partial, torch.Tensor] = {
            Partial(f, (0,) * d): y[:, j] for j, f in enumerate(outputs)
        }
        parents = set(parent_of.values())
        self.backward_calls = 0
        for child in sorted(parent_of, key=lambda p: (p.order, p)):
            if child in values:
                continue
            parent = parent_of[child]
            grads = self._grad(values[parent], x, create_graph or _feeds_more(parent, parents))
            for i in range(d):
                values.setdefault(parent.raised(i), grads[:, i])
        return values

    def _grad(self, q: torch.Tensor, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
        if not q.requires_grad:  # q does not depend on x: all its derivatives vanish
            return torch.zeros_like(x)
        self.backward_calls += 1
        # siblings (u_x, u_y) share one graph: keep it until every sibling is differentiated
        (g,) = torch.autograd.grad(q.sum(), x, create_graph=create_graph, retain_graph=True,
                                   allow_unused=True)
        return torch.zeros_like(x) if g is None else g


def _combine(combo: Combo, values: dict[Partial, torch.Tensor], x: torch.Tensor
             ) -> torch.Tensor:
    out = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for orders, coeff in combo.terms:
        out = out + coeff * values[Partial(combo.field, orders)]
    return out


def _feeds_more(parent: Partial, parents: set[Partial]) -> bool:
    # a child that is itself differentiated later must keep its graph
    return any(q.order > parent.order for q in parents)
