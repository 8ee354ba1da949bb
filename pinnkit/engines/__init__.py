"""Derivatives of a network with respect to its inputs.

Engines map (module, points, wanted partials) to a table of tensors. ``autograd`` works
for any torch module; ``taylor`` propagates Taylor coefficients through any module whose
layers all have a rule (``taylor_layers.RULES``: pinnkit's networks, and a user's
``nn.Sequential`` of Linear and smooth activation layers). ``derivatives()`` is the
public entry point that needs no problem or training.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import cast

import numpy as np
import torch

from ..errors import CheckWarning, ConfigError, PinnkitError, did_you_mean, one_of
from ..expr import Namespace, Partial, compile_expr, parse
from ..models.smoothness import module_warnings
from .autograd import AutogradEngine
from .taylor import TaylorEngine
from .taylor_layers import rule_names, unsupported
from .taylor_plan import Key

Engine = Callable[..., dict[Key, torch.Tensor]]
ENGINES: dict[str, Callable[[], Engine]] = {"autograd": AutogradEngine, "taylor": TaylorEngine}


def taylor_supports(module: torch.nn.Module) -> bool:
    """Whether the ``taylor`` engine can propagate through ``module``."""
    return "taylor" in ENGINES and taylor_unsupported(module) is None


def taylor_unsupported(module: torch.nn.Module) -> str | None:
    """Why the ``taylor`` engine cannot read ``module`` (the first layer without a rule),
    or None when it can; ``auto`` then picks ``autograd``."""
    return unsupported(module)


def make_engine(name: str, module: torch.nn.Module, key: str = "model.engine") -> Engine:
    """The engine called ``name`` (``auto`` picks taylor where it applies)."""
    if name == "auto":
        name = "taylor" if taylor_supports(module) else "autograd"
    if name not in ENGINES:
        valid = [*ENGINES, "auto"]
        raise ConfigError(key, f"unknown derivative engine '{name}'{did_you_mean(name, valid)}",
                          one_of(valid), "use 'auto' unless you are comparing engines")
    why = taylor_unsupported(module) if name == "taylor" else None
    if why:
        raise ConfigError(key, f"engine 'taylor' cannot read this network: {why}",
                          "a module built of layers with a Taylor rule: "
                          + ", ".join(rule_names()),
                          "use engine 'auto' or 'autograd' for it, or build it from those "
                          "layers")
    return ENGINES[name]()


def derivatives(
    model: torch.nn.Module,
    points: torch.Tensor | np.ndarray,
    names: Sequence[str],
    inputs: Sequence[str],
    outputs: Sequence[str],
    engine: str = "auto",
    create_graph: bool = False,
) -> dict[str, torch.Tensor]:
    """Fields, derivatives or any expression of them at ``points`` (N, len(inputs)).

    ``names`` are expressions in pinnkit's language: ``u``, ``u_x``, ``d(u, x, x)``,
    ``u_xx + u_yy``. ``requires_grad`` is handled here; the result has one (N,) tensor per
    name, detached unless ``create_graph``. Warns (CheckWarning) when ``model`` cannot supply
    the derivatives: non-smooth layers, derivatives exactly zero at every point, a clamping
    last layer.
    """
    if isinstance(names, str) or isinstance(inputs, str) or isinstance(outputs, str):
        raise PinnkitError("names, inputs and outputs are sequences of strings, e.g. "
                           "names=['u', 'u_x'], inputs=('x', 't'), outputs=('u',)")
    x = torch.as_tensor(points)
    if x.ndim == 1:
        x = x.unsqueeze(-1)
    if x.ndim != 2 or x.shape[1] != len(inputs):
        raise PinnkitError(f"points have shape {tuple(x.shape)}; expected (N, {len(inputs)}), "
                           f"one column per input ({', '.join(inputs)})")
    param = next(model.parameters(), None)
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    _check_output_columns(model, x, inputs, outputs)
    ns = Namespace(tuple(inputs), tuple(outputs))
    compiled = {n: compile_expr(parse(n, ns)) for n in names}
    wanted: set[Key] = set().union(*(c.needs for c in compiled.values()))
    try:
        chosen = make_engine(engine, model)
    except ConfigError as exc:  # worded for YAML's model.engine: say it for the keyword
        raise PinnkitError(f"engine={engine!r}: {exc.found}; expected "
                           f"{', '.join(map(repr, available_engines()))}") from None
    # names are parsed, not collapsed: every key is a Partial
    table = cast("dict[Partial, torch.Tensor]",
                 chosen(model, x, wanted, outputs, create_graph=create_graph))
    _warn_unsmooth(model, table, inputs, outputs)
    env: dict = {**table, **{name: x[:, i] for i, name in enumerate(inputs)}}
    result = {}
    for n, c in compiled.items():
        value = torch.as_tensor(c(env), dtype=x.dtype, device=x.device)
        value = value.expand(x.shape[0]) if value.ndim == 0 else value
        result[n] = value if create_graph else value.detach()
    return result


def _check_output_columns(model: torch.nn.Module, x: torch.Tensor, inputs: Sequence[str],
                          outputs: Sequence[str]) -> None:
    """One forward on one point: the module must map len(inputs) columns to len(outputs)."""
    try:
        with torch.no_grad():
            y = model(x[:1])
    except RuntimeError as exc:
        raise PinnkitError(f"the model cannot take {len(inputs)} input columns "
                           f"({', '.join(inputs)}): {str(exc).splitlines()[0]}") from None
    if isinstance(y, torch.Tensor) and y.ndim == 1 and len(outputs) == 1:
        return  # (N,) for one output: the engines read it as one column
    if not isinstance(y, torch.Tensor) or y.ndim != 2 or y.shape[1] != len(outputs):
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise PinnkitError(f"the model maps (1, {len(inputs)}) to {shape}; expected "
                           f"(1, {len(outputs)}), one column per output "
                           f"({', '.join(outputs)})")


def _warn_unsmooth(model: torch.nn.Module, table: dict[Partial, torch.Tensor],
                   inputs: Sequence[str], outputs: Sequence[str]) -> None:
    for message in module_warnings(model, table, inputs, outputs):
        warnings.warn(CheckWarning(message), stacklevel=3)


def available_engines() -> Iterable[str]:
    return [*ENGINES, "auto"]
