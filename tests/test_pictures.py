"""Field pictures: the grid (1-D line, 2-D map, slices of more), the numpy renderer that
TensorBoard images use, the console's plain progress lines."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import pinnkit
from pinnkit.api import resolve
from pinnkit.cli import main
from pinnkit.config import config_from_data, read_yaml
from pinnkit.errors import ConfigError
from pinnkit.geometry import Box
from pinnkit.log.console import Progress
from pinnkit.log.images import _VIRIDIS, COLORS, OUTSIDE, colorize, heatmap, line_plot
from pinnkit.problem import compile_problem, problem_from_config
from pinnkit.training import trainer
from pinnkit.training.runfolder import field_pictures
from pinnkit.training.setup import build_model, build_setup
from pinnkit.training.snapshot import LINE_POINTS, plot_grid, snapshot

POISSON_1D = """\
name: poisson1d
inputs: [x]
outputs: [u]
domain: {x: [-1, 1]}
equations:
  pde: u_xx + pi**2*sin(pi*x)
conditions:
  ends: {on: x == -1 or x == 1, residual: u}
exact: sin(pi*x)
model: {width: 6, depth: 1, dtype: float64}
training:
  points: {domain: 16, boundary: 2}
  stages: [{optimizer: adam, lr: 0.01, steps: 20}]
logging: {every: 10}
"""


def test_colormap_ends_and_outside_points() -> None:
    rgb = colorize(np.array([0.0, 1.0, np.nan, 0.5]), 0.0, 1.0)
    assert rgb.dtype == np.uint8
    assert tuple(rgb[0]) == tuple(_VIRIDIS[0]) and tuple(rgb[1]) == tuple(_VIRIDIS[-1])
    assert tuple(rgb[2]) == OUTSIDE and tuple(rgb[3]) == tuple(_VIRIDIS[4])


def test_heatmap_puts_the_first_input_right_and_the_second_up() -> None:
    a = np.linspace(0, 1, 8)
    along_x = np.repeat(a[:, None], 8, axis=1)  # values[i, j]: i along x, j along t
    along_t = along_x.T.copy()
    for values, low_corner, high_corner in [(along_x, "left", "right"), (along_t, "bottom", "top")]:
        img = heatmap(values, height=64)
        pad, size = 8, 64
        corners = {"left": img[pad + size // 2, pad], "right": img[pad + size // 2, pad + size - 1],
                   "bottom": img[pad + size - 1, pad + size // 2], "top": img[pad, pad + size // 2]}
        assert tuple(corners[low_corner]) == tuple(_VIRIDIS[0])
        assert tuple(corners[high_corner]) == tuple(_VIRIDIS[-1])


def test_line_plot_draws_the_curve_where_it_belongs() -> None:
    x = np.linspace(0, 1, 50)
    img = line_plot(x, [x], size=(100, 200))
    blue = np.all(img == COLORS[0], axis=-1)
    rows, cols = np.nonzero(blue)
    assert rows.size > 100
    # y = x rises to the right: the leftmost blue pixels sit lower than the rightmost
    assert rows[cols == cols.min()].mean() > rows[cols == cols.max()].mean() + 50


def test_plot_grid_lines_maps_and_slices() -> None:
    line = plot_grid(Box(x=(0, 2)), ("x",), 32)
    assert line.axes == ("x",) and line.shape == (LINE_POINTS,) and line.fixed == {}
    box = Box(x=(0, 1), y=(0, 2), z=(-1, 1), w=(0, 4))
    grid = plot_grid(box, ("x", "y", "z", "w"), 16, {"z": 0.25})
    assert grid.axes == ("x", "y") and grid.shape == (16, 16)
    assert grid.fixed == {"z": 0.25, "w": 2.0}  # w: not named, held at its midpoint
    assert np.all(grid.points[:, 2] == 0.25) and np.all(grid.points[:, 3] == 2.0)
    assert grid.points[:, 1].max() == 2.0 and grid.title() == "x vs y at z=0.25, w=2"


@pytest.mark.parametrize("fixed, message", [
    ({"zz": 0.5}, "logging.slice.zz: 'zz' is not an input (did you mean 'z'?); expected one "
                  "of 'x', 'y', 'z'. Fix: name an input to hold fixed"),
    ({"z": 3.0}, "logging.slice.z: 3 lies outside the domain [-1, 1]; expected a value in "
                 "[-1, 1]. Fix: pick a value inside"),
    ({"x": 0, "y": 0, "z": 0}, "logging.slice: holds every input fixed; expected at most 2 of "
                               "x, y, z. Fix: leave one or two inputs out of logging.slice"),
])
def test_slice_errors(fixed: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        plot_grid(Box(x=(0, 1), y=(0, 1), z=(-1, 1)), ("x", "y", "z"), 8, fixed)
    assert str(info.value) == message


def test_a_bad_slice_in_yaml_stops_before_training(tmp_path: Path) -> None:
    config = tmp_path / "p.yaml"
    config.write_text(POISSON_1D.replace("logging: {every: 10}",
                                         "logging:\n  every: 10\n  slice: {y: 0.5}"))
    problem, cfg = resolve(config)
    with pytest.raises(ConfigError, match=r"logging.slice.y \(line 16 of .*p.yaml\): 'y' is "
                                          r"not an input"):
        trainer.fit(build_setup(problem, cfg), None, progress=False)


def test_one_input_runs_give_line_pictures_and_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    config = tmp_path / "poisson1d.yaml"
    config.write_text(POISSON_1D)
    run_dir = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run_dir), "--quiet"]) == 0
    trained = pinnkit.load(run_dir)
    snap = snapshot(trained.model, trained.problem, plot_grid(trained.problem.shape, ("x",), 16))
    pictures = field_pictures(snap)
    assert set(pictures) == {"field/u/prediction", "field/u/reference", "field/u/error"}
    assert all(p.shape == (256, 512, 3) and p.dtype == np.uint8 for p in pictures.values())
    assert main(["plot", str(run_dir)]) == 0
    data = (run_dir / "plots" / "u.png").read_bytes()
    assert struct.unpack(">II", data[16:24]) == (900, 400)  # curves, error


def test_without_a_reference_only_the_prediction_is_pictured() -> None:
    data, lines = read_yaml(POISSON_1D.replace("exact: sin(pi*x)\n", ""))
    cfg = config_from_data(data, lines, "<test>")
    problem = compile_problem(problem_from_config(cfg), cfg)
    model = build_model(problem, cfg).double()
    snap = snapshot(model, problem, plot_grid(problem.shape, problem.inputs, 16))
    assert snap.reference is None and set(field_pictures(snap)) == {"field/u/prediction"}


def test_plain_progress_lines_carry_errors_and_an_eta(capsys: pytest.CaptureFixture) -> None:
    progress = Progress(enabled=True, every=10)
    progress.stage("stage 1/1 adam", 100)
    progress.update(5, 5, 1.0, {})
    progress.update(10, 5, 0.5, {"l2 u": 0.25})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("[stage 1/1 adam] step     10  loss 5.0000e-01  l2 u 2.500e-01")
    assert " eta 0:" in lines[0]


def test_eta_leaves_out_the_first_call_and_the_postfix_says_when_it_was_measured(
        capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first call that compiles for 60 s, then 1 s per step: 90 steps left take 90 s,
    not the 150 s that counting the compile would say. Errors come with records only."""
    import pinnkit.log.console as console

    now = [0.0]
    monkeypatch.setattr(console.time, "perf_counter", lambda: now[0])
    progress = Progress(enabled=True, every=10)
    progress.stage("stage 1/1 adam", 100)
    now[0] = 60.0
    progress.update(1, 1, 1.0, {"l2 u": 0.5, "alpha": 0.25})
    now[0] = 69.0
    progress.update(10, 9, 0.5, None)
    line = capsys.readouterr().out.strip()
    assert line.endswith("eta 1:30"), line
    assert "l2 u 5.000e-01  alpha 2.500e-01" in line and progress.extra["at"] == 1


def test_console_shows_learnable_parameters():
    from pinnkit.training.monitor import console_extra

    assert console_extra({"l2/u": 1e-3, "param/alpha": 0.49, "loss/heat": 2.0}) == \
        {"l2 u": 1e-3, "alpha": 0.49}


def test_loss_plot_marks_a_stage_where_it_ended():
    from pinnkit.plot import stage_boundaries

    history = [{"step": s, "stage": 1} for s in (100, 200, 250)] + \
        [{"step": s, "stage": 2} for s in (300, 400)] + [{"step": 450, "stage": 3}]
    assert stage_boundaries(history) == [250, 400]
