"""Input embeddings the MLP composes after normalisation: exact periodicity.

``PeriodicEmbedding`` replaces each periodic input column by the cosine and sine of its
phase, so every function the network can represent repeats with the period exactly: the
values and all derivatives match across the two ends, with no loss term needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn


class PeriodicEmbedding(nn.Module):
    """h -> [h_other, cos(w h_p + phi), sin(w h_p + phi)] for the periodic columns p.

    Built from raw-coordinate periods ``{column: (a, b)}`` and the affine normalisation
    ``h = x * scale + shift`` that precedes it: the phase ``2 pi (x - a) / (b - a)`` is
    written in terms of ``h`` so that the module sees only normalised inputs.
    Output columns: the non-periodic ones in their order, then one cosine per periodic
    column, then one sine per periodic column.
    """

    periodic: torch.Tensor  # buffers, declared for the type checker
    other: torch.Tensor
    omega: torch.Tensor
    phase: torch.Tensor

    def __init__(self, n_in: int, periods: Mapping[int, tuple[float, float]],
                 scale: Sequence[float], shift: Sequence[float]) -> None:
        super().__init__()
        cols = sorted(periods)
        if not cols or any(not 0 <= c < n_in for c in cols):
            raise ValueError(f"periodic columns {cols} must be in 0..{n_in - 1}")
        omega, phase = [], []
        for c in cols:
            a, b = periods[c]
            if not b > a:
                raise ValueError(f"period [{a}, {b}] of column {c} is empty")
            # theta = 2 pi (x - a) / (b - a) with x = (h - shift) / scale
            w = 2 * math.pi / ((b - a) * scale[c])
            omega.append(w)
            phase.append(-w * shift[c] - 2 * math.pi * a / (b - a))
        self.register_buffer("periodic", torch.tensor(cols, dtype=torch.long))
        self.register_buffer("other", torch.tensor([c for c in range(n_in) if c not in cols],
                                                   dtype=torch.long))
        self.register_buffer("omega", torch.tensor(omega, dtype=torch.float64))
        self.register_buffer("phase", torch.tensor(phase, dtype=torch.float64))
        self.n_out = n_in + len(cols)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        theta = h[:, self.periodic] * self.omega + self.phase
        return torch.cat([h[:, self.other], torch.cos(theta), torch.sin(theta)], dim=-1)

    def extra_repr(self) -> str:
        return f"periodic columns={self.periodic.tolist()}"
