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
from torch import nn

from ..errors import PinnkitError
from ..geometry import Box, get_sampler
from ..problem import Term
from .findings import Context, Finding, times

TIME_NAMES = ("t", "time")


def _touched_faces(ctx: Context) -> set[tuple[int, int]]:
    """(axis, side) of each bounding-box face some condition puts points on.

    Uses the conditions' own boundary samples, so a selector may name parts or read the
    normal; a point counts for a face when its coordinate equals the box's bound there.
    """
    touched = _pinned_faces(ctx)
    for term in ctx.problem.terms:
        if term.periodic is not None:  # a periodic condition ties the two faces together
            touched |= {(term.periodic, 0), (term.periodic, 1)}
        touched |= _term_faces(ctx, term)
    return touched


def _term_faces(ctx: Context, term: Term) -> set[tuple[int, int]]:
    """(axis, side) of each bounding-box face the condition ``term`` puts points on, from
    its own boundary sample; none for an interior term or a selector that matches nothing
    (that is the points check's finding)."""
    if term.selector is None:
        return set()
    shape = ctx.problem.shape
    try:
        pts = shape.sample_boundary(64, get_sampler("uniform"), 11, term.selector).points
    except PinnkitError:
        return set()
    lo, hi, tol = *shape.bounds(), shape.tolerance()
    return {(axis, side) for axis in range(len(lo))
            for side, bound in ((0, lo[axis]), (1, hi[axis]))
            if np.any(np.abs(pts[:, axis] - bound) <= tol)}


def _box_points(ctx: Context, n: int, seed: int) -> torch.Tensor:
    """``n`` Sobol points of the domain's bounding box, float64, for probing a transform."""
    lo, hi = ctx.problem.shape.bounds()
    u = torch.as_tensor(get_sampler("uniform")(n, len(lo), seed), dtype=torch.float64)
    return torch.as_tensor(lo) + u * torch.as_tensor(hi - lo)


def _pinned_faces(ctx: Context) -> set[tuple[int, int]]:
    """Faces the network itself settles: both faces of an exactly periodic input
    (``model.periodic``), and faces where a hard-constraint transform fixes every output
    whatever the raw network says (tried with two different raw outputs)."""
    out: set[tuple[int, int]] = set()
    names = ctx.problem.inputs
    for name in getattr(ctx.cfg.model, "periodic", None) or {}:
        if name in names:
            out |= {(names.index(name), 0), (names.index(name), 1)}
    transform = getattr(ctx.model, "transform", None)
    if transform is None or set(transform.compiled) != set(ctx.problem.outputs):
        return out
    lo, hi = ctx.problem.shape.bounds()
    base = _box_points(ctx, 32, 5)
    for axis in range(len(lo)):
        for side, bound in ((0, lo[axis]), (1, hi[axis])):
            x = base.clone()
            x[:, axis] = float(bound)
            raw = torch.randn(len(x), len(ctx.problem.outputs), dtype=torch.float64,
                              generator=torch.Generator().manual_seed(axis))
            with torch.no_grad():
                a, b = transform(x, raw), transform(x, 3.0 * raw + 1.0)
            if torch.allclose(a, b, rtol=0, atol=1e-10):
                out.add((axis, side))
    return out


def _face_name(ctx: Context, axis: int, side: int) -> str:
    value = ctx.problem.shape.bounds()[side][axis]
    return f"{ctx.problem.inputs[axis]} == {value:g}"


def _orders(ctx: Context) -> list[int]:
    """Highest derivative order per input in the interior terms; an objective term of
    order k stands for an Euler-Lagrange equation of order 2k."""
    out = [0] * len(ctx.problem.inputs)
    for term in ctx.problem.terms:
        if term.kind in ("equation", "objective"):  # fitting u_x data is no PDE
            for p in term.partials:
                for i, k in enumerate(p.orders):
                    out[i] = max(out[i], k if term.squared else 2 * k)
    return out


def check_initial_condition(ctx: Context) -> list[Finding]:
    """A time input (t or time) whose lower face no condition touches."""
    orders, out = _orders(ctx), []
    time_axes = [i for i, n in enumerate(ctx.problem.inputs) if n in TIME_NAMES and orders[i]]
    touched = _touched_faces(ctx) if time_axes else set()
    for axis in time_axes:
        name = ctx.problem.inputs[axis]
        if (axis, 0) not in touched:
            face = _face_name(ctx, axis, 0)
            key = "conditions" if "conditions" in ctx.cfg.lines else "inputs"
            out.append(ctx.finding(
                "warning", "initial_condition", key,
                f"input '{name}' is time-like but no condition applies at {face}: the "
                f"problem has no initial condition, so any solution of the equations fits",
                f"add conditions: {{initial: {{on: {face}, residual: <field> - <initial "
                "value>}}"))
    return out


def check_final_time(ctx: Context) -> list[Finding]:
    """A condition on the upper face of a time input (``on: boundary`` in a box with t):
    the final state is then prescribed as well as the initial one, which over-determines
    an evolution equation and usually contradicts it. Time is the input named t or time,
    or ``training.causal.time``."""
    if not isinstance(ctx.problem.shape, Box):
        return []
    causal = getattr(ctx.cfg.training, "causal", None)
    names = (*TIME_NAMES, *([causal.time] if causal is not None else []))
    orders = _orders(ctx)
    axes = [i for i, n in enumerate(ctx.problem.inputs) if n in names and orders[i]]
    if not axes:
        return []
    out = []
    lo, hi = ctx.problem.shape.bounds()
    for term in ctx.problem.terms:
        faces = _term_faces(ctx, term)
        for axis in axes:
            if (axis, 1) not in faces:
                continue
            name, others = ctx.problem.inputs[axis], [n for n in ctx.problem.inputs
                                                       if n not in names]
            spatial = " or ".join(f"{n} == {lo[k]:g} or {n} == {hi[k]:g}"
                                  for k, n in enumerate(ctx.problem.inputs) if n in others)
            out.append(ctx.finding(
                "warning", "final_time", f"{term.key}.on",
                f"condition '{term.name}' applies at {_face_name(ctx, axis, 1)}, the final "
                f"time, as well: {name} is time-like, and prescribing the end state "
                "over-determines the problem and usually contradicts the initial condition",
                f"select the spatial faces only, e.g. on: {spatial}" if spatial else
                f"leave the face {_face_name(ctx, axis, 1)} out of on:"))
    return out


def check_boundary_coverage(ctx: Context) -> list[Finding]:
    """Faces of a box that no condition touches (time's faces are the initial check's)."""
    if not isinstance(ctx.problem.shape, Box):
        return []  # other shapes have no faces to name
    orders, touched, out = _orders(ctx), _touched_faces(ctx), []
    key = "conditions" if "conditions" in ctx.cfg.lines else "domain"
    for axis, name in enumerate(ctx.problem.inputs):
        k = orders[axis]
        if name in TIME_NAMES or k == 0:
            continue  # a time needs only its lower face; an input never differentiated none
        faces = [_face_name(ctx, axis, side) for side in (0, 1) if (axis, side) not in touched]
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


def check_constant_offset(ctx: Context) -> list[Finding]:
    """A field whose value no term reads, only its derivatives (pure Neumann conditions,
    a pressure seen through its gradient alone): adding any constant to it changes no
    residual, so the problem does not determine it and training settles on an arbitrary
    offset. A condition on the value somewhere fixes it, e.g. at one point (``at:``)."""
    if getattr(ctx.model, "transform", None) is not None:
        return []  # a hard constraint may fix the values itself
    # a periodic condition compares values across two faces: a constant cancels there
    read = {p.field for term in ctx.problem.terms if term.periodic is None
            for p in term.partials if p.order == 0}
    out = []
    for f in ctx.problem.outputs:
        if f in read:
            continue
        point = "{" + ", ".join(f"{n}: {lo:g}" for n, lo in
                                zip(ctx.problem.inputs, ctx.problem.shape.bounds()[0],
                                    strict=True)) + "}"
        key = "conditions" if "conditions" in ctx.cfg.lines else "equations"
        out.append(ctx.finding(
            "warning", "constant_offset", key,
            f"no equation, condition or data reads {f} itself, only its derivatives: {f} + c "
            f"satisfies every term for any constant c, so the problem leaves {f}'s level open "
            "and training settles on an arbitrary one",
            f"pin it with a condition on the value, e.g. at one point: conditions: "
            f"{{pin_{f}: {{at: {point}, residual: {f} - <value there>}}}}"))
    return out


def has_data(ctx: Context) -> bool:
    """Whether the problem has observations. Hook: data files arrive with the data issue,
    whose ``data:`` config key this reads."""
    return bool(getattr(ctx.cfg, "data", None)) or bool(getattr(ctx.problem.problem, "data",
                                                                None))


class _Zero(nn.Module):
    """Every output identically zero, so every derivative is exactly zero too."""

    def __init__(self, n_out: int) -> None:
        super().__init__()
        self.n_out = n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, :1] * 0).repeat(1, self.n_out)


def check_trivial_solution(ctx: Context) -> list[Finding]:
    """Zero solves a homogeneous problem with homogeneous conditions and no data.

    Decided by the trainer's own loss code on a zero network: every term exactly 0.
    """
    terms = ctx.problem.terms
    if ctx.losses is None or has_data(ctx) or any(not term.squared for term in terms):
        return []
    if _transform_moves_zero(ctx):
        return []
    try:
        losses = ctx.losses(_Zero(len(ctx.problem.outputs)))
    except (PinnkitError, ArithmeticError, RuntimeError, KeyError, TypeError, ValueError):
        return []  # a residual that cannot take zeros (1/u) is not homogeneous
    if any(float(v.detach()) != 0 for v in losses.values()):
        return []
    fields = ", ".join(f"{f} = 0" for f in ctx.problem.outputs)
    return [ctx.finding(
        "warning", "trivial_solution", "equations",
        f"{fields} satisfies every equation and condition (all are homogeneous) and there is "
        "no data, so training will most likely return the zero solution",
        "make a condition or source term non-zero, add data, or for an eigenvalue problem "
        "fix the amplitude with a condition such as u - 1 at one point")]


def _transform_moves_zero(ctx: Context) -> bool:
    """A hard-constraint transform with T(x, 0) != 0 (it imposes non-zero values)."""
    transform = getattr(ctx.model, "transform", None)
    if transform is None:
        return False
    x = _box_points(ctx, 64, 3)
    with torch.no_grad():
        y = transform(x, torch.zeros(len(x), len(ctx.problem.outputs), dtype=torch.float64))
    return bool((y.abs() > 1e-12).any())


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
