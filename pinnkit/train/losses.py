"""Collocation point sets and the loss terms evaluated on them."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from ..config import PointsConfig
from ..geometry import get_sampler
from ..problem import CompiledProblem, Term


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


class Collocation:
    """Samples interior points and, per selector, boundary points; resamples on demand."""

    def __init__(self, problem: CompiledProblem, cfg: PointsConfig, seed: int,
                 device: torch.device, dtype: torch.dtype) -> None:
        self.problem, self.cfg, self.seed = problem, cfg, seed
        self.device, self.dtype = device, dtype
        self.sampler = get_sampler(cfg.sampler)
        self.round = 0
        self.chunking = Chunking(cfg.chunk)
        self.sets: list[PointSet] = []
        self.sample(0)

    def sample(self, round_: int) -> None:
        """Draw round ``round_``'s points; the same round always gives the same points."""
        self.round = round_
        shape, seed = self.problem.shape, self.seed * 1_000_003 + round_ * 7919
        groups: dict[str | None, list[Term]] = {}
        for term in self.problem.terms:
            groups.setdefault(term.selector.text if term.selector else None, []).append(term)
        sets = []
        for i, (text, terms) in enumerate(groups.items()):
            if text is None:
                pts = shape.sample_interior(self.cfg.domain, self.sampler, seed)
                sets.append(PointSet(tuple(terms), self._tensor(pts), None, self.chunking))
            else:
                sample = shape.sample_boundary(self.cfg.boundary, self.sampler, seed + 31 * i,
                                               terms[0].selector)
                sets.append(PointSet(tuple(terms), self._tensor(sample.points),
                                     self._tensor(sample.normals), self.chunking))
        self.sets = sets

    def _tensor(self, a) -> torch.Tensor:
        return torch.as_tensor(a, dtype=self.dtype, device=self.device)


def term_losses(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
                sets: list[PointSet]) -> dict[str, torch.Tensor]:
    """Mean squared residual of every term, each set evaluated for its own needs only.

    A set whose ``chunking.size`` is below its number of points is evaluated in chunks
    (see ``chunked_losses``); running out of GPU memory halves the chunk and retries.
    """
    losses: dict[str, torch.Tensor] = {}
    for ps in sets:
        losses.update(set_losses(model, engine, problem, ps))
    return losses


def set_losses(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
               ps: PointSet) -> dict[str, torch.Tensor]:
    """The mean squared residuals of ``ps``'s terms, backing off on CUDA out-of-memory."""
    n, backed_off = ps.x.shape[0], False
    while True:
        try:
            if 0 < ps.chunking.size < n:
                losses = chunked_losses(model, engine, problem, ps, ps.chunking.size)
            else:
                losses = {k: (r**2).mean()
                          for k, r in residuals(model, engine, problem, ps).items()}
            break
        except torch.cuda.OutOfMemoryError as exc:
            ps.chunking.halve(n, exc)
            backed_off = True
        if ps.x.is_cuda:  # the failed attempt's tensors are free once the exception is gone
            torch.cuda.empty_cache()
    if backed_off:
        ps.chunking.warn_once(n)
    return losses


def residuals(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
              ps: PointSet) -> dict[str, torch.Tensor]:
    """Each term's residual at every point of ``ps``, shape (N,), in the autograd graph."""
    needs = frozenset().union(*(t.needs for t in ps.terms))
    table = engine(model, ps.x, needs, problem.outputs, create_graph=True)
    env = problem.env(ps.x, table)
    out = {}
    for term in ps.terms:
        r = torch.as_tensor(term.residual(env), dtype=ps.x.dtype, device=ps.x.device)
        # a constant residual counts at every point, in a sum over chunks too
        out[term.name] = r.expand(ps.x.shape[:1]) if r.ndim == 0 else r
    return out


def chunked_losses(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
                   ps: PointSet, size: int) -> dict[str, torch.Tensor]:
    """``set_losses`` on ``size`` points at a time, holding one chunk's graph at most.

    Each chunk's sum of squares is differentiated right away and the gradients summed, so
    memory is that of one chunk, and loss and gradients equal the unchunked ones up to
    round-off. The returned losses carry the summed gradients (``_Accumulated``): the
    trainer's ``backward`` works as before, but they cannot be differentiated twice.
    """
    n = ps.x.shape[0]
    totals: dict[str, torch.Tensor] = {}
    grads: dict[str, list[torch.Tensor | None]] = {}
    params: list[torch.Tensor] | None = None
    for a in range(0, n, size):
        sub = PointSet(ps.terms, ps.x[a:a + size],
                       None if ps.normals is None else ps.normals[a:a + size])
        sums = {k: (r**2).sum() for k, r in residuals(model, engine, problem, sub).items()}
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
            out[k] = total / n
            continue
        scaled = tuple(None if g is None else g / n for g in grads[k])
        out[k] = _Accumulated.apply(total / n, scaled, *(params or []))
    return out


def _add(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    return b if a is None else a if b is None else a + b


def _parameters(model: torch.nn.Module, roots: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """The model's trainable parameters and any other ``nn.Parameter`` the roots depend on.

    Walking the graph finds parameters that live outside the model (a learnable
    coefficient of the PDE), so chunking does not silently drop their gradients.
    """
    found = {id(p): p for p in model.parameters() if p.requires_grad}
    stack = [r.grad_fn for r in roots if r.grad_fn is not None]
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
    def forward(ctx, value, grads, *params):  # type: ignore[override]
        ctx.grads = grads
        return value.clone()

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        return (None, None, *(None if g is None else g * grad_out for g in ctx.grads))


def total_loss(losses: dict[str, torch.Tensor], problem: CompiledProblem) -> torch.Tensor:
    weights = {t.name: t.weight for t in problem.terms}
    return sum(weights[n] * v for n, v in losses.items())  # type: ignore[return-value]
