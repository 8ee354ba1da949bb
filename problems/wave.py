"""1-D wave equation, PINNacle's Wave1d-C (Hao et al. 2024; Wang, Yu & Perdikaris 2022).

u_tt = c^2 u_xx on x in [0, 1], t in [0, 1], c = 2, with u(x, 0) = sin(pi x) +
sin(4 pi x)/2, u_t(x, 0) = 0 and u = 0 at x = 0 and 1. Exact solution:
u = sin(pi x) cos(2 pi t) + sin(4 pi x) cos(8 pi t) / 2.
"""

import torch

from pinnkit import Box, Problem


class Wave(Problem):
    inputs = ("x", "t")
    outputs = ("u",)
    domain = Box(x=(0, 1), t=(0, 1))
    constants = {"c": 2.0}
    equations = {"wave": "u_tt - c**2*u_xx"}
    conditions = {
        "initial": ("t == 0", "u - sin(pi*x) - 0.5*sin(4*pi*x)"),
        "velocity": ("t == 0", "u_t"),
        "walls": ("x == 0 or x == 1", "u"),
    }

    def exact(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        pi, c = torch.pi, self.c
        return (torch.sin(pi * x) * torch.cos(c * pi * t)
                + 0.5 * torch.sin(4 * pi * x) * torch.cos(4 * c * pi * t))
