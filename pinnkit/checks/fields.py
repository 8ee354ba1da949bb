"""Coefficient fields against the domain: the domain is known before training, so a table
that does not cover it is found now, not as a wrong solution later."""

from __future__ import annotations

import numpy as np

from ..fields import ScatteredField
from ..geometry import get_sampler
from .findings import Context, Finding

TOLERANCE = 1e-9  # relative to the axis's width: a table written with rounded coordinates


def check_field_range(ctx: Context) -> list[Finding]:
    """A summary line per field, and a warning where the domain leaves its table: there a
    grid is clamped to its edge (the edge's value, no slope across it) and a scattered
    table takes its nearest simplex's or point's value."""
    problem = ctx.problem
    if not problem.fields:
        return []
    lo, hi = problem.shape.bounds()
    out = []
    for field in problem.fields:
        key = f"fields.{field.name}"
        out.append(ctx.finding("info", "field_range", key, field.summary()))
        if isinstance(field, ScatteredField):
            x = problem.shape.sample_interior(4096, get_sampler("uniform"), ctx.seed)
            cols = [problem.inputs.index(a) for a in field.axes]
            outside = field.outside(np.asarray(x)[:, cols])
            if outside.any():
                share = float(np.mean(outside))
                region = "convex hull" if field.method == "linear" else "bounding box"
                out.append(ctx.finding(
                    "warning", "field_range", key,
                    f"{share:.1%} of the domain lies outside the {region} of the "
                    f"{len(field.points)} points of {field.path}; there {field.name} is "
                    "the value of the nearest " + ("simplex, clamped, with zero slope"
                                                    if field.method == "linear" else "point"),
                    "add points that cover the domain, or shrink the domain"))
            continue
        gaps = []
        for a, t_lo, t_hi in zip(field.axes, field.lo, field.hi, strict=True):
            i = problem.inputs.index(a)
            tol = TOLERANCE * max(float(hi[i] - lo[i]), 1e-300)
            if lo[i] < t_lo - tol or hi[i] > t_hi + tol:
                gaps.append(f"{a} in [{lo[i]:g}, {hi[i]:g}] (the table: [{t_lo:g}, {t_hi:g}])")
        if gaps:
            out.append(ctx.finding(
                "warning", "field_range", key,
                f"the domain reaches {', '.join(gaps)}, beyond the grid of {field.path}; "
                f"outside it {field.name} is held at its edge value and its derivatives "
                "across the edge are zero",
                "extend the table to cover the domain, or shrink the domain"))
    return out


__all__ = ["check_field_range"]
