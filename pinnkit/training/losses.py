"""Collocation point sets and the loss terms evaluated on them."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..config import PointsConfig
from ..engines.autograd import AutogradEngine
from ..engines.compile import CompileInfo, Mode, maybe_compile
from ..geometry import get_sampler, paired_faces
from ..problem import CompiledProblem, Term
from .distributed import SINGLE, Dist, shard


@dataclass
class Chunking:
    """How many points one residual evaluation takes; 0 means all of them at once.

    One instance is shared by all point sets of a ``Collocation``, so a back-off after
    running out of GPU memory lasts across resampling, and its warning is given once.
    """

    size: int = 0
    warned: bool = False

    def halve(self, n: int, exc: BaseException) -> None:
        """Halve the chunk after ``exc`` (out of memory) on a set of ``n`` points."""
        old = min(self.size or n, n)
        if old // 2 < 1:
            raise exc
        self.size = old // 2

    def warn_once(self, n: int) -> None:
        if not self.warned:
            self.warned = True
            warnings.warn(f"out of GPU memory evaluating residuals on {n} points at once; "
                          f"evaluating them in chunks of {self.size} points from now on "
                          "(same loss and gradients, more time). Set training.points.chunk "
                          "to start there.", RuntimeWarning, stacklevel=4)


@dataclass
class PointSet:
    """Points shared by the terms that live on the same part of the domain."""

    terms: tuple[Term, ...]
    x: torch.Tensor
    normals: torch.Tensor | None = None
    chunking: Chunking = field(default_factory=Chunking)
    extra: dict[Any, torch.Tensor] = field(default_factory=dict)  # env entries, e.g. observed
    paired: bool = False  # rows i and n/2 + i belong together (periodic): never chunked
    aligned: bool = False  # extra holds one value per point (a condition's table): chunked
    #                        with the points; a data set's extra (rows, values) is not


class Collocation:
    """Samples interior points and, per selector, boundary points; resamples on demand."""

    def __init__(self, problem: CompiledProblem, cfg: PointsConfig, seed: int,
                 device: torch.device, dtype: torch.dtype, dist: Dist = SINGLE) -> None:
        self.problem, self.cfg, self.seed, self.dist = problem, cfg, seed, dist
        self.device, self.dtype = device, dtype
        self.sampler = get_sampler(cfg.sampler)
        self.round = 0
        self.chunking = Chunking(cfg.chunk)
        self.sets: list[PointSet] = []
        self.data_sets = data_point_sets(problem, device, dtype)  # fixed: never resampled
        self.fixed_sets = fixed_point_sets(problem, device, dtype)  # at: and file: conditions
        self.sample(0)

    def sample(self, round_: int) -> None:
        """Draw round ``round_``'s points; the same round always gives the same points."""
        self.round = round_
        shape, seed = self.problem.shape, self.seed * 1_000_003 + round_ * 7919
        groups: dict[str | None, list[Term]] = {}
        for term in self.problem.terms:
            if term.kind == "data" or term.points is not None:
                continue
            group = term.selector.text if term.selector else \
                (None if term.periodic is None else f"periodic {term.periodic}")
            groups.setdefault(group, []).append(term)
        sets = []
        for i, (text, terms) in enumerate(groups.items()):
            if terms[0].periodic is not None:  # rows i and n + i are a pair: shard by pair
                pts = paired_faces(shape, terms[0].periodic, self.cfg.boundary, self.sampler,
                                   seed + 31 * i)
                low, high = np.split(pts, 2)
                pts = np.concatenate([shard(low, self.dist), shard(high, self.dist)])
                sets.append(PointSet(tuple(terms), self._tensor(pts), None, self.chunking,
                                     paired=True))
            elif text is None:
                pts = shard(shape.sample_interior(self.cfg.domain, self.sampler, seed), self.dist)
                sets.append(PointSet(tuple(terms), self._tensor(pts), None, self.chunking))
            else:
                selector = terms[0].selector
                assert selector is not None  # the group's text is its selector's
                sample = shape.sample_boundary(self.cfg.boundary, self.sampler, seed + 31 * i,
                                               selector)
                sets.append(PointSet(tuple(terms), self._tensor(shard(sample.points, self.dist)),
                                     self._tensor(shard(sample.normals, self.dist)), self.chunking))
        self.sets = sets + self.fixed_sets + self.data_sets

    def state_dict(self) -> dict[str, Any]:
        """The round and the current points (kept, not redrawn: samplers may adapt)."""
        return {"round": self.round, "x": [ps.x for ps in self.sets],
                "normals": [ps.normals for ps in self.sets]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.round = int(state["round"])
        if self.dist.active:  # the checkpoint holds rank 0's share: draw this rank's own
            self.sample(self.round)
            return
        for ps, x, normals in zip(self.sets, state["x"], state["normals"], strict=True):
            ps.x = x.to(device=self.device, dtype=self.dtype)
            ps.normals = None if normals is None else normals.to(self.device, self.dtype)

    def _tensor(self, a) -> torch.Tensor:
        return torch.as_tensor(a, dtype=self.dtype, device=self.device)

    def to(self, dtype: torch.dtype) -> None:
        """Cast every point set, the data sets' observations included, to ``dtype``."""
        self.dtype = dtype
        for ps in self.sets:
            ps.x = ps.x.to(dtype)
            ps.normals = None if ps.normals is None else ps.normals.to(dtype)
            ps.extra = {k: v.to(dtype) if v.is_floating_point() else v
                        for k, v in ps.extra.items()}


def data_point_sets(problem: CompiledProblem, device: torch.device, dtype: torch.dtype
                    ) -> list[PointSet]:
    """One point set per data entry: its file's points, its terms, its observed values."""
    sets = []
    for obs in problem.data:
        terms = tuple(t for t in problem.terms if t.kind == "data" and t.data == obs.name)
        x = torch.as_tensor(obs.x, dtype=dtype, device=device)
        sets.append(PointSet(terms, x, extra=obs.tensors(device, dtype)))
    return sets


def fixed_point_sets(problem: CompiledProblem, device: torch.device, dtype: torch.dtype
                     ) -> list[PointSet]:
    """One point set per condition at given points (``at:``, ``file:``): its points, their
    normals, and its table's columns as env entries, one value per point. Not sharded
    under torchrun: like a data set's, every rank holds all of them (the mean over ranks
    of one term's loss is then that term's loss)."""
    sets = []
    for term in problem.terms:
        fixed = term.points
        if fixed is None:
            continue
        normals = None if fixed.normals is None else \
            torch.as_tensor(fixed.normals, dtype=dtype, device=device)
        extra: dict[Any, torch.Tensor] = {name: torch.as_tensor(v, dtype=dtype, device=device)
                                          for name, v in fixed.columns.items()}
        sets.append(PointSet((term,), torch.as_tensor(fixed.x, dtype=dtype, device=device),
                             normals, extra=extra, aligned=True))
    return sets


def residual_rows(problem: CompiledProblem, cfg: PointsConfig) -> int:
    """Residual values per evaluation of every term (the rows of the lm stage's Jacobian):
    interior points, boundary points per sampled condition (pairs for a periodic one),
    the points of conditions at given points, and the data rows."""
    rows = cfg.domain + sum(len(t.points.x) if t.points is not None else cfg.boundary
                            for t in problem.terms
                            if t.points is not None or t.selector is not None
                            or t.periodic is not None)
    return rows + sum(len(obs.x) for obs in problem.data)


Reduce = Callable[[Term, torch.Tensor, torch.Tensor], torch.Tensor]


def term_losses(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
                sets: list[PointSet], reduce: Reduce | None = None) -> dict[str, torch.Tensor]:
    """Mean squared residual of every term, each set evaluated for its own needs only.

    A set whose ``chunking.size`` is below its number of points is evaluated in chunks
    (see ``chunked_losses``); running out of GPU memory halves the chunk and retries.
    ``reduce(term, x, per_point)``, where given, replaces the mean of the interior sets'
    per-point losses (causal weighting). Chunked, a reduced set is evaluated twice: once
    without a graph for the per-point weights its ``reduce.coefficients`` gives (causal
    weights carry no gradient), then chunk by chunk as their weighted sum.
    """
    losses: dict[str, torch.Tensor] = {}
    for ps in sets:
        losses.update(set_losses(model, engine, problem, ps, reduce))
    return losses


def set_losses(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
               ps: PointSet, reduce: Reduce | None = None) -> dict[str, torch.Tensor]:
    """The mean squared residuals of ``ps``'s terms, backing off on CUDA out-of-memory."""
    n, backed_off = ps.x.shape[0], False
    # causal weighting reduces the interior terms (equations, objective) only
    reduced = reduce is not None and ps.terms[0].kind in ("equation", "objective")
    while True:
        try:
            # data sets (their extra indexes rows) are small and periodic pairs must stay
            # together: these are never chunked; a condition's table is, with its points
            if 0 < ps.chunking.size < n and (ps.aligned or not ps.extra) and not ps.paired:
                coeffs = point_weights(model, engine, problem, ps, ps.chunking.size, reduce) \
                    if reduced and reduce is not None else None
                losses = chunked_losses(model, engine, problem, ps, ps.chunking.size, coeffs)
            else:
                per_point = pointwise(model, engine, problem, ps)
                losses = {t.name: reduce(t, ps.x, per_point[t.name]) if reduced and reduce
                          else per_point[t.name].mean() for t in ps.terms}
            break
        except torch.cuda.OutOfMemoryError as exc:
            if ps.paired:
                raise
            ps.chunking.halve(n, exc)
            backed_off = True
        if ps.x.is_cuda:  # the failed attempt's tensors are free once the exception is gone
            torch.cuda.empty_cache()
    if backed_off:
        ps.chunking.warn_once(n)
    return losses


def set_needs(ps: PointSet) -> frozenset:
    """The derivatives (and collapsed sums) that the terms of ``ps`` read."""
    return frozenset().union(*(t.needs for t in ps.terms))


def compiled_losses(losses: Callable[..., dict[str, torch.Tensor]], engine: Callable,
                    model: torch.nn.Module, problem: CompiledProblem, sets: Iterable[PointSet],
                    mode: Mode, steps: int
                    ) -> tuple[Callable[..., dict[str, torch.Tensor]], CompileInfo]:
    """``losses`` (``term_losses``), torch.compile'd when ``mode`` says so (see
    ``maybe_compile``).

    The engine plans each point set's derivatives first (a Taylor program per set of
    needs), outside the trace: planning there would break the compiled step into several
    graphs. Resampled points need the same derivatives, so the plans outlive them."""
    prepare = getattr(engine, "prepare", None)  # the autograd engine plans nothing
    if prepare is not None:
        for ps in sets:
            prepare(model, set_needs(ps), ps.x.shape[-1], problem.outputs)
    return maybe_compile(losses, mode, steps)


def pointwise(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
              ps: PointSet, create_graph: bool = True) -> dict[str, torch.Tensor]:
    """Each term's loss at every point of ``ps``, shape (N,): the squared residual, or the
    value itself for an unsquared objective term. In the autograd graph unless
    ``create_graph`` is False (values only, for resampling and diagnostics)."""
    table = engine(model, ps.x, set_needs(ps), problem.outputs, create_graph=create_graph)
    env = problem.env(ps.x, table, ps.normals)
    env.update(ps.extra)  # observed values of data terms
    out = {}
    for term in ps.terms:
        r = torch.as_tensor(term.residual(env), dtype=ps.x.dtype, device=ps.x.device)
        # a constant residual counts at every point, in a sum over chunks too
        r = r.expand(ps.x.shape[:1]) if r.ndim == 0 else r
        out[term.name] = r**2 if term.squared else r
    return out


def _chunks(ps: PointSet, size: int) -> Iterable[tuple[int, PointSet]]:
    for a in range(0, ps.x.shape[0], size):
        yield a, PointSet(ps.terms, ps.x[a:a + size],
                          None if ps.normals is None else ps.normals[a:a + size],
                          extra={k: v[a:a + size] for k, v in ps.extra.items()},
                          aligned=ps.aligned)


def point_weights(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
                  ps: PointSet, size: int, reduce: Reduce) -> dict[str, torch.Tensor]:
    """Per-point weights c with loss = sum(c * per-point loss), for each term of ``ps``:
    what ``reduce`` (causal weighting) computes from every point's loss at once, found
    from a pass over the chunks without a graph (its weights carry no gradient)."""
    coefficients = getattr(reduce, "coefficients", None)
    if coefficients is None:
        raise ValueError("chunked residuals need reduce.coefficients (per-point weights)")
    # create_graph=False: values only (the engines need autograd on for the inputs'
    # derivatives, so no torch.no_grad here)
    parts = [pointwise(model, engine, problem, sub, create_graph=False)
             for _, sub in _chunks(ps, size)]
    return {t.name: coefficients(t, ps.x, torch.cat([p[t.name].detach() for p in parts]))
            for t in ps.terms}


def chunked_losses(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
                   ps: PointSet, size: int, coeffs: dict[str, torch.Tensor] | None = None
                   ) -> dict[str, torch.Tensor]:
    """``set_losses`` on ``size`` points at a time, holding one chunk's graph at most.

    Each chunk's sum of squares is differentiated right away and the gradients summed, so
    memory is that of one chunk, and loss and gradients equal the unchunked ones up to
    round-off. ``coeffs`` (per term, one weight per point) replaces the mean by a weighted
    sum (causal weighting). The returned losses carry the summed gradients
    (``_Accumulated``): the trainer's ``backward`` works as before, but they cannot be
    differentiated twice.
    """
    n = ps.x.shape[0]
    totals: dict[str, torch.Tensor] = {}
    grads: dict[str, list[torch.Tensor | None]] = {}
    params: list[torch.Tensor] | None = None
    # the mean is a weighted sum with weights 1/n
    scale = 1.0 if coeffs is not None else 1.0 / n
    for a, sub in _chunks(ps, size):
        per_point = pointwise(model, engine, problem, sub)
        sums = {k: (v * coeffs[k][a:a + len(v)]).sum() if coeffs is not None else v.sum()
                for k, v in per_point.items()}
        if params is None:
            params = _parameters(model, sums.values()) if torch.is_grad_enabled() else []
        live = [k for k, v in sums.items() if params and v.requires_grad]
        for i, k in enumerate(live):
            new = torch.autograd.grad(sums[k], params, retain_graph=i < len(live) - 1,
                                      allow_unused=True)
            grads[k] = [_add(o, g) for o, g in zip(grads.get(k, [None] * len(params)), new,
                                                   strict=True)]
        for k, v in sums.items():
            totals[k] = totals[k] + v.detach() if k in totals else v.detach()
    out = {}
    for k, total in totals.items():
        if k not in grads:
            out[k] = total * scale
            continue
        scaled = tuple(None if g is None else g * scale for g in grads[k])
        out[k] = _Accumulated.apply(total * scale, scaled, *(params or []))
    return out


def _add(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    return b if a is None else a if b is None else a + b


def _parameters(model: torch.nn.Module, roots: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """The model's trainable parameters and any other ``nn.Parameter`` the roots depend on.

    Walking the graph finds parameters that live outside the model (a learnable
    coefficient of the PDE), so chunking does not silently drop their gradients.
    """
    found = {id(p): p for p in model.parameters() if p.requires_grad}
    stack: list[torch.autograd.graph.Node | None] = [r.grad_fn for r in roots
                                                     if r.grad_fn is not None]
    seen: set[object] = set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        var = getattr(fn, "variable", None)
        if isinstance(var, torch.nn.Parameter) and var.requires_grad:
            found.setdefault(id(var), var)
        stack.extend(f for f, _ in fn.next_functions)
    return list(found.values())


class _Accumulated(torch.autograd.Function):
    """A loss value whose gradients were summed chunk by chunk; backward only scales them."""

    @staticmethod
    def forward(ctx, value, grads, *params):
        ctx.grads = grads
        return value.clone()

    @staticmethod
    def backward(ctx, grad_out):
        return (None, None, *(None if g is None else g * grad_out for g in ctx.grads))


def total_loss(losses: dict[str, torch.Tensor], problem: CompiledProblem) -> torch.Tensor:
    weights = {t.name: t.weight for t in problem.terms}
    return sum(weights[n] * v for n, v in losses.items())  # type: ignore[return-value]


class SampleLosses:
    """Every term's loss for any module on one fixed small sample of the config's points.

    What the pre-training checks evaluate (step-0 sizes, the boundedness probe, the zero
    solution) with the trainer's own loss code; autograd, so any module works. The points
    are drawn on first use, so a selector that matches nothing is reported by the checks.
    """

    def __init__(self, problem: CompiledProblem, cfg: PointsConfig, seed: int,
                 dtype: torch.dtype, device: torch.device | None = None,
                 domain: int = 512, boundary: int = 128) -> None:
        self.problem, self.seed, self.dtype = problem, seed, dtype
        self.device = device or torch.device("cpu")
        # uniform points: a check's probes need no low-discrepancy sample, and the Sobol
        # sampler's import (scipy.stats, a second) would double what `pinnkit check` takes
        self.cfg = PointsConfig(domain=min(cfg.domain, domain),
                                boundary=min(cfg.boundary, boundary), sampler="uniform",
                                resample_every=0)
        self.engine = AutogradEngine()
        self._sets: list[PointSet] | None = None

    def __call__(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        if self._sets is None:
            self._sets = Collocation(self.problem, self.cfg, self.seed, self.device,
                                     self.dtype).sets
        return term_losses(module, self.engine, self.problem, self._sets)
