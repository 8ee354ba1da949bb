"""The heat equation of configs/heat.yaml, written as a Problem subclass."""

import torch

from pinnkit import Box, Problem


class Heat(Problem):
    inputs = ("x", "t")
    outputs = ("u",)
    domain = Box(x=(0, 1), t=(0, 1))
    constants = {"alpha": 0.1}
    equations = {"heat": "u_t - alpha*u_xx"}
    conditions = {
        "initial": ("t == 0", "u - sin(pi*x)"),
        "walls": ("x == 0 or x == 1", "u"),
    }
    # how to train it: the YAML keys of configs/heat.yaml (config= and overrides go on top)
    recipe = {
        "model": {"width": 20, "depth": 3},
        "training": {
            "points": {"domain": 2048, "boundary": 256},
            "stages": [{"optimizer": "adam", "lr": 1e-3, "steps": 1000},
                       {"optimizer": "lm", "steps": 600, "dtype": "float64"}],
            "weights": {"initial": 10},
        },
    }

    def exact(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.alpha * torch.pi**2 * t) * torch.sin(torch.pi * x)


class HeatMethod(Heat):
    """The same problem with the residual as a method receiving the derivative accessor."""

    def heat(self, d):
        return d.u_t - self.alpha * d.u_xx

    equations = {"heat": heat}
