"""Does the stated reference solve the stated problem? (``exact_residual``, a warning)

A closed-form ``exact:`` (an expression, a mapping of expressions, or an ``exact()``
method) is put in place of the network and every equation and condition is evaluated at
it on a small fixed sample, in float64, its derivatives by autograd. A reference that
solves the problem leaves round-off; one that does not (a sign or a factor off in the
equation or in exact:) leaves a residual of the size of the equation's own parts, and
then every error against it measures the wrong thing.

Sizes are relative. A term's *scale* is its largest part: for each field or derivative q
it reads, |dr/dq| times the size of q (the larger of its RMS on the term's points and in
the interior, so that u = 0 on a Dirichlet wall still has the size u has inside; a
collapsed sum such as u_xx + u_yy, ~0 for a harmonic u, counts its largest summand), so
a residual multiplied through by 1e8 is judged as the same equation. The verdict reads
the 90th percentile of |r| / scale over the points, not the maximum: a kink of a
piecewise reference (``where``, ``abs``) whose delta the equation misses shows at the few
points next to it and does not warn, while a reference wrong on a tenth of the domain or
more does.

``LIMIT`` = 1e-4 separates the two kinds of residual seen on the shipped and PINNacle
configs by orders of magnitude either way: a reference that solves its problem leaves
round-off (at most 1.2e-15 of the scale, with fourth derivatives and cancelling parts)
or what a coefficient field's table interpolation leaves (2.4e-6, configs/
poisson_field.yaml, a cubic field); a constant written with five digits (3.1416 for pi)
leaves ~1e-6. A wrong reference leaves 1e-2 and more (Wave2d-MS: 0.17, a factor or a sign
off: ~1). Below 1e-4 an inconsistency is smaller than the errors a PINN is trained to.
Skipped: table references (``exact: {file: ...}``: nothing to differentiate), data and
objective terms (no residual that must vanish), terms that read a learnable parameter
(the reference satisfies them at the true value only, which is not known before training)
and references that torch cannot differentiate (an ``exact()`` computed in numpy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..engines.autograd import AutogradEngine
from ..errors import PinnkitError
from ..expr.collapse import Combo
from ..expr.names import Partial
from ..expr.tree import Coef
from ..geometry import get_sampler, paired_faces
from ..problem import Term
from .findings import Context, Finding

LIMIT = 1e-4  # 90th percentile of |residual| / scale above which the reference warns
QUANTILE = 0.9
INTERIOR, BOUNDARY = 256, 64  # points: interior, and per condition (at most, for tables)

Key = Partial | Combo


class _Reference(nn.Module):
    """The problem's closed-form reference as a module x (N, d) -> (N, n_outputs)."""

    def __init__(self, exact: Any) -> None:
        super().__init__()
        self.exact = exact

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # + 0 * x: a constant reference (exact: 0) has zero derivatives, not none
        return self.exact(x) + 0 * x[:, :1]


@dataclass(frozen=True)
class Residual:
    """One term's residual at the reference: its 90th percentile of |r| and RMS over
    ``n`` points, its scale (the largest part, ``part``) and the ratio the check reads."""

    term: Term
    typical: float
    rms: float
    scale: float
    part: str
    n: int
    reads_field: bool  # a coefficient field from a table: its interpolation adds a little

    @property
    def relative(self) -> float:
        if self.scale > 0:
            return self.typical / self.scale
        return math.inf if self.typical > 0 else 0.0


def check_exact_residual(ctx: Context) -> list[Finding]:
    """Every equation and condition evaluated at the closed-form reference."""
    found, notes = residuals(ctx)
    return notes + [_warning(ctx, r) for r in found if r.relative > LIMIT]


def residuals(ctx: Context) -> tuple[list[Residual], list[Finding]]:
    """Each equation's and condition's residual at the reference, and info findings for
    what is not evaluated (a reference torch cannot differentiate, parameter terms)."""
    problem = ctx.problem
    if problem.exact is None or problem.reference is not None:
        return [], []  # no reference, or a table's (interpolated: no derivatives to read)
    terms = [t for t in problem.terms if t.kind in ("equation", "condition")]
    if not terms:
        return [], []
    if callable(problem.problem.exact):
        differentiable = _differentiable(ctx, problem.exact)
        if differentiable is None:
            return [], []  # exact() raises: the output_scale check reports it
        if not differentiable:
            return [], [ctx.finding(
                "info", "exact_residual", "exact",
                "the reference is not differentiable with torch (exact() detaches its "
                "inputs or computes in numpy), so the equations are not evaluated at it",
                "write exact() with torch operations to have pinnkit check that it solves "
                "the equations")]
    module = _Reference(problem.exact)
    out: list[Residual] = []
    notes: list[Finding] = []
    try:
        interior = _values(module, _interior(ctx), frozenset().union(
            *(t.partials for t in terms)), problem.outputs)
        for ts, x, normals, extra in _point_sets(ctx, terms):
            needs = frozenset().union(*(t.needs | t.partials for t in ts))
            table = _values(module, x, needs, problem.outputs)
            for term in ts:
                r = _residual(ctx, term, x, normals, extra, table, interior)
                if isinstance(r, Finding):
                    notes.append(r)
                elif r is not None:
                    out.append(r)
    except (PinnkitError, RuntimeError, ArithmeticError, ValueError) as exc:
        return [], [ctx.finding("info", "exact_residual", "exact",
                                f"the reference could not be differentiated ({exc}); the "
                                "equations are not evaluated at it")]
    return out, notes


def _differentiable(ctx: Context, exact: Any) -> bool | None:
    """Whether an ``exact()`` method's output carries gradients back to its inputs; None
    when it raises."""
    x = _interior(ctx)[:4].clone().requires_grad_(True)
    try:
        y = exact(x)
    except (PinnkitError, RuntimeError, ArithmeticError, ValueError, TypeError):
        return None
    return bool(y.requires_grad)


def _interior(ctx: Context) -> torch.Tensor:
    pts = ctx.problem.shape.sample_interior(INTERIOR, get_sampler("uniform"), ctx.seed + 17)
    return torch.as_tensor(pts, dtype=torch.float64)


def _point_sets(ctx: Context, terms: list[Term]
                ) -> list[tuple[list[Term], torch.Tensor, torch.Tensor | None, dict]]:
    """(terms, points, normals, table columns) per place the terms live, as the trainer
    groups them: the interior, each selector, each periodic pair of faces, each
    condition at given points (its first rows)."""
    shape, sampler, seed = ctx.problem.shape, get_sampler("uniform"), ctx.seed + 17
    groups: dict[str, list[Term]] = {}
    out: list[tuple[list[Term], torch.Tensor, torch.Tensor | None, dict]] = []
    for term in terms:
        if term.points is not None:
            fixed, n = term.points, BOUNDARY * 4
            normals = None if fixed.normals is None else torch.as_tensor(fixed.normals[:n])
            columns = {k: torch.as_tensor(np.asarray(v)[:n], dtype=torch.float64)
                       for k, v in fixed.columns.items()}
            out.append(([term], torch.as_tensor(fixed.x[:n], dtype=torch.float64),
                        None if normals is None else normals.to(torch.float64), columns))
            continue
        group = "" if term.selector is None and term.periodic is None else \
            term.selector.text if term.selector is not None else f"periodic {term.periodic}"
        groups.setdefault(group, []).append(term)
    for i, (text, ts) in enumerate(groups.items()):
        f64 = torch.float64
        if ts[0].periodic is not None:
            pts = paired_faces(shape, ts[0].periodic, BOUNDARY, sampler, seed + 31 * i)
            out.append((ts, torch.as_tensor(pts, dtype=f64), None, {}))
        elif not text:
            out.append((ts, _interior(ctx), None, {}))
        else:
            selector = ts[0].selector
            assert selector is not None
            try:
                sample = shape.sample_boundary(BOUNDARY, sampler, seed + 31 * i, selector)
            except PinnkitError:
                continue  # a selector that matches nothing: the points check's error
            out.append((ts, torch.as_tensor(sample.points, dtype=f64),
                        torch.as_tensor(sample.normals, dtype=f64), {}))
    return out


def _values(module: nn.Module, x: torch.Tensor, needs: frozenset,
            outputs: tuple[str, ...]) -> dict[Key, torch.Tensor]:
    """The reference's fields and derivatives ``needs`` at ``x``, detached."""
    table = AutogradEngine()(module, x.detach(), needs, outputs, create_graph=False)
    return {k: v.detach().expand(x.shape[0]) if v.ndim == 0 else v.detach()
            for k, v in table.items()}


def _rms(v: torch.Tensor) -> float:
    v = v[torch.isfinite(v)]
    return float(v.square().mean().sqrt()) if v.numel() else 0.0


def _size(key: Key, table: dict[Key, torch.Tensor], interior: dict[Key, torch.Tensor]) -> float:
    """How large ``key`` is: its RMS here or in the interior, whichever is larger; for a
    collapsed sum (u_xx + u_yy, which is ~0 for a harmonic u) its largest summand's."""
    if isinstance(key, Combo):
        return max((abs(c) * _size(Partial(key.field, o), table, interior)
                    for o, c in key.terms), default=0.0)
    here = _rms(table[key]) if key in table else 0.0
    return max(here, _rms(interior[key]) if key in interior else 0.0)


def _residual(ctx: Context, term: Term, x: torch.Tensor, normals: torch.Tensor | None,
              extra: dict, table: dict[Key, torch.Tensor], interior: dict[Key, torch.Tensor]
              ) -> Residual | Finding | None:
    problem = ctx.problem
    # every value the residual reads is a leaf, so dr/dq says how much each part weighs
    leaves = {k: v.clone().requires_grad_(True) for k, v in table.items() if k in term.needs}
    env = problem.env(x, leaves, normals)
    params = {n: v.detach().clone().requires_grad_(True)
              for n, v in problem.parameters.values().items()}
    env.update(params)
    env.update(extra)
    r = torch.as_tensor(term.residual(env), dtype=torch.float64)
    r = r.expand(x.shape[0]) if r.ndim == 0 else r
    # a method residual reads self.k, the live value of the raw parameter, not env's copy
    raws = {n: p for n, p in problem.parameters.raw.items() if p.requires_grad}
    inputs = [*leaves.values(), *params.values(), *raws.values()]
    if not r.requires_grad or not inputs:
        return None  # reads no field: nothing of the reference's to judge
    grads = torch.autograd.grad(r.sum(), inputs, allow_unused=True)
    n_leaves, n_params = len(leaves), len(params)
    reads = [n for n, g in zip(params, grads[n_leaves:n_leaves + n_params], strict=True)
             if g is not None]
    reads += [n for n, g in zip(raws, grads[n_leaves + n_params:], strict=True)
              if g is not None and n not in reads]
    if reads:
        s = "s" if len(reads) > 1 else ""
        return ctx.finding(
            "info", "exact_residual", term.key,
            f"{_what(term)} reads the learnable parameter{s} {', '.join(reads)}: the "
            f"reference satisfies it only at the true value{s}, which training is to find, "
            "so it is not evaluated at the reference")
    parts = {k: (_rms(g) * _size(k, table, interior) if g is not None else 0.0)
             for k, g in zip(leaves, grads[:len(leaves)], strict=True)}
    biggest = max(parts, key=lambda k: parts[k])
    a = r.detach().abs()
    a = a[torch.isfinite(a)]
    if not a.numel():
        return None  # not finite: the output_scale check reports such a reference
    return Residual(term, float(torch.quantile(a, QUANTILE)), _rms(r.detach()),
                    parts[biggest], _name(biggest, problem.inputs), len(a),
                    any(isinstance(k, Coef) for k in env))


def _warning(ctx: Context, r: Residual) -> Finding:
    field_note = "; it reads a coefficient field, whose interpolation between table " \
        "points leaves some residual too" if r.reads_field else ""
    return ctx.finding(
        "warning", "exact_residual", r.term.key,
        f"the reference does not satisfy {_what(r.term)}: its residual there is "
        f"{r.typical:.3g} (90th percentile of |r| over {r.n} points; RMS {r.rms:.3g}), "
        f"relative {r.relative:.2g} to {r.scale:.2g}, the size of the largest part it reads "
        f"({r.part}); a reference that solves it leaves round-off, about 1e-15{field_note}",
        "check the equation and exact: against each other (a sign, a factor, a constant); "
        "until they agree, errors against this reference do not measure the solution")


def _name(key: Key, inputs: tuple[str, ...]) -> str:
    """``u_xx`` for a partial; ``u_tt - u_xx`` for a collapsed sum (not ``1*u_tt + -1*u_xx``)."""
    if isinstance(key, Partial):
        return key.name(inputs)
    text = ""  # in the inputs' order, a positive summand first
    for orders, c in sorted(key.terms, key=lambda oc: (oc[1] < 0, [-k for k in oc[0]])):
        name = Partial(key.field, orders).name(inputs)
        factor = "" if abs(c) == 1 else f"{abs(c):g}*"
        sign = ("-" if c < 0 else "") if not text else (" - " if c < 0 else " + ")
        text += f"{sign}{factor}{name}"
    return text


def _what(term: Term) -> str:
    return f"{term.kind} '{term.name}'"
