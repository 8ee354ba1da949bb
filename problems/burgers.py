"""Viscous Burgers on x in [-1, 1], t in [0, 1], nu = 0.01/pi, u(x, 0) = -sin(pi x).

The reference is the Cole-Hopf solution evaluated by Gauss-Hermite quadrature
(pinnkit.reference.burgers), computed here rather than downloaded.
"""

import math

import torch

from pinnkit import Box, Problem
from pinnkit.reference import burgers_cole_hopf


class Burgers(Problem):
    inputs = ("x", "t")
    outputs = ("u",)
    domain = Box(x=(-1, 1), t=(0, 1))
    constants = {"nu": 0.01 / math.pi}
    equations = {"burgers": "u_t + u*u_x - nu*u_xx"}
    conditions = {
        "initial": ("t == 0", "u + sin(pi*x)"),
        "walls": ("x == -1 or x == 1", "u"),
    }

    def exact(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        u = burgers_cole_hopf(x.detach().cpu().double().numpy(), t.detach().cpu().double().numpy(),
                              nu=self.nu)
        return torch.as_tensor(u, dtype=x.dtype, device=x.device)
