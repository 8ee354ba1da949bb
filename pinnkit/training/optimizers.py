"""Optimizer stages: a plain dict from the config's name to a constructor."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import torch

from ..config import StageConfig
from ..errors import ConfigError
from .flat import FlatOptimizer
from .gauss_newton import ROWS, LevenbergMarquardt
from .quasi_newton import SelfScaledQuasiNewton

DEFAULT_LR = {"adam": 1.0e-3, "lbfgs": 1.0, "ssbfgs": 1.0, "ssbroyden": 1.0, "lm": 1.0}
LBFGS_CHUNK = 25  # L-BFGS iterations per optimizer.step call
CHUNK = {"lbfgs": LBFGS_CHUNK, "ssbfgs": 25, "ssbroyden": 25, "lm": 5}  # iterations per call
SECOND_ORDER = ("lbfgs", "ssbfgs", "ssbroyden", "lm")
PATIENCE = 200  # default: steps without a lower loss before a second-order stage ends
MAX_DENSE = 10_000  # ssbfgs/ssbroyden: most parameters (a P x P matrix, 800 MB in float64)


def run_steps(opt: torch.optim.Optimizer, closure: Callable[[], torch.Tensor], limit: int
              ) -> int:
    """Advance ``opt`` by up to ``limit`` iterations; return how many it took.

    Adam takes one. L-BFGS takes up to a chunk and may stop early when it has converged
    (then it returns fewer, possibly 0).
    """
    if isinstance(opt, FlatOptimizer):
        opt.param_groups[0]["max_iter"] = min(opt.chunk, limit)
        before = opt.state[opt.params[0]].get("n_iter", 0)
        opt.step(closure)  # type: ignore[arg-type]  # torch's stub: a closure returns float
        return opt.state[opt.params[0]].get("n_iter", 0) - before
    if not isinstance(opt, torch.optim.LBFGS):
        opt.step(closure)  # type: ignore[arg-type]  # torch's stub: a closure returns float
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


def _flat_groups(params: Iterable[Any]) -> list[torch.nn.Parameter]:
    """One list of tensors: the dense methods take one step for all (no per-group lr)."""
    out: list[torch.nn.Parameter] = []
    for p in params:
        out.extend(p["params"] if isinstance(p, dict) else [p])
    return out


def _ssbfgs(params: Iterable[torch.nn.Parameter], stage: StageConfig) -> torch.optim.Optimizer:
    return SelfScaledQuasiNewton(_flat_groups(params), "ssbfgs", stage.lr or 1.0, CHUNK["ssbfgs"])


def _ssbroyden(params: Iterable[torch.nn.Parameter], stage: StageConfig
               ) -> torch.optim.Optimizer:
    return SelfScaledQuasiNewton(_flat_groups(params), "ssbroyden", stage.lr or 1.0,
                                 CHUNK["ssbroyden"])


def _lm(params: Iterable[torch.nn.Parameter], stage: StageConfig) -> torch.optim.Optimizer:
    return LevenbergMarquardt(_flat_groups(params), stage.damping, CHUNK["lm"])


OPTIMIZERS: dict[str, Callable[[Iterable[torch.nn.Parameter], StageConfig],
                               torch.optim.Optimizer]] = {
    "adam": _adam, "lbfgs": _lbfgs, "ssbfgs": _ssbfgs, "ssbroyden": _ssbroyden, "lm": _lm}


def patience(stage: StageConfig) -> int:
    """Steps without a lower loss after which the stage ends (0: never)."""
    if stage.patience:
        return stage.patience
    return PATIENCE if stage.optimizer in SECOND_ORDER else 0


def stage_dtypes(stages: Iterable[StageConfig], model_dtype: str) -> list[str]:
    """The precision each stage trains in: its own ``dtype``, else the one before it."""
    out, current = [], model_dtype
    for stage in stages:
        current = stage.dtype or current
        out.append(current)
    return out


def check_stages(stages: tuple[StageConfig, ...], model_dtype: str, n_params: int,
                 n_rows: int, unsquared: list[str], device: torch.device) -> None:
    """What the dense second-order stages need, refused before training when not met:
    ``n_params`` weights and learnable parameters, ``n_rows`` residual values per step."""
    for i, (stage, dtype) in enumerate(zip(stages, stage_dtypes(stages, model_dtype),
                                           strict=True)):
        key = f"training.stages.{i}.optimizer"
        size = 8 if dtype == "float64" else 4
        if stage.optimizer in ("ssbfgs", "ssbroyden") and n_params > MAX_DENSE:
            raise ConfigError(key, f"{stage.optimizer} keeps a dense {n_params} x {n_params} "
                              f"matrix ({_size(n_params**2 * size)}) for this network's "
                              f"{n_params} parameters", f"at most {MAX_DENSE} parameters",
                              "use a smaller network (e.g. model: {width: 30, depth: 3} has "
                              "about 2000 for 2 inputs), or optimizer: lbfgs")
        if stage.optimizer != "lm":
            continue
        if unsquared:
            raise ConfigError(key, "lm minimises a sum of squared residuals, but the "
                              f"objective term(s) {', '.join(unsquared)} are used as written",
                              "equations, conditions and data only",
                              "use optimizer: ssbroyden or lbfgs for an objective")
        rows = min(n_rows, ROWS * 2)
        need = (2 * rows * n_params + 3 * n_params**2) * size
        have = available_memory(device)
        if have is not None and need > 0.8 * have:
            raise ConfigError(key, f"lm needs about {_size(need)} for {n_params} parameters "
                              f"and {n_rows} residual values (J chunks and J^T J), but "
                              f"{device.type} memory has {_size(have)} free",
                              "a problem whose Gauss-Newton system fits in memory",
                              "use a smaller network, or optimizer: ssbroyden (P x P only) or "
                              "lbfgs")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def available_memory(device: torch.device) -> int | None:
    """Free bytes on ``device`` (CUDA: the driver's count; CPU: MemAvailable), or None."""
    if device.type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def make_scheduler(opt: torch.optim.Optimizer, stage: StageConfig
                   ) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Stepped once per optimizer call: cosine reaches ``lr_min`` at the stage's end."""
    if stage.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=stage.steps,
                                                          eta_min=stage.lr_min)
    if stage.decay == 1.0:
        return None
    return torch.optim.lr_scheduler.StepLR(opt, step_size=stage.decay_every, gamma=stage.decay)
