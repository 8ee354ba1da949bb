"""The multilayer perceptron pinnkit trains, with input normalisation built in.

Inputs are mapped affinely from the domain's bounding box to [-1, 1] before the first
layer, so a user whose x spans [-50, 50] never feeds raw values into tanh.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .activations import Activation
from .features import PeriodicEmbedding
from .transform import OutputTransform


class Normalize(nn.Module):
    """x -> 2 (x - lower) / (upper - lower) - 1, per input column."""

    scale: torch.Tensor  # buffers, declared for the type checker
    shift: torch.Tensor

    def __init__(self, lower: Sequence[float], upper: Sequence[float]) -> None:
        super().__init__()
        lo = torch.as_tensor(lower, dtype=torch.float64)
        hi = torch.as_tensor(upper, dtype=torch.float64)
        width = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        self.register_buffer("scale", 2.0 / width)
        self.register_buffer("shift", -1.0 - 2.0 * lo / width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class FourierFeatures(nn.Module):
    """[x, sin(2 pi x B), cos(2 pi x B)] with a fixed random B of scale ``sigma``."""

    B: torch.Tensor  # a buffer, declared for the type checker

    def __init__(self, n_in: int, n_features: int, sigma: float, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        b = torch.randn(n_in, n_features, generator=gen, dtype=torch.float64) * sigma
        self.register_buffer("B", 2 * torch.pi * b)
        self.n_out = n_in + 2 * n_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x @ self.B
        return torch.cat([x, torch.sin(z), torch.cos(z)], dim=-1)


class MLP(nn.Module):
    """normalise -> [periodic] -> [features] -> (Linear -> activation) x depth -> Linear
    -> [transform].

    ``periodic`` ({input column: (a, b)}) embeds those inputs as cos/sin of their phase, so
    the network is exactly periodic in them; ``transform`` (an ``OutputTransform``) maps the
    raw output and the raw inputs to the fields (hard constraints).

    The layers before the transform run in the order ``named_layers()`` gives, which is
    also the order the Taylor engine's rules walk (one rule per layer type), so the two
    cannot disagree. The attributes stay named as they were (``hidden.0.weight``, ...):
    checkpoints of older runs load unchanged.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        width: int = 64,
        depth: int = 4,
        activation: str = "tanh",
        lower: Sequence[float] | None = None,
        upper: Sequence[float] | None = None,
        fourier: tuple[int, float] | None = None,
        seed: int = 0,
        periodic: dict[int, tuple[float, float]] | None = None,
        transform: OutputTransform | None = None,
    ) -> None:
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        self.normalize = Normalize(lower if lower is not None else [-1.0] * n_in,
                                   upper if upper is not None else [1.0] * n_in)
        self.periodic = PeriodicEmbedding(n_in, periodic, self.normalize.scale.tolist(),
                                          self.normalize.shift.tolist()) if periodic else None
        n_embedded = self.periodic.n_out if self.periodic else n_in
        self.features = FourierFeatures(n_embedded, fourier[0], fourier[1], seed) \
            if fourier else None
        sizes = [self.features.n_out if self.features else n_embedded] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
        self.activation = Activation(activation)
        self.out = nn.Linear(sizes[-1], n_out)
        self.transform = transform
        for layer in [*self.hidden, self.out]:
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.raw(x)
        return self.transform(x, y) if self.transform is not None else y

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output before the output transform."""
        h = x
        for layer in self.layers():
            h = layer(h)
        return h

    def layers(self) -> list[nn.Module]:
        """The layers in the order they act, the output transform left out; the one
        activation module appears after every hidden Linear."""
        mods = self._modules  # read directly: the engine asks on every call
        out: list[nn.Module] = [m for m in (mods["normalize"], mods.get("periodic"),
                                            mods.get("features")) if m is not None]
        activation, hidden, last = mods["activation"], mods["hidden"], mods["out"]
        assert activation is not None and hidden is not None and last is not None
        for layer in hidden._modules.values():
            assert layer is not None
            out += (layer, activation)
        out.append(last)
        return out

    def named_layers(self) -> list[tuple[str, nn.Module]]:
        """``layers()`` with their module paths, for messages."""
        names = {id(m): n for n, m in self.named_modules()}
        return [(names[id(m)], m) for m in self.layers()]
