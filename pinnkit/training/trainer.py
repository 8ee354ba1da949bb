"""The training loop: stages of optimizers over resampled collocation points.

Reads top to bottom: build the state (model, points, weights) and, when resuming, load it
from the run's last checkpoint; then for each stage step the optimizer, log, resample
and checkpoint. Everything the loop changes lives in one ``TrainState``: that object is
what a checkpoint saves and ``--resume`` loads.

Exact resume. Checkpoints are written only between ``optimizer.step`` calls, and a stop
(``stop_at``, Ctrl-C) also takes effect only there. For Adam that is every step. L-BFGS
runs in chunks of iterations per call (``optimizers.run_steps``), and a chunk's budget of
function evaluations depends on where the chunk starts, so a chunk cut in two would take
a different path: a stop requested inside an L-BFGS stage lands on the next chunk
boundary (e.g. step 110, not 100). Resuming from any checkpoint therefore retraces the
uninterrupted run bit for bit (tests/test_resume.py checks this in float64).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch

from ..config import Config, PointsConfig, StageConfig
from ..engines.compile import CompileInfo, Mode
from ..log import Progress
from ..problem import CompiledProblem
from ..usercode import calling_user, user_files
from .distributed import SINGLE, Dist, all_reduce_mean, average, average_gradients
from .flat import FlatOptimizer
from .gauss_newton import NormalEquations
from .guard import NanGuard, diagnose, saved_note
from .losses import Collocation, compiled_losses, term_losses
from .monitor import Monitor, console_extra, error_metrics
from .optimizers import patience, stage_dtypes
from .precision import matmul_precision
from .runfolder import RunFolder, restore
from .setup import DTYPES, Setup
from .state import TrainState
from .stop import StopRequest
from .techniques import Techniques
from .wholestep import AdamSteps


@dataclass
class Fitted:
    """What ``fit`` returns: the trained model, its problem, metrics and run folder
    (``pinnkit.train`` hands it on as a ``pinnkit.Run``)."""

    model: torch.nn.Module
    problem: CompiledProblem
    config: Config
    metrics: dict[str, Any]
    run_dir: Path | None
    history: list[dict[str, float]] = field(default_factory=list)
    # the network at the lowest validation error of this session (what best.pt holds);
    # metrics["best"] has its step and errors
    best_model: torch.nn.Module | None = None


def new_state(setup: Setup, dist: Dist = SINGLE) -> TrainState:
    """A fresh run's state: the setup's network (pinnkit's MLP as initialised, or the
    user's module, trained in place) on the training device, first points, the configured
    weights."""
    problem, device, dtype = setup.problem, setup.device, setup.dtype
    model = setup.model.to(device=device, dtype=dtype)
    problem.parameters.to(device=device, dtype=dtype)  # learnable scalars of the residuals
    points = Collocation(problem, setup.config.training.points, setup.config.training.seed,
                         device, dtype, dist)
    return TrainState(model, points, {t.name: t.weight for t in problem.terms},
                      params=problem.parameters.raw, parameters=problem.parameters)


class Closure:
    """Weighted loss and its gradients at the current parameters; keeps the last values."""

    def __init__(self, state: TrainState, engine: Any, problem: CompiledProblem,
                 losses: Any = term_losses, dist: Dist = SINGLE,
                 techniques: Techniques | None = None) -> None:
        self.state, self.engine, self.problem, self.dist = state, engine, problem, dist
        self.losses = losses  # term_losses, or its torch.compile'd twin
        self.techniques = techniques  # causal weighting reduces the equations' losses
        self.total = math.nan
        self.terms: dict[str, float] = {}
        self.normal: NormalEquations | None = None  # the lm stage's Gauss-Newton system

    def __call__(self) -> torch.Tensor:
        state = self.state
        for p in state.trainable():  # as optimizer.zero_grad; also between stages
            p.grad = None
        reduce = self.techniques.reduce if self.techniques is not None else None
        losses = self.losses(state.model, self.engine, self.problem, state.points.sets, reduce)
        loss: torch.Tensor = sum(state.weights[n] * v for n, v in losses.items())
        loss.backward()
        self.terms = {k: float(v.detach()) for k, v in losses.items()}
        self.total = float(loss.detach())
        if self.dist.active:  # every rank then takes the same step, line searches included
            average_gradients(state.trainable(), self.dist)
            both = average({**self.terms, "__total__": self.total}, self.dist, loss.device)
            self.total = both.pop("__total__")
            self.terms = both
            return torch.tensor(self.total, dtype=loss.dtype, device=loss.device)
        return loss

    def value(self) -> float:
        """The weighted loss at the current parameters, no gradients; keeps the terms."""
        state = self.state
        reduce = self.techniques.reduce if self.techniques is not None else None
        losses = self.losses(state.model, self.engine, self.problem, state.points.sets, reduce)
        self.terms = {k: float(v.detach()) for k, v in losses.items()}
        self.total = float(sum(state.weights[n] * v for n, v in self.terms.items()))
        if self.dist.active:
            both = average({**self.terms, "__total__": self.total}, self.dist,
                           state.points.device)
            self.total = both.pop("__total__")
            self.terms = both
        return self.total

    def normal_equations(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        """J^T J, J^T R and |R|^2 of the stacked weighted residuals (the lm stage)."""
        state = self.state
        if self.normal is None:
            self.normal = NormalEquations(state.model, state.params, self.engine, self.problem)
        A, g, f = self.normal(state.points.sets, state.weights)
        if self.dist.active:  # every rank solves the same system
            flat = torch.cat([A.reshape(-1), g, g.new_tensor([f])])
            all_reduce_mean(flat, self.dist)
            n = g.numel()
            A, g, f = flat[:n * n].view(n, n), flat[n * n:n * n + n], float(flat[-1])
        return A, g, f


def fit(setup: Setup, run_dir: Path | None, progress: bool = True, *, resume: bool = False,
        stop_at: int | None = None, dist: Dist = SINGLE) -> Fitted:
    """Train the setup's problem as its config says; write the run folder when ``run_dir``
    is given.

    The setup (``build_setup``) holds the network: pinnkit's MLP, or the user's own
    ``torch.nn.Module``, trained in place (``model.*`` keys other than ``dtype`` and
    ``engine`` do not apply to it).

    ``resume`` continues from ``run_dir/checkpoints/last.pt``. ``stop_at`` stops (with a
    checkpoint) at the first optimizer-step boundary at or after that global step, as a
    Ctrl-C does; the run can then be resumed. Under torchrun (``dist``), each rank trains
    on its share of the points and only rank 0 writes the run folder and prints.
    """
    # a Problem method of the user's (residual, exact) that raises, at any step: their
    # error, exit 2, not a traceback; the checkpoints written so far stay as they are
    model = setup.model if setup.user_model else None
    with calling_user(files=user_files(setup.problem.problem, model)), \
            matmul_precision(setup.config.model.precision):  # ieee unless tf32 is asked for
        return _fit(setup, run_dir, progress, resume, stop_at, dist)


def _fit(setup: Setup, run_dir: Path | None, progress: bool, resume: bool,
         stop_at: int | None, dist: Dist) -> Fitted:
    problem, cfg, device, monitor = setup.problem, setup.config, setup.device, setup.monitor
    state = new_state(setup, dist)
    engine = setup.engine()
    if resume:
        assert run_dir is not None, "resume needs a run folder"
        restore(state, run_dir, cfg, device)
    folder = RunFolder(run_dir if dist.main else None, cfg, state.step, resume)
    console = Progress(progress and dist.main, cfg.logging.every)
    # the Taylor forward is a first-order graph, so the loss (and its backward) compiles
    losses_fn, compile_info = compiled_losses(term_losses, engine, state.model, problem,
                                              state.points.sets,
                                              cast(Mode, cfg.training.compile),  # a choice
                                              sum(s.steps for s in cfg.training.stages))
    techniques = Techniques(problem, cfg, state, engine)  # weights, causal, adaptive points
    closure = Closure(state, engine, problem, losses_fn, dist, techniques)
    adam = AdamSteps(setup, state, engine, dist)  # on CUDA: the whole step, captured
    compile_info.step = adam.info
    stages, log = cfg.training.stages, cfg.logging
    precisions = stage_dtypes(stages, cfg.model.dtype)
    last = len(stages) - 1
    if state.stage > last or (state.stage == last and state.stage_step >= stages[last].steps):
        console.message(f"{run_dir}: all {len(stages)} stages are done; nothing to train "
                        "(raise a stage's steps or add a stage to train on)")
    stopped = False
    best_model: torch.nn.Module | None = None
    guard = NanGuard(say=console.message,
                     saved=lambda: saved_note(run_dir if dist.main else None))
    monitor.start(state.step)
    with StopRequest(stop_at, lambda: console.message(
            "pinnkit: stopping after this step (Ctrl-C again aborts)")) as stop:
        try:
            for index in range(state.stage, len(stages)):
                stage = stages[index]
                if state.optimizer is None:
                    state.set_precision(DTYPES[precisions[index]])
                    state.enter_stage(index, stage)
                techniques.start_stage(stage)
                adam.start_stage(stage)
                guard.start(state)
                console.stage(f"stage {index + 1}/{len(stages)} {stage.optimizer}",
                              stage.steps, state.stage_step)
                converged, wait = False, patience(stage)
                while state.stage_step < stage.steps and not stop(state.step):
                    resample_if_due(state, cfg.training.points, stage, techniques)
                    if stage.optimizer == "adam":
                        techniques.before_step(state.step)
                    guard.before_step(state)
                    assert state.optimizer is not None  # the stage's, made when it started
                    taken = adam.run(closure, step_limit(state, stage))
                    if state.scheduler is not None:
                        state.scheduler.step()
                    ended = getattr(state.optimizer, "stop_reason", None)
                    if taken == 0:  # converged: nothing left to gain in this stage
                        ended = ended or "converged: no progress within tolerance"
                    if isinstance(state.optimizer, FlatOptimizer):
                        closure.value()  # the logged loss is the accepted point's
                    prev = state.step
                    state.advance(taken)
                    if not guard.healthy(state, closure.total):
                        guard.recover(state, closure.terms, lambda: diagnose(  # at the
                            state.model, engine, problem, state.points.sets))  # good weights
                        continue
                    guard.keep(state)
                    if wait and not ended:
                        ended = state.stalled(closure.total, wait)
                    if ended:
                        converged = True
                    record = None
                    if crossed(prev, state.step, log.every) or state.stage_step >= stage.steps:
                        record = monitor.record(state, closure)
                        before = state.best
                        folder.record(state, record, monitor.validation(record))
                        if state.best < before:
                            best_model = copy.deepcopy(state.model)
                    if crossed(prev, state.step, log.images_every):
                        folder.images(state.step, monitor.snapshot(state.model))
                    console.update(state.step, taken, closure.total,
                                   None if record is None else console_extra(record))
                    if crossed(prev, state.step, log.checkpoint_every):
                        folder.checkpoint("last", state)
                    if ended:
                        break
                if converged or state.stage_step >= stage.steps:
                    # converged only when ended said why
                    why = cast(str, ended) if converged else f"budget used ({stage.steps} steps)"
                    state.end_stage(index, stage.optimizer, why)
                    if converged:
                        console.message(f"stage {index + 1} ({stage.optimizer}) ended at "
                                        f"step {state.step}: {why}")
                if state.stage_step < stage.steps and not converged:
                    stopped = True  # last.pt below keeps this stage's optimizer state
                    break
                if index + 1 < len(stages):  # the last stage's state stays: it can be extended
                    state.finish_stage()
        finally:
            console.close()
    before = state.best
    metrics = finish(state, closure, monitor, folder, device, finished=not stopped,
                     compile_info=compile_info)
    if state.best < before:
        best_model = copy.deepcopy(state.model)  # the final record was the best
    return Fitted(state.model, problem, cfg, metrics, run_dir, state.history, best_model)


def crossed(before: int, after: int, every: int) -> bool:
    """Whether a multiple of ``every`` lies in (before, after]: chunks skip exact steps."""
    return after // every > before // every


def resample_if_due(state: TrainState, cfg: PointsConfig, stage: StageConfig,
                    techniques: Techniques) -> None:
    """Fresh points every ``resample_every`` steps: in Adam stages as ``training.points``
    says; in second-order stages only as the stage says, restarting the optimizer's
    curvature (a line search or a Gauss-Newton system needs fixed points between)."""
    if stage.optimizer == "adam":
        every = cfg.resample_every
        if every and state.step and state.step % every == 0:
            techniques.resample(state.step // every)
        return
    every = stage.resample_every
    if every and state.stage_step and state.stage_step % every == 0:
        techniques.resample(state.points.round + 1)
        reset = getattr(state.optimizer, "reset", None)
        if reset is not None:
            reset()
        elif state.optimizer is not None:  # torch's L-BFGS: drop its history
            state.optimizer.state.clear()
        state.stage_best, state.stage_best_step = math.inf, state.stage_step


def step_limit(state: TrainState, stage: StageConfig) -> int:
    """Iterations the next optimizer call may take: to the stage's end or next resample."""
    left = stage.steps - state.stage_step
    if stage.optimizer != "adam" and stage.resample_every:
        left = min(left, stage.resample_every - state.stage_step % stage.resample_every)
    return left


def finish(state: TrainState, closure: Closure, monitor: Monitor, folder: RunFolder,
           device: torch.device, finished: bool, compile_info: CompileInfo | None = None
           ) -> dict[str, Any]:
    """Final record, images, metrics.json and last.pt; returns the metrics."""
    if not state.history or state.history[-1]["step"] != state.step:
        record = monitor.record(state, closure)  # the metrics below are this record's numbers
        folder.record(state, record, monitor.validation(record))
    folder.images(state.step, monitor.snapshot(state.model))
    last = state.history[-1]

    def per(prefix: str, record: dict[str, float] = last) -> dict[str, float]:
        return {k[len(prefix):]: v for k, v in record.items() if k.startswith(prefix)}

    losses = per("loss/")
    losses.pop("total")
    state.tick()
    metrics: dict[str, Any] = {
        **error_metrics(last),  # l2_relative_error, mean_abs_error, max_abs_error, pooled
        "reference": monitor.reference(),
        "loss": losses,
        "steps": state.step,
        "wall_time_s": round(state.elapsed, 3),
        "device": str(device),
        "engine": getattr(closure.engine, "name", type(closure.engine).__name__),
        "finished": finished,
    }
    if compile_info is not None:
        metrics["compile"] = {"enabled": compile_info.compiled, "reason": compile_info.reason,
                              "seconds": compile_info.compile_seconds,
                              "fallback": compile_info.fallback}
        if compile_info.step is not None:  # the Adam stages' step (training/wholestep.py)
            metrics["compile"]["step"] = compile_info.step
    if len(state.params):
        metrics["parameters"] = per("param/")
    best = min(state.history, key=lambda r: v if math.isfinite(v := Monitor.validation(r))
               else math.inf)
    metrics["best"] = {"step": int(best["step"]), "checkpoint": "best.pt",
                       **error_metrics(best)}
    if len(state.params):
        metrics["best"]["parameters"] = per("param/", best)
    metrics["stages"] = [dict(s) for s in state.stops]
    folder.finish(state, metrics)
    return metrics
