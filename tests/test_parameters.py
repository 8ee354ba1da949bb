"""Learnable parameters: reparametrisation, config errors, residual use, optimizer groups."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from checks_helpers import warns_checks

import pinnkit
from pinnkit import Box, ConfigError, Problem
from pinnkit.config import config_from_data, read_yaml
from pinnkit.parameters import Parameters, ParameterSpec, parameter_spec
from pinnkit.problem import compile_problem, problem_from_config

SPECS = [
    ParameterSpec("a", 0.7),
    ParameterSpec("b", 0.3, bounds=(-1.0, 2.0)),
    ParameterSpec("c", 0.02, log=True),
    ParameterSpec("d", 0.02, bounds=(1e-4, 10.0), log=True),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_value_at_the_raw_start_is_init_float64(spec: ParameterSpec) -> None:
    raw = torch.tensor(spec.raw_init(), dtype=torch.float64)
    assert spec.value(raw).item() == pytest.approx(spec.init, rel=1e-13)


def test_bounded_values_stay_inside_for_any_raw_and_have_smooth_gradients() -> None:
    b, d = SPECS[1], SPECS[3]
    raw = torch.linspace(-30, 30, 61, dtype=torch.float64, requires_grad=True)
    vb, vd = b.value(raw), d.value(raw)
    assert torch.all((vb >= -1.0) & (vb <= 2.0)) and torch.all((vd >= 1e-4) & (vd <= 10.0))
    # d/draw [lo + (hi-lo) sigmoid(raw)] = (hi-lo) s (1-s), checked at round-off
    (g,) = torch.autograd.grad(vb.sum(), raw)
    s = torch.sigmoid(raw.detach())
    torch.testing.assert_close(g, 3.0 * s * (1 - s), rtol=1e-13, atol=0)


def test_defaults_for_init() -> None:
    assert parameter_spec("k", {"bounds": [0, 2]}).init == 1.0
    assert parameter_spec("k", {"bounds": [1e-3, 1e-1], "log": True}).init == \
        pytest.approx(1e-2, rel=1e-12)
    assert parameter_spec("k", {}).init == 1.0
    assert parameter_spec("k", 0.25).init == 0.25


@pytest.mark.parametrize("options, message", [
    ({"init": 3, "bounds": [0, 2]}, r"parameters.k.init: 3 is not inside the bounds \[0, 2\]; "
     r"expected low < init < high .*Fix: move init inside or widen bounds"),
    ({"bounds": [2, 0]}, r"parameters.k.bounds: found \[2.0, 0.0\]; expected \[low, high\] "
     r"with low < high"),
    ({"bounds": [0, 1, 2]}, r"parameters.k.bounds: found \[0.0, 1.0, 2.0\]"),
    ({"bounds": [0, 1], "log": True}, r"parameters.k.bounds: log: true with a lower bound of 0; "
     r"expected positive bounds for a log parameter"),
    ({"init": -1, "log": True}, r"parameters.k.init: found -1 with log: true; expected a "
     r"positive start value"),
    ({"int": 1}, r"parameters.k.int: unknown key 'int' \(did you mean 'init'\?\)"),
    ({"lr": 0}, r"parameters.k.lr: found 0; expected a positive number"),
    ("fast", r"parameters.k: found str 'fast'; expected a start value or \{init: ..."),
])
def test_bad_parameter_options(options, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parameter_spec("k", options)


HEAT = """
inputs: [x, t]
outputs: [u]
domain: {x: [0, 1], t: [0, 1]}
parameters:
  alpha: {init: 0.5, bounds: [0, 1], lr: 0.01}
equations:
  heat: u_t - alpha*u_xx
"""


def compile_text(text: str):
    data, lines = read_yaml(text, "inv.yaml")
    cfg = config_from_data(data, lines, "<inv.yaml>")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compile_problem(problem_from_config(cfg), cfg)


def test_yaml_errors_carry_the_line() -> None:
    with pytest.raises(ConfigError, match=r"parameters.alpha.init \(line 6 of <inv.yaml>\): 2 is "
                       r"not inside the bounds"):
        compile_text(HEAT.replace("init: 0.5", "init: 2"))
    with pytest.raises(ConfigError, match=r"parameters.x \(line 6 of <inv.yaml>\): 'x' is already "
                       r"an input, output or constant"):
        compile_text(HEAT.replace("alpha: {init", "x: {init"))


def test_yaml_parameter_gets_a_gradient_through_the_residual() -> None:
    problem = compile_text(HEAT)
    assert problem.parameters.names == ("alpha",)
    x = torch.rand(16, 2, dtype=torch.float64)
    env = problem.env(x, {p: torch.ones(16, dtype=torch.float64) for p in problem.terms[0].needs})
    r = problem.terms[0].residual(env)  # u_t - alpha u_xx = 1 - 0.5
    torch.testing.assert_close(r, torch.full((16,), 0.5, dtype=torch.float64))
    (-r.sum()).backward()
    # d/draw of alpha = s(1-s) = 1/4 at raw 0, times sum(u_xx) = 16
    assert problem.parameters.raw["alpha"].grad.item() == pytest.approx(4.0, rel=1e-12)


class InverseHeat(Problem):
    inputs, outputs = ("x", "t"), ("u",)
    domain = Box(x=(0, 1), t=(0, 1))
    parameters = {"k": 0.5}

    def heat(self, d):
        return d.u_t - self.k * d.u_xx

    equations = {"heat": heat}


def test_self_k_is_the_start_value_then_the_live_tensor() -> None:
    problem = InverseHeat()
    assert problem.k == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = compile_problem(problem)
        other = compile_problem(problem)
    value = compiled.problem.k  # what the compiled residuals' self.k reads
    assert torch.is_tensor(value) and value.requires_grad and value.item() == 0.5
    with torch.no_grad():
        compiled.parameters.raw["k"].fill_(0.75)
    assert compiled.problem.k.item() == 0.75  # unbounded: value = raw
    x = torch.rand(4, 2, dtype=torch.float64)
    env = compiled.env(x, {p: torch.ones(4, dtype=torch.float64)
                           for p in compiled.terms[0].needs})
    torch.testing.assert_close(compiled.terms[0].residual(env),
                               torch.full((4,), 0.25, dtype=torch.float64))  # 1 - 0.75 * 1
    # nothing is written onto the user's object, and each compilation has its own k
    assert problem.k == 0.5 and "_bound_parameters" not in vars(problem)
    assert other.problem.k.item() == 0.5


def test_optimizer_groups() -> None:
    params = Parameters([ParameterSpec("a", 1.0, lr=0.1), ParameterSpec("b", 1.0)])
    net = torch.nn.Linear(1, 1)
    groups = params.optimizer_groups(net.parameters(), "adam")
    assert len(groups) == 2 and groups[1]["lr"] == 0.1 and len(groups[0]["params"]) == 3
    assert len(params.optimizer_groups(net.parameters(), "lbfgs")) == 1  # lbfgs: one group


def test_training_logs_parameter_values(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x, t = rng.uniform(0, 1, 32), rng.uniform(0, 1, 32)

    class Fit(InverseHeat):
        parameters = {"k": {"init": 0.5, "lr": 0.05}}
        data = {"obs": {"table": {"x": x, "t": t, "u": np.exp(-0.1 * math.pi**2 * t)
                                  * np.sin(math.pi * x)}}}

    with warns_checks("initial_condition", "boundary_coverage"):  # only data pin u down
        run = pinnkit.train(Fit(), steps=6, run_dir=tmp_path / "run", progress=False,
                            config={"training": {"points": {"domain": 64}},
                                    "model": {"width": 8, "depth": 1}, "logging": {"every": 2}})
    k = run.metrics["parameters"]["k"]
    assert [h["param/k"] for h in run.history][-1] == pytest.approx(k)
    assert 0.5 - 6 * 0.05 - 1e-6 <= k < 0.5  # Adam moves raw by at most lr per step
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    assert "param/k" in events.Tags()["scalars"]
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=False)
    assert saved["state"]["params"]["k"].item() == pytest.approx(k, rel=1e-6)
