"""Allen-Cahn equation of Raissi et al. (2019) and Wang et al.'s "expert's guide" (2023).

u_t - eps u_xx + gamma (u^3 - u) = 0 on x in [-1, 1] (periodic), t in [0, 1],
eps = 1e-4, gamma = 5, u(x, 0) = x^2 cos(pi x). Sharp fronts form by t ~ 0.3.
Reference: pinnkit.reference.allen_cahn (Fourier spectral + ETDRK4, computed here).
"""

import numpy as np
import torch

from pinnkit import Box, Problem
from pinnkit.reference import allen_cahn


class AllenCahn(Problem):
    inputs = ("x", "t")
    outputs = ("u",)
    domain = Box(x=(-1, 1), t=(0, 1))
    constants = {"eps": 1.0e-4, "gamma": 5.0}
    equations = {"allen_cahn": "u_t - eps*u_xx + gamma*(u**3 - u)"}
    conditions = {
        "initial": ("t == 0", "u - x**2*cos(pi*x)"),
        "cycle": {"periodic": "x"},
    }

    def exact(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        u = allen_cahn(np.asarray(x.detach().cpu(), dtype=np.float64),
                       np.asarray(t.detach().cpu(), dtype=np.float64))
        return torch.as_tensor(u, dtype=x.dtype, device=x.device)
