"""2-D Helmholtz equation of Wang, Teng & Perdikaris (2021), "gradient pathologies".

u_xx + u_yy + k^2 u = q on [-1, 1]^2, u = 0 on the boundary, with the manufactured
solution u = sin(a1 pi x) sin(a2 pi y), a1 = 1, a2 = 4, k = 1, so that
q = (k^2 - (a1 pi)^2 - (a2 pi)^2) sin(a1 pi x) sin(a2 pi y).
"""

import torch

from pinnkit import Box, Problem


class Helmholtz(Problem):
    inputs = ("x", "y")
    outputs = ("u",)
    domain = Box(x=(-1, 1), y=(-1, 1))
    constants = {"a1": 1.0, "a2": 4.0, "k": 1.0}
    equations = {
        "helmholtz": "u_xx + u_yy + k**2*u"
                     " - (k**2 - (a1*pi)**2 - (a2*pi)**2)*sin(a1*pi*x)*sin(a2*pi*y)",
    }
    conditions = {"walls": ("boundary", "u")}

    def exact(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.a1 * torch.pi * x) * torch.sin(self.a2 * torch.pi * y)
