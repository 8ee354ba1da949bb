"""Collocation point sets and the loss terms evaluated on them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..config import PointsConfig
from ..geometry import get_sampler
from ..problem import CompiledProblem, Term


@dataclass
class PointSet:
    """Points shared by the terms that live on the same part of the domain."""

    terms: tuple[Term, ...]
    x: torch.Tensor
    normals: torch.Tensor | None = None
    extra: dict[Any, torch.Tensor] = field(default_factory=dict)  # env entries, e.g. observed


class Collocation:
    """Samples interior points and, per selector, boundary points; resamples on demand."""

    def __init__(self, problem: CompiledProblem, cfg: PointsConfig, seed: int,
                 device: torch.device, dtype: torch.dtype) -> None:
        self.problem, self.cfg, self.seed = problem, cfg, seed
        self.device, self.dtype = device, dtype
        self.sampler = get_sampler(cfg.sampler)
        self.round = 0
        self.sets: list[PointSet] = []
        self.data_sets = data_point_sets(problem, device, dtype)  # fixed: never resampled
        self.sample(0)

    def sample(self, round_: int) -> None:
        """Draw round ``round_``'s points; the same round always gives the same points."""
        self.round = round_
        shape, seed = self.problem.shape, self.seed * 1_000_003 + round_ * 7919
        groups: dict[str | None, list[Term]] = {}
        for term in self.problem.terms:
            if term.kind == "data":
                continue
            groups.setdefault(term.selector.text if term.selector else None, []).append(term)
        sets = []
        for i, (text, terms) in enumerate(groups.items()):
            if text is None:
                pts = shape.sample_interior(self.cfg.domain, self.sampler, seed)
                sets.append(PointSet(tuple(terms), self._tensor(pts)))
            else:
                sample = shape.sample_boundary(self.cfg.boundary, self.sampler, seed + 31 * i,
                                               terms[0].selector)
                sets.append(PointSet(tuple(terms), self._tensor(sample.points),
                                     self._tensor(sample.normals)))
        self.sets = sets + self.data_sets

    def _tensor(self, a) -> torch.Tensor:
        return torch.as_tensor(a, dtype=self.dtype, device=self.device)


def data_point_sets(problem: CompiledProblem, device: torch.device, dtype: torch.dtype
                    ) -> list[PointSet]:
    """One point set per data entry: its file's points, its terms, its observed values."""
    sets = []
    for obs in problem.data:
        terms = tuple(t for t in problem.terms if t.kind == "data" and t.data == obs.name)
        x = torch.as_tensor(obs.x, dtype=dtype, device=device)
        sets.append(PointSet(terms, x, extra=obs.tensors(device, dtype)))
    return sets


def term_losses(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
                sets: list[PointSet]) -> dict[str, torch.Tensor]:
    """Mean squared residual of every term, each set evaluated for its own needs only."""
    losses: dict[str, torch.Tensor] = {}
    for ps in sets:
        needs = frozenset().union(*(t.needs for t in ps.terms))
        table = engine(model, ps.x, needs, problem.outputs, create_graph=True)
        env = problem.env(ps.x, table)
        env.update(ps.extra)
        for term in ps.terms:
            r = torch.as_tensor(term.residual(env), dtype=ps.x.dtype, device=ps.x.device)
            losses[term.name] = (r**2).mean()
    return losses


def total_loss(losses: dict[str, torch.Tensor], problem: CompiledProblem) -> torch.Tensor:
    weights = {t.name: t.weight for t in problem.terms}
    return sum(weights[n] * v for n, v in losses.items())  # type: ignore[return-value]
