"""Learnable scalars of inverse problems, kept in range by a smooth reparametrisation.

Each parameter is stored as an unconstrained raw number and mapped to its value:

* no bounds:              value = raw
* ``bounds: [lo, hi]``:   value = lo + (hi - lo) * sigmoid(raw)
* ``log: true``:          value = exp(raw)                        (positive)
* both:                   value = exp(log lo + (log hi - log lo) * sigmoid(raw))

so every optimizer step gives a value inside the bounds, and gradients stay smooth (a
clamp would stop the gradient at the bound). A ``Problem`` declares them as
``parameters = {"k": 0.5}`` or ``{"k": {"init": 0.5, "bounds": (0, 2), "log": False,
"lr": 1e-2}}``; YAML as ``parameters: {k: {init: 0.5, bounds: [0, 2]}}``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .config.schema import ParameterConfig, build
from .errors import ConfigError, line_of

Lines = Mapping[str, int]


@dataclass(frozen=True)
class ParameterSpec:
    """One learnable scalar: its start value, range and optional own learning rate."""

    name: str
    init: float
    bounds: tuple[float, float] | None = None
    log: bool = False
    lr: float | None = None

    def raw_init(self) -> float:
        """The raw number whose value is ``init``."""
        if self.bounds is None:
            return math.log(self.init) if self.log else self.init
        lo, hi, v = self.bounds[0], self.bounds[1], self.init
        if self.log:
            lo, hi, v = math.log(lo), math.log(hi), math.log(v)
        s = (v - lo) / (hi - lo)
        return math.log(s / (1.0 - s))

    def reachable(self) -> tuple[float, float]:
        """The values training can give it: inside the bounds, positive for ``log``."""
        if self.bounds is not None:
            return self.bounds
        return (0.0, math.inf) if self.log else (-math.inf, math.inf)

    def spread(self, n: int) -> torch.Tensor:
        """``n`` float64 values across what training can reach, around the start value:
        raw numbers from raw_init - (|raw_init| + 6) to raw_init + (|raw_init| + 6), so an
        unbounded parameter takes both signs and a bounded one comes close to each bound."""
        raw0 = self.raw_init()
        raw = raw0 + (abs(raw0) + 6.0) * torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
        return self.value(raw)

    def value(self, raw: torch.Tensor) -> torch.Tensor:
        if self.bounds is None:
            return torch.exp(raw) if self.log else raw
        lo, hi = self.bounds
        if self.log:
            lo, hi = math.log(lo), math.log(hi)
        z = lo + (hi - lo) * torch.sigmoid(raw)
        return torch.exp(z) if self.log else z


def parameter_spec(name: str, value: Any, lines: Lines | None = None,
                   source: str | None = None) -> ParameterSpec:
    """A number, a mapping of options or a ``ParameterConfig`` -> a checked spec."""
    key, lines = f"parameters.{name}", lines or {}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = ParameterConfig(init=float(value))
    elif isinstance(value, Mapping):
        options = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
        value = build(ParameterConfig, options, dict(lines), key, source or "")
    elif not isinstance(value, ParameterConfig):
        raise ConfigError(key, f"found {type(value).__name__} {value!r}",
                          "a start value or {init: ..., bounds: [low, high], log: ..., lr: ...}",
                          f"write {name}: {{init: 0.5}}", line_of(lines, key), source)

    def fail(sub: str, found: str, expected: str, fix: str) -> ConfigError:
        k = f"{key}.{sub}"
        return ConfigError(k, found, expected, fix, line_of(lines, k), source)

    bounds = None
    if value.bounds is not None:
        if len(value.bounds) != 2 or not value.bounds[0] < value.bounds[1]:
            raise fail("bounds", f"found {list(value.bounds)}", "[low, high] with low < high",
                       "write e.g. bounds: [0, 2]")
        bounds = (float(value.bounds[0]), float(value.bounds[1]))
        if value.log and bounds[0] <= 0:
            raise fail("bounds", f"log: true with a lower bound of {bounds[0]:g}",
                       "positive bounds for a log parameter",
                       "use a positive lower bound, e.g. 1e-4, or log: false")
    init = value.init
    if init is None:
        init = 1.0 if bounds is None else (math.sqrt(bounds[0] * bounds[1]) if value.log
                                           else 0.5 * (bounds[0] + bounds[1]))
    if not math.isfinite(init):
        raise fail("init", f"found {init}", "a finite number", "write e.g. init: 0.5")
    if bounds is not None and not bounds[0] < init < bounds[1]:
        raise fail("init", f"{init:g} is not inside the bounds [{bounds[0]:g}, {bounds[1]:g}]",
                   "low < init < high (the reparametrisation never reaches the bounds)",
                   "move init inside or widen bounds")
    if value.log and init <= 0:
        raise fail("init", f"found {init:g} with log: true", "a positive start value",
                   "use a positive init, or log: false")
    return ParameterSpec(name, float(init), bounds, value.log, value.lr)


class Parameters(nn.Module):
    """The learnable scalars of one problem; ``values()`` gives the current tensors."""

    def __init__(self, specs: Iterable[ParameterSpec] = ()) -> None:
        super().__init__()
        self.specs = {s.name: s for s in specs}
        self.raw = nn.ParameterDict({
            n: nn.Parameter(torch.tensor(s.raw_init(), dtype=torch.float64))
            for n, s in self.specs.items()})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def value(self, name: str) -> torch.Tensor:
        return self.specs[name].value(self.raw[name])

    def values(self) -> dict[str, torch.Tensor]:
        """Current values as 0-d tensors that carry gradients back to the raw numbers."""
        return {n: self.value(n) for n in self.specs}

    def floats(self) -> dict[str, float]:
        """Current values as plain floats, for logs and metrics.json."""
        with torch.no_grad():
            return {n: float(v) for n, v in self.values().items()}

    def optimizer_groups(self, network: Iterable[nn.Parameter], optimizer: str
                         ) -> list[dict[str, Any]]:
        """Parameter groups for a torch optimizer: the network's, then one per own ``lr``.

        Parameters without ``lr`` share the network's group (the stage's rate). L-BFGS
        accepts a single group only, so there everything goes in one.
        """
        shared = list(network)
        own: list[dict[str, Any]] = []
        for n, s in self.specs.items():
            if s.lr is not None and optimizer != "lbfgs":
                own.append({"params": [self.raw[n]], "lr": s.lr})
            else:
                shared.append(self.raw[n])
        return [{"params": shared}, *own]


def parameters_from(specs: Mapping[str, Any], lines: Lines | None = None,
                    source: str | None = None) -> Parameters:
    """Build ``Parameters`` from a Problem's or a config's ``parameters`` mapping."""
    return Parameters(parameter_spec(n, v, lines, source) for n, v in dict(specs).items())

