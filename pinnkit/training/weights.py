"""Adaptive loss weights: rebalance the terms from the gradients each one produces.

``training.balance: {scheme: gradnorm, every: 100}`` measures, every ``every`` Adam steps,
the gradient of each loss term with respect to the network weights and moves the term
weights towards the scheme's target with momentum. The static ``training.weights`` are
the starting values, so configs without ``balance`` keep their fixed weights.

* ``gradnorm`` (Wang, Sankaran, Wang & Perdikaris 2023, "An expert's guide to training
  PINNs"): w_i = sum_j |g_j| / |g_i|, so every weighted term pulls with the same norm.
* ``annealing`` (Wang, Teng & Perdikaris 2021, learning-rate annealing): the equations
  keep their weights; every other term gets max |g_eq| / mean |g_i|.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch

from ..config import BalanceConfig
from ..problem import CompiledProblem

# A term whose gradient is this small relative to the largest one is satisfied by
# construction (a hard constraint, a periodic embedding): its gradient is round-off, and
# boosting it would inject noise, so its weight is left as it is.
NEGLIGIBLE = 1e-6


@dataclass(frozen=True)
class GradStats:
    """Summary of one term's gradient over all network weights."""

    norm: float  # Euclidean norm
    max: float  # largest |component|
    mean: float  # mean |component|


Scheme = Callable[[Mapping[str, GradStats], Mapping[str, float], frozenset[str]],
                  dict[str, float]]


def _gradnorm(stats: Mapping[str, GradStats], current: Mapping[str, float],
              equations: frozenset[str]) -> dict[str, float]:
    live = _live(stats)
    total = sum(stats[k].norm for k in live)
    return {k: total / s.norm if k in live else current[k] for k, s in stats.items()}


def _annealing(stats: Mapping[str, GradStats], current: Mapping[str, float],
               equations: frozenset[str]) -> dict[str, float]:
    live = _live(stats)
    ref = max((stats[k].max for k in live if k in equations), default=0.0)
    return {k: ref / s.mean if k in live and k not in equations and ref > 0 else current[k]
            for k, s in stats.items()}


def _live(stats: Mapping[str, GradStats]) -> set[str]:
    """Terms whose gradient is not negligible next to the largest one."""
    top = max((s.norm for s in stats.values()), default=0.0)
    return {k for k, s in stats.items() if s.norm > NEGLIGIBLE * top and s.mean > 0}


SCHEMES: dict[str, Scheme] = {"gradnorm": _gradnorm, "annealing": _annealing}


def grad_stats(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> GradStats:
    """Norm, max and mean of |d loss / d params|, keeping the graph for the next term."""
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    flat = torch.cat([g.reshape(-1) for g in grads if g is not None]) if any(
        g is not None for g in grads) else torch.zeros(1)
    a = flat.detach().abs()
    return GradStats(float(torch.linalg.norm(a)), float(a.max()), float(a.mean()))


class Balancer:
    """Holds the current term weights and updates them from gradient statistics."""

    def __init__(self, problem: CompiledProblem, cfg: BalanceConfig,
                 weights: dict[str, float] | None = None) -> None:
        self.cfg, self.scheme = cfg, SCHEMES[cfg.scheme]
        # updated in place: pass the run's weight table to move it
        self.weights = weights if weights is not None else \
            {t.name: float(t.weight) for t in problem.terms}
        self.equations = frozenset(t.name for t in problem.terms if t.kind == "equation")

    def due(self, step: int) -> bool:
        return step % self.cfg.every == 0

    def update(self, losses: Mapping[str, torch.Tensor],
               params: Iterable[torch.nn.Parameter]) -> dict[str, float]:
        """Measure every term's gradient and move the weights; returns the new weights."""
        params = [p for p in params if p.requires_grad]
        stats = {k: grad_stats(v, params) for k, v in losses.items() if v.requires_grad}
        if not stats:
            return self.weights
        target = self.scheme(stats, self.weights, self.equations)
        m = self.cfg.momentum
        for k, w in target.items():
            self.weights[k] = m * self.weights[k] + (1.0 - m) * w
        return self.weights
