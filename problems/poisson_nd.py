"""Poisson's equation in 5 dimensions, PINNacle's PNd (Hao et al. 2024).

-(u_x1x1 + ... + u_x5x5) = pi^2/4 sum_i sin(pi x_i / 2) on [0, 1]^5, u given on the
boundary; exact solution u = sum_i sin(pi x_i / 2). Inputs have two-letter names, so
derivatives are written d(u, x1, x1).
"""

import torch

from pinnkit import Box, Problem

DIM = 5
NAMES = tuple(f"x{i + 1}" for i in range(DIM))
SUM_SIN = " + ".join(f"sin(pi*{n}/2)" for n in NAMES)


class PoissonND(Problem):
    inputs = NAMES
    outputs = ("u",)
    domain = Box(**{n: (0, 1) for n in NAMES})
    equations = {"poisson": " + ".join(f"d(u, {n}, {n})" for n in NAMES)
                 + f" + pi**2/4*({SUM_SIN})"}
    conditions = {"walls": ("boundary", f"u - ({SUM_SIN})")}

    def exact(self, *xs: torch.Tensor) -> torch.Tensor:
        return sum(torch.sin(torch.pi * x / 2) for x in xs)
