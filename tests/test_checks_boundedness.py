"""Objective terms: wiring (mean, not squared) and the bounded-below check."""

from __future__ import annotations

import math

import pytest
import torch
from checks_helpers import DEEP_RITZ, compiled, only, report_for
from torch import nn

import pinnkit
from pinnkit.checks.boundedness import classify
from pinnkit.engines.autograd import AutogradEngine
from pinnkit.expr import parse
from pinnkit.training.losses import PointSet, term_losses, total_loss

LINEAR = """
    inputs: [x, y]
    outputs: [u]
    domain: {x: [0, 1], y: [0, 1]}
    objective:
      bad: {integrand: u_x + u_yy}
    conditions:
      walls: {on: boundary, residual: u}
    model: {width: 16, depth: 2}
    """


def test_linear_objective_is_refused_and_squaring_is_proposed(tmp_path):
    report = report_for(tmp_path, LINEAR)
    assert not report.ok
    (f,) = [f for f in only(report, "bounded") if f.level == "error"]
    assert (f.key, f.line) == ("objective.bad", 5)
    assert "objective term 'bad' = 'u_x + u_yy' is not bounded below: it is linear in u_x" in \
        f.message
    assert "the loss runs to -inf and the weights to NaN" in f.message
    assert "minimise its square: move it to equations (bad: u_x + u_yy)" in f.fix
    assert "(u_x + u_yy)**2" in f.fix
    assert "bounded_probe" not in report.checks  # numeric checks wait for the errors


def test_negative_square_is_refused(tmp_path):
    report = report_for(tmp_path, """
        inputs: [x]
        outputs: [u]
        domain: {x: [0, 1]}
        objective:
          e: {integrand: -u**2}
        conditions:
          ends: {on: x == 0 or x == 1, residual: u}
        """)
    (f,) = [f for f in only(report, "bounded") if f.level == "error"]
    assert "the coefficient of u**2 is negative" in f.message


def test_deep_ritz_with_dirichlet_walls_passes(tmp_path):
    report = report_for(tmp_path, DEEP_RITZ)
    assert report.ok and not [f for f in report.findings if f.level != "info"]
    (sym,) = only(report, "bounded")
    assert sym.level == "info" and "it is linear in u, which only the squared u_x, u_y " \
        "together with boundary conditions can bound" in sym.message
    (probe,) = only(report, "bounded_probe")
    assert probe.level == "info" and "probe passed" in probe.message


def test_deep_ritz_without_conditions_is_refused_by_the_probe(tmp_path):
    text = DEEP_RITZ.replace("    conditions:\n      walls: {on: boundary, residual: u}\n", "")
    report = report_for(tmp_path, text)
    (f,) = [f for f in only(report, "bounded_probe") if f.level == "error"]
    assert "the total loss keeps falling with the network's output shifted by a constant c = " \
        "1, 10, 100, 1000 (" in f.message
    assert "pin the solution with conditions" in f.fix


def test_probe_catches_growth_faster_than_the_squares(tmp_path):
    # -u**4 beats u_x**2 and the squared walls when the output grows: -c**4 B wins
    text = DEEP_RITZ.replace("0.5*(u_x**2 + u_y**2) - 2*pi**2*sin(pi*x)*sin(pi*y)*u",
                             "u_x**2 + u_y**2 - u**4")
    report = report_for(tmp_path, text)
    assert "the coefficient of u**4 is negative" in only(report, "bounded")[0].message
    (f,) = [f for f in only(report, "bounded_probe") if f.level == "error"]
    assert "keeps falling with the network's output shifted by a constant c = 1, 10, 100, " \
        "1000 (" in f.message


@pytest.mark.parametrize("text, verdict", [
    ("u_x**2", "bounded"),
    ("exp(u) + cosh(u_x)", "bounded"),
    ("0.5*u_x**2 - u_x", "bounded"),                     # separable, even, positive lead
    ("u_x**4 - 3*u_x**3 + u_y**2", "bounded"),
    ("u_x**2 + u_y**2 + u_x*u_y - u_x", "bounded"),      # positive definite quadratic
    ("u_x + u_yy", "unbounded"),
    ("x*u_x", "unbounded"),                               # coefficient from the inputs
    ("-u**2", "unbounded"),
    ("u_x**2 + u_y**2 - 3*u_x*u_y", "unbounded"),         # indefinite
    ("u_x**2*u_y", "unbounded"),                          # odd in u_y
    ("sin(u) - u_x", "unbounded"),                        # bounded atom, linear rest
    ("0.5*(u_x**2 + u_y**2) - 2*u", "unknown"),          # needs the boundary conditions
    ("u_x**2 - u**2", "unknown"),                         # Poincare: bounded with Dirichlet
    ("-exp(u_x)", "unknown"),                             # left to the probe
    ("u_x**2*u_y**2 - u_x*u_y", "unknown"),
])
def test_classify(tmp_path, text, verdict):
    problem, _ = compiled(tmp_path, DEEP_RITZ)
    assert classify(parse(text, problem.namespace), problem).verdict == verdict


class _Sine(nn.Module):
    """u = sin(pi x) sin(pi y): the Deep Ritz minimiser, in closed form."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.sin(math.pi * x[:, :1]) * torch.sin(math.pi * x[:, 1:2]))


def test_objective_term_is_the_mean_not_the_square(tmp_path):
    # energy of sin sin: int 0.5 |grad u|^2 - 2 pi^2 sin sin u = pi^2/4 - pi^2/2 = -pi^2/4
    problem, _ = compiled(tmp_path, DEEP_RITZ.replace("weight: 1", "weight: 3"))
    x = torch.rand(200_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sets = [PointSet(tuple(t for t in problem.terms if t.selector is None), x)]
    losses = term_losses(_Sine(), AutogradEngine(), problem, sets)
    assert losses["energy"].item() == pytest.approx(-math.pi**2 / 4, abs=2e-2)  # Monte Carlo
    (term,) = [t for t in problem.terms if t.name == "energy"]
    assert (term.squared, term.kind, term.weight) == (False, "objective", 3.0)
    assert total_loss(losses, problem).item() == pytest.approx(3 * losses["energy"].item())


def test_deep_ritz_1d_trains_to_sin(tmp_path):
    """Minimising the unsquared energy finds u = sin(pi x); a squared term could not go < 0."""
    path = tmp_path / "ritz1d.yaml"
    path.write_text("""
inputs: [x]
outputs: [u]
domain: {x: [0, 1]}
objective:
  energy: {integrand: "0.5*u_x**2 - pi**2*sin(pi*x)*u"}
conditions:
  ends: {on: x == 0 or x == 1, residual: u, weight: 100}
exact: sin(pi*x)
model: {width: 16, depth: 2, dtype: float64}
training:
  points: {domain: 256, resample_every: 0}
  stages: [{optimizer: adam, lr: 0.01, steps: 200}]
""")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny net: threads only contend (6 s vs 50 s on 2 busy cores)
    try:
        run = pinnkit.train(path, run_dir=False, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert run.metrics["l2_relative_error"]["u"] < 0.1  # 0.032 measured; penalty walls bias it
    # the exact minimum of the energy is -pi^2/4; the soft walls let it dip a little below
    assert -1.2 * math.pi**2 / 4 < run.metrics["loss"]["energy"] < -0.9 * math.pi**2 / 4


def test_objective_without_integrand_is_a_config_error(tmp_path):
    report = report_for(tmp_path, DEEP_RITZ.replace(
        '{integrand: "0.5*(u_x**2 + u_y**2) - 2*pi**2*sin(pi*x)*sin(pi*y)*u", weight: 1}',
        "{weight: 2}"))
    (f,) = report.findings
    assert (f.check, f.key, f.line) == ("config", "objective.energy.integrand", 5)
    assert f.message == "is missing; expected an expression averaged over the domain"


def test_method_objective_goes_to_the_probe():
    class Ritz(pinnkit.Problem):
        inputs, outputs = ("x",), ("u",)
        domain = pinnkit.Box(x=(0, 1))
        objective = {"energy": lambda self, d: 0.5 * d.u_x**2 - d.u}
        conditions = {"ends": ("x == 0 or x == 1", "u")}

    report = pinnkit.api.check_report(Ritz())
    assert report.ok
    (sym,) = only(report, "bounded")
    assert "it is a method, which cannot be analysed symbolically" in sym.message
    assert "probe passed" in only(report, "bounded_probe")[0].message


LEARNABLE = """
    inputs: [x]
    outputs: [u]
    domain: {x: [0, 1]}
    parameters: {k: PARAM}
    objective:
      e: {integrand: "INTEGRAND"}
    conditions:
      ends: {on: x == 0 or x == 1, residual: u}
    """


def learnable(tmp_path, integrand: str, param: str = "{init: 0.5}"):
    return report_for(tmp_path, LEARNABLE.replace("INTEGRAND", integrand).replace("PARAM",
                                                                                  param))


@pytest.mark.parametrize("param", ["{init: 0.5}", "{init: 0.5, bounds: [0.1, 2]}",
                                   "{init: 0.5, log: true}"])
def test_learnable_factor_of_a_linear_objective_is_refused_as_a_constant_is(tmp_path, param):
    # the check used to re-parse the text without the parameters, fail, and call the
    # expression "a method"; a constant k was refused all along
    report = learnable(tmp_path, "k*u_x", param)
    (f,) = [f for f in only(report, "bounded") if f.level == "error"]
    assert "objective term 'e' = 'k*u_x' is not bounded below: it is linear in u_x" in \
        f.message
    constant = report_for(tmp_path, LEARNABLE.replace("parameters: {k: PARAM}",
                                                      "constants: {k: 0.5}")
                          .replace("INTEGRAND", "k*u_x"))
    (g,) = [g for g in only(constant, "bounded") if g.level == "error"]
    assert g.message == f.message


def test_learnable_coefficient_is_free_within_its_bounds(tmp_path):
    # k*u_x**2 is bounded below for every k >= 0, but training can drive an unbounded k
    # negative (then the loss falls without limit)
    bounded = learnable(tmp_path, "k*u_x**2", "{init: 0.5, bounds: [0, 2]}")
    assert bounded.ok and only(bounded, "bounded") == []  # proven bounded: nothing to say
    free = learnable(tmp_path, "k*u_x**2")
    (g,) = [g for g in only(free, "bounded") if g.level == "error"]
    assert "the coefficient of u_x**2 is negative" in g.message


def test_parameter_spread_covers_what_training_can_reach():
    from pinnkit.parameters import parameter_spec

    free = parameter_spec("k", 0.5).spread(65)
    assert free.dtype == torch.float64 and free.min() < 0 < free.max()
    assert free[32].item() == pytest.approx(0.5, abs=1e-15)  # the start value in the middle
    bounded = parameter_spec("k", {"init": 0.5, "bounds": [0.1, 2]}).spread(65)
    assert 0.1 < bounded.min() < 0.11 and 1.99 < bounded.max() < 2.0
    positive = parameter_spec("k", {"init": 0.5, "log": True}).spread(65)
    assert positive.min() > 0 and positive[32].item() == pytest.approx(0.5, rel=1e-14)
