"""Smoothness and clamping: activation vs derivative order, transforms, arbitrary modules."""

from __future__ import annotations

import warnings

import pytest
import torch
from checks_helpers import HEAT, compiled, only, problems, report_for
from torch import nn

import pinnkit
from pinnkit.checks import run_checks
from pinnkit.checks.findings import Context
from pinnkit.checks.smoothness import check_smoothness, transform_limit
from pinnkit.errors import CheckWarning
from pinnkit.models.smoothness import output_range


def test_relu_network_asked_for_u_xx_is_an_error(tmp_path):
    report = report_for(tmp_path, HEAT.replace("activation: tanh", "activation: relu"))
    assert not report.ok
    (f,) = only(report, "smoothness")
    assert (f.level, f.key, f.line) == ("error", "equations.heat", 5)
    assert "residual 'heat' needs u_xx (order 2)" in f.message
    assert "activation 'relu' is usefully differentiable only once" in f.message
    assert "u_xx is zero at every point" in f.message
    assert "model.activation: tanh (or sin, softplus, silu or gelu)" in f.fix


def test_sine_fit_of_order_one_with_relu_is_allowed(tmp_path):
    report = report_for(tmp_path, """
        inputs: [x]
        outputs: [u]
        domain: {x: [0, 1]}
        equations:
          fit: u_x - pi*cos(pi*x)
        conditions:
          left: {on: x == 0, residual: u}
        model: {width: 16, depth: 2, activation: relu}
        """)
    assert report.ok and not only(report, "smoothness")


def test_fourth_order_residual_with_tanh_is_fine(tmp_path):
    report = report_for(tmp_path, """
        inputs: [x]
        outputs: [u]
        domain: {x: [0, 1]}
        equations:
          beam: u_xxxx - 1
        conditions:
          ends: {on: x == 0 or x == 1, residual: u}
          moments: {on: x == 0 or x == 1, residual: u_xx}
        model: {width: 16, depth: 2, activation: tanh}
        """)
    assert report.ok and not only(report, "smoothness")
    assert "beam (order 4)" in report.summary()


def test_elu_for_second_order_names_the_jump(tmp_path):
    report = report_for(tmp_path, HEAT.replace("activation: tanh", "activation: elu"))
    (f,) = only(report, "smoothness")
    assert "its second derivative jumps at 0" in f.message
    assert "u_xx is wrong where it matters" in f.message


def test_checks_key_turns_the_error_into_a_warning(tmp_path):
    text = HEAT.replace("activation: tanh", "activation: relu") + "checks: {smoothness: warn}\n"
    report = report_for(tmp_path, text)
    assert report.ok
    assert [f.level for f in only(report, "smoothness")] == ["warning"]


def test_checks_key_off_skips_the_check(tmp_path):
    text = HEAT.replace("activation: tanh", "activation: relu") + "checks: {smoothness: off}\n"
    report = report_for(tmp_path, text)
    assert report.ok and "smoothness" not in report.checks


def _ctx(tmp_path, text: str, model: nn.Module | None = None) -> Context:
    problem, cfg = compiled(tmp_path, text)
    model = model or pinnkit.MLP(len(problem.inputs), len(problem.outputs), 8, 1)
    return Context(problem, cfg, model)


def test_transform_with_abs_limits_the_order(tmp_path):
    ctx = _ctx(tmp_path, HEAT)
    limit = transform_limit("abs(x - 0.5)*net", ctx.problem.namespace)
    assert limit is not None and (limit.label, limit.order) == ("abs(x - 0.5)", 1)
    (f,) = check_smoothness(ctx, transform="abs(x - 0.5)*net")
    assert f.level == "error" and "abs(x - 0.5) is usefully differentiable only once" in f.message
    assert "kink" in f.message and "smooth functions" in f.fix
    assert check_smoothness(ctx, transform={"u": "x*(1 - x)*net"}) == []
    assert transform_limit("sign(x)*net", ctx.problem.namespace).order == 0


def test_custom_module_with_relu_layer_is_named(tmp_path):
    net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    (f,) = check_smoothness(_ctx(tmp_path, HEAT, net))
    assert "ReLU is usefully differentiable only once" in f.message
    assert "replace layer '1' (ReLU)" in f.fix


def test_clamping_last_layer_warns_and_exact_out_of_range(tmp_path):
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1), nn.Sigmoid())
    problem, cfg = compiled(tmp_path, HEAT + "exact: 2*sin(pi*x)\n")
    report = run_checks(problem, cfg, net)
    (f,) = only(report, "output_range")
    assert f.level == "warning" and f.key == "model"
    assert "last layer '3' (Sigmoid) limits every output to [0, 1]" in f.message
    assert "the exact solution has u in [" in f.message and "cannot reach" in f.message
    assert output_range(nn.Sequential(nn.Linear(1, 1), nn.ReLU()))[2:] == (0.0, float("inf"))
    assert output_range(pinnkit.MLP(1, 1, 4, 1)) is None


def _derivative_warnings(model: nn.Module, names: list[str]) -> list[str]:
    x = torch.linspace(-1, 1, 32, dtype=torch.float64).unsqueeze(1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pinnkit.derivatives(model.double(), x, names, inputs=("x",), outputs=("u",))
    return [str(w.message) for w in caught if issubclass(w.category, CheckWarning)]


def test_derivatives_warns_for_relu_layer_and_numerically_zero_derivative():
    torch.manual_seed(0)
    relu_net = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1))
    (msg,) = _derivative_warnings(relu_net, ["u", "u_xx"])
    assert msg.startswith("[smoothness] layer '1' (ReLU) is usefully differentiable "
                          "only once")
    assert _derivative_warnings(relu_net, ["u", "u_x"]) == []

    class FunctionalRelu(nn.Module):  # relu as a function: no layer to see, zeros to measure
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(1, 8), nn.Linear(8, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(torch.relu(self.a(x)))

    (msg,) = _derivative_warnings(FunctionalRelu(), ["u_xx"])
    assert "u_xx is exactly zero at all 32 points" in msg
    assert _derivative_warnings(nn.Linear(1, 1), ["u_xx"]) == []  # affine: zero is right
    smooth = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    assert _derivative_warnings(smooth, ["u", "u_x", "u_xxx"]) == []
    clamped = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1), nn.Softplus())
    (msg,) = _derivative_warnings(clamped, ["u"])
    assert "the last layer '3' (Softplus) limits the output to [0, inf]" in msg


def test_relu_module_values_are_still_computed():
    net = nn.Sequential(nn.Linear(1, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    x = torch.linspace(-1, 1, 8, dtype=torch.float64).unsqueeze(1)
    with pytest.warns(CheckWarning, match="zero or wrong"):
        out = pinnkit.derivatives(net, x, ["u_xx"], inputs=("x",), outputs=("u",))
    assert torch.equal(out["u_xx"], torch.zeros(8, dtype=torch.float64))


def test_every_activation_in_the_table_is_classified(tmp_path):
    for name in ("tanh", "sin", "silu", "gelu", "softplus"):
        report = report_for(tmp_path, HEAT.replace("activation: tanh", f"activation: {name}"))
        assert not problems(report), name
