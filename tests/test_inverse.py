"""Inverse problems end to end: shipped configs and data, unknown fields, the data script."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from checks_helpers import warns_checks

import pinnkit
from pinnkit import Box, Problem
from pinnkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ["heat_inverse", "burgers_inverse", "sine_fit", "sine_fit_sobolev"]


def test_shipped_configs_check(capsys) -> None:
    assert main(["check", *(str(ROOT / "configs" / f"{c}.yaml") for c in CONFIGS)]) == 0
    out = capsys.readouterr().out
    assert "obs.u (order 0)" in out and "samples.u_x (order 1)" in out
    assert "  data.obs: 500 points from ../data/heat_inverse.csv; obs.u 500 rows" in out


def short_run(tmp_path: Path, config: str, steps: int, lr: float, *extra: str) -> dict:
    """Train a shipped config through the CLI: few Adam steps, a tiny net; its metrics.json."""
    out = tmp_path / config
    small = ["training.points.domain=128", "training.points.boundary=32", "model.width=16",
             "model.depth=2", "logging.tensorboard=false",
             f"training.stages=[{{optimizer: adam, lr: {lr}, steps: {steps}}}]", *extra]
    args = ["train", str(ROOT / "configs" / f"{config}.yaml"), "--quiet", "--out", str(out)]
    assert main(args + [a for kv in small for a in ("--set", kv)]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_inverse_heat_moves_alpha_toward_the_truth(tmp_path: Path) -> None:
    # the full config recovers alpha = 0.1 from 0.5 (docs/readme/9.md); 100 steps here gave
    # 0.154 when measured
    alpha = short_run(tmp_path, "heat_inverse", 100, 0.005,
                      "parameters.alpha.lr=0.05")["parameters"]["alpha"]
    assert abs(alpha - 0.1) < 0.5 * abs(0.5 - 0.1), alpha


def test_inverse_burgers_moves_nu_toward_the_truth(tmp_path: Path) -> None:
    # the full config recovers nu = 0.1/pi from 0.1 (docs/readme/9.md); 250 steps here gave
    # 0.0758 when measured (nu first rises while the net learns the data, then falls)
    nu = short_run(tmp_path, "burgers_inverse", 250, 0.01,
                   "parameters.nu.lr=0.02")["parameters"]["nu"]
    true = 0.1 / math.pi
    assert abs(math.log(nu / true)) < 0.9 * math.log(0.1 / true), nu


def test_eval_of_a_residual_reads_the_trained_bounded_parameter(tmp_path: Path, capsys
                                                                 ) -> None:
    # alpha has bounds [0, 1]: the checkpoint stores raw = logit(alpha), and the residual
    # must read alpha itself (eval used to put raw = -0.03 where alpha = 0.49 belongs)
    alpha = short_run(tmp_path, "heat_inverse", 20, 0.01, "parameters.alpha.lr=0.1",
                      "model.dtype=float64")["parameters"]["alpha"]
    run = tmp_path / "heat_inverse"
    raw = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["state"]["params"]
    assert float(raw["alpha"]) == pytest.approx(math.log(alpha / (1 - alpha)), rel=1e-12)
    trained = pinnkit.load(run)
    assert trained.params == {"alpha": pytest.approx(alpha, rel=1e-12)}
    x = np.array([[0.2, 0.3], [0.5, 0.5], [0.9, 0.8]])
    d = trained.derivatives(x, ["heat", "u_t", "u_xx"])
    np.testing.assert_allclose(d["heat"], d["u_t"] - alpha * d["u_xx"], rtol=1e-12,
                               atol=1e-14)
    (tmp_path / "pts.csv").write_text("x,t\n" + "".join(f"{a},{b}\n" for a, b in x))
    capsys.readouterr()
    assert main(["eval", str(run), "--points", str(tmp_path / "pts.csv"), "--fields",
                 "heat"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    np.testing.assert_allclose([float(r.split(",")[2]) for r in rows], d["heat"], rtol=1e-12)


class Source(Problem):
    """-u_xx = f with u observed and the source f unknown: no condition, no data on f."""

    inputs, outputs = ("x",), ("u", "f")
    domain = Box(x=(0, 1))
    equations = {"poisson": "u_xx + f"}
    exact = {"u": "sin(pi*x)", "f": "pi**2*sin(pi*x)"}


def test_unknown_field_is_recovered_from_the_pde_and_data() -> None:
    # f could absorb any u_xx, so f is only as good as the fit's second derivative: the data
    # carry u_x as well (values alone leave f 40 % off at this budget, measured)
    x = np.linspace(0, 1, 33)

    class Fit(Source):
        data = {"obs": {"table": {"x": x, "u": np.sin(math.pi * x),
                                  "u_x": math.pi * np.cos(math.pi * x)}}}

    with warns_checks("boundary_coverage"):  # the data, not conditions, pin u at x = 0, 1
        run = pinnkit.train(Fit(), run_dir=False, progress=False, config={
            "model": {"width": 16, "depth": 2, "dtype": "float64"},
            "training": {"points": {"domain": 128},
                         "stages": [{"optimizer": "adam", "lr": 0.01, "steps": 200},
                                    {"optimizer": "lbfgs", "steps": 200}]}})
    # measured: u 2.0e-3, f 7.1e-2 relative L2 (f starts near 100 %)
    errors = run.metrics["l2_relative_error"]
    assert errors["u"] < 5e-3 and errors["f"] < 0.15, errors


def test_data_script_regenerates_the_shipped_files(tmp_path: Path) -> None:
    sets = ["heat", "sine"]
    if importlib.util.find_spec("pinnkit.reference") is not None:
        sets.append("burgers")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_inverse_data.py"), *sets,
                    "--out", str(tmp_path)], check=True, capture_output=True, cwd=ROOT)
    for f in tmp_path.glob("*.csv"):
        assert f.read_text() == (ROOT / "data" / f.name).read_text(), f.name
    assert len(list(tmp_path.glob("*.csv"))) == len(sets)


@pytest.mark.slow
def test_sine_fit_sobolev_cuts_the_u_xx_error() -> None:
    """As ``python scripts/sine_fit.py`` measures it (6.9x on 2026-11-22): with torch's
    default dtype float32, not the float64 this suite sets in conftest.py. Under float64
    the network's initial weights are drawn in float64 (another random stream) and then
    cast, a different initialisation, which ends at 4.1x."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from sine_fit import compare

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        errors = compare()
    finally:
        torch.set_default_dtype(before)
    assert errors["values"]["u_xx"] > 5 * errors["values + u_x"]["u_xx"], errors


def test_python_inverse_problem_compiles_with_its_data() -> None:
    spec = importlib.util.spec_from_file_location("heat_inverse", ROOT / "problems" /
                                                  "heat_inverse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the method reads self.alpha: exact_residual skips it
        problem = pinnkit.check(module.HeatInverse())
    report = pinnkit.check_report(module.HeatInverse())
    assert any(f.check == "exact_residual" and f.level == "info" and "learnable parameter "
               "alpha" in f.message for f in report.findings), report.findings
    assert problem.parameters.floats() == {"alpha": pytest.approx(0.5)}
    assert [t.name for t in problem.terms] == ["heat", "initial", "walls", "obs.u"]
    assert len(problem.data[0].x) == 500


@pytest.mark.parametrize("config", ["sine_fit", "sine_fit_sobolev"])
def test_sine_configs_train_through_the_cli(tmp_path: Path, config: str) -> None:
    out = tmp_path / config
    assert main(["train", str(ROOT / "configs" / f"{config}.yaml"), "--quiet", "--out", str(out),
                 "--set", "training.stages=[{optimizer: adam, steps: 20}]",
                 "--set", "logging.tensorboard=false"]) == 0
    loss = json.loads((out / "metrics.json").read_text())["loss"]
    assert set(loss) == ({"samples.u", "samples.u_x"} if "sobolev" in config else {"samples.u"})
