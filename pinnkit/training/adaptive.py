"""Residual-based adaptive resampling of the interior collocation points.

At every resampling round (``training.points.resample_every``) the interior points are
redrawn where the equations are violated most:

* ``rad`` (Wu, Zhu, Tan, Kartha & Lu 2023): draw ``candidates`` x N fresh points and keep
  N of them with probability ~ |r|^k / mean(|r|^k) + c, without replacement.
* ``r3`` (Daw, Bu, Wang, Perdikaris & Karpatne 2023, retain-resample-release): keep the
  current points whose residual is above the mean, fill up with fresh points.

|r|^2 is the sum over the interior equations of their squared residuals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch

from ..config import AdaptivePointsConfig, Config
from ..errors import ConfigError
from ..problem import CompiledProblem
from .losses import Collocation, PointSet, pointwise

CHUNK = 8192  # points per residual evaluation, to bound the memory of the derivative graph


def check_adaptive(cfg: Config) -> None:
    """Adaptive resampling happens at resampling rounds: they must exist."""
    if cfg.training.points.adaptive is not None and cfg.training.points.resample_every <= 0:
        key = "training.points.adaptive"
        raise ConfigError(key, "is set but training.points.resample_every is "
                          f"{cfg.training.points.resample_every}, so points are never redrawn",
                          "resample_every > 0", "set e.g. resample_every: 100")


def interior_set(points: Collocation) -> PointSet | None:
    """The point set of the interior equations, if the problem has one."""
    for ps in points.sets:
        t = ps.terms[0]
        if t.selector is None and t.periodic is None and t.kind == "equation":
            return ps
    return None


def squared_residual(model: torch.nn.Module, engine: Callable, problem: CompiledProblem,
                     ps: PointSet, x: torch.Tensor) -> torch.Tensor:
    """Sum over ``ps``'s terms of their per-point loss at ``x``, (N,), with no graph."""
    out = []
    for i in range(0, x.shape[0], CHUNK):
        part = PointSet(ps.terms, x[i:i + CHUNK])
        per_point = pointwise(model, engine, problem, part, create_graph=False)
        out.append(cast(torch.Tensor, sum(v.detach().abs() for v in per_point.values())))
    return torch.cat(out)


class AdaptiveSampler:
    """Redraws the interior points of a ``Collocation`` from the model's residuals."""

    def __init__(self, problem: CompiledProblem, cfg: AdaptivePointsConfig,
                 points: Collocation) -> None:
        self.problem, self.cfg, self.points = problem, cfg, points

    def __call__(self, model: torch.nn.Module, engine: Callable, round_: int) -> None:
        old = interior_set(self.points)
        old_x = old.x if old is not None else None
        self.points.sample(round_)
        new = interior_set(self.points)
        if old is None or new is None or old_x is None:
            return
        n = new.x.shape[0]
        if self.cfg.scheme == "r3":
            r2 = squared_residual(model, engine, self.problem, old, old_x)
            kept = old_x[r2 > r2.mean()][:n]
            new.x = torch.cat([kept, new.x[: n - kept.shape[0]]])
            return
        # each rank draws its own candidates (its share of the points)
        seed = self.points.seed * 1_000_003 + round_ * 7919 + 17 + 104_729 * self.points.dist.rank
        cand = self.problem.shape.sample_interior(n * self.cfg.candidates, self.points.sampler,
                                                  seed)
        cand_x = torch.as_tensor(cand, dtype=self.points.dtype, device=self.points.device)
        r = squared_residual(model, engine, self.problem, new, cand_x).sqrt().cpu()
        rk = r.double() ** self.cfg.k
        density = rk / rk.mean().clamp(min=1e-300) + self.cfg.c
        if not bool(torch.isfinite(density).all()) or float(density.sum()) <= 0:
            density = torch.ones_like(density)  # no usable residual: fall back to uniform
        gen = torch.Generator().manual_seed(seed)
        idx = torch.multinomial(density, n, replacement=False, generator=gen)
        new.x = cand_x[idx.to(cand_x.device)]
