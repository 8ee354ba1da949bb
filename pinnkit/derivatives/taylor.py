"""Taylor-mode derivative engine for pinnkit's MLP: one forward pass, no nested autograd.

Nested reverse mode differentiates the network graph once per derivative order, and the
backward pass of the loss then differentiates all those graphs again. Here the requested
derivatives are *forward-propagated* instead: layer by layer, the value and a few
directional derivatives (see :mod:`.taylor_plan` for which, and :mod:`.taylor_rules` for
how each layer maps them). The result is an ordinary first-order torch graph, so the
loss needs ONE plain backward pass for the weight gradients, and ``torch.compile`` can
fuse the whole step.

Requests are :class:`~pinnkit.expr.names.Partial` (one derivative) or
:class:`~pinnkit.expr.collapse.Combo` (a weighted sum of derivatives of one field, whose
top order is carried as a single collapsed stream). ``ComboAutogradEngine`` evaluates
Combo keys with nested autograd, for comparison and for modules Taylor mode cannot read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext

import torch
from torch import nn

from ..expr.collapse import Combo
from ..expr.names import Partial
from ..models.mlp import MLP
from .autograd import AutogradEngine
from .taylor_plan import Key, Plan, build_plan
from .taylor_rules import Jet, activate, derivatives, fourier, linear, partitions

__all__ = ["Combo", "ComboAutogradEngine", "TaylorEngine", "TaylorProgram", "stream_count",
           "supports"]


def supports(module: nn.Module) -> bool:
    """True for pinnkit's MLP, whose layers are all ones this engine knows."""
    return isinstance(module, MLP)


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
        cast = {"dtype": ref.dtype, "device": ref.device}
        return self.directions.to(**cast), [(k, w.to(**cast)) for k, w in self.weights]

    def forward_jet(self, module: MLP, x: torch.Tensor) -> Jet:
        """The output layer's jet: value (N, n_out), orders (R_k, N, n_out), collapsed."""
        dirs, collapsed = self._constants(x)
        norm = module.normalize
        value = x * norm.scale.to(x.dtype) + norm.shift.to(x.dtype)
        # input directions in normalised coordinates; higher orders of x + t v vanish
        first = (dirs * norm.scale.to(x.dtype)).unsqueeze(1) if self.rows else None
        h = Jet(value, [first] + [None] * (len(self.rows) - 1) if self.rows else [], None)
        if module.features is not None:
            h = fourier(h, module.features.B.to(x.dtype), self.rows, collapsed)
        derivs_of = module.activation.spec.derivatives
        top = self.plan.max_order
        for layer in module.hidden:
            z = linear(h, layer.weight, layer.bias)
            h = activate(z, derivatives(z.value, top, derivs_of), self.rows, collapsed)
        return linear(h, module.out.weight, module.out.bias)

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
                    t = torch.zeros_like(y.value[:, j]) if block is None else block[i, :, j]
                t = t * w if w != 1.0 else t
                acc = t if acc is None else acc + t
            out[key] = acc if acc is not None else torch.zeros_like(y.value[:, j])
        return out

    def __call__(self, module: MLP, x: torch.Tensor) -> dict[Key, torch.Tensor]:
        return self.read(self.forward_jet(module, x))


class TaylorEngine:
    """Same call as :class:`AutogradEngine`, for pinnkit MLPs; accepts Combo keys."""

    name = "taylor"

    def __init__(self) -> None:
        self.streams = 0  # streams in the last evaluation, for tests and benchmarks
        self._programs: dict[tuple, TaylorProgram] = {}

    def program(self, wanted: Iterable[Key], n_inputs: int, outputs: Sequence[str]
                ) -> TaylorProgram:
        """The (cached) program for ``wanted``; build it once outside a compiled step."""
        keys = tuple(sorted(set(wanted), key=_sort_key))
        cache_key = (keys, n_inputs, tuple(outputs))
        if cache_key not in self._programs:
            self._build(cache_key)
        return self._programs[cache_key]

    @torch.compiler.disable
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
            raise TypeError(f"the taylor engine needs a pinnkit MLP, not {type(module).__name__}")
        program = self.program(wanted, x.shape[-1], outputs)
        self.streams = program.plan.streams
        with nullcontext() if create_graph else torch.no_grad():
            return program(module, x)  # type: ignore[arg-type]


# The autograd engine answers Combo keys itself; kept as a name for callers.
ComboAutogradEngine = AutogradEngine
