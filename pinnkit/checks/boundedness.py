"""Unbounded objective: every loss term must have a minimum.

Squared residuals are bounded below by zero. An ``objective`` term is used as written, so
``u_x + u_yy`` — linear in the network's derivatives — can be lowered without limit: the
loss runs to -inf and the weights to NaN. Two views decide:

- ``classify`` (symbolic): each field and derivative is a free variable, coefficients are
  evaluated at sample points. Linear in a derivative, or a negative even power, is
  *unbounded*; provably bounded forms are *bounded*; the rest is *unknown* — notably the
  Deep Ritz energy ``0.5*(u_x**2 + u_y**2) - f*u``, linear in ``u``, which only the squared
  gradient together with Dirichlet conditions bounds.
- ``check_probe`` (numeric): for *unknown* terms, scale and shift the network's output and
  move its weights along random directions by 1, 10, 100, 1000 with every term included,
  and refuse an objective that keeps falling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from ..errors import PinnkitError
from ..expr import Partial, compile_expr
from ..expr import tree as t
from ..expr.bounds import Poly, free_variables, interval, polynomial, summands
from ..expr.compile import FIELDS_KEY
from ..geometry import get_sampler
from ..problem import CompiledProblem
from .findings import Context, Finding

SCALES = (1.0, 10.0, 100.0, 1000.0)


@dataclass(frozen=True)
class Verdict:
    verdict: str  # "bounded", "unbounded" or "unknown"
    reason: str
    variable: str = ""  # the derivative that makes it unbounded


class _Undecided(Exception):
    """A coefficient could not be evaluated: leave the verdict to the probe."""


def classify(node: t.Node, problem: CompiledProblem, n_samples: int = 64,
             seed: int = 0) -> Verdict:
    """Is ``node``, as a function of free fields and derivatives, bounded below?

    A learnable parameter is free too, within what training can reach (its bounds): it
    ranges over that interval, and coefficients are sampled across it, so ``k*u_x`` is
    as unbounded as with a constant k, and ``k*u_x**2`` is bounded only for k >= 0."""
    lo, hi = problem.shape.bounds()
    specs = problem.parameters.specs
    known = {n: (float(a), float(b)) for n, a, b in zip(problem.inputs, lo, hi, strict=True)}
    known.update({k: (v, v) for k, v in problem.constants.items()})
    known.update({k: s.reachable() for k, s in specs.items()})
    known.update({f.name: f.value_range() for f in problem.fields})
    low = interval(node, known)[0]
    if low > -math.inf:
        return Verdict("bounded", f"it is at least {low:.3g}")
    x = problem.shape.sample_interior(n_samples, get_sampler("uniform"), seed)
    env: dict[Any, Any] = dict(problem.constants)
    env.update({n: torch.as_tensor(x[:, i]) for i, n in enumerate(problem.inputs)})
    env.update({k: s.spread(len(x)) for k, s in specs.items()})
    if problem.fields:  # coefficients of the polynomial may read them
        env[FIELDS_KEY] = problem.fields

    def value_of(sub: t.Node) -> np.ndarray:
        try:
            v = compile_expr(sub).fn(env)
        except KeyError as exc:
            raise _Undecided(str(exc)) from None
        return np.broadcast_to(np.asarray(v, dtype=np.float64), (len(x),)).copy()

    variables = free_variables(node)
    names = [p.name(problem.inputs) for p in variables]
    poly: Poly = {}
    atoms: list[tuple[float, float, set[str]]] = []  # non-polynomial summands: range, reads
    try:
        for sign, sub in summands(node):
            p = polynomial(sub, variables, value_of)
            if p is None:
                a_lo, a_hi = interval(t.neg(sub) if sign < 0 else sub, known)
                atoms.append((a_lo, a_hi, {q.name(problem.inputs) for q in free_variables(sub)}))
            else:
                for k, v in p.items():
                    poly[k] = poly.get(k, 0.0) + sign * v
    except _Undecided:
        return Verdict("unknown", "a coefficient could not be evaluated")
    verdict = _poly_verdict(poly, variables, names)
    if verdict.verdict == "bounded" and all(a[0] > -math.inf for a in atoms):
        return verdict
    if verdict.verdict == "unbounded" and all(
            (a[0] > -math.inf and a[1] < math.inf) or verdict.variable not in a[2]
            for a in atoms):
        return verdict
    if atoms and verdict.verdict != "unknown":
        return Verdict("unknown", "it applies a function to a field or derivative")
    return verdict


def _poly_verdict(poly: Poly, variables: list[Partial], names: list[str]) -> Verdict:
    scale = max((float(np.max(np.abs(v))) for v in poly.values()), default=0.0)
    tol = 1e-10 * max(1.0, scale)
    poly = {k: v for k, v in poly.items() if any(k) and np.max(np.abs(v)) > tol}
    if not poly:
        return Verdict("bounded", "it does not depend on the fields")
    n = len(variables)
    degree = [max(k[i] for k in poly) for i in range(n)]
    coercive = [d >= 2 and d % 2 == 0 and (pure := _pure(poly, i, d)) is not None and
                bool(np.all(pure > tol)) for i, d in enumerate(degree)]
    offending = []
    for i, d in enumerate(degree):
        if d == 0:
            continue
        if d % 2 == 1:
            why = f"linear in {names[i]}" if d == 1 else f"an odd power of {names[i]}"
            offending.append((i, f"it is {why}"))
        elif _lead_negative(poly, i, d, tol):
            offending.append((i, f"the coefficient of {names[i]}**{d} is negative"))
    for i, why in offending:
        if not _controlled(i, variables, coercive):
            return Verdict("unbounded", why, names[i])
    if offending:
        i, why = offending[0]
        ctrl = sorted(names[j] for j in range(n)
                      if coercive[j] and _covers(variables[j], variables[i]))
        return Verdict("unknown", f"{why}, which only the squared {', '.join(ctrl)} together "
                       "with boundary conditions can bound", names[i])
    if all(sum(1 for e in k if e) == 1 for k in poly):  # separable: sum of 1-D polynomials
        if all(coercive[i] for i in range(n) if degree[i]):
            return Verdict("bounded", "a sum of even polynomials with positive leading terms")
    if max(sum(k) for k in poly) <= 2:
        return _quadratic(poly, variables, names, coercive, tol)
    return Verdict("unknown", "a polynomial that couples several derivatives")


def _pure(poly: Poly, i: int, d: int) -> np.ndarray | None:
    key = tuple(d if j == i else 0 for j in range(len(next(iter(poly)))))
    return poly.get(key)


def _lead_negative(poly: Poly, i: int, d: int, tol: float) -> bool:
    """Whether the coefficient of var_i**d, a polynomial in the others, is ever negative."""
    lead = {k: v for k, v in poly.items() if k[i] == d}
    rng = np.random.default_rng(0)
    n = len(next(iter(poly)))
    for scale in (0.1, 1.0, 10.0):
        z = rng.normal(size=(32, n)) * scale
        total = sum(np.outer(np.prod(z ** np.array([e if j != i else 0 for j, e in
                                                     enumerate(k)]), axis=1), v)
                    for k, v in lead.items())
        if np.min(total) < -tol:
            return True
    return False


def _covers(q: Partial, p: Partial) -> bool:
    """q is a higher derivative of p (so a bound on q can bound p, given conditions)."""
    return q.field == p.field and q != p and all(a >= b for a, b in zip(q.orders, p.orders,
                                                                       strict=True))


def _controlled(i: int, variables: list[Partial], coercive: list[bool]) -> bool:
    return any(coercive[j] and _covers(variables[j], variables[i])
               for j in range(len(variables)))


def _quadratic(poly: Poly, variables: list[Partial], names: list[str], coercive: list[bool],
               tol: float) -> Verdict:
    """x^T A x + b^T x at every sample: bounded iff A >= 0 and b lies in A's range."""
    n = len(variables)
    samples = len(next(iter(poly.values())))
    for s in range(samples):
        a, b = np.zeros((n, n)), np.zeros(n)
        for k, v in poly.items():
            idx = [i for i, e in enumerate(k) for _ in range(e)]
            if len(idx) == 1:
                b[idx[0]] += v[s]
            else:
                a[idx[0], idx[1]] += v[s] / 2
                a[idx[1], idx[0]] += v[s] / 2
        w, vecs = np.linalg.eigh(a)
        for lam, vec in zip(w, vecs.T, strict=True):
            bad = lam < -tol or (abs(lam) <= tol and abs(vec @ b) > tol)
            if bad:
                support = [i for i in range(n) if abs(vec[i]) > 1e-6]
                involved = ", ".join(names[i] for i in support)
                why = f"it is indefinite in {involved}" if lam < -tol else \
                    f"it is linear along a direction of {involved} its squares do not control"
                free = [i for i in support if not _controlled(i, variables, coercive)]
                if free:
                    return Verdict("unbounded", why, names[free[0]])
                return Verdict("unknown", why, names[support[0]])
    return Verdict("bounded", "a positive semidefinite quadratic form")


def verdicts(ctx: Context) -> dict[str, Verdict]:
    """The symbolic verdict of every objective term, by name, read from the tree the term
    was compiled from (None for a method)."""
    out = {}
    for term in ctx.problem.terms:
        if not term.squared:
            out[term.name] = classify(term.tree, ctx.problem, seed=ctx.seed) \
                if term.tree is not None else \
                Verdict("unknown", "it is a method, which cannot be analysed symbolically")
    return out


def check_bounded(ctx: Context) -> list[Finding]:
    """Error for an objective term that is unbounded below; info for the other verdicts."""
    out = []
    terms = {term.name: term for term in ctx.problem.terms}
    for name, v in verdicts(ctx).items():
        term = terms[name]
        if v.verdict == "unbounded":
            msg = (f"objective term '{name}' = '{term.text}' is not bounded below: {v.reason}, "
                   f"so training can lower it without limit by making {v.variable} large — the "
                   "loss runs to -inf and the weights to NaN")
            fix = (f"to make it vanish, minimise its square: move it to equations "
                   f"({name}: {term.text}), which pinnkit squares, or write integrand: "
                   f"({term.text})**2")
            out.append(ctx.finding("error", "bounded", term.key, msg, fix))
        elif v.verdict == "unknown":
            out.append(ctx.finding("info", "bounded", term.key, f"objective term '{name}' is "
                                   f"not decided symbolically: {v.reason}; the numeric probe "
                                   "(bounded_probe) decides"))
    return out


class _Moved(nn.Module):
    """``base`` evaluated with other weights, its output scaled and shifted."""

    def __init__(self, base: nn.Module, params: dict[str, torch.Tensor], scale: float = 1.0,
                 shift: float = 0.0) -> None:
        super().__init__()
        self.base, self.params, self.scale, self.shift = base, params, scale, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, self.params, (x,)) * self.scale + self.shift


def _directions(model: nn.Module, seed: int) -> list[tuple[str, Any]]:
    """(label, s -> moved module) for output scaling, output shift and 3 weight directions."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    gen = torch.Generator().manual_seed(seed)
    out: list[tuple[str, Any]] = [
        ("output scaled by c", lambda s: _Moved(model, params, scale=s)),
        ("output shifted by a constant c", lambda s: _Moved(model, params, shift=s)),
    ]
    for k in range(3):
        delta = {n: torch.randn(v.shape, generator=gen, dtype=torch.float64).to(v) * 0.1 *
                 (float(v.norm()) / max(v.numel(), 1) ** 0.5 + 1e-3) for n, v in params.items()}
        out.append((f"weights moved along random direction {k + 1} by c",
                    lambda s, d=delta: _Moved(model, {n: params[n] + s * d[n] for n in params})))
    return out


def _keeps_falling(values: list[float]) -> bool:
    if any(math.isnan(v) for v in values):
        return False
    if values[-1] == -math.inf:
        return True
    drops = [a - b for a, b in zip(values, values[1:], strict=False)]
    return all(d > 0 for d in drops) and drops[-1] >= drops[0] and \
        values[-1] < values[0] - 10 * max(1.0, abs(values[0]))


def check_probe(ctx: Context) -> list[Finding]:
    """Scale/shift the output and move the weights; refuse an objective that keeps falling."""
    undecided = {n: v for n, v in verdicts(ctx).items() if v.verdict == "unknown"}
    if not undecided or ctx.losses is None:
        return []
    losses = ctx.losses

    def loss(module: nn.Module) -> float:
        return ctx.total(losses(module))

    key = next(t.key for t in ctx.problem.terms if t.name in undecided)
    names = ", ".join(f"'{n}'" for n in undecided)
    shown = ""
    for label, move in _directions(ctx.model, ctx.seed):
        try:
            values = [loss(move(s)) for s in SCALES]
        except PinnkitError:
            return []  # points that cannot be drawn are the points check's finding
        text = ", ".join(f"{v:.3g}" for v in values)
        if _keeps_falling(values):
            msg = (f"objective {names}: the total loss keeps falling with the network's "
                   f"{label} = 1, 10, 100, 1000 ({text}), so training would run it to -inf")
            fix = ("pin the solution with conditions (e.g. Dirichlet: conditions: {walls: "
                   "{on: boundary, residual: u}}), or minimise a squared residual instead "
                   "(move the term to equations)")
            return [ctx.finding("error", "bounded_probe", key, msg, fix)]
        shown = shown or text
    reason = next(iter(undecided.values())).reason
    return [ctx.finding("info", "bounded_probe", key, f"objective {names} ({reason}): probe "
                        f"passed — total loss {shown} with the output scaled by c = 1, 10, "
                        "100, 1000; shifting it and moving the weights do not lower it "
                        "without bound either")]
