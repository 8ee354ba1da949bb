"""What the dense second-order stages share: all trainable tensors as one flat vector."""

from __future__ import annotations

import math
from typing import Any

import torch


class FlatOptimizer(torch.optim.Optimizer):
    """Abstract: one parameter list seen as a vector ``x``; the state lives in
    ``self.state`` of the first tensor (so ``state_dict`` saves it); ``stop_reason`` says
    why the stage should end (``None`` while it can go on)."""

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        self.params: list[torch.Tensor] = [p for g in self.param_groups for p in g["params"]]
        self.chunk: int = defaults["max_iter"]  # iterations per step() call at most

    def _finished(self, st: dict[str, Any], f: float, g: torch.Tensor, tol: float) -> bool:
        """Record in ``st`` why no step can follow (a non-finite loss, a vanishing
        gradient); True when so."""
        if not math.isfinite(f):
            st["stop"] = f"the loss is {f}"
        elif float(g.abs().max()) <= tol:
            st["stop"] = f"converged: gradient below {tol:g}"
        return "stop" in st

    @property
    def _state(self) -> dict[str, Any]:
        return self.state[self.params[0]]

    @property
    def stop_reason(self) -> str | None:
        return self._state.get("stop")

    def _flat_params(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def _flat_grad(self) -> torch.Tensor:
        return torch.cat([torch.zeros_like(p).reshape(-1) if p.grad is None
                          else p.grad.reshape(-1) for p in self.params])

    def _set(self, flat: torch.Tensor) -> None:
        i = 0
        with torch.no_grad():
            for p in self.params:
                p.copy_(flat[i:i + p.numel()].view_as(p))
                i += p.numel()
