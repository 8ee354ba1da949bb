"""Derivatives against hand-derived closed forms, in float64."""

import math

import pytest
import torch

import pinnkit
from pinnkit.engines.autograd import AutogradEngine, plan
from pinnkit.expr import Partial


class LogShift(torch.nn.Module):
    def forward(self, x):
        return torch.log(x + 2)


class Product(torch.nn.Module):
    """u = sin(x) exp(2y) x^2; v = x y."""

    def forward(self, xy):
        x, y = xy[:, 0], xy[:, 1]
        return torch.stack([torch.sin(x) * torch.exp(2 * y) * x**2, x * y], dim=1)


def test_log_derivatives_to_round_off():
    got = pinnkit.derivatives(LogShift(), torch.tensor([[1.0]]),
                              ["u", "u_x", "u_xx", "u_xxx", "u_xxxx"], inputs=("x",),
                              outputs=("u",), engine="autograd")
    want = [math.log(3), 1 / 3, -1 / 9, 2 / 27, -6 / 81]
    for name, w in zip(["u", "u_x", "u_xx", "u_xxx", "u_xxxx"], want, strict=True):
        assert got[name].item() == pytest.approx(w, abs=1e-12)


def test_mixed_derivatives_match_hand_derived_formulas():
    pts = torch.rand(7, 2)
    x, y = pts[:, 0], pts[:, 1]
    got = pinnkit.derivatives(Product(), pts, ["u_xy", "u_xxy", "v_xy", "u_yy", "u_xx + u_yy"],
                              inputs=("x", "y"), outputs=("u", "v"), engine="autograd")
    e = torch.exp(2 * y)
    ux = (torch.cos(x) * x**2 + 2 * x * torch.sin(x)) * e
    uxx = (-torch.sin(x) * x**2 + 4 * x * torch.cos(x) + 2 * torch.sin(x)) * e
    torch.testing.assert_close(got["u_xy"], 2 * ux, atol=1e-12, rtol=0)
    torch.testing.assert_close(got["u_xxy"], 2 * uxx, atol=1e-12, rtol=0)
    torch.testing.assert_close(got["v_xy"], torch.ones(7), atol=1e-12, rtol=0)
    torch.testing.assert_close(got["u_yy"], 4 * torch.sin(x) * x**2 * e, atol=1e-12, rtol=0)
    torch.testing.assert_close(got["u_xx + u_yy"], uxx + 4 * torch.sin(x) * x**2 * e,
                               atol=1e-12, rtol=0)


def test_each_distinct_parent_is_differentiated_once():
    engine = AutogradEngine()
    wanted = [Partial("u", o) for o in [(2, 0), (1, 1), (0, 1), (2, 1), (1, 0)]]
    engine(Product(), torch.rand(5, 2), wanted, ["u", "v"], create_graph=False)
    # grad(u) -> u_x, u_y; grad(u_x) -> u_xx, u_xy; grad(u_xy) -> u_xxy
    assert engine.backward_calls == 3


def test_plan_reuses_parents():
    wanted = {Partial("u", (2, 0)), Partial("u", (1, 1)), Partial("u", (0, 2))}
    parents = set(plan(wanted).values())
    assert parents == {Partial("u", (1, 0)), Partial("u", (0, 1)), Partial("u", (0, 0))}


def test_derivatives_of_a_linear_function_vanish_without_error():
    lin = torch.nn.Linear(2, 1)
    got = pinnkit.derivatives(lin, torch.rand(4, 2), ["u_xx", "u_x"], inputs=("x", "y"),
                              outputs=("u",), engine="autograd")
    assert torch.all(got["u_xx"] == 0)
    torch.testing.assert_close(got["u_x"], lin.weight[0, 0].detach().expand(4))


def test_user_never_sets_requires_grad_and_results_are_detached():
    x = torch.rand(3, 1)
    got = pinnkit.derivatives(LogShift(), x, ["u_x"], inputs=("x",), outputs=("u",))
    assert not x.requires_grad and not got["u_x"].requires_grad
    torch.testing.assert_close(got["u_x"], 1 / (x[:, 0] + 2))


def test_create_graph_keeps_weight_gradients():
    net = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    got = pinnkit.derivatives(net, torch.rand(5, 1), ["u_xx"], inputs=("x",), outputs=("u",),
                              engine="autograd", create_graph=True)
    got["u_xx"].pow(2).mean().backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0


def test_unknown_engine_lists_the_valid_ones():
    with pytest.raises(pinnkit.PinnkitError, match="engine='autgrad': unknown derivative "
                       r"engine 'autgrad' \(did you mean 'autograd'\?\)") as caught:
        pinnkit.derivatives(LogShift(), torch.rand(2, 1), ["u"], ("x",), ("u",), "autgrad")
    assert not isinstance(caught.value, pinnkit.ConfigError)  # a keyword, not a YAML key


def test_sibling_derivatives_without_create_graph():
    """u_xx and u_yy come from u_x and u_y, which share one graph: it must survive the first."""
    net = torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1))
    pts = torch.rand(5, 2)
    got = pinnkit.derivatives(net, pts, ["u_xx + u_yy"], inputs=("x", "y"), outputs=("u",),
                              engine="autograd")
    ref = pinnkit.derivatives(net, pts, ["u_xx", "u_yy"], inputs=("x", "y"), outputs=("u",),
                              engine="autograd", create_graph=True)
    torch.testing.assert_close(got["u_xx + u_yy"], (ref["u_xx"] + ref["u_yy"]).detach())


@pytest.mark.parametrize("call, message", [
    (lambda: pinnkit.derivatives(torch.nn.Linear(2, 2), torch.zeros(3, 2), ["u_x"],
                                 inputs=("x", "y"), outputs=("u",)),
     r"maps \(1, 2\) to \(1, 2\); expected \(1, 1\), one column per output \(u\)"),
    (lambda: pinnkit.derivatives(torch.nn.Linear(2, 1), torch.zeros(3, 3), ["u_x"],
                                 inputs=("x", "y"), outputs=("u",)),
     r"points have shape \(3, 3\); expected \(N, 2\)"),
    (lambda: pinnkit.derivatives(torch.nn.Linear(1, 1), torch.zeros(3, 2), ["u_x"],
                                 inputs=("x", "y"), outputs=("u",)),
     "cannot take 2 input columns"),
    (lambda: pinnkit.derivatives(torch.nn.Linear(2, 1), torch.zeros(3, 2), ["u_x"],
                                 inputs=("x", "y"), outputs=("u",), engine="tayler"),
     r"engine='tayler': unknown derivative engine 'tayler' \(did you mean 'taylor'\?\)"),
    (lambda: pinnkit.derivatives(torch.nn.Linear(2, 1), torch.zeros(3, 2), "u_x",
                                 inputs=("x", "y"), outputs=("u",)),
     "sequences of strings"),
])
def test_derivatives_mistakes_read_as_python(call, message):
    """Python-API mistakes are PinnkitErrors worded for the keywords, not torch's shape
    errors, a silently ignored output column or YAML's model.engine."""
    with pytest.raises(pinnkit.PinnkitError, match=message):
        call()
