"""``pinnkit check`` and the checks at the start of ``train``, through the real CLI and API."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from checks_helpers import DEEP_RITZ, HEAT, write
from shipped import shipped

import pinnkit
from pinnkit.checks import CHECKS
from pinnkit.cli import main
from pinnkit.errors import CheckError, CheckWarning, ConfigError

ROOT = Path(__file__).resolve().parents[1]
RELU = HEAT.replace("activation: tanh", "activation: relu")
FAST = ["--set", "training.stages=[{optimizer: adam, steps: 2}]",
        "--set", "training.points={domain: 64, boundary: 16}"]


def test_check_prints_report_and_exits_0(tmp_path, capsys):
    assert main(["check", str(write(tmp_path, HEAT))]) == 0
    out = capsys.readouterr().out
    assert "info    [loss_balance] training.weights: step-0 loss terms" in out
    assert out.strip().splitlines()[-1].endswith(  # every check runs on a clean problem
        f"ok — 0 errors, 0 warnings, {len(CHECKS)} checks run; 3 terms: heat (order 2), "
        "initial (order 0), walls (order 0)")


def test_check_exits_2_on_an_error_without_traceback(tmp_path, capsys):
    assert main(["check", str(write(tmp_path, RELU))]) == 2
    captured = capsys.readouterr()
    path = tmp_path / "case.yaml"  # the file is named where the line is, as in config errors
    assert f"error   [smoothness] equations.heat (line 5 of {path}): residual 'heat' needs " \
        "u_xx" in captured.out
    assert "refused — 1 error, 0 warnings" in captured.out
    assert "Traceback" not in captured.out + captured.err


def test_check_json(tmp_path, capsys):
    assert main(["check", str(write(tmp_path, RELU)), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["errors"] == 1
    (f,) = [f for f in data["findings"] if f["level"] == "error"]
    assert f == {"level": "error", "check": "smoothness", "key": "equations.heat", "line": 5,
                 "message": f["message"], "fix": f["fix"], "source": str(tmp_path / "case.yaml")}
    assert "smoothness" in data["checks"] and "loss_balance" not in data["checks"]


def test_check_json_one_line_per_config(tmp_path, capsys):
    paths = [str(write(tmp_path, HEAT, "a.yaml")), str(write(tmp_path, DEEP_RITZ, "b.yaml"))]
    assert main(["check", *paths, "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["ok"] for line in lines] == [True, True]


def test_unknown_check_name_and_level_have_did_you_mean(tmp_path, capsys):
    assert main(["check", str(write(tmp_path, HEAT + "checks: {smoothnes: warn}\n"))]) == 2
    err = capsys.readouterr().err
    assert "pinnkit: error: checks.smoothnes (line 10 of " in err
    assert "unknown check 'smoothnes' (did you mean 'smoothness'?)" in err
    assert main(["check", str(write(tmp_path, HEAT + "checks: {smoothness: warning}\n")),
                 "--json"]) == 2
    (f,) = json.loads(capsys.readouterr().out)["findings"]
    assert (f["check"], f["key"], f["line"]) == ("checks", "checks.smoothness", 10)
    assert f["message"].startswith("level 'warning' is not allowed (did you mean 'warn'?)")


def test_train_refuses_before_training(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert main(["train", str(write(tmp_path, RELU)), "--out", str(out_dir), *FAST]) == 2
    err = capsys.readouterr().err
    assert "pinnkit: error: pre-training checks refused" in err and "[smoothness]" in err
    assert "set checks: {<check>: warn}" in err and "Traceback" not in err
    assert not out_dir.exists()  # nothing was written: no compute spent


def test_train_prints_warnings_and_goes_on(tmp_path, capsys):
    text = HEAT.replace("u - sin(pi*x)", "u")  # homogeneous: zero solves it
    assert main(["train", str(write(tmp_path, text)), "--out", str(tmp_path / "run"), "--quiet",
                 *FAST]) == 0
    err = capsys.readouterr().err
    assert "pinnkit: warning: [trivial_solution] equations (line 4 of " in err
    assert "case.yaml): u = 0 satisfies" in err


def test_api_train_and_check(tmp_path):
    with pytest.raises(CheckError, match=r"\[smoothness\] equations.heat"):
        pinnkit.train(write(tmp_path, RELU), steps=1, run_dir=False, progress=False)
    problem = pinnkit.check(write(tmp_path, HEAT))  # the compiled problem, checks passed
    assert [t.name for t in problem.terms] == ["heat", "initial", "walls"]
    with pytest.raises(ConfigError, match="unknown check"):
        pinnkit.check(write(tmp_path, HEAT + "checks: {nope: off}\n"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pinnkit.check(write(tmp_path, HEAT.replace("u - sin(pi*x)", "u")))
    assert [w.category for w in caught] == [CheckWarning]


@pytest.mark.parametrize("config", shipped())
def test_shipped_configs_are_clean(config, capsys):
    assert main(["check", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["warnings"] == 0, data["findings"]


SET_ERRORS = [  # (--set value, the one error line check and train both print)
    ("logging.slice={z: 0.5}", "logging.slice.z (from --set): 'z' is not an input; expected "
     "one of 't', 'x'. Fix: name an input to hold fixed"),
    ("logging.slice={x: 5}", "logging.slice.x (from --set): 5 lies outside the domain [0, 1]; "
     "expected a value in [0, 1]. Fix: pick a value inside"),
    ("logging.slice={x: 0.5, t: 0.5}", "logging.slice (from --set): holds every input fixed; "
     "expected at most 1 of x, t"),
    # the file's line of training.points.domain no longer describes a value --set replaced
    ("training.points={domain: abc}", "training.points.domain (from --set): found the text "
     "'abc'; expected a number (int)"),
    ("checks={bogus: warn}", "checks.bogus (from --set): unknown check 'bogus'"),
]


@pytest.mark.parametrize("value, message", SET_ERRORS, ids=[v for v, _ in SET_ERRORS])
def test_check_raises_what_train_raises_and_names_set(tmp_path, capsys, value, message):
    """Every config error train raises, check raises first, with the same words; a value
    from --set says so (logging.slice used to pass check and fail train after 'training
    started', with no hint of --set)."""
    config = str(write(tmp_path, HEAT))
    assert main(["check", config, "--set", value]) == 2
    checked = capsys.readouterr()
    assert f"pinnkit: error: {message}" in checked.err and "Traceback" not in checked.err
    out_dir = tmp_path / "run"
    assert main(["train", config, *FAST, "--set", value, "--out", str(out_dir)]) == 2
    trained = capsys.readouterr()
    assert trained.err == checked.err and trained.out == ""  # refused before it started
    assert not out_dir.exists()


def test_slice_error_in_the_file_names_its_line(tmp_path, capsys):
    path = write(tmp_path, HEAT + "logging: {slice: {t: 2}}\n")
    assert main(["check", str(path)]) == 2
    assert f"logging.slice.t (line 10 of {path}): 2 lies outside the domain [0, 1]" in \
        capsys.readouterr().err
