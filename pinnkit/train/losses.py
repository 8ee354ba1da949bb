"""Collocation point sets and the loss terms evaluated on them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..config import PointsConfig
from ..derivatives.autograd import AutogradEngine
from ..geometry import get_sampler
from ..problem import CompiledProblem, Term
from .distributed import SINGLE, Dist, shard


@dataclass
class PointSet:
    """Points shared by the terms that live on the same part of the domain."""

    terms: tuple[Term, ...]
    x: torch.Tensor
    normals: torch.Tensor | None = None


class Collocation:
    """Samples interior points and, per selector, boundary points; resamples on demand."""

    def __init__(self, problem: CompiledProblem, cfg: PointsConfig, seed: int,
                 device: torch.device, dtype: torch.dtype, dist: Dist = SINGLE) -> None:
        self.problem, self.cfg, self.seed, self.dist = problem, cfg, seed, dist
        self.device, self.dtype = device, dtype
        self.sampler = get_sampler(cfg.sampler)
        self.round = 0
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
                pts = shard(shape.sample_interior(self.cfg.domain, self.sampler, seed), self.dist)
                sets.append(PointSet(tuple(terms), self._tensor(pts)))
            else:
                sample = shape.sample_boundary(self.cfg.boundary, self.sampler, seed + 31 * i,
                                               terms[0].selector)
                sets.append(PointSet(tuple(terms), self._tensor(shard(sample.points, self.dist)),
                                     self._tensor(shard(sample.normals, self.dist))))
        self.sets = sets

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


def term_losses(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
                sets: list[PointSet]) -> dict[str, torch.Tensor]:
    """Mean squared residual of every term (the plain mean for unsquared objective terms),
    each set evaluated for its own needs only."""
    losses: dict[str, torch.Tensor] = {}
    for ps in sets:
        needs = frozenset().union(*(t.needs for t in ps.terms))
        table = engine(model, ps.x, needs, problem.outputs, create_graph=True)
        env = problem.env(ps.x, table, ps.normals)
        for term in ps.terms:
            r = torch.as_tensor(term.residual(env), dtype=ps.x.dtype, device=ps.x.device)
            losses[term.name] = (r**2).mean() if term.squared else r.mean()
    return losses


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
        self.cfg = PointsConfig(domain=min(cfg.domain, domain),
                                boundary=min(cfg.boundary, boundary), sampler=cfg.sampler,
                                resample_every=0)
        self.engine = AutogradEngine()
        self._sets: list[PointSet] | None = None

    def __call__(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        if self._sets is None:
            self._sets = Collocation(self.problem, self.cfg, self.seed, self.device,
                                     self.dtype).sets
        return term_losses(module, self.engine, self.problem, self._sets)
