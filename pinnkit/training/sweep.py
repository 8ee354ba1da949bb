"""Training a sweep: K runs in one process, their Adam stages in one vectorised step.

``train_group`` takes runs that share a stack key (``sweepgrid.stack_key``: same network
shapes, stages and terms). Each run has its own setup, ``TrainState``, run folder,
monitor, NaN guard and stopping, exactly as ``trainer.fit`` builds them; only the
optimizer step of the leading Adam stages is shared: a ``Stack`` evaluates and
differentiates all K losses at once and ``StackedAdam`` updates all K networks, each with
its own learning rate (its own scheduler, its own rollbacks) and step count. Logging,
best.pt and last.pt of a run are written from its own state, after its slice of the
stack is copied back (``Stack.pull``), by the run folder code a single run uses.

Where the Adam stages end, each run writes last.pt and continues alone through
``trainer.fit(resume=True)``: L-BFGS, ssbfgs/ssbroyden and lm are not vectorised, and the
resume path is exact (tests/test_resume.py), so a run's second-order stages give what its
single training gives. A run that the guard stops (too many rollbacks) is marked failed;
the others go on. Runs whose engine is not ``taylor`` (autograd cannot be vmapped) train
one at a time through ``fit``.
"""

from __future__ import annotations

import copy
import math
import statistics
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..engines.compile import CompileInfo
from ..errors import TrainingError
from ..log import Progress
from ..usercode import calling_user, user_files
from .guard import NanGuard, diagnose, saved_note
from .losses import term_losses
from .monitor import console_extra
from .optimizers import patience, stage_dtypes
from .precision import matmul_precision
from .runfolder import RunFolder
from .setup import Setup
from .stacked import Stack, use_capture
from .state import TrainState
from .stop import StopRequest
from .techniques import Techniques
from .trainer import Closure, Fitted, crossed, finish, fit, new_state, resample_if_due


@dataclass
class Member:
    """One run of a sweep and what its training needs, built as ``fit`` builds them."""

    label: str
    setup: Setup
    run_dir: Path
    state: TrainState = field(init=False)
    folder: RunFolder = field(init=False)
    closure: Closure = field(init=False)
    guard: NanGuard = field(init=False)
    techniques: Techniques = field(init=False)
    engine: Any = field(init=False)
    status: str = "not started"  # then finished, stopped or failed: ...
    fitted: Fitted | None = None
    best_model: torch.nn.Module | None = None
    good: dict[str, Any] | None = None  # the guard's last good state, as stack slices

    def start(self, say: Callable[[str], None]) -> None:
        s = self.setup
        self.state = new_state(s)
        self.engine = s.engine()
        self.folder = RunFolder(self.run_dir, s.config, 0, False)
        self.techniques = Techniques(s.problem, s.config, self.state, self.engine)
        # records use the plain loss: one compile per run would cost more than the records
        self.closure = Closure(self.state, self.engine, s.problem, term_losses,
                               techniques=self.techniques)
        self.guard = NanGuard(say=lambda text: say(f"{self.label}: {text}"),
                              saved=lambda: saved_note(self.run_dir))


def adam_prefix(setup: Setup) -> int:
    """How many leading stages are Adam stages (the part a stack trains)."""
    n = 0
    for stage in setup.config.training.stages:
        if stage.optimizer != "adam":
            break
        n += 1
    return n


def vectorisable(setup: Setup) -> bool:
    """Whether the stack's vmap can run this setup's step: the Taylor engine (nested
    autograd cannot be vmapped) and at least one leading Adam stage."""
    return setup.engine_name == "taylor" and adam_prefix(setup) > 0


def train_group(members: Sequence[Member], progress: bool = True,
                say: Callable[[str], None] = print) -> bool:
    """Train runs of one stack key; True unless a Ctrl-C stopped them (then each run
    folder holds last.pt and can be resumed with ``pinnkit train RUN --resume``)."""
    first = members[0].setup
    if not vectorisable(first):
        for m in members:
            say(f"pinnkit: sweep: training {m.label} alone (engine {first.engine_name})"
                if first.engine_name != "taylor" else f"pinnkit: sweep: training {m.label}")
            try:
                m.fitted = fit(m.setup, m.run_dir, progress=progress)
            except TrainingError as exc:
                m.status = f"failed: {exc}"
                say(f"pinnkit: sweep: {m.label} failed: {exc}")
                continue
            if not m.fitted.metrics["finished"]:
                m.status = "stopped"
                return False
            m.status = "finished"
        return True
    for m in members:
        m.start(say)
        m.status = "training"
    files = user_files(first.problem.problem)
    with calling_user(files=files), matmul_precision(first.config.model.precision), \
            StopRequest(None, lambda: say(
            "pinnkit: sweep: stopping after this step (Ctrl-C again aborts)")) as stop:
        _train_adam(members, progress, stop, say)
    stopped = stop.interrupted
    for m in members:
        if m.status.startswith("failed"):
            continue
        if stopped:
            m.status = "stopped"
            m.folder.checkpoint("last", m.state)
            continue
        _hand_off(m, progress, say)
    return not stopped


def _train_adam(members: Sequence[Member], progress: bool, stop: StopRequest,
                say: Callable[[str], None]) -> None:
    """The leading Adam stages of every run, stacked; each run's own stopping."""
    cfg = members[0].setup.config
    stages, log = cfg.training.stages, cfg.logging
    precisions = stage_dtypes(stages, cfg.model.dtype)
    console = Progress(progress, log.every)
    for m in members:
        m.setup.monitor.start(m.state.step)
    try:
        for index in range(adam_prefix(members[0].setup)):
            live = [m for m in members if not m.status.startswith("failed")]
            if not live:
                return
            stage = stages[index]
            for m in live:
                m.state.set_precision(getattr(torch, precisions[index]))
                m.state.enter_stage(index, stage)
                m.techniques.start_stage(stage)
                m.guard.start(m.state)
            stack = Stack([m.state for m in live], [m.setup.problem for m in live],
                          live[0].engine)
            console.stage(f"sweep: {len(live)} runs, stage {index + 1}/{len(stages)} adam",
                          stage.steps, 0)
            _stage(live, stack, index, console, stop)
            for k in range(len(live)):
                stack.pull(k)
            if stop.interrupted:
                return
            for m in live:
                if index + 1 < len(stages) and not m.status.startswith("failed"):
                    m.state.finish_stage()
    finally:
        console.close()


def _stage(live: Sequence[Member], stack: Stack, index: int, console: Progress,
           stop: StopRequest) -> None:
    cfg = live[0].setup.config
    stage, log, points = cfg.training.stages[index], cfg.logging, cfg.training.points
    wait = patience(stage)
    capture = use_capture(live[0].setup.device, cfg.training.compile)
    active = [True] * len(live)
    while any(active) and not stop(0):
        extra: dict[str, float] | None = None
        for k, m in enumerate(live):
            if active[k]:
                round_ = m.state.points.round
                resample_if_due(m.state, points, stage, m.techniques)
                if m.state.points.round != round_:
                    stack.refill(k)
        pending = _snapshot(stack, live)
        lrs = [m.state.optimizer.param_groups[0]["lr"] if m.state.optimizer else 0.0
               for m in live]
        totals, terms = (stack.captured_step if capture else stack.step)(lrs, active)
        finite = stack.finite()
        for k, m in enumerate(live):
            if not active[k]:
                continue
            s = m.state
            if s.scheduler is not None:
                with warnings.catch_warnings():  # the stack, not this optimizer, stepped
                    warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
                    s.scheduler.step()
            m.closure.total, m.closure.terms = totals[k], terms[k]
            prev = s.step
            s.advance(1)
            if not (math.isfinite(totals[k]) and finite[k]):
                if not _rollback(m, k, stack):
                    active[k] = False
                continue
            m.good = pending[k]
            ended = s.stalled(totals[k], wait) if wait else None
            if crossed(prev, s.step, log.every) or s.stage_step >= stage.steps:
                stack.pull(k)
                monitor = m.setup.monitor
                record = monitor.record(s, m.closure)
                before = s.best
                m.folder.record(s, record, monitor.validation(record))
                if s.best < before:
                    m.best_model = copy.deepcopy(s.model)
                if k == 0:
                    extra = console_extra(record)
            if crossed(prev, s.step, log.images_every):
                stack.pull(k)
                m.folder.images(s.step, m.setup.monitor.snapshot(s.model))
            if crossed(prev, s.step, log.checkpoint_every):
                stack.pull(k)
                m.folder.checkpoint("last", s)
            if ended or s.stage_step >= stage.steps:
                s.end_stage(index, "adam", ended or f"budget used ({stage.steps} steps)")
                active[k] = False
        seen = [t for t in totals if math.isfinite(t)]
        console.update(live[0].state.step, 1, statistics.median(seen) if seen else math.nan,
                       extra)


def _snapshot(stack: Stack, live: Sequence[Member]) -> list[dict[str, Any]]:
    """Each run's state before the step: what the guard rolls back to if the step fails."""
    tensors = [t.detach().clone() for t in [*stack.params.values(), *stack.adam.exp_avg,
                                             *stack.adam.exp_avg_sq]]
    out = []
    for k, m in enumerate(live):
        s = m.state
        opt, sched = s.optimizer, s.scheduler
        out.append({"tensors": tensors, "k": k, "adam_step": stack.adam.steps[k],
                    "lr": [g["lr"] for g in opt.param_groups] if opt else [],
                    "scheduler": sched.state_dict() if sched else None,
                    "step": s.step, "stage_step": s.stage_step})
    return out


def _rollback(m: Member, k: int, stack: Stack) -> bool:
    """Run ``k``'s guard rolls it back to its last good state with a lower learning rate
    (as in a single run); False when the guard gives up (the run is marked failed)."""
    s, good = m.state, m.good
    if good is not None:
        with torch.no_grad():
            for i, t in enumerate([*stack.params.values(), *stack.adam.exp_avg,
                                   *stack.adam.exp_avg_sq]):
                t[k].copy_(good["tensors"][i][k])
        stack.adam.steps[k] = good["adam_step"]
        stack.pull(k)
        saved = NanGuard._copy(s)
        saved["step"], saved["stage_step"] = good["step"], good["stage_step"]
        if saved["optimizer"] is not None:
            for group, lr in zip(saved["optimizer"]["param_groups"], good["lr"], strict=False):
                group["lr"] = lr
        if good["scheduler"] is not None:
            saved["scheduler"] = copy.deepcopy(good["scheduler"])
        m.guard.good = saved
    else:
        m.guard.good = None
    try:
        m.guard.recover(s, m.closure.terms, lambda: diagnose(
            s.model, m.engine, m.setup.problem, s.points.sets))
    except TrainingError as exc:
        m.status = f"failed: {exc}"
        stack.pull(k)
        return False
    stack.push(k)
    return True


def _hand_off(m: Member, progress: bool, say: Callable[[str], None]) -> None:
    """After the stacked Adam stages: the remaining stages alone, or the run's finish."""
    s, cfg = m.state, m.setup.config
    last = len(cfg.training.stages) - 1
    if s.stage == last and (s.stage_step >= cfg.training.stages[last].steps
                            or any(stop["stage"] == last for stop in s.stops)):
        info = CompileInfo(cfg.training.compile, False,
                           "sweep: the stacked Adam step runs eagerly")
        before = s.best
        metrics = finish(s, m.closure, m.setup.monitor, m.folder, m.setup.device,
                         finished=True, compile_info=info)
        if s.best < before:
            m.best_model = copy.deepcopy(s.model)
        m.fitted = Fitted(s.model, m.setup.problem, cfg, metrics, m.run_dir, s.history,
                          m.best_model)
        m.status = "finished"
        return
    m.folder.checkpoint("last", s)  # exactly where a stopped single run would be
    m.folder.board.close()
    say(f"pinnkit: sweep: {m.label}: stage {s.stage + 1}/{len(cfg.training.stages)} "
        f"{cfg.training.stages[s.stage].optimizer} alone")
    try:
        m.fitted = fit(m.setup, m.run_dir, progress=progress, resume=True)
    except TrainingError as exc:
        m.status = f"failed: {exc}"
        say(f"pinnkit: sweep: {m.label} failed: {exc}")
        return
    if m.fitted.best_model is None:
        m.fitted.best_model = m.best_model
    m.status = "finished" if m.fitted.metrics["finished"] else "stopped"
