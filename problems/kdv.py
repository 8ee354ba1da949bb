"""Korteweg-de Vries soliton: u_t + 6 u u_x + u_xxx = 0.

The single soliton u = c/2 sech^2(sqrt(c)/2 (x - c t - x0)) with c = 2, x0 = -2 on
x in [-6, 6], t in [0, 2]: the wave moves from x = -2 to x = 2 without changing shape.
The initial profile, u at both ends and u_x at the right end are given (a third-order
equation in x needs three boundary conditions). Reference: pinnkit.reference.kdv_soliton.
"""

import torch

from pinnkit import Box, Problem

PROFILE = "c/2/cosh(sqrt(c)/2*(x - c*t - x0))**2"


class KdV(Problem):
    inputs = ("x", "t")
    outputs = ("u",)
    domain = Box(x=(-6, 6), t=(0, 2))
    constants = {"c": 2.0, "x0": -2.0}
    equations = {"kdv": "u_t + 6*u*u_x + u_xxx"}
    conditions = {
        "initial": ("t == 0", f"u - {PROFILE}"),
        "ends": ("x == -6 or x == 6", f"u - {PROFILE}"),
        "slope": ("x == 6", f"u_x - d({PROFILE}, x)"),
    }

    def exact(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c = self.c
        return c / 2 / torch.cosh(c**0.5 / 2 * (x - c * t - self.x0)) ** 2
