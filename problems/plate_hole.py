"""Poisson's equation on a square plate with a circular hole (manufactured solution).

    -(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y)   on [-1, 1]^2 minus the disk |(x, y)| < 0.3
    u = 0                                         on the outer edges
    du/dn = g                                     on the hole's circle (normal into the hole)

with g the normal derivative of the exact solution u = sin(pi x) sin(pi y), written with
the outward normal's components: g = pi (nx cos(pi x) sin(pi y) + ny sin(pi x) cos(pi y)).
The Neumann condition on a curved boundary is what this problem exercises.
"""

from __future__ import annotations

import torch

from pinnkit import Box, Disk, Problem


class PlateHole(Problem):
    inputs = ("x", "y")
    outputs = ("u",)
    domain = Box(x=(-1, 1), y=(-1, 1)) - Disk(center=(0, 0), radius=0.3, name="hole")
    equations = {"poisson": "u_xx + u_yy + 2*pi**2*sin(pi*x)*sin(pi*y)"}
    conditions = {
        "outer": ("x == -1 or x == 1 or y == -1 or y == 1", "u"),
        "hole": ("hole", "u_n - pi*(nx*cos(pi*x)*sin(pi*y) + ny*sin(pi*x)*cos(pi*y))"),
    }

    def exact(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sin(torch.pi * x) * torch.sin(torch.pi * y)
