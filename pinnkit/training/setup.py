"""The setup stage: a compiled problem and its config become the built, checked objects
that checks and training both start from.

``build_setup`` is the one place that turns the training side of a config into objects:
the device, the network (pinnkit's MLP, initialised from ``training.seed``, or the user's
own module), the stages' limits, the derivative engine, the technique options, the
monitor's validation points and picture grid, the reference's finiteness and the check
levels. Each raises its ConfigError located at the key's line here, once. ``pinnkit
check`` and ``pinnkit train`` run the same ``build_setup`` (the checks then read the same
network the loop will train), so a config training would refuse is refused by check, and
nothing is built twice per training.

(``pinnkit.setup.resolve`` is the step before: YAML text or a Problem object -> compiled
problem and validated config.)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..checks import check_levels
from ..config import Config, located
from ..engines import ENGINES, Engine, make_engine
from ..errors import ConfigError, PinnkitError, line_of
from ..models.composite import build_network
from ..problem import CompiledProblem
from .architecture import output_transform, periodic_columns
from .distributed import SINGLE, Dist, device_for
from .losses import residual_rows
from .metrics import check_reference
from .monitor import Monitor
from .optimizers import check_stages
from .sizes import check_sizes
from .techniques import validate_options

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class Setup:
    """What one training (or one ``pinnkit check``) works on; built by ``build_setup``."""

    problem: CompiledProblem
    config: Config
    device: torch.device      # where training runs (this rank's GPU under torchrun)
    dtype: torch.dtype        # model.dtype; a stage's dtype may promote it later
    model: torch.nn.Module    # the network to train, on the CPU until training moves it
    user_model: bool          # the user's own module (trained in place), not pinnkit's MLP
    engine_name: str          # the derivative engine model.engine resolved to
    monitor: Monitor          # validation points and picture grid
    levels: dict[str, str]    # checks: {name: warn|error|off}

    def engine(self) -> Engine:
        """A fresh engine of the resolved kind (engines cache plans per instance)."""
        return ENGINES[self.engine_name]()

    def check_model(self) -> torch.nn.Module:
        """A copy of the network for the checks, on the CPU in the training dtype: the
        checks evaluate small samples and must not touch the module that will train."""
        return copy.deepcopy(self.model).cpu().to(dtype=self.dtype)


def build_setup(problem: CompiledProblem, cfg: Config, *, model: torch.nn.Module | None = None,
                dist: Dist = SINGLE) -> Setup:
    """Everything training builds from ``cfg`` before its first step, checked and located.

    ``model``: the user's module, trained in place of pinnkit's MLP (checked to map the
    inputs to the outputs). Under torchrun (``dist``), ``device: auto`` is this rank's GPU.
    """
    validate_options(problem, cfg)  # technique keys
    try:
        device = resolve_device(device_for(cfg.training.device, dist),
                                line_of(cfg.lines, "training.device"))
        check_sizes(problem, cfg, device)  # before any allocation
    except ConfigError as exc:
        raise located(exc, cfg) from None
    dtype = DTYPES[cfg.model.dtype]
    net = build_model(problem, cfg) if model is None else checked_user_model(model, problem)
    validate_stages(problem, cfg, net, device)
    try:
        engine = make_engine(cfg.model.engine, net)
        check_engine_stages(getattr(engine, "name", cfg.model.engine), cfg)
    except ConfigError as exc:
        raise located(exc, cfg) from None
    monitor = Monitor(problem, cfg)  # logging.slice and logging.grid, located
    key = "exact.{field}" if isinstance(problem.problem.exact, Mapping) else "exact"
    check_reference(problem, key, line_of(cfg.lines, "exact"), cfg.source or None)
    return Setup(problem, cfg, device, dtype, net, model is not None,
                 getattr(engine, "name", cfg.model.engine), monitor, check_levels(cfg))


def check_engine_stages(engine: str, cfg: Config) -> None:
    """lm builds its Jacobian with ``torch.func`` (vmap over points of jacrev), which the
    autograd engine's nested ``torch.autograd.grad`` cannot run under."""
    if engine != "autograd":
        return
    for i, stage in enumerate(cfg.training.stages):
        if stage.optimizer == "lm":
            why = "model.engine is autograd" if cfg.model.engine == "autograd" else \
                "the network has a layer the Taylor engine has no rule for, so derivatives " \
                "come from autograd"
            raise ConfigError(f"training.stages.{i}.optimizer", f"lm, but {why}; lm builds "
                              "its Jacobian with torch.func, under which autograd's nested "
                              "derivatives cannot run", "a second-order stage the autograd "
                              "engine can drive: lbfgs, ssbfgs or ssbroyden",
                              "use optimizer: ssbroyden here, or the taylor engine (pinnkit's "
                              "network, or layers it has rules for)")


def checked_user_model(model: Any, problem: CompiledProblem) -> torch.nn.Module:
    """The user's module, after checking, on a CPU copy, that it maps a batch of inputs to
    one column per output (the module itself is neither moved nor cast here)."""
    if not isinstance(model, torch.nn.Module):
        raise PinnkitError(f"model= is a {type(model).__name__}; expected a torch.nn.Module "
                           f"from {len(problem.inputs)} input columns to "
                           f"{len(problem.outputs)} output columns")
    probe_model = copy.deepcopy(model).cpu()
    probe = next((p for p in probe_model.parameters() if p.is_floating_point()), None)
    x = torch.zeros(2, len(problem.inputs), dtype=probe.dtype if probe is not None else None)
    try:
        y = probe_model(x)
    except Exception as exc:  # noqa: BLE001 - the user's module may raise anything
        raise PinnkitError(f"model= raised {type(exc).__name__} on a batch of shape "
                           f"{tuple(x.shape)} ({', '.join(problem.inputs)}): {exc}. Fix: a "
                           f"module from (N, {len(problem.inputs)}) to "
                           f"(N, {len(problem.outputs)})") from None
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (2, len(problem.outputs)):
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise PinnkitError(f"model= maps (2, {len(problem.inputs)}) to {shape}; expected "
                           f"(2, {len(problem.outputs)}) for outputs "
                           f"{', '.join(problem.outputs)}")
    return model


def resolve_device(name: str, line: int | None = None) -> torch.device:
    """The torch device for ``training.device``; one that this machine lacks (CUDA, a GPU
    index past the last, Apple's mps) is a config error here, not a crash at the first
    tensor moved there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    missing = None
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.partition(":")[2] or 0)
        if not count:
            missing = "CUDA is not available here"
        elif index >= count:
            missing = f"this machine has {count} CUDA device{'s' if count > 1 else ''} " \
                f"(cuda:0 to cuda:{count - 1})"
    elif name == "mps" and not torch.backends.mps.is_available():
        missing = "Apple's mps backend is not available here"
    if missing:
        raise ConfigError("training.device", f"'{name}', but {missing}",
                          "a device this machine has", "use device: auto (cuda when "
                          "available, else cpu) or cpu", line)
    return torch.device(name)


def build_model(problem: CompiledProblem, cfg: Config) -> torch.nn.Module:
    """pinnkit's MLP, or for outputs over some inputs only a Composite of MLPs."""
    lo, hi = problem.shape.bounds()
    ff = cfg.model.fourier_features
    try:  # model.periodic and model.transform, checked against the problem
        periodic, transform = periodic_columns(problem, cfg), output_transform(problem, cfg)
    except ConfigError as exc:
        raise located(exc, cfg) from None
    torch.manual_seed(cfg.training.seed)
    return build_network(len(problem.inputs), problem.outputs, problem.depend_columns,
                         cfg.model.width, cfg.model.depth, cfg.model.activation, lo.tolist(),
                         hi.tolist(), (ff.features, ff.sigma) if ff else None,
                         cfg.training.seed, periodic, transform)


def validate_stages(problem: CompiledProblem, cfg: Config, model: torch.nn.Module,
                    device: torch.device) -> None:
    """The second-order stages' limits (dense matrices, memory), located in the YAML."""
    n_params = sum(p.numel() for p in model.parameters()) + len(problem.parameters)
    pts = cfg.training.points
    rows = residual_rows(problem, pts)
    try:
        check_stages(cfg.training.stages, cfg.model.dtype, n_params, rows,
                     [t.name for t in problem.terms if not t.squared], device)
    except ConfigError as exc:
        raise located(exc, cfg) from None
