"""The training techniques the loop calls at fixed points, behind one small object.

``Techniques`` bundles adaptive loss weights (``training.balance``), causal weighting
(``training.causal``) and residual-based resampling (``training.points.adaptive``). The
trainer calls ``start_stage`` when a stage begins, ``before_step`` before each Adam step
and ``resample`` at each resampling round; with none of the options set these reduce to
the plain mean-square losses, the static weights and plain resampling.

All of them act in Adam stages only. L-BFGS builds curvature pairs and line searches on
one fixed objective, so it gets fixed points, frozen weights and the plain mean square.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import Config, StageConfig, located
from ..errors import ConfigError
from ..problem import CompiledProblem
from .adaptive import AdaptiveSampler, check_adaptive
from .causal import CausalWeights, time_column
from .losses import Reduce, term_losses
from .optimizers import DEFAULT_LR
from .state import TrainState
from .weights import Balancer


def validate_options(problem: CompiledProblem, cfg: Config) -> None:
    """Every ConfigError the technique options would raise at training start, with the
    key's line (or its nearest parent's) and the file. (``build_model`` checks the model
    options ``model.periodic`` and ``model.transform`` the same way.)"""
    try:
        _validate(problem, cfg)
    except ConfigError as exc:
        raise located(exc, cfg) from None


def _validate(problem: CompiledProblem, cfg: Config) -> None:
    if cfg.training.causal is not None:
        time_column(problem, cfg)
        if not any(t.kind == "equation" and t.selector is None for t in problem.terms):
            raise ConfigError("training.causal", "is set but the problem has no equations "
                              "on interior points to weight", "equations: {...}",
                              "remove training.causal")
    check_adaptive(cfg)
    balance = cfg.training.balance
    if balance is not None and not 0 <= balance.momentum < 1:
        # at 1 the weights never move; above, they grow with alternating sign, and a
        # negative weight makes training maximise its residual
        raise ConfigError("training.balance.momentum", f"found {balance.momentum:g}",
                          "a number in [0, 1): the share of the old weight kept at each update",
                          "use 0.9 (the default), or 0 to take each measured weight as it is")
    for i, stage in enumerate(cfg.training.stages):
        if stage.schedule == "cosine" and stage.optimizer != "adam":
            key = f"training.stages.{i}.schedule"
            raise ConfigError(key, f"cosine on an {stage.optimizer} stage",
                              "schedule: cosine on adam stages only (L-BFGS sets its own "
                              "step length by line search)", "remove schedule from this stage")
        lr = stage.lr if stage.lr is not None else DEFAULT_LR[stage.optimizer]
        if stage.schedule == "cosine" and stage.lr_min > lr:
            raise ConfigError(f"training.stages.{i}.lr_min", f"found {stage.lr_min:g}, above "
                              f"the stage's lr {lr:g} (the rate would rise over the stage)",
                              "lr_min <= lr: cosine lowers the rate from lr to lr_min",
                              f"use e.g. lr_min: {lr / 100:g}, or swap lr and lr_min")


class Techniques:
    """Adaptive weights, causal weighting and adaptive resampling for one training run."""

    def __init__(self, problem: CompiledProblem, cfg: Config, state: TrainState,
                 engine: Callable) -> None:
        # the options were validated, with their lines, before the state was built
        self.problem, self.state, self.engine = problem, state, engine
        t = cfg.training
        # the balancer moves state.weights, which checkpoints save and resumes restore
        self.balancer = Balancer(problem, t.balance, state.weights) \
            if t.balance is not None else None
        self.causal = CausalWeights(problem, t.causal, time_column(problem, cfg)) \
            if t.causal is not None else None
        self.adaptive = AdaptiveSampler(problem, t.points.adaptive, state.points) \
            if t.points.adaptive is not None else None
        self.adam = True

    def start_stage(self, stage: StageConfig) -> None:
        self.adam = stage.optimizer == "adam"

    @property
    def reduce(self) -> Reduce | None:
        """What the closure reduces the equations' per-point losses with (causal: Adam)."""
        return self.causal if self.adam else None

    def before_step(self, step: int) -> None:
        """Update the adaptive weights when due (Adam stages only)."""
        if self.adam and self.balancer is not None and self.balancer.due(step):
            s = self.state
            losses = term_losses(s.model, self.engine, self.problem, s.points.sets,
                                 self.reduce)
            self.balancer.update(losses, s.model.parameters())

    def resample(self, round_: int) -> None:
        if self.adaptive is not None:
            self.adaptive(self.state.model, self.engine, round_)
        else:
            self.state.points.sample(round_)

    def scalars(self) -> dict[str, float]:
        """Technique state for logs (the weights are logged with every record anyway)."""
        if self.causal is not None and self.causal.last is not None:
            return {"causal/min_weight": self.causal.min_weight()}
        return {}
