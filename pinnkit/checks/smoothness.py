"""Smoothness: can the network supply the derivatives a residual needs?

ReLU's second derivative is zero almost everywhere, so a ReLU network asked for ``u_xx``
returns zeros and a residual such as ``u_t - u_xx`` silently loses its diffusion term.
The same holds for kinks in a hard-constraint transform (``abs(x - 0.5) * u``): past the
kink's order the derivatives miss a delta. Also here: a clamping last layer (ReLU,
sigmoid, ...) that limits what the network can output. The module inspection itself lives
in pinnkit.models.smoothness, which ``pinnkit.derivatives`` uses for its warnings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..expr import Namespace, parse
from ..expr import tree as t
from ..expr.analysis import children, render
from ..geometry import get_sampler
from ..models.activations import SMOOTH_NAMES
from ..models.smoothness import Limit, layer_limits, only, output_range
from .findings import Context, Finding


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
    ns = Namespace(ns.inputs, ("net",), ns.constants)  # a transform reads the raw output
    limits = [expression_limit(parse(str(x), ns), ns.inputs) for x in texts]
    found = [lim for lim in limits if lim is not None]
    return min(found, key=lambda lim: lim.order) if found else None


def _smooth_alternatives() -> str:
    names = [n for n in SMOOTH_NAMES if n not in ("tanh", "sigmoid")]
    return ", ".join(names[:-1]) + " or " + names[-1]


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
        too_high = sorted((p for p in term.partials if p.order > worst.order),
                          key=lambda p: (-p.order, p))
        if not too_high:
            continue
        names = [p.name(ctx.problem.inputs) for p in too_high]
        k = too_high[0].order
        what = "residual" if term.squared else "objective term"
        zero = "zero at every point" if "zero almost everywhere" in worst.why else \
            "wrong where it matters"
        msg = (f"{what} '{term.name}' needs {' and '.join(names[:3])} (order {k}), but "
               f"{worst.label} is usefully differentiable {only(worst.order)} "
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


def check_output_range(ctx: Context) -> list[Finding]:
    """Warn when the model's last layer clamps, more strongly when ``exact`` leaves the range."""
    clamp = output_range(ctx.model)
    if clamp is None:
        return []
    path, label, lo, hi = clamp
    msg = (f"the model's last layer '{path}' ({label}) limits every output to "
           f"[{lo:g}, {hi:g}]; where it clamps, the output and all its derivatives are "
           "flat, so the residuals there give no gradient")
    if ctx.problem.exact is not None:
        x = torch.as_tensor(ctx.problem.shape.sample_interior(
            512, get_sampler("uniform"), ctx.seed), dtype=torch.float64)
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


__all__ = ["check_output_range", "check_smoothness", "expression_limit", "transform_limit"]
