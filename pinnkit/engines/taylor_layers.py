"""The Taylor engine's rules, one per layer type, in the shape of jax's ``jet.py``.

``RULES[type(layer)](jet, layer, ctx)`` maps the jet of a layer's input (value and
directional derivatives, see :mod:`.taylor_rules`) to the jet of its output. Leaf rules
are a line each over the arithmetic in :mod:`.taylor_rules`; containers (``nn.Sequential``,
pinnkit's ``MLP``) apply their layers' rules in order. A module is readable by the engine
when every layer in it has a rule (``unsupported`` names the first that has none), so a
user's own ``nn.Sequential(nn.Linear, nn.Tanh, ...)`` gets the same engine as pinnkit's
network.

Lookups are by exact type: a subclass may override ``forward``, so it is not read as its
parent. Torch's pointwise activations map onto the derivative tables of
:mod:`pinnkit.models.activations`, the same ones pinnkit's own ``Activation`` reads. The
rules hold no state: ``Context`` carries what one call needs (highest order, directions
per order, collapsed-stream weights).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import torch
from torch import nn

from ..models.activations import ACTIVATIONS, Activation, Derivs
from ..models.composite import Composite
from ..models.features import PeriodicEmbedding
from ..models.mlp import MLP, FourierFeatures, Normalize
from .taylor_rules import (
    Jet,
    activate,
    concat,
    derivatives,
    fourier,
    linear,
    scale,
    select,
    shift,
    sine_jet,
)


class Context(NamedTuple):
    """What every rule of one engine call shares."""

    top: int  # highest order carried
    rows: list[int]  # rows[k - 1]: directions that carry order k
    collapsed: list[tuple[int, torch.Tensor]]  # (order, weights over directions) per stream


Rule = Callable[[Jet, Any, Context], Jet]


def _linear(h: Jet, layer: nn.Linear, ctx: Context) -> Jet:
    return linear(h, layer.weight, layer.bias)


def _identity(h: Jet, layer: nn.Module, ctx: Context) -> Jet:
    return h


def _pointwise(table: Derivs, h: Jet, ctx: Context) -> Jet:
    return activate(h, derivatives(h.value, ctx.top, table), ctx.rows, ctx.collapsed)


def _activation(h: Jet, layer: Activation, ctx: Context) -> Jet:
    return _pointwise(layer.spec.derivatives, h, ctx)


def _table(name: str) -> Rule:
    """The rule of a torch activation module whose function is the table entry ``name``."""
    table = ACTIVATIONS[name].derivatives
    return lambda h, layer, ctx: _pointwise(table, h, ctx)


def _normalize(h: Jet, layer: Normalize, ctx: Context) -> Jet:
    dtype = h.value.dtype
    return shift(scale(h, layer.scale.to(dtype)), layer.shift.to(dtype))


def _fourier_features(h: Jet, layer: FourierFeatures, ctx: Context) -> Jet:
    b = layer.B.to(h.value.dtype)
    if _affine(h):  # linear along every direction: closed-form sin/cos jets
        return fourier(h, b, ctx.rows, ctx.collapsed)
    z = linear(h, b.t(), None)
    return concat([h, sine_jet(z, ctx.top, ctx.rows, ctx.collapsed),
                   sine_jet(shift(z, math.pi / 2), ctx.top, ctx.rows, ctx.collapsed)])


def _affine(h: Jet) -> bool:
    """Whether ``h`` has first derivatives only (an affine map of the inputs)."""
    return h.collapsed is None and all(o is None for o in h.orders[1:]) and \
        (not h.orders or h.orders[0] is not None)


def _periodic(h: Jet, layer: PeriodicEmbedding, ctx: Context) -> Jet:
    """[h_other, cos(theta), sin(theta)] with theta = omega h_p + phase."""
    dtype = h.value.dtype
    theta = shift(scale(select(h, layer.periodic), layer.omega.to(dtype)),
                  layer.phase.to(dtype))
    return concat([select(h, layer.other),
                   sine_jet(shift(theta, math.pi / 2), ctx.top, ctx.rows, ctx.collapsed),
                   sine_jet(theta, ctx.top, ctx.rows, ctx.collapsed)])


def _chain(h: Jet, layers: Iterable[nn.Module], ctx: Context) -> Jet:
    for layer in layers:
        h = RULES[type(layer)](h, layer, ctx)
    return h


def _sequential(h: Jet, layer: nn.Sequential, ctx: Context) -> Jet:
    return _chain(h, layer, ctx)


def _mlp(h: Jet, layer: MLP, ctx: Context) -> Jet:
    """The raw output (the engine applies an output transform itself, symbolically)."""
    return _chain(h, layer.layers(), ctx)


def _composite(h: Jet, layer: Composite, ctx: Context) -> Jet:
    """Each network on its own input columns, outputs side by side in the declared order;
    the raw output (the engine applies an output transform itself)."""
    blocks = [RULES[type(net)](h if cols is None else select(h, cols), net, ctx)
              for net, cols in layer.parts()]
    y = concat(blocks)
    return select(y, layer.order) if layer.permuted else y


#: layer type -> rule(jet, layer, ctx) -> jet
RULES: dict[type, Rule] = {
    nn.Linear: _linear,
    nn.Identity: _identity,
    Activation: _activation,
    nn.Tanh: _table("tanh"),
    nn.Sigmoid: _table("sigmoid"),
    nn.SiLU: _table("silu"),
    nn.Softplus: _table("softplus"),
    nn.GELU: _table("gelu"),
    nn.ReLU: _table("relu"),  # piecewise: the smoothness check limits what it may be asked
    nn.LeakyReLU: _table("leaky_relu"),
    nn.ELU: _table("elu"),
    Normalize: _normalize,
    FourierFeatures: _fourier_features,
    PeriodicEmbedding: _periodic,
    nn.Sequential: _sequential,
    MLP: _mlp,
    Composite: _composite,
}

#: layers whose rule holds for some settings only: why not for this one, or None
SETTINGS: dict[type, Callable[[Any], str | None]] = {
    nn.Softplus: lambda m: None if (m.beta, m.threshold) == (1.0, 20.0) else
    f"beta={m.beta:g}, threshold={m.threshold:g} (the rule is for beta=1, threshold=20)",
    nn.GELU: lambda m: None if m.approximate == "none" else
    f"approximate='{m.approximate}' (the rule is for the exact gelu)",
    nn.LeakyReLU: lambda m: None if m.negative_slope == 0.01 else
    f"negative_slope={m.negative_slope:g} (the rule is for 0.01)",
    nn.ELU: lambda m: None if m.alpha == 1.0 else f"alpha={m.alpha:g} (the rule is for 1)",
}

#: containers: the layers their rule walks, by path
PARTS: dict[type, Callable[[Any], list[tuple[str, nn.Module]]]] = {
    nn.Sequential: lambda m: list(m.named_children()),
    MLP: lambda m: m.named_layers(),
    Composite: lambda m: [(f"nets.{n}", c) for n, c in m.nets.named_children()],
}


def unsupported(module: nn.Module) -> str | None:
    """Why the Taylor engine cannot read ``module`` (the first layer without a rule, by
    path and type), or None when every layer has one. The module itself must be a network
    (a container in ``PARTS``): a lone layer is left to autograd."""
    if type(module) in RULES and type(module) not in PARTS:
        return (f"the module is a single {type(module).__name__} layer, not a network "
                f"({', '.join(k.__name__ for k in PARTS)})")
    return _unsupported(module, "", top=True)


def _unsupported(module: nn.Module, path: str, top: bool) -> str | None:
    kind = type(module)
    if kind is MLP and (top or module.transform is None):
        return None  # built of ruled layers only; the engine asks on every call, so fast
    where = f"layer '{path}' ({kind.__name__})" if path else f"the module ({kind.__name__})"
    if kind not in RULES:
        return f"{where} has no Taylor rule"
    setting = SETTINGS.get(kind)
    why = setting(module) if setting is not None else None
    if why:
        return f"{where} has a Taylor rule only for other settings: {why}"
    if not top and getattr(module, "transform", None) is not None:
        return f"{where} has an output transform, which the engine reads on the outer module only"
    for name, child in PARTS.get(kind, lambda m: [])(module):
        found = _unsupported(child, f"{path}.{name}" if path else name, top=False)
        if found:
            return found
    return None


def supports(module: nn.Module) -> bool:
    """True when every layer of ``module`` has a rule."""
    return unsupported(module) is None


def rule_names() -> list[str]:
    """The layer types with a rule, for messages: torch's as nn.X, pinnkit's by name."""
    return [f"nn.{kind.__name__}" if kind.__module__.startswith("torch.nn") else
            f"pinnkit's {kind.__name__}" for kind in RULES]
