"""Inputs, points and scales: what the network sees, and how the loss terms compare.

pinnkit normalises the inputs of its own networks to [-1, 1]; it cannot do the same for
the outputs, so a solution of size 1e4 means weights that must grow by 1e4. Loss terms
whose sizes at initialisation differ by orders of magnitude train one at a time.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import PinnkitError
from ..geometry import get_sampler
from ..models.mlp import Normalize
from .findings import Context, Finding

SPREAD_LIMIT = 1e4  # largest / smallest squared term at step 0 before a warning
SCALE_LIMIT = 100.0  # |output| beyond [1/100, 100] is far from the network's natural scale


def check_domain(ctx: Context) -> list[Finding]:
    """Finite bounds with positive widths (Box refuses others when it is built)."""
    lo, hi = ctx.problem.shape.bounds()
    out = []
    for name, a, b in zip(ctx.problem.inputs, lo, hi, strict=True):
        if not (math.isfinite(a) and math.isfinite(b)) or b <= a:
            out.append(ctx.finding("error", "domain", f"domain.{name}",
                                   f"bounds [{a:g}, {b:g}] are empty, reversed or not finite",
                                   f"write {name}: [low, high] with low < high"))
    return out


def check_points(ctx: Context) -> list[Finding]:
    """Every condition's selector must pick some boundary points."""
    out = []
    for term in ctx.problem.terms:
        if term.selector is None:
            continue
        try:
            ctx.problem.shape.sample_boundary(8, get_sampler("uniform"), 0, term.selector)
        except PinnkitError:
            out.append(ctx.finding("error", "points", f"{term.key}.on",
                                   f"selector '{term.selector.text}' matches no point of the "
                                   f"boundary of {ctx.problem.shape!r}, so the condition "
                                   f"'{term.name}' would get zero points",
                                   "compare with the domain bounds, e.g. on: "
                                   f"{ctx.problem.inputs[0]} == "
                                   f"{ctx.problem.shape.bounds()[0][0]:g}"))
    return out


def check_input_scale(ctx: Context) -> list[Finding]:
    """A model without input normalisation on a domain far from [-1, 1]."""
    if any(isinstance(m, Normalize) for m in ctx.model.modules()):
        return []
    lo, hi = ctx.problem.shape.bounds()
    span = float(np.max(np.abs(np.concatenate([lo, hi]))))
    width = float(np.min(hi - lo))
    if span <= 10 and width >= 1e-2:
        return []
    return [ctx.finding("warning", "input_scale", "domain",
                        f"the model has no input normalisation and the inputs span up to "
                        f"{span:.3g} (narrowest width {width:.3g}): tanh-like layers saturate "
                        "or see almost constant inputs",
                        "map the inputs to [-1, 1] first: use pinnkit.MLP(..., lower=..., "
                        "upper=...) or put pinnkit.models.mlp.Normalize in front")]


def check_output_scale(ctx: Context) -> list[Finding]:
    """``exact`` far from size 1: the network must grow its weights to reach it."""
    if ctx.problem.exact is None:
        return []
    x = torch.as_tensor(ctx.problem.shape.sample_interior(256, get_sampler("uniform"), 5),
                        dtype=torch.float64)
    ref = ctx.problem.exact(x).detach().cpu().to(torch.float64).numpy()
    out = []
    for j, name in enumerate(ctx.problem.outputs):
        size = float(np.max(np.abs(ref[:, j])))
        if size == 0:
            out.append(ctx.finding(
                "warning", "output_scale", "exact",
                f"the exact solution is {name} = 0 everywhere: a relative error of a zero "
                f"field is undefined, so l2/{name} and metrics.json's l2_relative_error report "
                f"the absolute (root-mean-square) error of {name} instead",
                f"read l2/{name} as an absolute error, or give a non-zero reference"))
            continue
        if not math.isfinite(size) or 1 / SCALE_LIMIT <= size <= SCALE_LIMIT:
            continue
        power = 10.0 ** round(math.log10(size))
        out.append(ctx.finding(
            "warning", "output_scale", "exact",
            f"the exact solution has max |{name}| = {size:.3g}, but the network's outputs "
            f"start near size 1: training must scale them by ~{power:.0e}, which is slow and "
            "skews the balance of the loss terms",
            f"solve for a scaled field: substitute {name} = {power:.0e}*w (equations, "
            f"conditions and exact written for w), or nondimensionalise the problem"))
    return out


def check_data(ctx: Context) -> list[Finding]:
    """Data files: non-finite values, columns, scale. Hook: data arrives with its own issue."""
    return []


BY_CONSTRUCTION = 1e-12  # relative size below which a term counts as exactly met


def check_loss_balance(ctx: Context) -> list[Finding]:
    """Each weighted loss term at initialisation, on a small sample; warn on a wide spread."""
    if ctx.losses is None:
        return []
    try:
        losses = ctx.losses(ctx.model)
    except PinnkitError as exc:
        return [ctx.finding("error", "loss_balance", "training.points", str(exc))]
    terms = {term.name: term for term in ctx.problem.terms}
    sizes = {n: terms[n].weight * float(v.detach()) for n, v in losses.items()}
    listed = ", ".join(f"{n} {v:.2e}" for n, v in sizes.items())
    # a term at round-off size is met by construction (a hard-constraint transform, an
    # exactly periodic network): it has nothing to balance and stays near zero
    top = max((v for v in sizes.values() if math.isfinite(v)), default=0.0)
    squared = {n: v for n, v in sizes.items() if terms[n].squared and v > BY_CONSTRUCTION * top}
    bad = [n for n, v in losses.items() if not math.isfinite(float(v.detach()))]
    if bad:
        return [ctx.finding("error", "loss_balance", terms[bad[0]].key,
                            f"loss term '{bad[0]}' is {float(losses[bad[0]].detach())} at "
                            "initialisation",
                            "check the expression for divisions by zero, log or sqrt of "
                            "negative values")]
    dtype = next(ctx.model.parameters()).dtype
    largest, total = float(torch.finfo(dtype).max), sum(sizes.values())
    if not total <= largest:  # each term finite, their weighted sum not (weights: 1e308)
        worst = max(sizes, key=sizes.__getitem__)
        own = f"{terms[worst].key}.weight"
        key = own if own in ctx.cfg.lines else f"training.weights.{worst}"
        mean = float(losses[worst].detach())
        return [ctx.finding("error", "loss_balance", key,
                            f"the step-0 loss is {total:.3g}, beyond the largest {dtype} "
                            f"({largest:.3g}): term '{worst}' has weight {terms[worst].weight:g} "
                            f"x mean {mean:.3g}, so training would start from an infinite loss",
                            "use weights between about 1e-3 and 1e3")]
    spread = max(squared.values()) / min(squared.values()) if squared else 1.0
    out = [ctx.finding("info", "loss_balance", "training.weights",
                       f"step-0 loss terms (weight x mean): {listed}; spread {spread:.1e}")]
    if spread > SPREAD_LIMIT:
        out.append(_spread_warning(ctx, squared, spread))
    return out


def _spread_warning(ctx: Context, squared: dict[str, float], spread: float) -> Finding:
    """Propose weights that bring every squared term to the median size (powers of 10)."""
    median = float(np.median(list(squared.values())))
    weights = {term.name: term.weight for term in ctx.problem.terms}
    proposal = {}
    for n, v in squared.items():
        factor = 10.0 ** round(math.log10(median / v))
        if factor != 1:
            proposal[n] = weights[n] * factor
    lo, hi = min(squared, key=squared.__getitem__), max(squared, key=squared.__getitem__)
    shown = ", ".join(f"{n}: {w:g}" for n, w in proposal.items())
    return ctx.finding("warning", "loss_balance", "training.weights",
                       f"at initialisation the loss terms differ by {spread:.1e} ('{hi}' "
                       f"{squared[hi]:.2e} vs '{lo}' {squared[lo]:.2e}): the optimizer will "
                       "fit the large ones first and may ignore the small ones",
                       f"set training.weights: {{{shown}}}, or rescale the fields or "
                       "equations so that the terms start closer in size")
