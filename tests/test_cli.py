"""The command line through its real entry points."""

import json
import subprocess
import sys

import pytest

from pinnkit.cli import main


def test_train_through_console_script(tiny_yaml, tmp_path):
    out = tmp_path / "run"
    # Adam alone: an L-BFGS stage would add ~1.2 s of torch importing its compiler in the
    # fresh process, and what is tested here is the entry point, not the optimizer
    proc = subprocess.run(["pinnkit", "train", str(tiny_yaml), "--out", str(out),
                           "--set", "training.stages=[{optimizer: adam, steps: 30}]"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "relative L2 error: u" in proc.stdout
    assert json.loads((out / "metrics.json").read_text())["steps"] == 30


def test_module_entry_point_user_error_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs: [x]\nmodel: {widht: 3}\n")
    proc = subprocess.run([sys.executable, "-m", "pinnkit", "check", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "model.widht (line 2 of" in proc.stderr and "did you mean 'width'" in proc.stderr


def test_check_reports_terms_and_orders(tiny_yaml, capsys):
    assert main(["check", str(tiny_yaml)]) == 0
    assert "heat (order 2), initial (order 0), walls (order 0)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "model.width=0"], "model.width (from --set): found 0; expected a positive"),
        (["--set", "training.device=cuda:3"], "CUDA is not available"),
    ],
)
def test_train_user_errors_exit_2(tiny_yaml, tmp_path, capsys, args, message):
    import torch

    if "cuda" in message.lower() and torch.cuda.is_available():
        pytest.skip("CUDA present")
    code = main(["train", str(tiny_yaml), "--out", str(tmp_path / "r"), *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_config_exits_2(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_every_warning_is_one_plain_line(capsys):
    """A warning from pinnkit, or one relayed from a library, reaches the console as one
    ``pinnkit: warning:`` line, never with Python's source path and code line."""
    from pinnkit import cli

    for filename, expect in [(cli.__file__, "pinnkit: warning: a b\n"),
                             ("/x/site-packages/torch/nn/modules/module.py",
                              "pinnkit: warning: torch: a b\n"),
                             ("/home/me/model.py", "pinnkit: warning: model: a b\n")]:
        cli._show_warning(UserWarning("a\n   b"), UserWarning, filename, 3)
        err = capsys.readouterr().err
        assert err == expect, err
