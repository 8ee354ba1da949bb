"""``u_n``, ``nx``, ``ny`` in condition residuals, checked against closed forms (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pinnkit import Box, Disk, Problem
from pinnkit.config import config_from_data
from pinnkit.engines import make_engine
from pinnkit.errors import ConfigError
from pinnkit.expr import Namespace, Partial, parse, render
from pinnkit.geometry import boundary_namespace, get_sampler
from pinnkit.problem import compile_problem, problem_from_config
from pinnkit.training.losses import Collocation, term_losses


class Cubic(torch.nn.Module):
    """u(x, y) = x**2 y + sin(y): grad u = (2 x y, x**2 + cos(y))."""

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        x, y = p[:, 0], p[:, 1]
        return (x**2 * y + torch.sin(y)).unsqueeze(1)


def flux(x: np.ndarray, y: np.ndarray, nx: np.ndarray, ny: np.ndarray) -> np.ndarray:
    return nx * 2 * x * y + ny * (x**2 + np.cos(y))


class Ring(Problem):
    inputs = ("x", "y")
    outputs = ("u",)
    domain = Disk((0.2, -0.1), 1.5) - Disk((0.4, 0.3), 0.5, name="hole")
    equations = {"pde": "u_xx + u_yy"}
    conditions = {
        "text": ("hole", "u_n"),
        "explicit": ("hole", "nx*u_x + ny*u_y"),
        "neumann": ("boundary and not hole", "u_n - 3*nx"),
    }

    def method(self, d):
        return d.u_n + 0 * d.nx


def evaluate(problem, term_name: str, n: int = 400):
    """(residual values, points, normals) of one condition for the Cubic 'network'."""
    term = next(t for t in problem.terms if t.name == term_name)
    sample = problem.shape.sample_boundary(n, get_sampler("sobol"), 0, term.selector)
    x = torch.as_tensor(sample.points, dtype=torch.float64)
    normals = torch.as_tensor(sample.normals, dtype=torch.float64)
    table = make_engine("autograd", Cubic())(Cubic(), x, term.needs, problem.outputs, False)
    env = problem.env(x, table, normals)
    return term.residual(env).detach().numpy(), sample.points, sample.normals


def test_u_n_expands_to_the_normal_derivative_at_parse_time():
    problem = compile_problem(Ring())
    text = next(t for t in problem.terms if t.name == "text")
    assert text.needs == {Partial("u", (1, 0)), Partial("u", (0, 1))}
    assert text.order == 1
    ns = boundary_namespace(Namespace(("x", "y"), ("u",)))
    tree = parse("d(u_n, x)", ns)  # d() sees through u_n; normals are constant along it
    assert render(tree, ("x", "y")) == "((n(x) * u_xx) + (n(y) * u_xy))"


def test_u_n_on_a_curved_boundary_equals_the_closed_form():
    problem = compile_problem(Ring())
    r, p, n = evaluate(problem, "text")
    # on the hole the outward normal points to its center
    np.testing.assert_allclose(n, -(p - (0.4, 0.3)) / 0.5, atol=1e-12)
    np.testing.assert_allclose(r, flux(p[:, 0], p[:, 1], n[:, 0], n[:, 1]), rtol=0, atol=1e-12)
    r2, *_ = evaluate(problem, "explicit")
    np.testing.assert_allclose(r2, r, atol=1e-14)


def test_u_n_in_a_method_residual():
    problem = Ring()
    problem.conditions = {"m": ("hole", Ring.method)}
    compiled = compile_problem(problem)
    assert compiled.terms[1].needs == {Partial("u", (1, 0)), Partial("u", (0, 1))}
    r, p, n = evaluate(compiled, "m")
    np.testing.assert_allclose(r, flux(p[:, 0], p[:, 1], n[:, 0], n[:, 1]), atol=1e-12)


def test_neumann_loss_through_the_training_path_uses_the_points_normals():
    """term_losses puts each boundary set's normals in the env: the loss matches by hand."""
    problem = compile_problem(Ring())
    cfg = config_from_data({"training": {"points": {"domain": 64, "boundary": 256}}})
    points = Collocation(problem, cfg.training.points, 0, torch.device("cpu"), torch.float64)
    losses = term_losses(Cubic(), make_engine("autograd", Cubic()), problem, points.sets)
    outer = next(s for s in points.sets if s.terms[0].name == "neumann")
    p, n = outer.x.numpy(), outer.normals.numpy()
    np.testing.assert_allclose(n, (p - (0.2, -0.1)) / 1.5, atol=1e-12)
    by_hand = np.mean((flux(p[:, 0], p[:, 1], n[:, 0], n[:, 1]) - 3 * n[:, 0]) ** 2)
    assert float(losses["neumann"].detach()) == pytest.approx(by_hand, rel=1e-12)


def test_normals_are_not_names_in_equations():
    problem = Ring()
    problem.equations = {"pde": "u_xx + nx"}
    with pytest.raises(ConfigError, match=r"equations.pde: unknown name 'nx'"):
        compile_problem(problem)


def test_a_constant_named_nx_keeps_its_meaning():
    data = {"inputs": ["x", "y"], "outputs": ["u"], "constants": {"nx": 4.0},
            "domain": {"x": [0, 1], "y": [0, 1]}, "equations": {"pde": "u_xx"},
            "conditions": {"c": {"on": "x == 1", "residual": "u_n - nx"}}}
    cfg = config_from_data(data)
    problem = compile_problem(problem_from_config(cfg), cfg)
    term = problem.terms[1]
    x = torch.tensor([[1.0, 0.5]], dtype=torch.float64)
    table = make_engine("autograd", Cubic())(Cubic(), x, term.needs, ("u",), False)
    env = problem.env(x, table, torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    assert env["nx"] == 4.0
    # u_n still reads the normal's x-component: u_x = 2 x y = 1 at (1, 0.5)
    assert float(term.residual(env)) == pytest.approx(1.0 - 4.0, abs=1e-14)


def test_box_faces_give_axis_normals_to_u_n():
    class Flux(Problem):
        inputs = ("x", "y")
        outputs = ("u",)
        domain = Box(x=(0, 1), y=(0, 2))
        equations = {"pde": "u_xx"}
        conditions = {"left": ("x == 0", "u_n"), "top": ("y == 2", "u_n")}

    problem = compile_problem(Flux())
    r, p, _ = evaluate(problem, "left", 50)
    np.testing.assert_allclose(r, -2 * p[:, 0] * p[:, 1], atol=1e-14)  # -u_x at x = 0
    r, p, _ = evaluate(problem, "top", 50)
    np.testing.assert_allclose(r, p[:, 0] ** 2 + math.cos(2.0), atol=1e-14)  # u_y at y = 2


NEUMANN_RUN = """\
inputs: [x, y]
outputs: [u]
domain: {x: [0, 1], y: [0, 2]}
equations: {pde: u_xx + u_yy}
conditions:
  left:  {on: x == 0, residual: u_n + u}
  top:   {on: y == 2, residual: u_n - nx - 2*ny}
  cycle: {periodic: x}
model: {width: 6, depth: 2, dtype: float64}
training:
  points: {domain: 32, boundary: 8}
  stages: [{optimizer: adam, steps: 2}]
logging: {tensorboard: false}
"""


def test_eval_of_a_condition_with_u_n_reads_the_boundary_normal(tmp_path, capsys):
    """``pinnkit eval --fields left`` and ``derivatives(..., ["left"])`` evaluate u_n with
    the outward normal: (-1, 0) on x = 0 and (0, 1) on y = 2 (it used to be a KeyError
    'n(x)' traceback, exit 1)."""
    import pinnkit
    from pinnkit.cli import main

    path = tmp_path / "flux.yaml"
    path.write_text(NEUMANN_RUN)
    run = tmp_path / "run"
    assert main(["train", str(path), "--quiet", "--out", str(run)]) == 0
    trained = pinnkit.load(run)
    left = np.array([[0.0, 0.3], [0.0, 1.1], [0.0, 1.9]])
    top = np.array([[0.2, 2.0], [0.7, 2.0]])
    d = trained.derivatives(left, ["left", "u", "u_x"])
    np.testing.assert_allclose(d["left"], -d["u_x"] + d["u"], rtol=1e-8, atol=1e-10)
    d = trained.derivatives(top, ["top", "u_y"])
    np.testing.assert_allclose(d["top"], d["u_y"] - 2.0, rtol=1e-8, atol=1e-10)
    (tmp_path / "pts.csv").write_text("x,y\n" + "".join(f"{a},{b}\n" for a, b in left))
    capsys.readouterr()
    assert main(["eval", str(run), "--points", str(tmp_path / "pts.csv"), "--fields",
                 "left,u_x"]) == 0
    rows = [[float(v) for v in r.split(",")] for r in capsys.readouterr().out.splitlines()[1:]]
    np.testing.assert_allclose([r[2] for r in rows], trained.derivatives(left, ["left"])["left"],
                               rtol=1e-12)
    # a periodic condition pairs points on two faces: no value at one point, and it says so
    assert main(["eval", str(run), "--points", str(tmp_path / "pts.csv"), "--fields",
                 "cycle"]) == 2
    err = capsys.readouterr().err
    assert "--fields: 'cycle' pairs points on two faces, so it has no value at a point of " \
        "its own. Fix: evaluate the fields it reads, e.g. --fields u" in err
    assert "Traceback" not in err
