"""Enough initial data for the order in time (``initial_order``, a warning).

An equation of order k in time needs k pieces of initial data per field: u_t = u_xx
needs u at t = 0, u_tt = c^2 u_xx needs u and u_t. With u alone, every solution that
starts from u with any velocity fits, and the network picks one. The
``initial_condition`` check covers no condition at all on t = 0; this one counts.

Per field: a condition on the lower time face counts for the fields it reads (``u - u0``
for u, ``u_t`` for u too), and so does each time derivative that a hard-constraint
transform fixes there whatever the network says (configs/wave.yaml's transform gives u
and u_t = 0 at t = 0; found by evaluating it with two different smooth raw outputs). A
condition at the final time or a periodic condition in time make the problem a
boundary-value problem in time, and silence the check.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..engines.autograd import AutogradEngine
from ..expr.names import Partial
from ..problem import Term
from .findings import Context, Finding
from .wellposed import TIME_NAMES, _box_points, _pinned_faces, _term_faces


def check_initial_order(ctx: Context) -> list[Finding]:
    problem = ctx.problem
    causal = getattr(ctx.cfg.training, "causal", None)
    names = (*TIME_NAMES, *([causal.time] if causal is not None else []))
    out = []
    for axis, name in enumerate(problem.inputs):
        if name not in names:
            continue
        orders = _time_orders(problem.terms, axis)
        if max((k for k, _ in orders.values()), default=0) < 2:
            continue  # first order: one condition, which the initial_condition check asks for
        faces = {term.name: _faces(ctx, term, axis) for term in problem.terms
                 if term.kind == "condition"}
        if any(1 in f for f in faces.values()) or (axis, 1) in _pinned_faces(ctx) or \
                any(term.periodic == axis for term in problem.terms):
            continue  # a final-time or periodic condition in time: a boundary-value problem
        initial = [term for term in problem.terms if 0 in faces.get(term.name, set())]
        pinned = _pinned_orders(ctx, axis, {f: k for f, (k, _) in orders.items()})
        if not initial and not any(pinned.values()):
            continue  # none at all: the initial_condition check's warning
        for field, (k, term) in orders.items():
            found = _finding(ctx, axis, field, k, term, initial, pinned.get(field, set()))
            if found is not None:
                out.append(found)
    return out


def _time_orders(terms: tuple[Term, ...], axis: int) -> dict[str, tuple[int, Term]]:
    """field -> (its highest derivative order in time over the equations, that equation)."""
    out: dict[str, tuple[int, Term]] = {}
    for term in terms:
        if term.kind != "equation":
            continue
        for p in term.partials:
            if p.orders[axis] > out.get(p.field, (0, term))[0]:
                out[p.field] = (p.orders[axis], term)
    return out


def _faces(ctx: Context, term: Term, axis: int) -> set[int]:
    """Which faces of the time axis (0 lower, 1 upper) ``term``'s points reach."""
    if term.points is not None:  # at given points: the rows on either face
        lo, hi = ctx.problem.shape.bounds()
        tol = ctx.problem.shape.tolerance()
        column = np.asarray(term.points.x)[:, axis]
        return {side for side, bound in ((0, lo[axis]), (1, hi[axis]))
                if np.any(np.abs(column - bound) <= tol)}
    return {side for a, side in _term_faces(ctx, term) if a == axis}


class _Transformed(nn.Module):
    """The model's transform applied to a smooth random raw output (sines of the inputs)."""

    def __init__(self, transform: nn.Module, d: int, n_out: int, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.transform = transform
        self.a, self.b, self.c = (torch.randn(d, n_out, generator=g, dtype=torch.float64)
                                  for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = (self.a * torch.sin(x[:, :, None] * self.b + self.c)).sum(1)
        return self.transform(x, raw)


def _pinned_orders(ctx: Context, axis: int, orders: dict[str, int]) -> dict[str, set[int]]:
    """field -> the time derivatives (0: the value) below its order that the transform
    fixes at the lower time face: equal for two different raw outputs."""
    transform = getattr(ctx.model, "transform", None)
    if transform is None:
        return {}
    problem = ctx.problem
    d, lo = len(problem.inputs), problem.shape.bounds()[0][axis]
    x = _box_points(ctx, 32, 7)
    x[:, axis] = float(lo)
    wanted = {Partial(f, tuple(j if i == axis else 0 for i in range(d)))
              for f, k in orders.items() for j in range(k)}
    try:
        a, b = (AutogradEngine()(_Transformed(transform, d, len(problem.outputs), seed), x,
                                 wanted, problem.outputs, create_graph=False)
                for seed in (1, 2))
    except (RuntimeError, ValueError, TypeError, ArithmeticError):
        return {}  # a transform this cannot evaluate: count the conditions only
    out: dict[str, set[int]] = {}
    for p in wanted:
        a[p], b[p] = a[p].detach(), b[p].detach()
        scale = float(torch.maximum(a[p].abs().max(), b[p].abs().max()))
        if torch.allclose(a[p], b[p], rtol=0, atol=1e-9 * max(scale, 1.0)):
            out.setdefault(p.field, set()).add(p.orders[axis])
    return out


def _finding(ctx: Context, axis: int, field: str, k: int, equation: Term,
             initial: list[Term], pinned: set[int]) -> Finding | None:
    inputs = ctx.problem.inputs
    on_field = [term for term in initial if any(p.field == field for p in term.partials)]
    if len(on_field) + len(pinned) >= k:
        return None
    time, lo = inputs[axis], ctx.problem.shape.bounds()[0][axis]

    def d(j: int) -> str:  # field's j-th time derivative, named as residuals write it
        return Partial(field, tuple(j if i == axis else 0 for i in range(len(inputs)))) \
            .name(inputs)

    read = pinned | {p.orders[axis] for term in on_field for p in term.partials
                     if p.field == field}
    short = k - len(on_field) - len(pinned)
    # every order read, yet too few conditions (one condition reads both u and u_t)
    missing = [j for j in range(k) if j not in read][:short] or [k - 1]
    given = [f"{t.name} ({', '.join(sorted({p.name(inputs) for p in t.partials}))})"
             for t in initial]
    given += [f"the transform ({', '.join(d(j) for j in sorted(pinned))})"] if pinned else []
    needed = " and ".join([", ".join(d(j) for j in range(k - 1)), d(k - 1)])
    face = f"{time} == {lo:g}"
    j = missing[0]
    example = "velocity" if j == 1 else f"initial_{d(j)}"
    return ctx.finding(
        "warning", "initial_order", equation.key,
        f"{equation.kind} '{equation.name}' has {d(k)}: order {k} in {time}, so it needs "
        f"{needed} at {face}; given on {face}: {', '.join(given)}. Missing: "
        f"{', '.join(d(j) for j in missing)}, so solutions starting with any {d(j)} fit "
        "equally and training picks one",
        f"add e.g. {example}: {{on: {face}, residual: {d(j)} - <its initial value>}} (or a "
        f"condition at the final time, if the problem is a boundary-value problem in {time})")
