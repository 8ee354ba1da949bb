"""Simply supported Kirchhoff plate: the biharmonic equation on the unit square.

u_xxxx + 2 u_xxyy + u_yyyy = f with f = 4 pi^4 sin(pi x) sin(pi y), manufactured from
u = sin(pi x) sin(pi y). Simply supported edges: u = 0 and u_xx + u_yy = 0 (no bending
moment) on the whole boundary. The residual is divided by pi^4 so it is O(1).
"""

import torch

from pinnkit import Box, Problem


class Biharmonic(Problem):
    inputs = ("x", "y")
    outputs = ("u",)
    domain = Box(x=(0, 1), y=(0, 1))
    equations = {"plate": "(u_xxxx + 2*u_xxyy + u_yyyy)/pi**4 - 4*sin(pi*x)*sin(pi*y)"}
    conditions = {
        "deflection": ("boundary", "u"),
        "moment": ("boundary", "(u_xx + u_yy)/pi**2"),
    }

    def exact(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sin(torch.pi * x) * torch.sin(torch.pi * y)
