"""Kovasznay flow: steady incompressible Navier-Stokes at Re = 20 (Kovasznay 1948).

u u_x + v u_y + p_x = (u_xx + u_yy)/Re, u v_x + v v_y + p_y = (v_xx + v_yy)/Re,
u_x + v_y = 0 on [-0.5, 1] x [-0.5, 1.5], with the closed-form solution
u = 1 - exp(lam x) cos(2 pi y), v = lam/(2 pi) exp(lam x) sin(2 pi y),
p = (1 - exp(2 lam x))/2, lam = Re/2 - sqrt(Re^2/4 + 4 pi^2).
Velocities are given on the whole boundary; the pressure, fixed only up to a constant by
the equations, is given on the outlet x = 1.
"""

import math

import torch

from pinnkit import Box, Problem

RE = 20.0
LAM = 0.5 * RE - math.sqrt(0.25 * RE**2 + 4 * math.pi**2)


class Kovasznay(Problem):
    inputs = ("x", "y")
    outputs = ("u", "v", "p")
    domain = Box(x=(-0.5, 1.0), y=(-0.5, 1.5))
    constants = {"Re": RE, "lam": LAM}
    equations = {
        "momentum_x": "u*u_x + v*u_y + p_x - (u_xx + u_yy)/Re",
        "momentum_y": "u*v_x + v*v_y + p_y - (v_xx + v_yy)/Re",
        "continuity": "u_x + v_y",
    }
    conditions = {
        "wall_u": ("boundary", "u - (1 - exp(lam*x)*cos(2*pi*y))"),
        "wall_v": ("boundary", "v - lam/(2*pi)*exp(lam*x)*sin(2*pi*y)"),
        "outlet_p": ("x == 1", "p - 0.5*(1 - exp(2*lam*x))"),
    }

    def exact(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        lam, two_pi = self.lam, 2 * torch.pi
        e = torch.exp(lam * x)
        return {"u": 1 - e * torch.cos(two_pi * y), "v": lam / two_pi * e * torch.sin(two_pi * y),
                "p": 0.5 * (1 - e * e)}
