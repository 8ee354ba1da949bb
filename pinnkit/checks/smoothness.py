"""Smoothness: can the network supply the derivatives a residual needs?

A network's k-th input-derivative is only useful when every layer is at least k times
usefully differentiable. ReLU's second derivative is zero almost everywhere, so a ReLU
network asked for ``u_xx`` returns zeros and a residual such as ``u_t - u_xx`` silently
loses its diffusion term. The same holds for kinks in a hard-constraint transform
(``abs(x - 0.5) * u``): past the kink's order the derivatives miss a delta.

Also here: a clamping last layer (ReLU, sigmoid, ...) that limits what the network can
output, and the warnings ``pinnkit.derivatives`` gives for arbitrary modules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..expr import Namespace, Partial, parse
from ..expr import tree as t
from ..expr.analysis import children, render
from ..models.activations import SMOOTH, SMOOTH_NAMES, Activation
from .findings import Context, Finding, times

_PIECEWISE_LINEAR = "piecewise linear: its second derivative is zero almost everywhere"
#: torch layers that are not smooth: (smooth order, why). Order as in the activation table.
NONSMOOTH_LAYERS: dict[type, tuple[int, str]] = {
    nn.ReLU: (1, _PIECEWISE_LINEAR), nn.ReLU6: (1, _PIECEWISE_LINEAR),
    nn.LeakyReLU: (1, _PIECEWISE_LINEAR), nn.PReLU: (1, _PIECEWISE_LINEAR),
    nn.RReLU: (1, _PIECEWISE_LINEAR), nn.Hardtanh: (1, _PIECEWISE_LINEAR),
    nn.Hardsigmoid: (1, _PIECEWISE_LINEAR), nn.Softshrink: (1, _PIECEWISE_LINEAR),
    nn.Hardswish: (1, "piecewise quadratic: its second derivative jumps"),
    nn.ELU: (1, "its second derivative jumps at 0"), nn.CELU: (1, "its second derivative "
                                                               "jumps at 0"),
    nn.SELU: (1, "its second derivative jumps at 0"),
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
_ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth"}


@dataclass(frozen=True)
class Limit:
    """A layer (or transform) that is only ``order`` times usefully differentiable."""

    where: str  # module path such as "net.1", or "model.activation"
    label: str  # ReLU, 'relu', abs(x - 0.5)
    order: int
    why: str


def layer_limits(module: nn.Module) -> list[Limit]:
    """Every non-smooth layer of ``module``, by module path."""
    out = []
    for path, layer in module.named_modules():
        if isinstance(layer, Activation):
            spec = layer.spec
            if spec.smooth_order < SMOOTH:
                out.append(Limit(path or "model", f"activation '{spec.name}'",
                                 spec.smooth_order, spec.note))
        else:
            for kind, (order, why) in NONSMOOTH_LAYERS.items():
                if type(layer) is kind:
                    out.append(Limit(path or "model", type(layer).__name__, order, why))
    return out


def expression_limit(node: t.Node, inputs: Sequence[str]) -> Limit | None:
    """The least smooth function in an expression: ``abs`` has a kink, ``sign`` a jump.

    Used for hard-constraint transforms (``model.transform``), whose kinks the network's
    output inherits. Other functions (``sqrt``, ``log``) are smooth where they are defined.
    """
    worst: Limit | None = None
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, t.Call) and n.func in ("abs", "sign"):
            order = 1 if n.func == "abs" else 0
            if worst is None or order < worst.order:
                why = ("it has a kink where its argument is zero: beyond the first derivative "
                       "the derivatives miss a delta") if order else "it jumps"
                arg = render(n.arg, inputs)
                arg = arg[1:-1] if isinstance(n.arg, t.Bin) else arg  # render wraps a Bin
                worst = Limit("model.transform", f"{n.func}({arg})", order, why)
        stack.extend(children(n))
    return worst


def transform_limit(transform: str | Mapping[str, str] | None, ns: Namespace
                    ) -> Limit | None:
    """The limit a hard-constraint transform (one expression, or one per output) imposes."""
    if not transform:
        return None
    texts = transform.values() if isinstance(transform, Mapping) else [transform]
    limits = [expression_limit(parse(str(x), ns), ns.inputs) for x in texts]
    limits = [lim for lim in limits if lim is not None]
    return min(limits, key=lambda lim: lim.order) if limits else None


def _smooth_alternatives() -> str:
    names = [n for n in SMOOTH_NAMES if n not in ("tanh", "sigmoid")]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _only(k: int) -> str:
    return "not at all" if k == 0 else "only " + times(k)


def check_smoothness(ctx: Context, transform: str | Mapping[str, str] | None = None
                     ) -> list[Finding]:
    """Error for each term needing more derivatives than the network (or transform) has."""
    transform = transform if transform is not None else getattr(ctx.cfg.model, "transform",
                                                                None)
    limits = layer_limits(ctx.model)
    extra = transform_limit(transform, ctx.problem.namespace)
    limits += [extra] if extra else []
    if not limits:
        return []
    worst = min(limits, key=lambda lim: lim.order)
    out = []
    for term in ctx.problem.terms:
        too_high = sorted((p for p in term.needs if p.order > worst.order),
                          key=lambda p: (-p.order, p))
        if not too_high:
            continue
        names = [p.name(ctx.problem.inputs) for p in too_high]
        k = too_high[0].order
        what = "residual" if term.squared else "objective term"
        zero = "zero at every point" if "zero almost everywhere" in worst.why else \
            "wrong where it matters"
        msg = (f"{what} '{term.name}' needs {' and '.join(names[:3])} (order {k}), but "
               f"{worst.label} is usefully differentiable {_only(worst.order)} "
               f"({worst.why}), so {names[0]} is {zero} and the term cannot be trained")
        if worst.where == "model.transform":
            fix = "write the transform with smooth functions (e.g. x*(1 - x) instead of abs)"
        elif worst.label.startswith("activation"):
            fix = (f"use a smooth activation — model.activation: tanh (or "
                   f"{_smooth_alternatives()})")
        else:
            fix = (f"replace layer '{worst.where}' ({worst.label}) with a smooth one: nn.Tanh, "
                   "nn.SiLU, nn.GELU or nn.Softplus")
        out.append(ctx.finding("error", "smoothness", term.key, msg, fix))
    return out


def output_range(module: nn.Module) -> tuple[str, str, float, float] | None:
    """(path, label, low, high) when the last layer of ``module`` clamps its output."""
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


def _interval(lo: float, hi: float) -> str:
    return f"[{lo:g}, {hi:g}]"


def check_output_range(ctx: Context) -> list[Finding]:
    """Warn when the model's last layer clamps, more strongly when ``exact`` leaves the range."""
    clamp = output_range(ctx.model)
    if clamp is None:
        return []
    path, label, lo, hi = clamp
    msg = (f"the model's last layer '{path}' ({label}) limits every output to "
           f"{_interval(lo, hi)}; where it clamps, the output and all its derivatives are "
           "flat, so the residuals there give no gradient")
    if ctx.problem.exact is not None:
        x = torch.as_tensor(ctx.problem.shape.sample_interior(
            512, _uniform, ctx.seed), dtype=torch.float64)
        ref = ctx.problem.exact(x).detach().cpu().numpy()
        for j, name in enumerate(ctx.problem.outputs):
            vmin, vmax = float(np.min(ref[:, j])), float(np.max(ref[:, j]))
            if vmin < lo or vmax > hi:
                msg += (f"; the exact solution has {name} in [{vmin:.3g}, {vmax:.3g}], which "
                        "this output cannot reach")
                break
    fix = ("end the network with a Linear layer and impose a range, if needed, with a smooth "
           "transform")
    return [Finding("warning", "output_range", "model", None, msg, fix)]


def _uniform(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, dim))


def module_findings(module: nn.Module, table: Mapping[Partial, torch.Tensor],
                    inputs: Sequence[str]) -> list[Finding]:
    """What ``pinnkit.derivatives`` warns about for ``module`` and the derivatives it computed.

    Non-smooth layers asked for more derivatives than they have, derivatives that are
    exactly zero at every point of the batch (ReLU called as a function, or an input the
    module ignores), and a clamping last layer.
    """
    order = max((p.order for p in table), default=0)
    out = []
    limits = [lim for lim in layer_limits(module) if lim.order < order]
    for lim in limits:
        out.append(Finding("warning", "smoothness", "model", None,
                           f"layer '{lim.where}' ({lim.label}) is usefully differentiable "
                           f"{_only(lim.order)} "
                           f"({lim.why}); derivatives of order {order} through it are zero "
                           "or wrong", "use a smooth layer: nn.Tanh, nn.SiLU, nn.GELU or "
                           "nn.Softplus"))
    if not limits:
        zero = [p.name(inputs) for p, v in sorted(table.items()) if p.order >= 1
                and v.numel() >= 2 and not bool(torch.any(v != 0))]
        if zero:
            out.append(Finding("warning", "smoothness", "model", None,
                               f"{', '.join(zero)} {'is' if len(zero) == 1 else 'are'} "
                               f"exactly zero at all {_count(table)} points: the module is "
                               "piecewise linear in its inputs (e.g. torch.relu) or ignores "
                               "them", "use smooth activations (torch.tanh, silu, gelu, "
                               "softplus) when you need these derivatives"))
    clamp = output_range(module)
    if clamp is not None:
        path, label, lo, hi = clamp
        out.append(Finding("warning", "output_range", "model", None,
                           f"the last layer '{path}' ({label}) limits the output to "
                           f"{_interval(lo, hi)}",
                           "end the network with a Linear layer"))
    return out


def _count(table: Mapping[Partial, torch.Tensor]) -> int:
    return max((int(v.numel()) for v in table.values()), default=0)


__all__ = ["Limit", "check_output_range", "check_smoothness", "expression_limit",
           "layer_limits", "module_findings", "output_range", "transform_limit"]
