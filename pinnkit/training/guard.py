"""The NaN/Inf guard: a non-finite loss or weight is a diagnosis and a rollback, not a dead run.

After every finite step the guard keeps a copy of the model, the problem's parameters and
the optimizer in memory (PINN networks are small: a copy costs far less than the step).
When the loss, a gradient step or a weight turns non-finite, it reports which terms and
how many points went bad and where, restores that copy, cuts the learning rate and lets
training go on. After ``max_rollbacks`` it stops with a TrainingError (exit code 1); the
checkpoints on disk were never written from a non-finite state.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch

from ..errors import TrainingError
from ..problem import CompiledProblem
from .losses import PointSet, pointwise
from .state import TrainState

__all__ = ["NanGuard", "TrainingError"]


class NanGuard:
    def __init__(self, max_rollbacks: int = 5, lr_factor: float = 0.5,
                 say: Callable[[str], None] = print) -> None:
        self.max_rollbacks, self.lr_factor, self.say = max_rollbacks, lr_factor, say
        self.rollbacks = 0
        self.good: dict[str, Any] | None = None

    def keep(self, state: TrainState) -> None:
        """Remember ``state`` as the last good one."""
        self.good = copy.deepcopy({
            "model": state.model.state_dict(), "params": state.params.state_dict(),
            "optimizer": state.optimizer.state_dict() if state.optimizer else None,
            "step": state.step, "stage_step": state.stage_step,
        })

    def healthy(self, state: TrainState, loss: float) -> bool:
        return math.isfinite(loss) and all(bool(torch.isfinite(p).all())
                                           for p in state.trainable())

    def recover(self, state: TrainState, terms: dict[str, float], diagnosis: str) -> None:
        """Roll back to the last good state with a smaller learning rate, or stop."""
        bad = [k for k, v in terms.items() if not math.isfinite(v)] or ["the weights"]
        what = f"step {state.step}: non-finite {', '.join(bad)}{diagnosis}"
        if self.good is None or self.rollbacks >= self.max_rollbacks:
            raise TrainingError(f"{what}; stopped after {self.rollbacks} rollbacks. The "
                                "checkpoints hold the last good state. Fix: lower the "
                                "learning rate, check the residuals' scale, or use float64")
        self.rollbacks += 1
        good = self.good
        state.model.load_state_dict(good["model"])
        state.params.load_state_dict(good["params"])
        if state.optimizer is not None and good["optimizer"] is not None:
            state.optimizer.load_state_dict(good["optimizer"])
            for group in state.optimizer.param_groups:
                if "lr" in group:  # lm has none: its damping adapts by itself
                    group["lr"] *= self.lr_factor
        state.step, state.stage_step = good["step"], good["stage_step"]
        lr = state.optimizer.param_groups[0].get("lr", math.nan) if state.optimizer else math.nan
        self.say(f"pinnkit: {what}; rolled back to step {state.step} with lr {lr:.3g} "
                 f"(rollback {self.rollbacks} of {self.max_rollbacks})")


def diagnose(model: torch.nn.Module, engine: Any, problem: CompiledProblem,
             sets: list[PointSet], limit: int = 3) -> str:
    """'; heat: 12 of 2048 points, first at (x=0.5, t=0.1)' for each non-finite term."""
    parts = []
    try:
        for ps in sets:
            n = ps.x.shape[0]
            # a periodic residual stacks blocks of pairs: entry i is pair i mod n/2
            period = n // 2 if ps.paired else n
            for name, loss in pointwise(model, engine, problem, ps, create_graph=False).items():
                bad = ~torch.isfinite(loss.detach())
                if bad.any():
                    where = ", ".join(
                        "(" + ", ".join(f"{inp}={float(v):.3g}" for inp, v in zip(
                            problem.inputs, ps.x[i % period], strict=True)) + ")"
                        for i in bad.nonzero()[:limit, 0].tolist())
                    parts.append(f"{name}: {int(bad.sum())} of {len(loss)} points, at "
                                 f"{where}")
    except (RuntimeError, ValueError):  # the model itself may be broken beyond evaluation
        return ""
    return ("; " + "; ".join(parts)) if parts else ""
