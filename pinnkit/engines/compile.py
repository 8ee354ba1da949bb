"""Optional ``torch.compile`` of a training-step function, with a clean eager fallback.

The Taylor engine builds a first-order graph of many small elementwise ops (Faà di Bruno
terms); compiling the loss fuses them into a few loops per layer, for both the forward
and the AOTAutograd backward. Compilation costs tens of seconds on a CPU, so ``auto``
only compiles long runs, and every failure degrades to the eager function with a warning
instead of stopping the training.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import torch

#: ``auto`` compiles runs of at least this many steps: below it, compile time dominates.
AUTO_MIN_STEPS = 2000
#: dynamo recompiles a function at most this many times (new shapes, new stage settings)
RECOMPILE_LIMIT = 64

#: ``graph`` compiles the loss as ``auto`` does; it selects the whole-step Adam path
#: (training/wholestep.py) on every device, the CPU included, where it runs eagerly
Mode = Literal["auto", "true", "false", "graph"] | bool


@dataclass
class CompileInfo:
    """What ``maybe_compile`` decided and what happened at the first call."""

    requested: str
    enabled: bool
    reason: str
    compile_seconds: float | None = None  # first call: tracing + codegen + one run
    fallback: str | None = None  # set when compilation failed and eager took over
    graph_breaks: int = 0
    graphs: int = 0
    warnings: list[str] = field(default_factory=list)
    # what ran the Adam steps (training/wholestep.py): path, reason, compile seconds
    step: dict[str, Any] | None = None

    @property
    def compiled(self) -> bool:
        """True when calls really run compiled code."""
        return self.enabled and self.fallback is None


_UNTRACED: list[tuple[type, str, Callable[..., Any]]] = []


_F = TypeVar("_F", bound=Callable[..., Any])

if TYPE_CHECKING:  # to a type checker the decorated method keeps its own signature
    def untraced(fn: _F) -> _F: ...
else:
    class untraced:  # noqa: N801 - used as a decorator, like torch.compiler.disable
        """Mark a method as never traced by torch.compile, without importing torch._dynamo.

        ``torch.compiler.disable`` imports dynamo (1.7 s) when the class body runs, so every
        command paid for the compiler whether it compiled or not. This decorator leaves the
        plain function on the class and records it; :func:`maybe_compile` wraps the recorded
        methods with ``torch._dynamo.disable`` before the first compiled call.
        """

        def __init__(self, fn: Callable[..., Any]) -> None:
            self.fn = fn

        def __set_name__(self, owner: type, name: str) -> None:
            setattr(owner, name, self.fn)
            _UNTRACED.append((owner, name, self.fn))


def _disable_untraced() -> None:
    import torch._dynamo as dynamo

    while _UNTRACED:
        owner, name, fn = _UNTRACED.pop()
        setattr(owner, name, dynamo.disable(fn))


def compile_available() -> tuple[bool, str]:
    """Whether torch.compile can work here, and if not why."""
    try:
        import torch._dynamo as dynamo
    except Exception as exc:  # noqa: BLE001  # pragma: no cover - broken installs
        return False, f"torch._dynamo unavailable: {exc}"
    if not dynamo.is_dynamo_supported():
        return False, "torch.compile is not supported on this Python/platform"
    if not torch.cuda.is_available() and not any(shutil.which(c) for c in ("g++", "c++",
                                                                           "clang++")):
        return False, "no C++ compiler for the CPU inductor backend"
    return True, "available"


def _decide(mode: Mode, steps: int, threshold: int) -> tuple[bool, str, str]:
    requested = str(mode).lower()
    if requested not in ("auto", "true", "false", "graph"):
        raise ValueError(f"compile mode must be auto, true, false or graph, not {mode!r}")
    if requested == "false":
        return False, requested, "disabled by configuration"
    if requested in ("auto", "graph") and steps < threshold:
        return False, requested, f"auto: {steps} steps < {threshold}, compile time not repaid"
    ok, why = compile_available()
    if not ok:
        if requested == "true":
            warnings.warn(f"torch.compile requested but unavailable ({why}); running eagerly",
                          RuntimeWarning, stacklevel=3)
        return False, requested, why
    return True, requested, "compiled" if requested == "true" else f"auto: {steps} steps"


def _counts() -> tuple[int, int]:
    from torch._dynamo.utils import counters

    return sum(counters["graph_break"].values()), counters["stats"]["unique_graphs"]


def maybe_compile(fn: Callable[..., Any], mode: Mode = "auto", steps: int = 0, *,
                  threshold: int = AUTO_MIN_STEPS, dynamic: bool = False,
                  capture: bool = False) -> tuple[Callable[..., Any], CompileInfo]:
    """``fn`` wrapped with ``torch.compile(fn, dynamic=dynamic)`` when ``mode`` says so.

    ``mode``: ``"auto"`` (compile when ``steps >= threshold``), ``"true"``/True, or
    ``"false"``/False. Returns the function to call and a :class:`CompileInfo` that the
    first call completes: compile time, graph breaks, and whether it fell back to eager
    (on any exception while compiling, or when dynamo captured no graph at all).
    Shapes are static by default: a training step sees the same batch shape every time,
    and static shapes give the CPU backend its fastest kernels. ``capture``: compile with
    ``mode="reduce-overhead"`` (on CUDA, the compiled code is recorded as a CUDA graph
    and replayed; its static inputs must keep their addresses).
    """
    enabled, requested, reason = _decide(mode, steps, threshold)
    info = CompileInfo(requested, enabled, reason)
    if not enabled:
        return fn, info
    import torch._dynamo.config as dynamo_config

    _disable_untraced()
    # raised for calls of this function only: dynamo's settings are the user's
    limits = {name: RECOMPILE_LIMIT for name in ("recompile_limit", "cache_size_limit")
              if getattr(dynamo_config, name, RECOMPILE_LIMIT) < RECOMPILE_LIMIT}
    traced = torch.compile(fn, dynamic=dynamic, mode="reduce-overhead" if capture else None)

    def compiled(*args: Any, **kwargs: Any) -> Any:
        with dynamo_config.patch(limits):
            return traced(*args, **kwargs)

    state: dict[str, Callable[..., Any]] = {}

    def first_call(*args: Any, **kwargs: Any) -> Any:
        breaks0, graphs0 = _counts()
        start = time.perf_counter()
        try:
            result = compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a failed compile must not end training
            info.fallback = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            _warn(info, f"torch.compile failed ({info.fallback}); running eagerly")
            state["call"] = fn
            return fn(*args, **kwargs)
        info.compile_seconds = time.perf_counter() - start
        breaks, graphs = _counts()
        info.graph_breaks, info.graphs = breaks - breaks0, graphs - graphs0
        if info.graphs == 0:
            info.fallback = "dynamo captured no graph (silent eager fallback)"
            _warn(info, f"torch.compile: {info.fallback}")
        elif info.graph_breaks:
            _warn(info, f"torch.compile: {info.graph_breaks} graph break(s); the step runs "
                        "partly eagerly")
        state["call"] = compiled
        return result

    state["call"] = first_call

    def call(*args: Any, **kwargs: Any) -> Any:
        return state["call"](*args, **kwargs)

    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call, info


def _warn(info: CompileInfo, message: str) -> None:
    info.warnings.append(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)
