"""Taylor-mode derivative engine: one forward pass, no nested autograd.

Nested reverse mode differentiates the network graph once per derivative order, and the
backward pass of the loss then differentiates all those graphs again. Here the requested
derivatives are *forward-propagated* instead: layer by layer, the value and a few
directional derivatives (see :mod:`.taylor_plan` for which, :mod:`.taylor_layers` for the
table of one rule per layer type, and :mod:`.taylor_rules` for their arithmetic). The
result is an ordinary first-order torch graph, so the loss needs ONE plain backward pass
for the weight gradients, and ``torch.compile`` can fuse the whole step.

Requests are :class:`~pinnkit.expr.names.Partial` (one derivative) or
:class:`~pinnkit.expr.collapse.Combo` (a weighted sum of derivatives of one field, whose
top order is carried as a single collapsed stream). ``ComboAutogradEngine`` evaluates
Combo keys with nested autograd, for comparison and for modules Taylor mode cannot read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from ..expr import Compiled, compile_expr
from ..expr import tree as t
from ..expr.analysis import differentiate, map_fields, map_leaves, rename_field
from ..expr.collapse import Combo, collapse
from ..expr.depends import reduce_key
from ..expr.names import Partial
from ..models.transform import NET
from .autograd import AutogradEngine
from .compile import untraced
from .taylor_layers import RULES, Context, supports, unsupported
from .taylor_plan import Key, Plan, build_plan
from .taylor_rules import Jet, partitions

__all__ = ["RULES", "Combo", "ComboAutogradEngine", "TaylorEngine", "TaylorProgram",
           "stream_count", "supports", "unsupported"]


def _sort_key(key: Key) -> tuple:
    # plain tuples, no repr(): torch.compile traces this when an engine is called inside
    # a compiled step, and dataclass repr is opaque to it
    if isinstance(key, Partial):
        return (0, key.field, key.orders, ())
    return (1, key.field, (), key.terms)


_PLANS: dict[tuple, Plan] = {}


def _plan(keys: tuple[Key, ...], n_inputs: int, outputs: tuple[str, ...]) -> Plan:
    cache_key = (keys, n_inputs, outputs)
    if cache_key not in _PLANS:
        _PLANS[cache_key] = build_plan(keys, n_inputs, outputs)
    return _PLANS[cache_key]


def plan_for(wanted: Iterable[Key], n_inputs: int, outputs: Sequence[str]) -> Plan:
    keys = tuple(sorted(set(wanted), key=_sort_key))
    return _plan(keys, n_inputs, tuple(outputs))


def stream_count(wanted: Iterable[Key], n_inputs: int, outputs: Sequence[str] = ("u",)
                 ) -> int:
    """Width-N tensors each layer carries for ``wanted``; a step costs about this many
    times a value-only step."""
    return plan_for(wanted, n_inputs, outputs).streams


class TaylorProgram:
    """A plan bound to a device and dtype: ``program(module, x) -> {key: (N,) tensor}``.

    Holds no Python containers torch.compile must guard on except the plan itself, so a
    compiled loss that calls a program traces to a single graph.
    """

    def __init__(self, plan: Plan, outputs: Sequence[str]) -> None:
        self.plan = plan
        self.columns = {name: j for j, name in enumerate(outputs)}
        self.rows = [plan.rows(k) for k in range(1, max(plan.depth, default=0) + 1)]
        # float64 masters, cast per call: a cache filled on first use would change what a
        # compiled step guards on and force a recompile at the second step
        self.directions = torch.tensor(plan.directions, dtype=torch.float64).reshape(
            len(plan.directions), plan.n_inputs)
        self.weights = [(k, torch.tensor(w, dtype=torch.float64)) for k, w in plan.collapsed]
        for k in range(1, plan.max_order + 1):
            partitions(k)  # fill the table outside any torch.compile trace

    def _constants(self, ref: torch.Tensor) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
        dtype, device = ref.dtype, ref.device
        return (self.directions.to(dtype=dtype, device=device),
                [(k, w.to(dtype=dtype, device=device)) for k, w in self.weights])

    def forward_jet(self, module: nn.Module, x: torch.Tensor) -> Jet:
        """The module's output jet: value (N, n_out), orders (R_k, N|1, n_out), collapsed;
        the input jet is x with the plan's directions as first derivatives (higher orders
        of x + t v vanish), and each layer's rule (``RULES``) maps it on."""
        dirs, collapsed = self._constants(x)
        orders: list[torch.Tensor | None] = [None] * len(self.rows)
        if orders:
            orders[0] = dirs.unsqueeze(1)
        ctx = Context(self.plan.max_order, self.rows, collapsed)
        return RULES[type(module)](Jet(x, orders, None), module, ctx)

    def read(self, y: Jet) -> dict[Key, torch.Tensor]:
        """Each key as the weighted sum of output streams its plan names."""
        out: dict[Key, torch.Tensor] = {}
        for key, field, terms in self.plan.reads:
            j = self.columns[field]
            acc = None
            for source, k, i, w in terms:
                if source == "val":
                    t = y.value[:, j]
                else:
                    block = y.orders[k - 1] if source == "dir" else y.collapsed
                    # (1,) where the block does not depend on the point (affine modules)
                    t = torch.zeros_like(y.value[:, j]) if block is None else \
                        block[i, :, j].expand(y.value.shape[0])
                t = t * w if w != 1.0 else t
                acc = t if acc is None else acc + t
            out[key] = acc if acc is not None else torch.zeros_like(y.value[:, j])
        return out

    def __call__(self, module: nn.Module, x: torch.Tensor) -> dict[Key, torch.Tensor]:
        return self.read(self.forward_jet(module, x))


class TaylorEngine:
    """Same call as :class:`AutogradEngine`, for modules whose layers all have a rule
    (``supports``); accepts Combo keys."""

    name = "taylor"

    def __init__(self) -> None:
        self.streams = 0  # streams in the last evaluation, for tests and benchmarks
        self._programs: dict[tuple, TaylorProgram] = {}
        self._rules: dict[tuple, dict[Key, Compiled]] = {}
        self._reduced: dict[tuple, dict[Key, Key | None]] = {}

    def program(self, wanted: Iterable[Key], n_inputs: int, outputs: Sequence[str]
                ) -> TaylorProgram:
        """The (cached) program for ``wanted``; build it once outside a compiled step."""
        keys = tuple(sorted(set(wanted), key=_sort_key))
        cache_key = (keys, n_inputs, tuple(outputs))
        if cache_key not in self._programs:
            self._build(cache_key)
        return self._programs[cache_key]

    def prepare(self, module: nn.Module, wanted: Iterable[Key], n_inputs: int,
                outputs: Sequence[str]) -> None:
        """Build now what a call for ``wanted`` will look up: the program, and for a network
        with an output transform its rules. Call it before compiling a step that calls the
        engine; planning inside the trace breaks the graph (and the first call recompiles)."""
        reads = getattr(module, "reads", None)
        if reads is not None:
            reduced = self.reduced(tuple(sorted(set(wanted), key=_sort_key)), outputs, reads)
            wanted = frozenset(k for k in reduced.values() if k is not None)
        transform = getattr(module, "transform", None)
        if transform is not None:
            rules = self.transformed(transform, tuple(sorted(set(wanted), key=_sort_key)))
            wanted = frozenset().union(*(r.needs for r in rules.values()))
        self.program(wanted, n_inputs, outputs)

    @untraced
    def _build(self, cache_key: tuple) -> None:
        """Planning is numpy and search, not tensor work: never traced. Inside a compiled
        step this is a graph break on the first call only (the cache is guarded on, so the
        next call recompiles without it); build the program before compiling to avoid it."""
        self._programs[cache_key] = TaylorProgram(_plan(*cache_key), cache_key[2])

    def __call__(
        self,
        module: nn.Module,
        x: torch.Tensor,
        wanted: Iterable[Key],
        outputs: Sequence[str],
        create_graph: bool = True,
    ) -> dict[Key, torch.Tensor]:
        if not supports(module):
            raise TypeError(f"the taylor engine cannot read this module: {unsupported(module)}")
        reads = getattr(module, "reads", None)  # a Composite: outputs over some inputs only
        if reads is None:
            return self._evaluate(module, x, wanted, outputs, create_graph)
        keys = tuple(sorted(set(wanted), key=_sort_key))
        reduced = self._reduced.get((keys, tuple(outputs), reads))  # plain lookup: traceable
        if reduced is None:
            reduced = self.reduced(keys, outputs, reads)
        table = self._evaluate(module, x, [k for k in reduced.values() if k is not None],
                               outputs, create_graph)
        zeros = x.new_zeros(x.shape[0])  # derivatives along inputs a field does not read
        return {k: zeros if r is None else table[r] for k, r in reduced.items()}

    def _evaluate(self, module: nn.Module, x: torch.Tensor, wanted: Iterable[Key],
                  outputs: Sequence[str], create_graph: bool) -> dict[Key, torch.Tensor]:
        transform = getattr(module, "transform", None)
        if transform is None:
            program = self.program(wanted, x.shape[-1], outputs)
            self.streams = program.plan.streams
            with nullcontext() if create_graph else torch.no_grad():
                return program(module, x)
        keys = tuple(sorted(set(wanted), key=_sort_key))
        rules = self._rules.get((transform.signature, keys))  # plain lookup: traceable
        if rules is None:
            rules = self.transformed(transform, keys)
        program = self.program(frozenset().union(*(r.needs for r in rules.values())),
                               x.shape[-1], outputs)
        self.streams = program.plan.streams
        with nullcontext() if create_graph else torch.no_grad():
            raw = program(module, x)
            env: dict[Any, Any] = dict(transform.constants)
            env.update({name: x[:, i] for i, name in enumerate(transform.inputs)})
            env.update(raw)
            out = {}
            for key, rule in rules.items():
                v = torch.as_tensor(rule(env), dtype=x.dtype, device=x.device)
                out[key] = v.expand(x.shape[0]) if v.ndim == 0 else v
            return out

    @untraced
    def reduced(self, keys: tuple[Key, ...], outputs: Sequence[str],
                reads: tuple[tuple[int, ...] | None, ...]) -> dict[Key, Key | None]:
        """Each key without its identically-zero part (None: all zero), for a module whose
        output j reads the input columns ``reads[j]`` only (None: all of them)."""
        cache_key = (keys, tuple(outputs), reads)
        if cache_key not in self._reduced:
            depends = {f: r for f, r in zip(outputs, reads, strict=True) if r is not None}
            self._reduced[cache_key] = {k: reduce_key(k, depends) for k in keys}
        return self._reduced[cache_key]

    @untraced
    def transformed(self, transform: nn.Module, keys: tuple[Key, ...]) -> dict[Key, Compiled]:
        """Each requested key of a transformed field as an expression of the raw network's
        derivatives: the transform differentiated symbolically (chain rule), then collapsed,
        so a Laplacian of ``x*(1 - x)*net`` still reads one collapsed stream of ``net``."""
        cache_key = (transform.signature, keys)
        if cache_key not in self._rules:
            self._rules[cache_key] = {k: transformed_rule(transform, k) for k in keys}
        return self._rules[cache_key]


def transformed_rule(transform: Any, key: Key) -> Compiled:
    """``key`` (a derivative or Combo of a field) of ``transform``'s output, written in the
    raw network's derivatives; a field the transform leaves alone reads its raw key."""
    compiled = transform.compiled.get(key.field)
    if compiled is None:
        node: t.Node = t.ComboField(key) if isinstance(key, Combo) else t.Field(key)
        return compile_expr(node)
    base = rename_field(compiled.tree, NET, key.field)  # raw column of this field
    inputs = transform.inputs

    def along(orders: tuple[int, ...]) -> t.Node:
        node = base
        for i, k in enumerate(orders):
            for _ in range(k):
                node = differentiate(node, i, inputs)
        return node

    if not isinstance(key, Combo):
        return compile_expr(along(key.orders))
    # Sum c_a D^a T(x, net): by Faa di Bruno the only order-k derivatives of net in it are
    # T_net * D^a net, so they add up to T_net * (the same Combo of net): one stream.
    k, node = key.order, t.Num(0.0)
    for orders, coeff in key.terms:
        node = t.add(node, t.mul(t.Num(coeff), along(orders)))
    node = map_fields(node, lambda p: t.Num(0.0) if p.order == k else None)
    value = Partial(key.field, (0,) * len(inputs))
    as_sym = map_fields(base, lambda p: t.Sym(NET))  # base reads net's value only
    slope = map_leaves(differentiate(as_sym, 0, (NET,)),  # dT/dnet, net read as a field
                       lambda n: t.Field(value) if n == t.Sym(NET) else None)
    return compile_expr(collapse(t.add(node, t.mul(slope, t.ComboField(key)))))


# The autograd engine answers Combo keys itself; kept as a name for callers.
ComboAutogradEngine = AutogradEngine
