"""configs/heat_inverse.yaml as a Python Problem: recover alpha from observations of u.

    import pinnkit
    from problems.heat_inverse import HeatInverse
    run = pinnkit.train(HeatInverse(), config={"training": {"stages": [
        {"optimizer": "adam", "steps": 1200}, {"optimizer": "lbfgs", "steps": 200}]}})
    run.metrics["parameters"]   # {"alpha": 0.1000...}
"""

from pathlib import Path

import torch

from pinnkit import Box, Problem

DATA = Path(__file__).resolve().parent.parent / "data" / "heat_inverse.csv"


class HeatInverse(Problem):
    inputs = ("x", "t")
    outputs = ("u",)
    domain = Box(x=(0, 1), t=(0, 1))
    parameters = {"alpha": {"init": 0.5, "bounds": (0, 1), "lr": 1e-2}}  # true value 0.1
    conditions = {
        "initial": ("t == 0", "u - sin(pi*x)"),
        "walls": ("x == 0 or x == 1", "u"),
    }
    data = {"obs": str(DATA)}  # columns x, t, u -> loss term obs.u

    def heat(self, d):
        return d.u_t - self.alpha * d.u_xx  # self.alpha: the parameter's current tensor

    equations = {"heat": heat}

    def exact(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.1 * torch.pi**2 * t) * torch.sin(torch.pi * x)
