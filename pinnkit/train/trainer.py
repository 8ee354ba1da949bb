"""The training loop: stages of optimizers over resampled collocation points.

Reads top to bottom: build the model and points, then for each stage step the optimizer,
log, resample and checkpoint. Everything the loop needs arrives as arguments.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..config import Config, to_data, to_yaml
from ..derivatives import make_engine
from ..errors import PinnkitError
from ..log import Progress, TensorBoard
from ..models.mlp import MLP
from ..problem import CompiledProblem
from .checkpoint import save_atomic, write_text_atomic
from .losses import Collocation, term_losses, total_loss
from .metrics import evaluation_points, relative_l2
from .optimizers import OPTIMIZERS, make_scheduler, run_steps

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class TrainingError(PinnkitError):
    """Training could not go on (non-finite loss); exit code 1, earlier checkpoints kept."""


@dataclass
class Run:
    """What ``train`` returns: the trained model, its problem, metrics and run folder."""

    model: torch.nn.Module
    problem: CompiledProblem
    config: Config
    metrics: dict[str, Any]
    run_dir: Path | None
    history: list[dict[str, float]] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PinnkitError(f"training.device is '{name}' but CUDA is not available here. "
                           "Fix: use device: auto or cpu")
    return torch.device(name)


def build_model(problem: CompiledProblem, cfg: Config) -> MLP:
    lo, hi = problem.shape.bounds()
    ff = cfg.model.fourier_features
    torch.manual_seed(cfg.training.seed)
    return MLP(len(problem.inputs), len(problem.outputs), cfg.model.width, cfg.model.depth,
               cfg.model.activation, lo.tolist(), hi.tolist(),
               (ff.features, ff.sigma) if ff else None, cfg.training.seed)


def fit(problem: CompiledProblem, cfg: Config, run_dir: Path | None,
        progress: bool = True) -> Run:
    """Train ``problem`` as ``cfg`` says; write the run folder when ``run_dir`` is given."""
    device, dtype = resolve_device(cfg.training.device), DTYPES[cfg.model.dtype]
    model = build_model(problem, cfg).to(device=device, dtype=dtype)
    problem.parameters.to(device=device, dtype=dtype)  # learnable scalars of the residuals
    engine = make_engine(cfg.model.engine, model)
    points = Collocation(problem, cfg.training.points, cfg.training.seed, device, dtype)
    eval_x = evaluation_points(problem.shape)
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(to_yaml(cfg), run_dir / "config.yaml")
    board = TensorBoard(run_dir if (run_dir and cfg.logging.tensorboard) else None)
    console = Progress(progress, cfg.logging.every)
    history: list[dict[str, float]] = []
    step, start = 0, time.perf_counter()

    def closure_for(opt: torch.optim.Optimizer) -> Any:
        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            losses = term_losses(model, engine, problem, points.sets)
            loss = total_loss(losses, problem)
            loss.backward()
            closure.last = {k: float(v.detach()) for k, v in losses.items()}  # type: ignore
            closure.total = float(loss.detach())  # type: ignore
            return loss
        return closure

    try:
        for s, stage in enumerate(cfg.training.stages):
            groups = problem.parameters.optimizer_groups(model.parameters(), stage.optimizer)
            opt = OPTIMIZERS[stage.optimizer](groups, stage)
            sched = make_scheduler(opt, stage)
            closure = closure_for(opt)
            console.stage(f"stage {s + 1}/{len(cfg.training.stages)} {stage.optimizer}",
                          stage.steps)
            done = 0
            while done < stage.steps:
                every = cfg.training.points.resample_every
                if stage.optimizer == "adam" and every and step and step % every == 0:
                    points.sample(step // every)
                taken = run_steps(opt, closure, stage.steps - done)
                if sched is not None:
                    sched.step()
                if taken == 0:  # L-BFGS converged: nothing left to gain in this stage
                    console.message(f"stage {s + 1}: L-BFGS converged at step {step}")
                    break
                prev, step, done = step, step + taken, done + taken
                loss, terms = closure.total, closure.last
                if not np.isfinite(loss):
                    bad = [k for k, v in terms.items() if not np.isfinite(v)]
                    raise TrainingError(f"the loss became non-finite at step {step} (terms: "
                                        f"{', '.join(bad) or 'total'}); the last checkpoint is"
                                        " kept. Fix: lower the learning rate")
                log_now = step // cfg.logging.every > prev // cfg.logging.every
                if log_now or done >= stage.steps:
                    if taken > 1:  # after a chunk, the last closure call may be a trial point
                        closure()
                        loss, terms = closure.total, closure.last
                    record = _record(step, loss, terms, opt, model, problem, eval_x)
                    history.append(record)
                    board.scalars(step, record)
                console.update(step, taken, loss, {k: v for k, v in history[-1].items()
                                                   if k.startswith(("l2/", "param/"))}
                               if history else {})
                every_ckpt = cfg.logging.checkpoint_every
                if run_dir is not None and step // every_ckpt > prev // every_ckpt:
                    _checkpoint(run_dir, model, cfg, step, loss, problem)
    finally:
        console.close()
    final = term_losses(model, engine, problem, points.sets)
    metrics = {
        "l2_relative_error": relative_l2(model, problem, eval_x),
        "loss": {k: float(v.detach()) for k, v in final.items()},
        "steps": step,
        "wall_time_s": round(time.perf_counter() - start, 3),
        "device": str(device),
        "engine": getattr(engine, "name", type(engine).__name__),
    }
    if len(problem.parameters):
        metrics["parameters"] = problem.parameters.floats()
    if run_dir is not None:
        _checkpoint(run_dir, model, cfg, step, float(total_loss(final, problem).detach()),
                    problem)
        write_text_atomic(json.dumps(metrics, indent=2) + "\n", run_dir / "metrics.json")
    board.close()
    return Run(model, problem, cfg, metrics, run_dir, history)


def _record(step: int, loss: float, terms: dict[str, float], opt: torch.optim.Optimizer,
            model: torch.nn.Module, problem: CompiledProblem, eval_x: np.ndarray
            ) -> dict[str, float]:
    record = {"step": float(step), "loss/total": loss, "lr": opt.param_groups[0]["lr"]}
    record.update({f"loss/{k}": v for k, v in terms.items()})
    record.update({f"l2/{k}": v for k, v in relative_l2(model, problem, eval_x).items()})
    record.update({f"param/{k}": v for k, v in problem.parameters.floats().items()})
    return record


def _checkpoint(run_dir: Path, model: torch.nn.Module, cfg: Config, step: int, loss: float,
                problem: CompiledProblem | None = None) -> None:
    if not np.isfinite(loss):
        return  # never overwrite a good checkpoint with a bad one
    params = problem.parameters.state_dict() if problem is not None else {}
    save_atomic({"model": model.state_dict(), "config": to_data(cfg), "step": step,
                 "loss": loss, "version": __version__, "parameters": params},
                run_dir / "checkpoints" / "last.pt")
