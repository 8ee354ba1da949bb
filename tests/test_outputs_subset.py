"""Outputs over a subset of the inputs: ``outputs: [u, {a: [x]}]`` gives a(x) its own
network, its derivatives along the other inputs are exactly zero (and the checks know it),
the Taylor engine reads the composite network, and an inverse problem recovers a(x)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import pinnkit
from pinnkit.api import resolve
from pinnkit.cli import main
from pinnkit.engines import make_engine
from pinnkit.engines.autograd import AutogradEngine
from pinnkit.engines.taylor import TaylorEngine, supports
from pinnkit.errors import ConfigError
from pinnkit.expr.collapse import Combo
from pinnkit.expr.names import Partial
from pinnkit.models.composite import Composite, build_network
from pinnkit.models.mlp import MLP
from pinnkit.training.setup import build_setup


def _p(field: str, *orders: int) -> Partial:
    return Partial(field, tuple(orders))


def _closed_form_composite() -> Composite:
    """u = tanh(x + 2t) from all inputs, a = sigmoid(3x + 0.5) from x alone."""
    u = nn.Sequential(nn.Linear(2, 1), nn.Tanh())
    a = nn.Sequential(nn.Linear(1, 1), nn.Sigmoid())
    with torch.no_grad():
        u[0].weight.copy_(torch.tensor([[1.0, 2.0]]))
        u[0].bias.zero_()
        a[0].weight.fill_(3.0)
        a[0].bias.fill_(0.5)
    return Composite([u, a], [None, (0,)], [0, 1]).double()


@pytest.mark.parametrize("engine", [AutogradEngine, TaylorEngine])
def test_closed_form_derivatives_and_exact_zeros(engine):
    net = _closed_form_composite()
    pts = torch.rand(9, 2, dtype=torch.float64) * 2 - 1
    x, t = pts[:, 0], pts[:, 1]
    keys = [_p("u", 1, 0), _p("u", 0, 1), _p("u", 1, 1), _p("a", 0, 0), _p("a", 1, 0),
            _p("a", 2, 0), _p("a", 0, 1), _p("a", 0, 2), _p("a", 1, 1), _p("a", 0, 3)]
    got = engine()(net, pts, keys, ("u", "a"))
    th, s = torch.tanh(x + 2 * t), torch.sigmoid(3 * x + 0.5)
    want = {_p("u", 1, 0): 1 - th**2, _p("u", 0, 1): 2 * (1 - th**2),
            _p("u", 1, 1): -4 * th * (1 - th**2), _p("a", 0, 0): s,
            _p("a", 1, 0): 3 * s * (1 - s), _p("a", 2, 0): 9 * s * (1 - s) * (1 - 2 * s)}
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, atol=1e-12, rtol=0)
    for key in (_p("a", 0, 1), _p("a", 0, 2), _p("a", 0, 3)):  # along t only: exactly 0
        assert torch.equal(got[key], torch.zeros_like(x)), key
    assert torch.equal(got[_p("a", 1, 1)], torch.zeros_like(x))  # mixed: exactly 0 too
    moved = pts.clone()
    moved[:, 1] += 0.37
    assert torch.equal(net(moved)[:, 1], net(pts)[:, 1])  # a does not see t at all


def test_composite_taylor_equals_autograd_to_round_off():
    torch.manual_seed(0)
    net = build_network(3, ["a", "u", "b"], {"a": (0, 1), "b": (2,)}, 8, 2, "tanh",
                        [0, 0, 0], [1, 2, 1], (2, 0.5), 0, {0: (0.0, 1.0)}).double()
    assert isinstance(net, Composite) and supports(net)
    assert isinstance(make_engine("auto", net), TaylorEngine)
    x = torch.rand(7, 3, dtype=torch.float64)
    lap = [((2, 0, 0), 1.0), ((0, 2, 0), 1.0), ((0, 0, 2), 1.0)]
    keys = [_p(f, *o) for f in "aub" for o in
            [(0, 0, 0), (1, 0, 0), (0, 0, 1), (1, 1, 0), (0, 2, 1), (3, 0, 0), (2, 1, 1)]]
    keys += [Combo.of(f, lap) for f in "aub"]
    want = AutogradEngine()(net, x, keys, ("a", "u", "b"))
    got = TaylorEngine()(net, x, keys, ("a", "u", "b"))
    for key in keys:
        scale = 1.0 + float(want[key].detach().abs().max())
        assert float((got[key] - want[key]).detach().abs().max()) <= 1e-12 * scale, key
    params = list(net.parameters())
    loss = lambda table: sum((table[k] ** 2).mean() for k in keys)  # noqa: E731
    for g_got, g_want in zip(torch.autograd.grad(loss(got), params),
                             torch.autograd.grad(loss(want), params), strict=True):
        assert float((g_got - g_want).abs().max()) <= 1e-11 * (1 + float(g_want.abs().max()))


def test_the_outputs_come_back_in_the_declared_order():
    torch.manual_seed(0)
    net = build_network(2, ["a", "u"], {"a": (0,)}, 4, 1).double()  # a's block comes second
    x = torch.rand(5, 2, dtype=torch.float64)
    full, only_x = net.nets[0], net.nets[1]
    torch.testing.assert_close(net(x), torch.cat([only_x(x[:, :1]), full(x)], 1))
    assert isinstance(build_network(2, ["u"], {}, 4, 1), MLP)  # nothing restricted


HEAT = """
inputs: [x, t]
outputs: [u, {{a: [x]}}]
domain: {{x: [0, 1], t: [0, 1]}}
equations:
  heat: {heat}
conditions:
  initial: {{on: t == 0, residual: u - sin(pi*x)}}
  walls: {{on: x == 0 or x == 1, residual: u}}
model: {{width: 8, depth: 2, dtype: float64}}
training:
  points: {{domain: 64, boundary: 16}}
  stages: [{{optimizer: adam, lr: 0.01, steps: 4}}]
"""


def _write(tmp_path, heat="u_t - d(a*u_x, x)", name="h.yaml", text=HEAT):
    path = tmp_path / name
    path.write_text(text.format(heat=heat))
    return path


def test_yaml_and_python_declare_the_same_problem(tmp_path):
    problem, cfg = resolve(_write(tmp_path))
    assert problem.outputs == ("u", "a") and problem.depends == {"a": ("x",)}
    assert cfg.outputs == ("u", {"a": ["x"]})

    class Heat(pinnkit.Problem):
        inputs = ("x", "t")
        outputs = ("u", {"a": ("x",)})
        domain = pinnkit.Box(x=(0, 1), t=(0, 1))
        equations = {"heat": "u_t - d(a*u_x, x)"}
        conditions = {"initial": ("t == 0", "u - sin(pi*x)"), "walls": ("x == 0 or x == 1", "u")}

    compiled, _ = resolve(Heat())
    assert compiled.outputs == ("u", "a") and compiled.depends == {"a": ("x",)}
    model = build_setup(compiled, cfg).model
    assert isinstance(model, Composite) and [n.n_in for n in model.nets] == [2, 1]


def test_zero_derivatives_are_dropped_before_the_engine(tmp_path):
    problem, _ = resolve(_write(tmp_path, heat="u_t - d(a*u_x, x) - d(a*u, t)"))
    (heat,) = [t for t in problem.terms if t.name == "heat"]
    assert heat.zero == {_p("a", 0, 1)}
    assert all(p.field != "a" or p.orders[1] == 0 for p in heat.partials)


def test_a_term_zero_by_dependence_is_a_check_error(tmp_path, capsys):
    path = _write(tmp_path, heat="u_t - d(a*u_x, x)\n  frozen: a_t + 0*a_xt")
    assert main(["check", str(path)]) == 2
    out = capsys.readouterr().out
    assert "error   [dependence] equations.frozen (line 7 of " in out
    assert ("equation 'frozen' (a_t + 0*a_xt) is identically zero: a_t and a_xt are zero "
            "because a depends on x only, so the term does not depend on the network and "
            "cannot be trained. Fix: remove the term") in out
    with pytest.raises(pinnkit.CheckError, match=r"\[dependence\] equations.frozen"):
        pinnkit.train(path, run_dir=False, progress=False)


def test_zero_derivatives_in_a_live_term_are_a_note_and_a_full_group_too(tmp_path, capsys):
    text = HEAT.replace("[u, {{a: [x]}}]", "[u, {{a: [x]}}, {{b: [x, t]}}]")
    path = _write(tmp_path, heat="u_t - d(a*u_x, x) - d(a, t) + 0*b", text=text)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "info    [dependence] equations.heat (line 6 of " in out
    assert "equation 'heat' reads a_t, identically zero because a depends on x only: read " \
        "as 0, not computed" in out
    assert "info    [dependence] outputs.2.b (line 3 of " in out
    assert "b is declared over every input (x, t), so it is an ordinary output" in out
    problem, cfg = resolve(path)
    assert problem.depends == {"a": ("x",)}
    assert [n.n_in for n in build_setup(problem, cfg).model.nets] == [2, 1]  # u and b: one


def test_a_method_residual_reads_zeros(tmp_path):
    class Frozen(pinnkit.Problem):
        inputs = ("x", "t")
        outputs = ("u", {"a": "x"})
        domain = pinnkit.Box(x=(0, 1), t=(0, 1))
        conditions = {"initial": ("t == 0", "u - sin(pi*x)")}

        def heat(self, d):
            return d.u_t - d.a * d.u_xx - d.a_t * d.u

        equations = {"heat": heat}

    problem, _ = resolve(Frozen())
    (heat,) = [t for t in problem.terms if t.name == "heat"]
    assert heat.zero == {_p("a", 0, 1)} and _p("a", 0, 1) not in heat.needs
    x = torch.rand(5, 2, dtype=torch.float64)
    table = AutogradEngine()(build_setup(problem, resolve(Frozen())[1]).model.double(), x,
                             heat.needs, problem.outputs)
    env = problem.env(x, table)
    torch.testing.assert_close(heat.residual(env), table[_p("u", 0, 1)] - table[_p("a", 0, 0)]
                               * table[_p("u", 2, 0)])


def test_periodic_condition_skips_a_field_constant_in_that_input(tmp_path):
    text = HEAT.replace("  walls:", "  cycle: {{periodic: t}}\n  walls:")
    problem, _ = resolve(_write(tmp_path, text=text))
    (cycle,) = [t for t in problem.terms if t.name == "cycle"]
    assert {p.field for p in cycle.needs} == {"u"}


def test_outputs_are_frozen_on_resume(tmp_path, capsys):
    path = _write(tmp_path)
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run), "--quiet"]) == 0
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=False)["state"]
    assert any(k.startswith("nets.1.hidden.0") for k in state["model"])
    capsys.readouterr()
    assert main(["train", str(run), "--resume", "--set", "outputs=[u, a]",
                 "--set", "training.stages.0.steps=6"]) == 2
    assert "outputs (from --set): ['u', 'a'] where the run in" in capsys.readouterr().err
    assert main(["train", str(run), "--resume", "--set", "training.stages.0.steps=6",
                 "--quiet"]) == 0


def test_config_errors_name_the_group(tmp_path):
    cases = {
        "[u, {a: [x, s]}]": r"outputs.1.a \(line 3 of .*\): 's' is not an input; expected "
                            r"inputs from: x, t. Fix: list inputs only",
        "[u, {a: []}]": r"outputs.1.a \(line 3 .*lists no inputs; expected at least one of: "
                        r"x, t",
        "[u, {a: [t, t]}]": r"outputs.1.a \(line 3 .*lists 't' twice",
        "[u, {}]": r"outputs.1 \(line 3 .*is an empty mapping",
        "[u, {a: {x: 1}}]": r"outputs.1.a \(line 3 .*found dict",
        "[u, 7]": r"outputs \(line 3 .*'7' is not a usable name",
    }
    for outputs, message in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text(HEAT.format(heat="u_t - u_xx").replace("[u, {a: [x]}]", outputs))
        with pytest.raises(ConfigError, match=message):
            pinnkit.check(path)


# the inverse problem: u_t = d(a u_x)/dx + f on [0, 1]^2 with the coefficient a(x) = 1 + x^2
# unknown, recovered from 400 observations of u = exp(-t) sin(pi x) and a(0) = 1
INVERSE = """
name: coefficient
inputs: [x, t]
outputs: [u, {a: [x]}]
domain: {x: [0, 1], t: [0, 1]}
equations:
  pde: u_t - d(a*u_x, x) - exp(-t)*(-sin(pi*x) - 2*pi*x*cos(pi*x) + (1 + x**2)*pi**2*sin(pi*x))
conditions:
  left: {on: x == 0, residual: a - 1}
  initial: {on: t == 0, residual: u - sin(pi*x)}
  walls: {on: x == 0 or x == 1, residual: u}
data:
  obs: {file: obs.csv, weight: 100}
exact: {u: exp(-t)*sin(pi*x), a: 1 + x**2}
model: {width: 16, depth: 2, dtype: float64}
training:
  points: {domain: 128, boundary: 32, resample_every: 100000}
  stages:
    - {optimizer: adam, lr: 0.01, steps: 150}
    - {optimizer: lbfgs, steps: 150}
logging: {every: 100, tensorboard: false}
"""


def _observations() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x, t = rng.random(400), rng.random(400)
    return x, t, np.exp(-t) * np.sin(math.pi * x)


@pytest.fixture
def one_thread():
    """Small networks: torch's threads only add overhead (and fight other processes)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow  # an accuracy run (4 s); pytest -m slow
def test_inverse_coefficient_is_recovered_from_data_cli_and_python(tmp_path, capsys,
                                                                   one_thread):
    x, t, u = _observations()
    np.savetxt(tmp_path / "obs.csv", np.stack([x, t, u], 1), delimiter=",", header="x,t,u",
               comments="")
    config = tmp_path / "inverse.yaml"
    config.write_text(INVERSE)
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    capsys.readouterr()
    import json

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    err = metrics["l2_relative_error"]
    assert metrics["engine"] == "taylor"
    assert err["u"] < 1e-2 and err["a"] < 5e-2, err  # measured: u 2.7e-3, a 1.3e-2

    class Coefficient(pinnkit.Problem):  # the same problem, declared in Python
        inputs = ("x", "t")
        outputs = ("u", {"a": ("x",)})
        domain = pinnkit.Box(x=(0, 1), t=(0, 1))
        equations = {"pde": INVERSE.split("pde: ")[1].split("\n")[0]}
        conditions = {"left": ("x == 0", "a - 1"), "initial": ("t == 0", "u - sin(pi*x)"),
                      "walls": ("x == 0 or x == 1", "u")}
        data = {"obs": {"table": {"x": x, "t": t, "u": u}, "weight": 100}}

        def exact(self, x, t):
            return torch.exp(-t) * torch.sin(torch.pi * x), 1 + x**2

    recipe = {k: v for k, v in __import__("yaml").safe_load(INVERSE).items()
              if k in ("name", "model", "training", "logging")}
    run = pinnkit.train(Coefficient(), config=recipe, run_dir=False, progress=False)
    same = run.metrics["l2_relative_error"]
    assert same["a"] == pytest.approx(err["a"], rel=1e-6)
    assert same["u"] == pytest.approx(err["u"], rel=1e-6)


def test_derivatives_of_a_composite_say_nothing_of_its_declared_zeros():
    """a_t of a(x) is zero by declaration, not a sign of a piecewise-linear network."""
    import warnings

    net = _closed_form_composite()
    pts = torch.rand(6, 2, dtype=torch.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = pinnkit.derivatives(net, pts, ["a_t", "a_xt", "a_x"], inputs=("x", "t"),
                                  outputs=("u", "a"))
    assert not [w for w in caught if "[smoothness]" in str(w.message)]  # (its Sigmoid clamps)
    assert torch.equal(got["a_t"], torch.zeros(6)) and torch.equal(got["a_xt"], torch.zeros(6))
    flat = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()
    with torch.no_grad():
        flat[0].weight[:, 1] = 0.0  # ignores t without saying so: still warned about
    with pytest.warns(pinnkit.CheckWarning, match=r"u_tt is exactly zero"):
        pinnkit.derivatives(flat, pts, ["u_tt"], inputs=("x", "t"), outputs=("u",))
