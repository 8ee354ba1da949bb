"""Conditions at given points: ``at:`` (points) and ``file:`` (a table's rows).

Losses are checked against hand values in float64 (conftest), the Gauss-Newton system
and chunks against the plain loss, and a table condition against the same condition
written with ``at:`` at the same points, end to end through the CLI.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from runhelpers import TINY, write_config

import pinnkit
from pinnkit.api import check_report, resolve
from pinnkit.cli import main
from pinnkit.config import load_config
from pinnkit.engines import make_engine
from pinnkit.errors import ConfigError
from pinnkit.training import trainer
from pinnkit.training.losses import Collocation, residual_rows, term_losses, total_loss
from pinnkit.training.setup import build_model, build_setup

SQUARE = """\
name: square
inputs: [x, y]
outputs: [u]
domain: {x: [0, 1], y: [0, 1]}
constants: {L: 1.0}
equations:
  laplace: u_xx + u_yy
conditions:
  walls: {on: boundary, residual: u - x - 2*y}
  pin: {at: [{x: 0.1, y: 0.2}, {x: L/2, y: 0.5}], residual: u_x + u - 3}
model: {width: 6, depth: 1, dtype: float64}
training:
  points: {domain: 32, boundary: 16}
  stages: [{optimizer: adam, steps: 2}]
"""


class Affine(torch.nn.Module):
    """u = x + 2y: its residuals at given points are known by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * (x[:, :1] + 2 * x[:, 1:2])).reshape(-1, 1)


def losses_of(path: Path, model: torch.nn.Module, overrides=()) -> dict[str, float]:
    problem, cfg = resolve(path, list(overrides))
    points = Collocation(problem, cfg.training.points, 0, torch.device("cpu"), torch.float64)
    engine = make_engine("autograd", model)
    losses = term_losses(model, engine, problem, points.sets)
    return {k: float(v.detach()) for k, v in losses.items()}


def test_a_point_condition_is_the_mean_of_its_squared_residuals(tmp_path: Path):
    path = tmp_path / "square.yaml"
    path.write_text(SQUARE)
    losses = losses_of(path, Affine())
    # u_x + u - 3 at (0.1, 0.2): 1 + 0.5 - 3 = -1.5; at (0.5, 0.5): 1 + 1.5 - 3 = -0.5
    assert losses["pin"] == pytest.approx((1.5**2 + 0.5**2) / 2, rel=1e-14)
    assert losses["walls"] == pytest.approx(0.0, abs=1e-28)  # u = x + 2y on the boundary
    problem, _ = resolve(path)
    pin = next(t for t in problem.terms if t.name == "pin")
    np.testing.assert_array_equal(pin.points.x, [[0.1, 0.2], [0.5, 0.5]])
    assert pin.selector is None and pin.kind == "condition"


def test_a_point_conditions_points_never_change(tmp_path: Path):
    path = tmp_path / "square.yaml"
    path.write_text(SQUARE)
    problem, cfg = resolve(path)
    points = Collocation(problem, cfg.training.points, 0, torch.device("cpu"), torch.float64)
    before = [ps.x.clone() for ps in points.sets if ps.terms[0].name == "pin"]
    points.sample(5)
    after = [ps.x for ps in points.sets if ps.terms[0].name == "pin"]
    assert len(before) == len(after) == 1 and torch.equal(before[0], after[0])


def test_a_point_condition_is_weighted_like_any_term(tmp_path: Path):
    path = tmp_path / "square.yaml"
    path.write_text(SQUARE.replace("residual: u_x + u - 3}", "residual: u_x + u - 3, "
                                   "weight: 4}"))
    problem, _ = resolve(path)
    assert {t.name: t.weight for t in problem.terms}["pin"] == 4.0
    problem, _ = resolve(path.with_name("square.yaml"), ["training.weights={pin: 2}",
                                                         "conditions.pin.weight=null"])
    assert {t.name: t.weight for t in problem.terms}["pin"] == 2.0


@pytest.mark.parametrize(("at", "message"), [
    ("{x: 1.5, y: 0}", r"conditions.pin.at \(line 10 of .*\): the point \(x = 1.5, y = 0\) "
     r"lies outside the domain Box.*; expected a point of the domain \(x in \[0, 1\], y in "
     r"\[0, 1\]\). Fix: move the point into the domain, or widen the domain"),
    ("[{x: 0, y: 0}, {x: 0.5, y: -0.1}]", r"conditions.pin.at.1 \(line 10.*: the point \(x = "
     r"0.5, y = -0.1\) lies outside the domain"),
    ("{x: 0}", r"conditions.pin.at .*the point gives no y; expected one value per input: x, "
     r"y. Fix: add y: <value>"),
    ("{x: 0, y: 0, z: 1}", r"conditions.pin.at.z .*'z' is not an input"),
    ("{x: 0, yy: 0}", r"'yy' is not an input \(did you mean 'y'\?\)"),
    ("{x: 0, y: M}", r"conditions.pin.at.y .*unknown name 'M'"),
    ("{x: 0, y: [1]}", r"conditions.pin.at.y .*found list \[1\]; expected a number"),
    ("[]", r"conditions.pin.at .*found list \[\]; expected a point \{x: 0, y: 0\} or a list"),
    ("0.5", r"conditions.pin.at .*found float 0.5"),
])
def test_point_errors_name_the_key_what_was_found_and_the_fix(tmp_path, at, message):
    path = tmp_path / "square.yaml"
    path.write_text(SQUARE.replace("at: [{x: 0.1, y: 0.2}, {x: L/2, y: 0.5}]", f"at: {at}"))
    with pytest.raises(ConfigError, match=message):
        resolve(path)


def test_at_beside_on_or_too_many_points_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "square.yaml"
    path.write_text(SQUARE.replace("{at:", "{on: x == 0, at:"))
    with pytest.raises(ConfigError, match=r"conditions.pin.on .*is given beside at:; "
                       r"expected either at: \(given points\) or on:"):
        resolve(path)
    from pinnkit.config.schema import LIMITS

    monkeypatch.setitem(LIMITS, "ConditionConfig.at", (1, "a few"))
    path.write_text(SQUARE)
    with pytest.raises(ConfigError, match=r"conditions.pin.at .*lists 2 points; expected at "
                       r"most 1 \(a few\). Fix: give a table of points instead"):
        resolve(path)


def test_point_conditions_from_python():
    class Pinned(pinnkit.Problem):
        inputs, outputs = ("x",), ("u",)
        domain = pinnkit.Box(x=(0, 1))
        equations = {"e": "u_xx + 1"}
        conditions = {"flux": ("boundary", "u_n"),
                      "pin": {"at": {"x": 0.5}, "residual": "u - 2"}}

    problem = pinnkit.check(Pinned())  # no constant_offset warning: pin reads u
    assert [t.name for t in problem.terms] == ["e", "flux", "pin"]


def test_a_field_seen_only_through_derivatives_is_flagged_until_pinned(tmp_path):
    """Pure Neumann: u + c solves the problem for every c (constant_offset check)."""
    neumann = SQUARE.replace("residual: u - x - 2*y}", "residual: u_n - nx - 2*ny}")
    path = tmp_path / "neumann.yaml"
    path.write_text(neumann.replace("residual: u_x + u - 3}", "residual: u_x - 1}"))
    report = check_report(path)
    found = [f for f in report.findings if f.check == "constant_offset"]
    assert len(found) == 1 and found[0].level == "warning"
    assert "no equation, condition or data reads u itself, only its derivatives" in \
        found[0].message and "at: {x: 0, y: 0}, residual: u - <value there>" in found[0].fix
    path.write_text(neumann)  # the pin reads u
    assert not [f for f in check_report(path).findings if f.check == "constant_offset"]


# --- conditions from tables ---------------------------------------------------------------


def write_csv(path: Path, columns: dict[str, object]) -> Path:
    arrays = [np.asarray(v, dtype=float) for v in columns.values()]
    rows = "\n".join(",".join(repr(float(c)) for c in r) for r in zip(*arrays, strict=True))
    path.write_text(",".join(columns) + "\n" + rows + "\n")
    return path


TABLE = SQUARE.replace("  pin: {at: [{x: 0.1, y: 0.2}, {x: L/2, y: 0.5}], residual: u_x + u - 3}",
                       "  right: {on: x == 1, file: right.csv, residual: u_n - g}")


def test_a_table_condition_reads_its_columns_and_normals_at_its_rows(tmp_path):
    write_csv(tmp_path / "right.csv", {"x": [1, 1, 1], "y": [0.25, 0.5, 0.75],
                                       "g": [0, 2, 5]})
    path = tmp_path / "table.yaml"
    path.write_text(TABLE)
    losses = losses_of(path, Affine())
    # u_n = nx u_x = 1 on x == 1 for u = x + 2y: residuals 1, -1, -4 (no corner: there the
    # normal is the domain's distance gradient, the diagonal)
    assert losses["right"] == pytest.approx((1 + 1 + 16) / 3, rel=1e-14)
    problem, _ = resolve(path)
    right = next(t for t in problem.terms if t.name == "right")
    np.testing.assert_allclose(right.points.normals, [[1, 0]] * 3, atol=1e-9)
    assert set(right.points.columns) == {"g"} and right.selector.text == "x == 1"


@pytest.mark.parametrize(("columns", "on", "message"), [
    ({"x": [1, 0.5], "y": [0, 0.5], "g": [0, 1]}, "x == 1",
     r"conditions.right.file \(line 10.*right.csv, line 3 \(row 2\), column 'x': the point "
     r"\(x = 0.5, y = 0.5\) is not on 'x == 1' \(1 of 2 rows\); expected points of the "
     r"boundary where on: holds. Fix: drop those rows, or change on:"),
    ({"x": [1, 1], "y": [0, 0.5], "g": [0, math.nan]}, "x == 1",
     r"right.csv, line 3 \(row 2\), column 'g': found nan; expected a finite number in every "
     r"cell"),
    ({"x": [1], "y": [0], "u": [0]}, "x == 1",
     r"column 'u' of right.csv cannot be read by name \(already a name of the problem\)"),
    ({"x": [1], "y": [0], "u_x": [0]}, "x == 1", r"column 'u_x' of right.csv cannot be read "
     r"by name \(already a name of the problem\)|reads as a derivative"),
    ({"x": [1], "g": [0]}, "x == 1", r"right.csv has no column 'y'"),
    ({"x": [1], "y": [2], "g": [0]}, "x == 1", r"y = 2 lies outside the domain"),
])
def test_table_condition_errors(tmp_path, columns, on, message):
    write_csv(tmp_path / "right.csv", columns)
    path = tmp_path / "table.yaml"
    path.write_text(TABLE.replace("on: x == 1", f"on: {on}"))
    with pytest.raises(ConfigError, match=message):
        resolve(path)


def test_a_table_condition_needs_on_and_refuses_named_parts(tmp_path):
    write_csv(tmp_path / "right.csv", {"x": [1], "y": [0], "g": [0]})
    path = tmp_path / "table.yaml"
    path.write_text(TABLE.replace("on: x == 1, ", ""))
    with pytest.raises(ConfigError, match=r"conditions.right.on .*is missing"):
        resolve(path)
    path.write_text(TABLE.replace("domain: {x: [0, 1], y: [0, 1]}",
                                  "domain: {box: {x: [0, 1], y: [0, 1], name: outer}}")
                    .replace("on: x == 1", "on: outer"))
    with pytest.raises(ConfigError, match=r"conditions.right.on .*names the boundary part "
                       r"'outer', but the points come from right.csv"):
        resolve(path)


def test_eval_refuses_a_table_conditions_residual_elsewhere(tmp_path):
    write_csv(tmp_path / "right.csv", {"x": [1, 1], "y": [0, 1], "g": [0, 1]})
    path = tmp_path / "table.yaml"
    path.write_text(TABLE)
    assert main(["train", str(path), "--quiet", "--out", str(tmp_path / "run")]) == 0
    with pytest.raises(pinnkit.PinnkitError, match=r"'right' reads the columns of \.\./right.csv, "
                       r"so it has no value at a point of its own"):
        pinnkit.load(tmp_path / "run").derivatives(np.array([[1.0, 0.5]]), "right")


# --- the trainer's paths: rows, Gauss-Newton, chunks, a whole run ---------------------------

U0 = {"x": np.linspace(0, 1, 11)[1:-1], "t": np.zeros(9)}
PIN = "  pin: {at: {x: 0.5, t: 0.5}, residual: u - exp(-alpha*pi**2*t)*sin(pi*x)}"
HEAT_TABLE = TINY.replace("  initial: {on: t == 0, residual: u - sin(pi*x)}",
                          "  initial: {on: t == 0, file: u0.csv, residual: u - u0}\n"
                          + PIN)
HEAT_POINTS = TINY.replace(
    "  initial: {on: t == 0, residual: u - sin(pi*x)}",
    "  initial: {at: [" + ", ".join(f"{{x: {float(x)!r}, t: 0}}" for x in U0["x"])
    + "], residual: u - sin(pi*x)}\n" + PIN)


@pytest.fixture
def heat_table(tmp_path: Path) -> Path:
    write_csv(tmp_path / "u0.csv", {**U0, "u0": np.sin(np.pi * U0["x"])})
    return write_config(tmp_path, HEAT_TABLE)


def test_rows_count_the_given_points(heat_table):
    problem, cfg = resolve(heat_table)
    pts = cfg.training.points  # 32 interior, 8 per sampled condition (walls), 9 + 1 given
    assert residual_rows(problem, pts) == 32 + 8 + 9 + 1


def test_gauss_newton_system_holds_the_given_points(heat_table):
    """J^T R is half the loss gradient and |R|^2 the loss, the new terms included."""
    problem, cfg = resolve(heat_table)
    state = trainer.new_state(build_setup(problem, cfg))
    engine = make_engine("taylor", state.model)
    closure = trainer.Closure(state, engine, problem)
    loss = float(closure().detach())
    assert {"initial", "pin"} <= set(closure.terms) and closure.terms["pin"] > 0
    grad = torch.cat([p.grad.reshape(-1) for p in state.trainable()])
    _, g, f = closure.normal_equations()
    assert f == pytest.approx(loss, rel=1e-12)
    assert float((2 * g - grad).abs().max()) <= 1e-12 * float(grad.abs().max())


@pytest.mark.parametrize("chunk", [2, 4])
def test_chunked_table_conditions_give_the_same_loss_and_gradients(heat_table, chunk):
    problem, _ = resolve(heat_table)
    results = []
    for size in (0, chunk):
        cfg = load_config(heat_table, [f"training.points.chunk={size}"])
        model = build_model(problem, cfg)
        points = Collocation(problem, cfg.training.points, 0, torch.device("cpu"),
                             torch.float64)
        losses = term_losses(model, make_engine("autograd", model), problem, points.sets)
        total = total_loss(losses, problem)
        total.backward()
        grads = [p.grad.clone() for p in model.parameters()]
        results.append((float(losses["initial"].detach()), grads))
    (a, ga), (b, gb) = results
    assert a == pytest.approx(b, rel=1e-12) and a > 0
    for x, y in zip(ga, gb, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14)


def test_a_table_condition_trains_as_the_same_condition_at_its_points(heat_table, tmp_path):
    """The CLI, end to end, with an lm stage and chunks: a condition from a table and the
    same condition written with at: at the table's points give the same network."""
    lm = ("training.stages=[{optimizer: adam, lr: 1.0e-2, steps: 20}, "
          "{optimizer: lm, steps: 5}]")
    (tmp_path / "points").mkdir()
    points = write_config(tmp_path / "points", HEAT_POINTS)
    runs = []
    for name, path in (("table", heat_table), ("points", points)):
        out = tmp_path / f"run_{name}"
        assert main(["train", str(path), "--quiet", "--out", str(out), "--set", lm,
                     "--set", "training.points.chunk=4"]) == 0
        runs.append(out)
    a = torch.load(runs[0] / "checkpoints" / "last.pt", weights_only=True)["state"]["model"]
    b = torch.load(runs[1] / "checkpoints" / "last.pt", weights_only=True)["state"]["model"]
    for key, value in a.items():
        torch.testing.assert_close(value, b[key], rtol=1e-9, atol=1e-11)
    metrics = yaml.safe_load((runs[0] / "metrics.json").read_text())
    assert metrics["finished"] and set(metrics["loss"]) == {"heat", "initial", "pin", "walls"}
    assert 0 < metrics["l2_relative_error"]["u"] < 1
    saved = yaml.safe_load((runs[0] / "config.yaml").read_text())
    assert saved["conditions"]["initial"]["file"] == "../u0.csv"  # found from the run folder
    trained = pinnkit.load(runs[0])  # from its own config.yaml, from any folder
    assert trained.predict(np.array([[0.5, 0.0]])).shape == (1, 1)


def test_the_point_condition_example_trains_from_yaml_and_python(tmp_path):
    config = Path(__file__).resolve().parents[1] / "configs" / "poisson_neumann.yaml"
    quick = ["training.stages=[{optimizer: adam, steps: 2}]", "training.points.domain=64",
             "training.points.boundary=16", "model.width=8"]
    args = [a for q in quick for a in ("--set", q)]
    assert main(["train", str(config), "--quiet", "--out", str(tmp_path / "run"), *args]) == 0
    metrics = yaml.safe_load((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["loss"]) == {"poisson", "flux", "pin"}
    run = pinnkit.train(config, run_dir=False, progress=False, overrides=quick)
    assert run.metrics["loss"]["pin"] == pytest.approx(metrics["loss"]["pin"], rel=1e-6)
    assert run.metrics["l2_relative_error"]["u"] == pytest.approx(
        metrics["l2_relative_error"]["u"], rel=1e-6)
    assert not [f for f in check_report(config).findings if f.check == "constant_offset"]
