"""What is measured while training: one record of scalars per logging step, and pictures.

A record holds every loss term and the total, the weights, the learning rate, the
gradient norm, the errors against the reference (when there is one), the learnable
parameters, and the pace (time per step, collocation points per second).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..config import Config, located
from ..errors import ConfigError
from ..problem import CompiledProblem
from .metrics import errors_at, reference_errors, validation_points
from .snapshot import FieldSnapshot, PlotGrid, plot_grid, snapshot
from .state import TrainState

if TYPE_CHECKING:
    from .trainer import Closure

# record keys of the errors against the reference: l2/u (relative L2), l1/u (mean absolute),
# linf/u (max absolute); and l2_pooled (relative L2 over every compared field at once)
ERROR_TAGS = {"l2_relative": "l2", "mean_abs": "l1", "max_abs": "linf"}
POOLED = "l2_pooled"


class Monitor:
    """Fixed evaluation points and picture grid, chosen (and checked) before training."""

    def __init__(self, problem: CompiledProblem, cfg: Config) -> None:
        self.problem = problem
        self.eval_x = validation_points(problem)  # a reference table's points, or a grid
        self.eval_ref = problem.reference.matrix() if problem.reference is not None else None
        self.grid = picture_grid(problem, cfg)
        self.mark_time, self.mark_step = time.perf_counter(), 0

    def start(self, step: int) -> None:
        self.mark_time, self.mark_step = time.perf_counter(), step

    def record(self, state: TrainState, closure: Closure) -> dict[str, float]:
        """Scalars at the current parameters (the loss is re-evaluated there)."""
        now, steps = time.perf_counter(), max(state.step - self.mark_step, 1)
        seconds = (now - self.mark_time) / steps
        closure()  # losses and gradients at the parameters the step left, not before it
        n_points = sum(len(ps.x) for ps in state.points.sets)
        record = {"step": state.step, "stage": state.stage + 1, "loss/total": closure.total}
        record.update({f"loss/{k}": v for k, v in closure.terms.items()})
        record.update({f"weight/{k}": float(v) for k, v in state.weights.items()})
        if closure.techniques is not None:
            record.update(closure.techniques.scalars())
        if state.optimizer is not None:
            group = state.optimizer.param_groups[0]
            if "lr" in group:
                record["lr"] = float(group["lr"])
            damping = getattr(state.optimizer, "damping", None)  # the lm stage's lambda
            if damping is not None:
                record["lm/damping"] = float(damping)
        record["grad_norm"] = grad_norm(state.trainable())
        record.update(self.errors(state.model))
        values = state.parameters.floats() if state.parameters is not None else \
            {k: float(v.detach()) for k, v in state.params.items()}
        record.update({f"param/{k}": v for k, v in values.items()})
        record["time/step_ms"] = 1e3 * seconds
        state.tick()
        record["time/elapsed_s"] = state.elapsed  # training time so far, resumes included
        record["time/points_per_s"] = n_points / seconds if seconds > 0 else math.inf
        self.start(state.step)
        return record

    def errors(self, model: torch.nn.Module) -> dict[str, float]:
        errors = reference_errors(model, self.problem, self.eval_x) if self.eval_ref is None \
            else errors_at(model, self.eval_x, self.eval_ref, self.problem.outputs)
        return error_record(errors)

    @staticmethod
    def validation(record: dict[str, float]) -> float:
        """What best.pt minimises: the mean relative L2 error, or the loss without one."""
        l2 = [v for k, v in record.items() if k.startswith("l2/")]
        return float(np.mean(l2)) if l2 else record["loss/total"]

    def snapshot(self, model: torch.nn.Module) -> FieldSnapshot:
        return snapshot(model, self.problem, self.grid)

    def reference(self) -> dict[str, Any] | None:
        """Where the errors are measured, for metrics.json; None without a reference."""
        table = self.problem.reference
        if table is not None:
            return {"table": table.path, "sha256": table.sha256, "points": len(self.eval_x),
                    "fields": list(table.fields)}
        if self.problem.exact is None:
            return None
        return {"grid": "closed form", "points": len(self.eval_x),
                "fields": list(self.problem.outputs)}


def error_record(errors: dict[str, dict[str, float]]) -> dict[str, float]:
    """``field_errors`` as record keys: l2/u, l1/u, linf/u and l2_pooled."""
    out = {f"{tag}/{f}": v for kind, tag in ERROR_TAGS.items()
           for f, v in errors.get(kind, {}).items()}
    if "pooled" in errors:
        out[POOLED] = errors["pooled"]["l2_relative"]
    return out


def error_metrics(record: dict[str, float]) -> dict[str, Any]:
    """A record's errors as metrics.json has them: per field (``l2_relative_error``,
    ``mean_abs_error``, ``max_abs_error``) and ``l2_relative_error_pooled`` when known."""
    def per(prefix: str) -> dict[str, float]:
        return {k[len(prefix):]: v for k, v in record.items() if k.startswith(prefix)}

    out: dict[str, Any] = {"l2_relative_error": per("l2/"), "mean_abs_error": per("l1/"),
                           "max_abs_error": per("linf/")}
    if POOLED in record:
        out["l2_relative_error_pooled"] = record[POOLED]
    return out


def picture_grid(problem: CompiledProblem, cfg: Config) -> PlotGrid:
    """The grid of the pictures, ``logging.grid`` and ``logging.slice`` checked; an error
    names the key's line, or says the value came from --set."""
    try:
        return plot_grid(problem.shape, problem.inputs, cfg.logging.grid, cfg.logging.slice)
    except ConfigError as exc:
        raise located(exc, cfg) from None


def grad_norm(params: list[torch.nn.Parameter]) -> float:
    grads = [p.grad.detach().reshape(-1) for p in params if p.grad is not None]
    return float(torch.linalg.norm(torch.cat(grads))) if grads else 0.0


def console_extra(record: dict[str, float]) -> dict[str, float]:
    """What is shown next to the loss on the console: the errors (``l2 u``) and the
    learnable parameters (``alpha``)."""
    out = {f"l2 {k.rsplit('/', 1)[1]}": v for k, v in record.items() if k.startswith("l2/")}
    out.update({k[len("param/"):]: v for k, v in record.items() if k.startswith("param/")})
    return out
