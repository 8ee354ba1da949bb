"""How smooth is a torch module, and does its last layer clamp?

A network's k-th input-derivative is only useful when every layer is at least k times
usefully differentiable (ReLU's second derivative is zero almost everywhere). This module
inspects any torch module for such layers; ``pinnkit.derivatives`` warns with it and the
smoothness check (pinnkit.checks) refuses residuals that need more than a network has.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..expr import Partial
from ..expr.depends import independent
from .activations import SMOOTH, Activation

_PIECEWISE_LINEAR = "piecewise linear: its second derivative is zero almost everywhere"
_JUMP_2ND = "its second derivative jumps at 0"
#: torch layers that are not smooth: (smooth order, why), orders as in the activation table
NONSMOOTH_LAYERS: dict[type, tuple[int, str]] = {
    nn.ReLU: (1, _PIECEWISE_LINEAR), nn.ReLU6: (1, _PIECEWISE_LINEAR),
    nn.LeakyReLU: (1, _PIECEWISE_LINEAR), nn.PReLU: (1, _PIECEWISE_LINEAR),
    nn.RReLU: (1, _PIECEWISE_LINEAR), nn.Hardtanh: (1, _PIECEWISE_LINEAR),
    nn.Hardsigmoid: (1, _PIECEWISE_LINEAR), nn.Softshrink: (1, _PIECEWISE_LINEAR),
    nn.Hardswish: (1, "piecewise quadratic: its second derivative jumps"),
    nn.ELU: (1, _JUMP_2ND), nn.CELU: (1, _JUMP_2ND), nn.SELU: (1, _JUMP_2ND),
    nn.Threshold: (0, "it jumps: every derivative is zero almost everywhere"),
    nn.Hardshrink: (0, "it jumps at ±lambda"),
}
#: output ranges of layers that clamp, when they are the last layer of a model
_RANGES: dict[type, tuple[float, float]] = {
    nn.ReLU: (0.0, math.inf), nn.ReLU6: (0.0, 6.0), nn.Sigmoid: (0.0, 1.0),
    nn.Softplus: (0.0, math.inf), nn.Tanh: (-1.0, 1.0), nn.Hardsigmoid: (0.0, 1.0),
    nn.Hardtanh: (-1.0, 1.0), nn.ELU: (-1.0, math.inf), nn.Softmax: (0.0, 1.0),
}
_ACTIVATION_RANGES = {"relu": (0.0, math.inf), "sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0),
                      "softplus": (0.0, math.inf), "sin": (-1.0, 1.0), "elu": (-1.0, math.inf),
                      "silu": (-0.2785, math.inf), "gelu": (-0.1700, math.inf)}


@dataclass(frozen=True)
class Limit:
    """A layer (or transform) that is only ``order`` times usefully differentiable."""

    where: str  # module path such as "net.1", or "model.transform"
    label: str  # ReLU, activation 'relu', abs(x - 0.5)
    order: int
    why: str


def layer_limits(module: nn.Module) -> list[Limit]:
    """Every non-smooth layer of ``module``, by module path."""
    out = []
    for path, layer in module.named_modules():
        if isinstance(layer, Activation):
            if layer.spec.smooth_order < SMOOTH:
                out.append(Limit(path or "model", f"activation '{layer.spec.name}'",
                                 layer.spec.smooth_order, layer.spec.note))
        elif type(layer) in NONSMOOTH_LAYERS:
            order, why = NONSMOOTH_LAYERS[type(layer)]
            out.append(Limit(path or "model", type(layer).__name__, order, why))
    return out


def output_range(module: nn.Module) -> tuple[str, str, float, float] | None:
    """(path, label, low, high) when the last layer of ``module`` clamps its output.

    The last layer is the last leaf module in registration order, which is the order of
    execution for ``nn.Sequential`` and for pinnkit's networks.
    """
    leaves = [(p, m) for p, m in module.named_modules() if not list(m.children())]
    if not leaves:
        return None
    path, last = leaves[-1]
    if isinstance(last, Activation) and last.spec.name in _ACTIVATION_RANGES:
        return (path, f"activation '{last.spec.name}'", *_ACTIVATION_RANGES[last.spec.name])
    rng = _RANGES.get(type(last))
    if rng is None:
        return None
    if isinstance(last, nn.Hardtanh):
        rng = (float(last.min_val), float(last.max_val))
    return path, type(last).__name__, *rng


def only(k: int) -> str:
    """'only once', 'only twice', 'only 3 times'; 'not at all' for 0."""
    return "not at all" if k == 0 else "only " + {1: "once", 2: "twice"}.get(k, f"{k} times")


def module_warnings(module: nn.Module, table: Mapping[Partial, torch.Tensor],
                    inputs: Sequence[str], outputs: Sequence[str] = ()) -> list[str]:
    """What ``pinnkit.derivatives`` warns about for ``module`` and what it computed.

    Non-smooth layers asked for more derivatives than they have; derivatives exactly zero
    at every point of the batch (ReLU called as a function, or an input the module
    ignores, unless the module declares it: a composite's ``reads``, per output in
    ``outputs`` order, the input columns that output depends on); a clamping last layer.
    """
    reads = getattr(module, "reads", None)
    declared = {f: r for f, r in zip(outputs, reads or (), strict=False) if r is not None}
    order = max((p.order for p in table), default=0)
    out = [f"[smoothness] layer '{lim.where}' ({lim.label}) is usefully differentiable "
           f"{only(lim.order)} ({lim.why}); derivatives of order {order} through it are zero "
           "or wrong. Fix: use a smooth layer: nn.Tanh, nn.SiLU, nn.GELU or nn.Softplus"
           for lim in layer_limits(module) if lim.order < order]
    if not out and not isinstance(module, nn.Linear):  # affine: zeros are its true derivatives
        count = max((int(v.numel()) for v in table.values()), default=0)
        zero = [p.name(inputs) for p, v in sorted(table.items())
                if p.order >= 1 and v.numel() >= 2 and not bool(torch.any(v != 0))
                and not independent(p, declared)]
        if zero:
            out.append(f"[smoothness] {', '.join(zero)} {'is' if len(zero) == 1 else 'are'} "
                       f"exactly zero at all {count} points: the module is piecewise linear in "
                       "its inputs (e.g. torch.relu) or ignores them. Fix: use smooth "
                       "activations (torch.tanh, silu, gelu, softplus) for these derivatives")
    clamp = output_range(module)
    if clamp is not None:
        path, label, lo, hi = clamp
        out.append(f"[output_range] the last layer '{path}' ({label}) limits the output to "
                   f"[{lo:g}, {hi:g}]. Fix: end the network with a Linear layer")
    return out
