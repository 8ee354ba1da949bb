"""Everything a training run is at one moment, as one object that checkpoints save and load.

``TrainState`` holds the model, the learnable problem parameters, the collocation points,
the current stage's optimizer and scheduler, the step counters, the loss weights, the
best validation value and the logged history. Later features register more state in
``stateful`` (any object with ``state_dict``/``load_state_dict``, e.g. an adaptive
weighting scheme) instead of adding new arguments to the loop.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np
import torch

from ..config import StageConfig
from ..errors import PinnkitError
from .losses import Collocation
from .optimizers import OPTIMIZERS, make_scheduler


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...

STALL_RTOL = 1e-4  # a stage has stalled when its loss has not fallen by this fraction


def model_class(model: torch.nn.Module) -> str:
    """``module.Class`` of a network, stored in checkpoints: a run trained with the user's
    own module cannot be resumed or loaded into pinnkit's MLP (or another module)."""
    return f"{type(model).__module__}.{type(model).__qualname__}"


def check_model_class(data: dict[str, Any], model: torch.nn.Module) -> None:
    saved, now = data.get("model_class", "pinnkit.models.mlp.MLP"), model_class(model)
    if saved == now:
        return
    if now == "pinnkit.models.mlp.MLP":
        fix = ("pass the same module again: pinnkit.train(problem, model=..., resume=True) "
               "or pinnkit.load(run, model=...); the CLI can only rebuild pinnkit's MLP")
    else:
        fix = "pass a module of the class the run was trained with"
    raise PinnkitError(f"the checkpoint was trained with a {saved}, not a {now}. Fix: {fix}")


@dataclass
class TrainState:
    """The run's mutable state; ``state_dict()`` is what a checkpoint stores."""

    model: torch.nn.Module
    points: Collocation
    weights: dict[str, float]               # loss weight per term; adaptive schemes update it
    params: torch.nn.ParameterDict = field(default_factory=torch.nn.ParameterDict)  # learnable
    optimizer: torch.optim.Optimizer | None = None  # the current stage's; None between stages
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    stage: int = 0                          # index of the current stage
    stage_step: int = 0                     # steps done in the current stage
    step: int = 0                           # steps done in all stages
    best: float = float("inf")             # best validation value so far (for best.pt)
    elapsed: float = 0.0                    # seconds trained, all sessions (see tick)
    history: list[dict[str, float]] = field(default_factory=list)  # one record per log
    stateful: dict[str, Stateful] = field(default_factory=dict)  # extra checkpointed objects
    parameters: Any = None                  # the problem's Parameters (values, lr groups)
    stage_best: float = float("inf")        # lowest loss of the current stage so far
    stage_best_step: int = 0                # the stage step where it was reached
    stops: list[dict[str, Any]] = field(default_factory=list)  # per ended stage: why
    clock: float = field(default_factory=time.perf_counter, repr=False)  # last tick()

    def tick(self) -> None:
        """Add the time since the last tick to ``elapsed`` (it survives resumes)."""
        now = time.perf_counter()
        self.elapsed += now - self.clock
        self.clock = now

    def trainable(self) -> list[torch.nn.Parameter]:
        """What the optimizers update: the network's weights and the problem's parameters."""
        return [*self.model.parameters(), *self.params.parameters()]

    def enter_stage(self, index: int, stage: StageConfig) -> None:
        """Build the optimizer of stage ``index`` (its state, if resuming, is loaded after)."""
        self.stage = index
        groups: Any = self.trainable() if self.parameters is None else \
            self.parameters.optimizer_groups(self.model.parameters(), stage.optimizer)
        self.optimizer = OPTIMIZERS[stage.optimizer](groups, stage)
        self.scheduler = make_scheduler(self.optimizer, stage)

    def finish_stage(self) -> None:
        self.stage, self.stage_step = self.stage + 1, 0
        self.optimizer = self.scheduler = None
        self.stage_best, self.stage_best_step = float("inf"), 0

    def end_stage(self, index: int, optimizer: str, reason: str) -> None:
        """Record why stage ``index`` ended (kept in checkpoints and metrics.json)."""
        self.stops = [s for s in self.stops if s["stage"] != index]
        self.stops.append({"stage": index, "optimizer": optimizer, "step": self.step,
                           "reason": reason})

    def stalled(self, loss: float, patience: int) -> str | None:
        """Why the stage should end, when ``loss`` has not gone below the stage's best for
        ``patience`` steps (a float32 L-BFGS can sit at a bit-identical loss for ever)."""
        if loss < self.stage_best * (1.0 - STALL_RTOL) or self.stage_best == float("inf"):
            self.stage_best, self.stage_best_step = loss, self.stage_step
            return None
        if self.stage_step - self.stage_best_step >= patience:
            return (f"stalled: the loss has not gone {STALL_RTOL:g} below {self.stage_best:.6g} "
                    f"in {self.stage_step - self.stage_best_step} steps")
        return None

    def set_precision(self, dtype: torch.dtype) -> None:
        """Cast the network, the learnable parameters and the points to ``dtype`` (a stage
        with its own ``dtype``); the values are kept, up to rounding when narrowing."""
        if next(self.model.parameters()).dtype == dtype:
            return
        self.model.to(dtype=dtype)
        self.params.to(dtype=dtype)
        self.points.to(dtype)

    def advance(self, taken: int) -> None:
        self.step += taken
        self.stage_step += taken

    def state_dict(self) -> dict[str, Any]:
        """Plain data and tensors only, so checkpoints load with ``weights_only=True``."""
        return {
            "model": self.model.state_dict(),
            "model_class": model_class(self.model),
            "params": self.params.state_dict(),
            "points": self.points.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "stage": self.stage, "stage_step": self.stage_step, "step": self.step,
            "weights": dict(self.weights), "best": self.best, "elapsed": self.elapsed,
            "history": [dict(r) for r in self.history],
            "stage_best": self.stage_best, "stage_best_step": self.stage_best_step,
            "stops": [dict(s) for s in self.stops],
            "stateful": {k: v.state_dict() for k, v in self.stateful.items()},
            "rng": rng_state(),
        }

    def load_state_dict(self, data: dict[str, Any], stages: tuple[StageConfig, ...]) -> None:
        """Restore a checkpoint into this freshly built state (same problem and model)."""
        check_model_class(data, self.model)
        saved = next((v for v in data["model"].values() if v.is_floating_point()), None)
        if saved is not None:  # a stage with its own dtype was running: train on in it
            self.set_precision(saved.dtype)
        self.model.load_state_dict(data["model"])
        self.params.load_state_dict(data["params"])
        self.points.load_state_dict(data["points"])
        self.stage, self.stage_step, self.step = data["stage"], data["stage_step"], data["step"]
        self.weights.update(data["weights"])
        self.best, self.elapsed = float(data["best"]), float(data["elapsed"])
        self.history = [dict(r) for r in data["history"]]
        self.stage_best = float(data.get("stage_best", float("inf")))
        self.stage_best_step = int(data.get("stage_best_step", 0))
        self.stops = [dict(s) for s in data.get("stops", [])]
        for name, sub in data["stateful"].items():
            if name in self.stateful:
                self.stateful[name].load_state_dict(sub)
        if data["optimizer"] is not None and self.stage < len(stages):
            self.enter_stage(self.stage, stages[self.stage])
            assert self.optimizer is not None
            self.optimizer.load_state_dict(data["optimizer"])
            if self.scheduler is not None and data["scheduler"] is not None:
                self.scheduler.load_state_dict(data["scheduler"])
        set_rng_state(data["rng"])


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and Python random states, as tensors and plain data."""
    kind, keys, pos, has_gauss, cached = cast(  # the legacy tuple (legacy=True, the default)
        "tuple[str, np.ndarray, int, int, float]", np.random.get_state())
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.as_tensor(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "cached": cached},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
