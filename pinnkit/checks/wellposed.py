"""Well-posedness hints: missing conditions and trivial solutions (warnings).

A PINN trains on whatever problem it is given. Leave out the initial condition and it
fits some solution of the PDE; leave a face of the box free and the solution there is
whatever the network's initialisation suggests; make everything homogeneous and zero is
a perfect answer. None of these can be proven wrong from the text alone, so they warn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import PinnkitError
from ..geometry import Box, get_sampler
from ..problem import Term
from .findings import Context, Finding, times

TIME_NAMES = ("t", "time")


def _face_points(box: Box, axis: int, side: int, n: int = 64) -> np.ndarray:
    """Points inside one face, away from its edges (edges belong to two faces)."""
    u = get_sampler("uniform")(n, len(box.names), 7 + 2 * axis + side)
    pts = box.lower + (0.05 + 0.9 * u) * (box.upper - box.lower)
    pts[:, axis] = box.upper[axis] if side else box.lower[axis]
    return pts


def _touches(term: Term, box: Box, axis: int, side: int) -> bool:
    pts = _face_points(box, axis, side)
    cols = {name: pts[:, i] for i, name in enumerate(box.names)}
    assert term.selector is not None
    return bool(np.any(term.selector(cols, {"boundary": np.ones(len(pts), bool)},
                                     box.tolerance())))


def _face_name(box: Box, axis: int, side: int) -> str:
    value = box.upper[axis] if side else box.lower[axis]
    return f"{box.names[axis]} == {value:g}"


def _orders(ctx: Context) -> list[int]:
    """Highest derivative order per input in the interior terms; an objective term of
    order k stands for an Euler-Lagrange equation of order 2k."""
    out = [0] * len(ctx.problem.inputs)
    for term in ctx.problem.terms:
        if term.selector is None:
            for p in term.needs:
                for i, k in enumerate(p.orders):
                    out[i] = max(out[i], k if term.squared else 2 * k)
    return out


def _uncovered(ctx: Context) -> tuple[Box, set[tuple[int, int]], list[int]] | None:
    """(box, faces no condition touches as (axis, side), derivative order per input)."""
    box = ctx.problem.shape
    if not isinstance(box, Box):
        return None  # faces of other shapes are not named; nothing to say
    conditions = [term for term in ctx.problem.terms if term.selector is not None]
    free = {(a, s) for a, s in box.faces()
            if not any(_touches(term, box, a, s) for term in conditions)}
    return box, free, _orders(ctx)


def check_initial_condition(ctx: Context) -> list[Finding]:
    """A time input (t or time) whose lower face no condition touches."""
    box, free, orders = _uncovered(ctx) or (None, set(), [])
    out = []
    for axis, name in enumerate(box.names if box else ()):
        if name in TIME_NAMES and orders[axis] and (axis, 0) in free:
            face = _face_name(box, axis, 0)
            key = "conditions" if "conditions" in ctx.cfg.lines else "inputs"
            out.append(ctx.finding(
                "warning", "initial_condition", key,
                f"input '{name}' is time-like but no condition applies at {face}: the "
                f"problem has no initial condition, so any solution of the equations fits",
                f"add conditions: {{initial: {{on: {face}, residual: <field> - <initial "
                "value>}}"))
    return out


def check_boundary_coverage(ctx: Context) -> list[Finding]:
    """Faces of the box that no condition touches (time's faces are the initial check's)."""
    box, free, orders = _uncovered(ctx) or (None, set(), [])
    out = []
    key = "conditions" if "conditions" in ctx.cfg.lines else "domain"
    for axis, name in enumerate(box.names if box else ()):
        k = orders[axis]
        if name in TIME_NAMES or k == 0:
            continue  # a time needs only its lower face; an input never differentiated none
        faces = [_face_name(box, axis, side) for side in (0, 1) if (axis, side) in free]
        if k == 1 and len(faces) == 2:  # first order (advection): one face can be enough
            out.append(ctx.finding(
                "warning", "boundary_coverage", key,
                f"no condition applies on either face of {name} ({faces[0]} or {faces[1]}), "
                f"although the equations differentiate in {name}",
                f"add a condition on the inflow face, e.g. on: {faces[0]}"))
        elif k >= 2:
            out += [ctx.finding(
                "warning", "boundary_coverage", key,
                f"no condition applies on the face {face}, although the equations "
                f"differentiate {times(k)} in {name}: the solution is not determined there",
                f"add a condition with on: {face} (or on: boundary for every face)")
                for face in faces]
    return out


def has_data(ctx: Context) -> bool:
    """Whether the problem has observations. Hook: data files arrive with the data issue,
    whose ``data:`` config key this reads."""
    return bool(getattr(ctx.cfg, "data", None)) or bool(getattr(ctx.problem.problem, "data",
                                                                None))


def _vanishes_at_zero(term: Term, ctx: Context) -> bool:
    """Whether the residual is exactly zero wherever it applies when every field is zero."""
    shape, sampler = ctx.problem.shape, get_sampler("sobol")
    try:
        pts = shape.sample_interior(64, sampler, 3) if term.selector is None else \
            shape.sample_boundary(64, sampler, 3, term.selector).points
    except PinnkitError:
        return False  # a selector that matches nothing is the points check's finding
    x = torch.as_tensor(pts, dtype=torch.float64)
    zeros = {p: torch.zeros(len(x), dtype=torch.float64) for p in term.needs}
    try:
        r = torch.as_tensor(term.residual(ctx.problem.env(x, zeros)), dtype=torch.float64)
    except (ArithmeticError, RuntimeError, TypeError, ValueError):
        return False  # a method residual that cannot take zeros is not homogeneous
    return bool(torch.all(r == 0))


def check_trivial_solution(ctx: Context) -> list[Finding]:
    """Zero solves a homogeneous problem with homogeneous conditions and no data."""
    terms = ctx.problem.terms
    if has_data(ctx) or any(not term.squared for term in terms):
        return []
    if not all(_vanishes_at_zero(term, ctx) for term in terms):
        return []
    fields = ", ".join(f"{f} = 0" for f in ctx.problem.outputs)
    return [ctx.finding(
        "warning", "trivial_solution", "equations",
        f"{fields} satisfies every equation and condition (all are homogeneous) and there is "
        "no data, so training will most likely return the zero solution",
        "make a condition or source term non-zero, add data, or for an eigenvalue problem "
        "fix the amplitude with a condition such as u - 1 at one point")]


def check_parameters(ctx: Context) -> list[Finding]:
    """Learnable parameters with no data to identify them.

    Hook: learnable parameters arrive with their own issue. This reads the ``parameters``
    config key or Problem attribute once they exist and warns when there is no data.
    """
    params: Any = getattr(ctx.cfg, "parameters", None) or \
        getattr(ctx.problem.problem, "parameters", None) or {}
    if not params or has_data(ctx):
        return []
    return [ctx.finding("warning", "parameters", f"parameters.{name}",
                        f"learnable parameter '{name}' has no data to identify it: the "
                        "equations alone rarely determine a coefficient",
                        "add observations under data:") for name in params]
