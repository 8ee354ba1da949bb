"""A tiny problem that trains in seconds on a CPU, shared by the run-folder tests."""

from __future__ import annotations

from pathlib import Path

import torch

import pinnkit

TINY = """\
name: tiny
inputs: [x, t]
outputs: [u]
domain: {x: [0, 1], t: [0, 1]}
constants: {alpha: 0.1}
equations:
  heat: u_t - alpha*u_xx
conditions:
  initial: {on: t == 0, residual: u - sin(pi*x)}
  walls:   {on: x == 0 or x == 1, residual: u}
exact: exp(-alpha*pi**2*t)*sin(pi*x)
model: {width: 6, depth: 2, activation: tanh, dtype: float64}
training:
  seed: 0
  points: {domain: 32, boundary: 8, sampler: sobol, resample_every: 30}
  stages:
    - {optimizer: adam, lr: 1.0e-2, steps: 100, decay: 0.5, decay_every: 40}
    - {optimizer: lbfgs, steps: 100}
logging: {every: 20, checkpoint_every: 50, images_every: 100, grid: 24}
"""


def write_config(folder: Path, text: str = TINY) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(text)
    return path


def flat_params(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


class TinyHeat(pinnkit.Problem):
    """The heat problem of TINY as a Python class, importable from this file."""

    inputs = ("x", "t")
    outputs = ("u",)
    domain = pinnkit.Box(x=(0, 1), t=(0, 1))
    constants = {"alpha": 0.1}
    equations = {"heat": "u_t - alpha*u_xx"}
    conditions = {"initial": ("t == 0", "u - sin(pi*x)"), "walls": ("x == 0 or x == 1", "u")}
