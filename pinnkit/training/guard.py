"""The NaN/Inf guard: a non-finite loss or weight is a diagnosis and a rollback, not a dead run.

The guard keeps, in memory, the last state whose loss it saw finite (PINN networks are
small: a copy costs far less than the step). Adam's closure measures the loss at the
weights *before* its step, so for Adam that is the copy taken before the step; the
second-order stages measure it after theirs, so for them it is the state after the step.
When the loss, a gradient step or a weight turns non-finite, the guard restores that
copy, reports which terms and how many points are non-finite *there* (or that the step
from there diverged), and retries with the learning rate cut again: the cut compounds,
x0.5, x0.25, ... until a retry succeeds. After ``max_rollbacks`` it stops with a
TrainingError (exit code 1); the checkpoints on disk were never written from a
non-finite state, and the message says whether any was written at all.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import TrainingError
from ..problem import CompiledProblem
from .losses import PointSet, pointwise
from .state import TrainState

__all__ = ["NanGuard", "TrainingError"]

#: optimizers whose closure measures the loss before their step, not after it
LOSS_BEFORE_STEP = (torch.optim.Adam,)


class NanGuard:
    def __init__(self, max_rollbacks: int = 5, lr_factor: float = 0.5,
                 say: Callable[[str], None] = print,
                 saved: Callable[[], str] | None = None) -> None:
        self.max_rollbacks, self.lr_factor, self.say = max_rollbacks, lr_factor, say
        self.saved = saved or (lambda: "")  # what the run folder holds, for the last message
        self.rollbacks = 0
        self.good: dict[str, Any] | None = None
        self.pending: dict[str, Any] | None = None  # Adam: the state before the step

    @staticmethod
    def _copy(state: TrainState) -> dict[str, Any]:
        return copy.deepcopy({
            "model": state.model.state_dict(), "params": state.params.state_dict(),
            "optimizer": state.optimizer.state_dict() if state.optimizer else None,
            "scheduler": state.scheduler.state_dict() if state.scheduler else None,
            "step": state.step, "stage_step": state.stage_step,
        })

    def start(self, state: TrainState) -> None:
        """A stage starts from ``state``: the fallback until a step has been seen finite."""
        self.good, self.pending = self._copy(state), None

    def before_step(self, state: TrainState) -> None:
        """The state the next step starts from, where its loss is measured before it."""
        self.pending = self._copy(state) if isinstance(state.optimizer, LOSS_BEFORE_STEP) \
            else None

    def keep(self, state: TrainState) -> None:
        """The step just taken was healthy: remember the last state seen with a finite loss."""
        self.good = self.pending if self.pending is not None else self._copy(state)
        self.pending = None

    def healthy(self, state: TrainState, loss: float) -> bool:
        return math.isfinite(loss) and all(bool(torch.isfinite(p).all())
                                           for p in state.trainable())

    def recover(self, state: TrainState, terms: dict[str, float],
                diagnosis: Callable[[], str] | str = "") -> None:
        """Roll back to the last good state with a learning rate cut once more, or stop.

        ``diagnosis`` is called after the rollback: it looks at the good weights."""
        bad = [k for k, v in terms.items() if not math.isfinite(v)] or ["the weights"]
        what = f"step {state.step}: non-finite {', '.join(bad)}"
        if self.good is None:
            raise TrainingError(f"{what}, before any finite step. {self._kept()}Fix: lower "
                                "the learning rate, check the residuals' scale, or use float64")
        lrs = [g.get("lr") for g in state.optimizer.param_groups] if state.optimizer else []
        self._restore(state)
        found = diagnosis() if callable(diagnosis) else diagnosis
        where = found or (f"; every term is finite at the last good weights (step "
                          f"{state.step}): the step from there diverged")
        if self.rollbacks >= self.max_rollbacks:
            raise TrainingError(f"{what}{where}; stopped after {self.rollbacks} rollbacks. "
                                f"{self._kept()}Fix: lower the learning rate, check the "
                                "residuals' scale, or use float64")
        self.rollbacks += 1
        lr = math.nan
        if state.optimizer is not None:
            # compounding: the rate in use when this step failed, cut once more
            for group, failed in zip(state.optimizer.param_groups, lrs, strict=False):
                if "lr" in group and failed is not None:  # lm has none: its damping adapts
                    group["lr"] = min(group["lr"], failed) * self.lr_factor
            lr = state.optimizer.param_groups[0].get("lr", math.nan)
        self.say(f"pinnkit: {what}{where}; rolled back to step {state.step} with lr {lr:.3g} "
                 f"(rollback {self.rollbacks} of {self.max_rollbacks})")

    def _restore(self, state: TrainState) -> None:
        assert self.good is not None  # rollback() raised before any good state
        good = copy.deepcopy(self.good)  # the copy stays intact for a later rollback
        state.model.load_state_dict(good["model"])
        state.params.load_state_dict(good["params"])
        if state.optimizer is not None and good["optimizer"] is not None:
            state.optimizer.load_state_dict(good["optimizer"])
        if state.scheduler is not None and good["scheduler"] is not None:
            state.scheduler.load_state_dict(good["scheduler"])
        state.step, state.stage_step = good["step"], good["stage_step"]
        self.pending = None

    def _kept(self) -> str:
        note = self.saved()
        return f"{note}. " if note else ""


def saved_note(run_dir: Path | None) -> str:
    """What a stopped run leaves: the checkpoints (never non-finite), or that there are none."""
    if run_dir is None:
        return "Nothing was saved (no run folder)"
    written = [n for n in ("last.pt", "best.pt") if (run_dir / "checkpoints" / n).is_file()]
    if not written:
        return f"No checkpoint was written to {run_dir} before this, so no state is kept"
    return (f"{run_dir}/checkpoints ({', '.join(written)}) holds the last good state that was "
            "saved")


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
