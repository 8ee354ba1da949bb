"""Reference tables (``exact: {file: ...}``): errors at the table's points, pictures from
its interpolant, ``pinnkit eval --reference``, and what a run records of its table."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import pinnkit
from pinnkit.cli import main
from pinnkit.errors import ConfigError
from pinnkit.training.metrics import errors_at, field_errors
from pinnkit.training.monitor import Monitor, error_record
from pinnkit.training.runfolder import field_pictures
from pinnkit.training.snapshot import plot_grid, snapshot

TWO_FIELDS = """\
name: pair
inputs: [x, y]
outputs: [u, v]
domain: {x: [0, 1], y: [0, 1]}
equations:
  a: u_xx + u_yy
  b: v - u
conditions:
  walls: {on: boundary, residual: u - x}
exact: {file: ref.csv}
model: {width: 6, depth: 1, dtype: float64}
training:
  points: {domain: 32, boundary: 16}
  stages: [{optimizer: adam, steps: 3}]
logging: {every: 1, grid: 16}
"""


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> Path:
    names = list(columns)
    rows = zip(*(np.asarray(v, dtype=float) for v in columns.values()), strict=True)
    body = "\n".join(",".join(repr(float(c)) for c in row) for row in rows)
    path.write_text(",".join(names) + "\n" + body + "\n")
    return path


class Affine(torch.nn.Module):
    """u = x + 2y, v = 1: a network whose errors against a table are known by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x[:, 0] + 2 * x[:, 1] + 0 * self.w
        return torch.stack([u, torch.ones_like(u)], 1)


# --- the numbers ------------------------------------------------------------------------


def test_field_errors_match_hand_computed_values():
    """float64; the NaN cell of v is no reference value, so v is compared at 2 rows."""
    pred = np.array([[1.0, 2.0], [2.0, 0.0], [4.0, 5.0]])
    ref = np.array([[1.5, 1.0], [2.0, np.nan], [3.0, 3.0]])
    e = field_errors(pred, ref, ("u", "v"))
    # u: diff (-0.5, 0, 1); v: diff (1, 2) at rows 0 and 2
    assert e["l2_relative"]["u"] == pytest.approx(math.sqrt(1.25 / (2.25 + 4 + 9)), rel=1e-15)
    assert e["l2_relative"]["v"] == pytest.approx(math.sqrt(5 / 10), rel=1e-15)
    assert e["mean_abs"] == pytest.approx({"u": 0.5, "v": 1.5}, rel=1e-15)
    assert e["max_abs"] == pytest.approx({"u": 1.0, "v": 2.0}, rel=1e-15)
    pooled = math.sqrt((1.25 + 5) / (15.25 + 10))
    assert e["pooled"]["l2_relative"] == pytest.approx(pooled, rel=1e-15)


def test_a_field_without_reference_values_is_left_out_and_zero_fields_use_rms():
    pred = np.array([[1.0, 7.0], [3.0, 7.0]])
    ref = np.array([[0.0, np.nan], [0.0, np.nan]])
    e = field_errors(pred, ref, ("u", "v"))
    assert set(e["l2_relative"]) == set(e["max_abs"]) == {"u"}
    assert e["l2_relative"]["u"] == pytest.approx(math.sqrt(10 / 2))  # RMS: reference is 0
    assert e["pooled"]["l2_relative"] == pytest.approx(math.sqrt(10 / 2))
    rec = error_record(e)
    assert rec == pytest.approx({"l2/u": math.sqrt(5), "l1/u": 2.0, "linf/u": 3.0,
                                 "l2_pooled": math.sqrt(5)})


def test_errors_at_the_table_points_in_batches(monkeypatch):
    """errors_at evaluates the network in batches; the numbers do not depend on them."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (1000, 2))
    ref = np.stack([x[:, 0] + 2 * x[:, 1] + rng.normal(0, 0.1, 1000), np.ones(1000)], 1)
    whole = errors_at(Affine(), x, ref, ("u", "v"))
    from pinnkit.training import metrics

    real = metrics.predict
    monkeypatch.setattr(metrics, "predict", lambda m, xt: real(m, xt, batch=7))
    assert errors_at(Affine(), x, ref, ("u", "v")) == whole
    diff = (x[:, 0] + 2 * x[:, 1]) - ref[:, 0]
    assert whole["mean_abs"]["u"] == pytest.approx(np.abs(diff).mean(), rel=1e-14)
    assert whole["max_abs"]["v"] == 0.0


# --- the table in a config --------------------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    """A two-field config whose table holds u only (v has no reference)."""
    g = np.linspace(0, 1, 11)
    x, y = (a.ravel() for a in np.meshgrid(g, g, indexing="ij"))
    write_csv(tmp_path / "ref.csv", {"x": x, "y": y, "u": x + 2 * y})
    path = tmp_path / "pair.yaml"
    path.write_text(TWO_FIELDS)
    return path


def test_a_table_of_some_fields_compares_those_at_its_points(pair: Path):
    problem = pinnkit.check(pair)
    table = problem.reference
    assert table is not None and table.fields == ("u",) and len(table.x) == 121
    assert table.sha256 == pinnkit.data.file_sha256(pair.parent / "ref.csv")
    assert np.isnan(table.matrix()[:, 1]).all()
    assert "compares u (v: no reference)" in table.summary()
    cfg = pinnkit.config.load_config(pair)
    monitor = Monitor(problem, cfg)
    assert monitor.eval_x is table.x  # errors at the table's points, not on a grid
    record = monitor.errors(Affine())
    assert record == pytest.approx({"l2/u": 0.0, "l1/u": 0.0, "linf/u": 0.0,
                                    "l2_pooled": 0.0}, abs=1e-15)


def test_pictures_interpolate_the_table_and_skip_fields_without_one(pair: Path):
    """Linear interpolation reproduces u = x + 2y; v gets a prediction picture only."""
    problem = pinnkit.check(pair)
    grid = plot_grid(problem.shape, problem.inputs, 16)
    snap = snapshot(Affine(), problem, grid)
    assert snap.reference is not None and set(snap.reference) == {"u"}
    np.testing.assert_allclose(snap.reference["u"], snap.prediction["u"], atol=1e-12)
    pictures = field_pictures(snap)
    assert "field/u/error" in pictures and "field/v/prediction" in pictures
    assert "field/v/reference" not in pictures and "field/v/error" not in pictures


def test_interpolant_is_linear_inside_the_hull_and_nearest_outside(tmp_path: Path):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 0.8, (300, 2))
    x = np.vstack([x, [[0.2, 0.2], [0.8, 0.2], [0.2, 0.8], [0.8, 0.8]]])
    write_csv(tmp_path / "ref.csv", {"x": x[:, 0], "y": x[:, 1], "u": 3 * x[:, 0] - x[:, 1]})
    (tmp_path / "pair.yaml").write_text(TWO_FIELDS)
    table = pinnkit.check(tmp_path / "pair.yaml").reference
    inside = torch.tensor([[0.5, 0.5], [0.3, 0.7]])
    np.testing.assert_allclose(table(inside)[:, 0].numpy(), [1.0, 0.2], atol=1e-12)
    corner = table(torch.tensor([[0.0, 0.0]]))[0, 0]  # outside the hull: the nearest point's
    assert float(corner) == pytest.approx(3 * 0.2 - 0.2)
    assert torch.isnan(table(inside)[:, 1]).all()  # v: no column, no reference


def test_a_one_input_table_is_interpolated_along_its_axis(tmp_path: Path):
    write_csv(tmp_path / "ref.csv", {"x": [0.0, 0.5, 1.0], "u": [0.0, 1.0, 4.0]})
    (tmp_path / "line.yaml").write_text(
        "inputs: [x]\noutputs: [u]\ndomain: {x: [0, 1]}\nequations: {e: u_xx - 2}\n"
        "conditions: {ends: {on: boundary, residual: u}}\nexact: {file: ref.csv}\n")
    table = pinnkit.check(tmp_path / "line.yaml").reference
    vals = table(torch.tensor([[0.25], [0.75], [1.0]]))[:, 0]
    np.testing.assert_allclose(vals.numpy(), [0.5, 2.5, 4.0])


def test_a_table_from_python_columns(tmp_path: Path):
    class Pair(pinnkit.Problem):
        inputs, outputs = ("x",), ("u",)
        domain = pinnkit.Box(x=(0, 1))
        equations = {"e": "u_xx"}
        conditions = {"ends": ("boundary", "u - x")}
        exact = {"table": {"x": np.array([0.0, 1.0]), "u": np.array([0.0, 1.0])}}

    problem = pinnkit.check(Pair())
    assert problem.reference.fields == ("u",) and problem.reference.sha256 is None


# --- what is wrong with a table ---------------------------------------------------------


@pytest.mark.parametrize(("columns", "message"), [
    ({"x": [0.5], "Y": [0.5], "u": [1.0]},
     r"exact.file \(line 10 of .*pair.yaml\): column 'Y' of ref.csv is neither an input "
     r"nor an output \(did you mean 'y'\?\); expected columns named after the inputs \(x, y\)"),
    ({"x": [0.5], "u": [1.0]}, r"ref.csv has no column 'y'"),
    ({"x": [0.5], "y": [0.5]}, r"ref.csv has no column for any output \(columns: x, y\)"),
    ({"x": [0.5], "y": [1.5], "u": [1.0]}, r"line 2 \(row 1\), column 'y': y = 1.5 lies "
     r"outside the domain"),
    ({"x": [0.5, 0.2], "y": [0.5, 0.2], "u": [1.0, math.inf]},
     r"ref.csv, line 3 \(row 2\), column 'u': found inf"),
    ({"x": [0.5], "y": [0.5], "u": [math.nan]}, r"column 'u' has no values \(all nan\)"),
])
def test_table_errors_name_the_key_the_file_and_the_fix(tmp_path, columns, message):
    write_csv(tmp_path / "ref.csv", columns)
    (tmp_path / "pair.yaml").write_text(TWO_FIELDS)
    with pytest.raises(ConfigError, match=message) as info:
        pinnkit.check(tmp_path / "pair.yaml")
    assert info.value.key == "exact.file" and "Fix: " in str(info.value)


@pytest.mark.parametrize(("spec", "message"), [
    ("{file: ref.csv, u: x}", r"exact.u \(line 10.*: an expression for 'u' beside a table "
     r"\(file:\).*Fix: put u's values in the table as a column 'u', or remove file:"),
    ("{file: ref.csv, sha: abc}", r"exact.sha .*unknown key 'sha' \(did you mean 'sha256'\?\)"),
    ("{file: nope.csv}", r"exact.file .*file 'nope.csv' not found \(did you mean 'ref.csv'"),
])
def test_table_spec_errors(tmp_path, spec, message):
    write_csv(tmp_path / "ref.csv", {"x": [0.5], "y": [0.5], "u": [1.0]})
    (tmp_path / "pair.yaml").write_text(TWO_FIELDS.replace("{file: ref.csv}", spec))
    with pytest.raises(ConfigError, match=message):
        pinnkit.check(tmp_path / "pair.yaml")


def test_a_table_past_the_row_bound_is_refused(tmp_path, monkeypatch):
    from pinnkit.config.schema import LIMITS

    monkeypatch.setitem(LIMITS, "table.rows", (3, LIMITS["table.rows"][1]))
    write_csv(tmp_path / "ref.csv", {"x": [0.1] * 4, "y": [0.1] * 4, "u": [1.0] * 4})
    (tmp_path / "pair.yaml").write_text(TWO_FIELDS)
    with pytest.raises(ConfigError, match=r"exact.file .*ref.csv has more than 3 rows; "
                       r"expected at most 3 \(reference and condition tables hold"):
        pinnkit.check(tmp_path / "pair.yaml")


# --- a run, eval --reference, and a table that changes after the run ----------------------

HEAT = (Path(__file__).parent / "conftest.py").read_text().split('TINY = """')[1] \
    .split('"""')[0].replace("exact: exp(-alpha*pi**2*t)*sin(pi*x)", "exact: {file: ref.csv}")


def heat_table(path: Path, n: int = 21, noise: float = 0.0) -> Path:
    g = np.linspace(0, 1, n)
    x, t = (a.ravel() for a in np.meshgrid(g, g, indexing="ij"))
    u = np.exp(-0.1 * np.pi**2 * t) * np.sin(np.pi * x) + noise * np.cos(7 * x)
    return write_csv(path, {"x": x, "t": t, "u": u})


@pytest.fixture(scope="module")
def heat_run(tmp_path_factory) -> Path:
    """A few steps of the heat problem against a table beside its config."""
    tmp = tmp_path_factory.mktemp("table_run")
    heat_table(tmp / "ref.csv")
    (tmp / "heat.yaml").write_text(HEAT)
    assert main(["train", str(tmp / "heat.yaml"), "--quiet", "--out", str(tmp / "run")]) == 0
    return tmp / "run"


def _hand_errors(trained, columns: dict[str, np.ndarray]) -> tuple[float, float, float]:
    x = np.stack([columns["x"], columns["t"]], 1)
    err = trained.predict(x)[:, 0] - columns["u"]
    return (float(np.linalg.norm(err) / np.linalg.norm(columns["u"])),
            float(np.abs(err).mean()), float(np.abs(err).max()))


def _table(path: Path) -> dict[str, np.ndarray]:
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return {"x": data[:, 0], "t": data[:, 1], "u": data[:, 2]}


def test_a_run_records_its_table_and_reports_errors_at_its_points(heat_run: Path):
    saved = yaml.safe_load((heat_run / "config.yaml").read_text())["exact"]
    assert saved["file"] == "../ref.csv"  # relative to the run folder
    assert saved["sha256"] == pinnkit.data.file_sha256(heat_run.parent / "ref.csv")
    metrics = yaml.safe_load((heat_run / "metrics.json").read_text())
    assert metrics["reference"]["points"] == 441 and metrics["reference"]["table"] == "ref.csv"
    trained = pinnkit.load(heat_run)
    l2, l1, linf = _hand_errors(trained, _table(heat_run.parent / "ref.csv"))
    assert metrics["l2_relative_error"]["u"] == pytest.approx(l2, rel=1e-9)
    assert metrics["mean_abs_error"]["u"] == pytest.approx(l1, rel=1e-9)
    assert metrics["max_abs_error"]["u"] == pytest.approx(linf, rel=1e-9)
    assert metrics["l2_relative_error_pooled"] == pytest.approx(l2, rel=1e-9)
    n, errors = trained.table_errors()
    assert n == 441 and errors["l2_relative"]["u"] == pytest.approx(l2, rel=1e-12)
    with pytest.raises(pinnkit.PinnkitError, match=r"is the table .*ref.csv: its errors are "
                       r"measured at the table's points.*Fix: use table_errors\(\)"):
        trained.grid_errors()


def test_eval_reference_prints_the_errors_at_another_table(heat_run, tmp_path, capsys,
                                                           monkeypatch):
    other = heat_table(tmp_path / "other.csv", n=13, noise=0.01)
    monkeypatch.chdir(tmp_path)
    assert main(["eval", str(heat_run), "--reference", "other.csv"]) == 0
    out = capsys.readouterr().out
    assert "at the 169 points of other.csv:" in out
    row = next(line.split() for line in out.splitlines() if line.startswith("u "))
    hand = _hand_errors(pinnkit.load(heat_run), _table(other))
    assert [float(v) for v in row[1:]] == pytest.approx(hand, rel=2e-3)  # printed to 4 digits
    assert [f"{v:.3e}" for v in hand] == row[1:]
    # the same from Python, with the columns in memory
    n, errors = pinnkit.load(heat_run).table_errors(_table(other))
    assert n == 169 and errors["l2_relative"]["u"] == pytest.approx(hand[0], rel=1e-12)


def test_eval_reference_refuses_a_table_that_does_not_fit(heat_run, tmp_path, capsys):
    bad = write_csv(tmp_path / "bad.csv", {"x": [0.5], "time": [0.5], "u": [1.0]})
    assert main(["eval", str(heat_run), "--reference", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"--reference: column 'time' of {bad} is neither an input nor an output" in err
    assert "expected columns named after the inputs (x, t) and outputs (u)" in err
    assert main(["eval", str(heat_run), "--reference", str(bad), "--points", str(bad)]) == 2
    assert "--reference measures errors at its table's points" in capsys.readouterr().err


def test_a_changed_or_moved_table_is_refused_and_another_can_be_given(heat_run, tmp_path,
                                                                      capsys):
    run = tmp_path / "run"
    shutil.copytree(heat_run, run)
    (tmp_path / "ref.csv").write_text((heat_run.parent / "ref.csv").read_text())
    assert main(["eval", str(run)]) == 0  # the same bytes beside the copy: accepted
    capsys.readouterr()
    heat_table(tmp_path / "ref.csv", noise=0.1)  # regenerated differently
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    assert "exact.sha256 (line" in err and "../ref.csv has changed since the run was trained" \
        in err and "Fix: restore that file, or compare with another table: pinnkit eval RUN " \
        "--reference FILE" in err
    # the network still loads: fields at points, and errors against a table given now
    assert main(["eval", str(run), "--reference", str(tmp_path / "ref.csv")]) == 0
    assert "at the 441 points of" in capsys.readouterr().out
    (tmp_path / "ref.csv").unlink()
    with pytest.raises(pinnkit.PinnkitError, match=r"exact.file .*the reference table "
                       r"../ref.csv is not there any more \(moved or deleted"):
        pinnkit.load(run).table_errors()
    assert pinnkit.load(run).predict(np.array([[0.5, 0.5]])).shape == (1, 1)


def test_plot_of_a_run_whose_table_moved_warns_and_draws_the_prediction(heat_run, tmp_path):
    pytest.importorskip("matplotlib")
    from pinnkit.plot import plot_run

    run = tmp_path / "run"
    shutil.copytree(heat_run, run)  # no ref.csv beside the copy
    with pytest.warns(UserWarning, match=r"the reference table ../ref.csv is not there any "
                      r"more.*; plotting without the reference"):
        paths = plot_run(run)
    assert (run / "plots" / "u.png") in paths


# --- the shipped example ----------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--set", "training.stages=[{optimizer: adam, steps: 2}]", "--set",
         "training.points.domain=64", "--set", "training.points.boundary=16",
         "--set", "model.width=8"]


def test_the_shipped_table_is_what_the_script_writes(tmp_path: Path):
    import subprocess
    import sys

    shipped = ROOT / "data" / "burgers_reference.csv"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_reference_tables.py"),
                    "--out", str(tmp_path)], check=True, capture_output=True)
    assert (tmp_path / "burgers_reference.csv").read_bytes() == shipped.read_bytes()
    assert shipped.stat().st_size < 1_000_000
    from pinnkit.reference import burgers_cole_hopf

    table = np.loadtxt(shipped, delimiter=",", comments="#", skiprows=2)
    rows = table[::997]
    want = burgers_cole_hopf(rows[:, 0], rows[:, 1], nu=0.1 / np.pi)
    np.testing.assert_allclose(rows[:, 2], want, rtol=0, atol=1e-13)


def test_the_table_example_trains_and_reports_its_error_from_yaml_alone(tmp_path, capsys):
    config = ROOT / "configs" / "burgers_table.yaml"
    assert main(["train", str(config), "--quiet", "--out", str(tmp_path / "run"), *QUICK]) == 0
    metrics = yaml.safe_load((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["reference"]["points"] == 8385 and metrics["l2_relative_error"]["u"] > 0
    assert main(["eval", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "at the 8385 points of" in out and "burgers_reference.csv:" in out
    run = pinnkit.train(config, run_dir=False, progress=False, overrides=QUICK[1::2])
    assert run.metrics["reference"]["points"] == 8385
    assert run.metrics["l2_relative_error"]["u"] == pytest.approx(
        metrics["l2_relative_error"]["u"], rel=1e-6)
