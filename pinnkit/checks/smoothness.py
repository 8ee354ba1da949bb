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
from ..expr.analysis import children, coefficients, jumps, partials, render
from ..expr.names import SMOOTHNESS
from ..geometry import get_sampler
from ..models.activations import SMOOTH_NAMES
from ..models.smoothness import Limit, layer_limits, only, output_range
from .findings import Context, Finding


def expression_limit(node: t.Node, inputs: Sequence[str]) -> Limit | None:
    """The least smooth function in an expression: ``abs``, ``min``, ``max`` and ``clip``
    have a kink, ``sign``, ``heaviside`` and ``where`` a jump (``names.SMOOTHNESS``).

    Used for hard-constraint transforms (``model.transform``), whose kinks the network's
    output inherits. Other functions (``sqrt``, ``log``) are smooth where they are defined.
    """
    worst: Limit | None = None
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, t.Call) and n.func in SMOOTHNESS:
            order = SMOOTHNESS[n.func]
            if worst is None or order < worst.order:
                why = ("it has a kink where its argument is zero: beyond the first derivative "
                       "the derivatives miss a delta") if order else "it jumps"
                if n.func in ("min", "max", "clip"):
                    why = why.replace("where its argument is zero", "where its arguments meet")
                worst = Limit("model.transform", render(n, inputs), order, why)
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
    """Error for each term needing more derivatives than the network (or transform) has;
    findings for residuals that differentiate a kink or jump of their own functions."""
    transform = transform if transform is not None else getattr(ctx.cfg.model, "transform",
                                                                None)
    out = check_jumps(ctx) + check_field_orders(ctx)
    limits = layer_limits(ctx.model)
    extra = transform_limit(transform, ctx.problem.namespace)
    limits += [extra] if extra else []
    if not limits:
        return out
    worst = min(limits, key=lambda lim: lim.order)
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


def check_jumps(ctx: Context) -> list[Finding]:
    """A residual that differentiates a jump (``where``, ``sign``, ``heaviside``, or the
    derivative of ``abs``, ``min``, ``max``, ``clip``) reads zero on each side and drops the
    delta on the jump (``tree.Jump``).

    Of a network field (``d(max(u, 0), x, x)``): an error. The jump sits where the field
    crosses a value, which moves with the weights, and on the clamped side the derivative
    is zero, so the term gives no gradient there: like ReLU's ``u_xx``, not the equation.
    Of the inputs alone (a coefficient ``where(x < 0.5, 1, 10)`` inside ``d(k*u_x, x)``): a
    warning. The jump is fixed and the equation holds on each side; what is lost is the
    condition at the interface (continuity of ``k*u_x``), which collocation points never
    sample, so the network solves a different problem unless that is stated otherwise.
    """
    out = []
    for term in ctx.problem.terms:
        if term.tree is None:
            continue
        found = jumps(term.tree)
        if not found:
            continue
        moving = [j for j in found if partials(j.at)]
        jump = (moving or found)[0]
        what = "residual" if term.squared else "objective term"
        where = f"where {render(jump.at, ctx.problem.inputs)} switches" if jump.func == "where" \
            else f"where {_bare(render(jump.at, ctx.problem.inputs))} = 0"
        if moving:
            msg = (f"{what} '{term.name}' differentiates a function of the network's fields "
                   f"past its kink or jump ({where}): the derivative there is a delta, which "
                   "is dropped, and on a clamped side it is zero, so the term is not the "
                   "equation and gives no gradient there")
            fix = ("differentiate a kink (abs, min, max, clip) at most once and a jump (where, "
                   "sign, heaviside) never, or use a smooth version, e.g. 0.5*(u + sqrt(u**2 + "
                   "1e-4)) for max(u, 0), tanh(u/0.01) for sign(u)")
            out.append(ctx.finding("error", "smoothness", term.key, msg, fix))
            continue
        msg = (f"{what} '{term.name}' differentiates a piecewise function of the inputs "
               f"across its jump ({where}): the derivative is zero on each side and a delta "
               "on the jump, which collocation points never see, so what the jump should "
               "impose there (e.g. continuity of the flux k*u_x) is not enforced")
        fix = ("do not differentiate the jump: make the flux an output (q - k*u_x and -q_x "
               "- f as two equations, see configs/piecewise.yaml), or smooth it, e.g. "
               "k1 + (k2 - k1)*(1 + tanh((x - 0.5)/0.01))/2")
        out.append(ctx.finding("warning", "smoothness", term.key, msg, fix))
    return out


def check_field_orders(ctx: Context) -> list[Finding]:
    """Error for a residual that differentiates a coefficient field (``fields:``) beyond
    what its interpolant has: nearest none, linear once, a cubic grid twice per axis. The
    derivative past that is zero inside each cell and misses the jumps between cells,
    which is not the derivative of the field the table samples."""
    fields = ctx.problem.fields
    out = []
    for term in ctx.problem.terms:
        if term.tree is None or not fields:
            continue
        rough = []
        for coef in coefficients(term.tree):
            orders, other = fields.axis_orders(coef)
            field = fields.fields[coef.partial.field]
            if not other and not field.smooth_enough(orders):
                rough.append((coef.partial.order, coef.partial.name(ctx.problem.inputs), field))
        if not rough:
            continue
        _, name, field = max(rough, key=lambda r: (r[0], r[1]))
        what = "residual" if term.squared else "objective term"
        msg = (f"{what} '{term.name}' needs {name}, but coefficient field '{field.name}' "
               f"({field.describe()}) is {field.why}; {name} is not the derivative of the "
               "field its table samples")
        if field.kind == "grid" and field.method != "cubic":
            fix = (f"interpolate: cubic on fields.{field.name} (two derivatives per axis), or "
                   f"write the residual with fewer derivatives of {field.name}")
        elif field.kind == "grid":
            fix = f"write the residual with at most two derivatives of {field.name} per input"
        else:
            fix = (f"resample fields.{field.name}'s table onto a grid and use interpolate: "
                   f"cubic, or write the residual with fewer derivatives of {field.name}")
        out.append(ctx.finding("error", "smoothness", term.key, msg, fix))
    return out


def _bare(text: str) -> str:
    return text[1:-1] if text.startswith("(") and text.endswith(")") else text


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


__all__ = ["check_field_orders", "check_jumps", "check_output_range", "check_smoothness",
           "expression_limit", "transform_limit"]
