"""Activation functions, their smoothness, and their derivatives of any order.

One table serves three users: the MLP (``fn``), the smoothness check (``smooth_order``:
how many derivatives are useful — ReLU's second derivative is zero almost everywhere), and
the Taylor engine (``derivatives(z, k)``: the activation and its first k derivatives at z).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError, did_you_mean, one_of

Derivs = Callable[[torch.Tensor, int], list[torch.Tensor]]
SMOOTH = 10**9  # "infinitely" differentiable


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    derivatives: Derivs
    smooth_order: int  # derivatives beyond this are zero a.e. or discontinuous
    note: str = ""


def _poly_chain(value: torch.Tensor, k: int, dvalue: list[float]) -> list[torch.Tensor]:
    """Derivatives of f where f' = q(f) for a polynomial q (tanh: 1 - f^2, sigmoid: f - f^2).

    Each derivative is a polynomial p(f); d/dz p(f) = p'(f) q(f). Coefficients are exact,
    so any order costs only Horner evaluations.
    """
    polys = [[0.0, 1.0]]  # f itself, coefficients in increasing powers
    for _ in range(k):
        p = polys[-1]
        dp = [i * p[i] for i in range(1, len(p))] or [0.0]
        nxt = [0.0] * (len(dp) + len(dvalue) - 1)
        for i, a in enumerate(dp):
            for j, b in enumerate(dvalue):
                nxt[i + j] += a * b
        polys.append(nxt)
    out = []
    for p in polys:
        acc = torch.full_like(value, p[-1])
        for c in reversed(p[:-1]):
            acc = acc * value + c
        out.append(acc)
    out[0] = value
    return out


def _tanh(z: torch.Tensor, k: int) -> list[torch.Tensor]:
    return _poly_chain(torch.tanh(z), k, [1.0, 0.0, -1.0])


def _sigmoid(z: torch.Tensor, k: int) -> list[torch.Tensor]:
    return _poly_chain(torch.sigmoid(z), k, [0.0, 1.0, -1.0])


def _sin(z: torch.Tensor, k: int) -> list[torch.Tensor]:
    s, c = torch.sin(z), torch.cos(z)
    cycle = [s, c, -s, -c]
    return [cycle[i % 4] for i in range(k + 1)]


def _softplus(z: torch.Tensor, k: int) -> list[torch.Tensor]:
    return [nn.functional.softplus(z), *_sigmoid(z, k - 1)] if k else [nn.functional.softplus(z)]


def _silu(z: torch.Tensor, k: int) -> list[torch.Tensor]:
    s = _sigmoid(z, k)
    return [z * s[0]] + [z * s[i] + i * s[i - 1] for i in range(1, k + 1)]


def _gelu(z: torch.Tensor, k: int) -> list[torch.Tensor]:
    # gelu = z * Phi(z); Phi^(i) = phi^(i-1), phi^(n) = (-1)^n He_n(z) phi(z)
    phi = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    he = [torch.ones_like(z), z]
    for n in range(2, k + 1):
        he.append(z * he[-1] - (n - 1) * he[-2])
    big_phi = [0.5 * (1 + torch.erf(z / math.sqrt(2)))]
    big_phi += [(-1) ** (i - 1) * he[i - 1] * phi for i in range(1, k + 1)]
    return [z * big_phi[0]] + [z * big_phi[i] + i * big_phi[i - 1] for i in range(1, k + 1)]


def _piecewise(fn: Callable[[torch.Tensor], torch.Tensor],
               slope: Callable[[torch.Tensor], torch.Tensor],
               curvature: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Derivs:
    def derivs(z: torch.Tensor, k: int) -> list[torch.Tensor]:
        out = [fn(z)]
        if k >= 1:
            out.append(slope(z))
        for _i in range(2, k + 1):
            out.append(curvature(z) if curvature is not None else torch.zeros_like(z))
        return out

    return derivs


def _elu_curv(z: torch.Tensor) -> torch.Tensor:
    return torch.where(z > 0, torch.zeros_like(z), torch.exp(torch.clamp(z, max=0.0)))


ACTIVATIONS: dict[str, ActivationSpec] = {
    spec.name: spec
    for spec in (
        ActivationSpec("tanh", torch.tanh, _tanh, SMOOTH),
        ActivationSpec("sin", torch.sin, _sin, SMOOTH),
        ActivationSpec("sigmoid", torch.sigmoid, _sigmoid, SMOOTH),
        ActivationSpec("softplus", nn.functional.softplus, _softplus, SMOOTH),
        ActivationSpec("silu", nn.functional.silu, _silu, SMOOTH),
        ActivationSpec("gelu", nn.functional.gelu, _gelu, SMOOTH),
        ActivationSpec("relu", torch.relu, _piecewise(
            torch.relu, lambda z: (z > 0).to(z.dtype)), 1,
            "piecewise linear: its second derivative is zero almost everywhere"),
        ActivationSpec("leaky_relu", nn.functional.leaky_relu, _piecewise(
            nn.functional.leaky_relu, lambda z: torch.where(z > 0, 1.0, 0.01).to(z.dtype)), 1,
            "piecewise linear: its second derivative is zero almost everywhere"),
        ActivationSpec("elu", nn.functional.elu, _piecewise(
            nn.functional.elu, lambda z: torch.where(z > 0, torch.ones_like(z),
                                                     torch.exp(torch.clamp(z, max=0.0))),
            _elu_curv), 1,
            "its second derivative jumps at 0 and its third is zero for z > 0"),
    )
}
SMOOTH_NAMES = tuple(n for n, s in ACTIVATIONS.items() if s.smooth_order >= SMOOTH)


def get_activation(name: str, key: str = "model.activation", line: int | None = None
                   ) -> ActivationSpec:
    if name not in ACTIVATIONS:
        raise ConfigError(key, f"unknown activation '{name}'{did_you_mean(name, ACTIVATIONS)}",
                          one_of(ACTIVATIONS), "pick a smooth one such as 'tanh' for PDEs",
                          line)
    return ACTIVATIONS[name]


class Activation(nn.Module):
    """A pointwise activation from the table; the Taylor engine reads ``spec``."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.spec = get_activation(name)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.spec.fn(z)

    def extra_repr(self) -> str:
        return self.spec.name
