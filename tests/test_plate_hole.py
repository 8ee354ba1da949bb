"""The shipped plate-with-a-hole problem: its exact solution solves it; its config runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import pinnkit
from pinnkit.api import resolve
from pinnkit.cli import main
from pinnkit.config import PointsConfig, config_from_data, read_yaml
from pinnkit.engines import make_engine
from pinnkit.geometry import Difference
from pinnkit.problem import compile_problem, problem_from_config
from pinnkit.training.losses import Collocation, term_losses

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "plate_hole.yaml"


def plate_hole_class():
    spec = importlib.util.spec_from_file_location("plate_hole", ROOT / "problems/plate_hole.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PlateHole


class Exact(torch.nn.Module):
    """A module computing the problem's exact() as the network's output."""

    def __init__(self, problem: pinnkit.Problem) -> None:
        super().__init__()
        self.problem = problem

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.problem.exact(p[:, 0], p[:, 1]).unsqueeze(1)


def test_exact_solution_makes_every_residual_vanish():
    problem = pinnkit.check(plate_hole_class()())
    cfg = config_from_data({"training": {"points": {"domain": 2000, "boundary": 500}}})
    points = Collocation(problem, cfg.training.points, 0, torch.device("cpu"), torch.float64)
    exact = Exact(problem.problem)
    losses = term_losses(exact, make_engine("autograd", exact), problem, points.sets)
    assert set(losses) == {"poisson", "outer", "hole"}
    for name, value in losses.items():
        assert float(value.detach()) < 1e-24, name  # mean squared residual, float64
    # the check can fail: the hole's flux is far from zero, so a residual that got the
    # normal's sign wrong on one side (u_n + g) would not vanish
    hole = next(s for s in points.sets if s.terms[0].name == "hole")
    d = pinnkit.derivatives(exact, hole.x, ["u_x", "u_y"], ("x", "y"), ("u",), create_graph=True)
    flux = hole.normals[:, 0] * d["u_x"] + hole.normals[:, 1] * d["u_y"]
    assert float((flux**2).mean().detach()) > 1.0


def test_exact_solution_through_public_derivatives():
    problem = plate_hole_class()()
    exact = Exact(problem)
    pts = pinnkit.check(problem).shape.sample_interior(1000, pinnkit.geometry.get_sampler(
        "sobol"), 1)
    d = pinnkit.derivatives(exact, torch.as_tensor(pts, dtype=torch.float64),
                            ["u_xx + u_yy + 2*pi**2*sin(pi*x)*sin(pi*y)"], ("x", "y"), ("u",),
                            create_graph=True)
    assert float(d["u_xx + u_yy + 2*pi**2*sin(pi*x)*sin(pi*y)"].detach().abs().max()) < 1e-12


def test_config_loads_and_compiles():
    problem, cfg = resolve(CONFIG)
    assert isinstance(problem.shape, Difference)
    assert problem.shape.part_names() == ("boundary", "hole")
    assert [t.name for t in problem.terms] == ["poisson", "outer", "hole"]
    assert cfg.model.dtype == "float64"
    x = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    assert float(problem.exact(x)) == pytest.approx(1.0)


def test_config_trains_through_the_cli(tmp_path, capsys):
    code = main(["train", str(CONFIG), "--quiet", "--out", str(tmp_path / "run"),
                 "--set", "training.stages=[{optimizer: adam, steps: 5}]",
                 "--set", "training.points.domain=128", "--set", "training.points.boundary=32"])
    assert code == 0
    assert "5 steps; relative L2 error: u" in capsys.readouterr().out
    assert np.isfinite((tmp_path / "run" / "metrics.json").stat().st_size)


YAML_TWIN = """\
inputs: [x, y]
outputs: [u]
domain:
  difference:
    - box: {x: [-1, 1], y: [-1, 1]}
    - disk: {center: [0, 0], radius: 0.3, name: hole}
equations:
  poisson: u_xx + u_yy + 2*pi**2*sin(pi*x)*sin(pi*y)
conditions:
  outer: {on: x == -1 or x == 1 or y == -1 or y == 1, residual: u}
  hole:  {on: hole, residual: u_n - pi*(nx*cos(pi*x)*sin(pi*y) + ny*sin(pi*x)*cos(pi*y))}
exact: sin(pi*x)*sin(pi*y)
"""


def test_the_yaml_twin_in_the_docs_is_the_same_problem():
    data, lines = read_yaml(YAML_TWIN)
    cfg = config_from_data(data, lines, "<docs>")
    twin = compile_problem(problem_from_config(cfg), cfg)
    python = pinnkit.check(plate_hole_class()())
    points = Collocation(python, PointsConfig(domain=256, boundary=64), 0,
                         torch.device("cpu"), torch.float64)
    torch.manual_seed(0)
    net = pinnkit.MLP(2, 1, 8, 2, lower=[-1, -1], upper=[1, 1]).double()
    engine = make_engine("autograd", net)
    a = term_losses(net, engine, python, points.sets)
    b = term_losses(net, engine, twin, points.sets)
    for name in a:
        assert float(a[name].detach()) == pytest.approx(float(b[name].detach()), rel=1e-12)
    x = torch.as_tensor(points.sets[0].x)
    torch.testing.assert_close(twin.exact(x), python.exact(x))
