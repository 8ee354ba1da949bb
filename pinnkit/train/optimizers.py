"""Optimizer stages: a plain dict from the config's name to a constructor."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from ..config import StageConfig

DEFAULT_LR = {"adam": 1.0e-3, "lbfgs": 1.0}
LBFGS_CHUNK = 25  # L-BFGS iterations per optimizer.step call


def run_steps(opt: torch.optim.Optimizer, closure: Callable[[], torch.Tensor], limit: int
              ) -> int:
    """Advance ``opt`` by up to ``limit`` iterations; return how many it took.

    Adam takes one. L-BFGS takes up to a chunk and may stop early when it has converged
    (then it returns fewer, possibly 0).
    """
    if not isinstance(opt, torch.optim.LBFGS):
        opt.step(closure)
        return 1
    group = opt.param_groups[0]
    group["max_iter"] = k = min(LBFGS_CHUNK, limit)
    group["max_eval"] = k * 5 // 4 + 1
    state = opt.state[group["params"][0]]
    before = state.get("n_iter", 0)
    opt.step(closure)
    return state.get("n_iter", 0) - before


def _adam(params: Iterable[torch.nn.Parameter], stage: StageConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=stage.lr or DEFAULT_LR["adam"])


def _lbfgs(params: Iterable[torch.nn.Parameter], stage: StageConfig) -> torch.optim.Optimizer:
    # the trainer sets max_iter per call (a chunk of iterations): torch's L-BFGS restarted
    # with max_iter=1 on every call stalls, because its line search state does not carry over
    return torch.optim.LBFGS(params, lr=stage.lr or DEFAULT_LR["lbfgs"], max_iter=LBFGS_CHUNK,
                             history_size=stage.history, line_search_fn="strong_wolfe",
                             tolerance_grad=1e-12, tolerance_change=1e-14)


OPTIMIZERS: dict[str, Callable[[Iterable[torch.nn.Parameter], StageConfig],
                               torch.optim.Optimizer]] = {"adam": _adam, "lbfgs": _lbfgs}


def make_scheduler(opt: torch.optim.Optimizer, stage: StageConfig
                   ) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Stepped once per optimizer call: cosine reaches ``lr_min`` at the stage's end."""
    if stage.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=stage.steps,
                                                          eta_min=stage.lr_min)
    if stage.decay == 1.0:
        return None
    return torch.optim.lr_scheduler.StepLR(opt, step_size=stage.decay_every, gamma=stage.decay)
