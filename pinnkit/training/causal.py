"""Causal weighting of time-dependent equations (Wang, Sankaran & Perdikaris 2022).

A PINN can drive the residual down at late times with a wrong solution before the early
times, which determine it, are right. ``training.causal: {chunks: 16, epsilon: 1.0}``
splits the time interval into slices, computes each slice's mean squared residual L_i,
and weights slice i by w_i = exp(-epsilon * (L_0 + ... + L_{i-1})) (no gradient through
w), so a slice only counts once the slices before it are solved.
"""

from __future__ import annotations

import torch

from ..config import CausalConfig, Config
from ..errors import ConfigError, did_you_mean
from ..problem import CompiledProblem, Term


def time_column(problem: CompiledProblem, cfg: Config) -> int:
    """The column of ``training.causal.time``; a ConfigError if it is not an input."""
    causal = cfg.training.causal
    assert causal is not None
    if causal.time not in problem.inputs:
        raise ConfigError("training.causal.time", f"'{causal.time}' is not an input"
                          f"{did_you_mean(causal.time, problem.inputs)}",
                          "the input that is time, one of: " + ", ".join(problem.inputs),
                          "set training.causal.time to the time input")
    return problem.inputs.index(causal.time)


class CausalWeights:
    """A ``reduce`` for ``term_losses``: causal mean of the equations, plain mean elsewhere."""

    def __init__(self, problem: CompiledProblem, cfg: CausalConfig, column: int) -> None:
        lo, hi = problem.shape.bounds()
        self.t0, self.span = float(lo[column]), float(hi[column] - lo[column])
        self.column, self.chunks, self.epsilon = column, cfg.chunks, cfg.epsilon
        self.last: torch.Tensor | None = None  # slice weights of the last evaluation

    def slice_losses(self, t: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
        """Mean of ``r2`` in each time slice (0 where a slice has no point)."""
        idx = ((t - self.t0) / self.span * self.chunks).long().clamp(0, self.chunks - 1)
        sums = torch.zeros(self.chunks, dtype=r2.dtype, device=r2.device).index_add(0, idx, r2)
        # counted by index_add, not bincount: bincount's length depends on the data, which
        # breaks a compiled step's graph
        counts = torch.zeros_like(sums).index_add(0, idx, torch.ones_like(r2))
        return sums / counts.clamp(min=1)

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        before = torch.cumsum(losses.detach(), 0) - losses.detach()  # sum over earlier slices
        return torch.exp(-self.epsilon * before)

    def __call__(self, term: Term, x: torch.Tensor, per_point: torch.Tensor) -> torch.Tensor:
        """The loss of ``term`` from its per-point losses: causal for the equations."""
        if term.kind != "equation":
            return per_point.mean()
        per_slice = self.slice_losses(x[:, self.column], per_point)
        w = self.weights(per_slice)
        self.last = w.detach()
        return (w * per_slice).mean()

    def coefficients(self, term: Term, x: torch.Tensor, per_point: torch.Tensor
                     ) -> torch.Tensor:
        """Per-point weights c with ``self(term, x, r2) == sum(c * r2)`` for these points,
        from their (graph-free) losses: how chunked residuals apply causal weighting.
        The slice weights carry no gradient, so the sum's gradient is the causal loss's."""
        if term.kind != "equation":
            return torch.full_like(per_point, 1.0 / len(per_point))
        t = x[:, self.column]
        idx = ((t - self.t0) / self.span * self.chunks).long().clamp(0, self.chunks - 1)
        counts = torch.zeros(self.chunks, dtype=per_point.dtype, device=per_point.device) \
            .index_add(0, idx, torch.ones_like(per_point)).clamp(min=1)
        w = self.weights(self.slice_losses(t, per_point))
        self.last = w.detach()
        return (w / counts / self.chunks)[idx]

    def min_weight(self) -> float:
        """The last slice's weight: near 1 once the whole time interval is resolved."""
        return float(self.last.min()) if self.last is not None else float("nan")
