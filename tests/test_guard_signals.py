"""NaN rollback, absurd learning rates, SIGTERM and kill -9 never cost a run."""

import importlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import pinnkit
from pinnkit.api import resolve
from pinnkit.cli import main
from pinnkit.engines.autograd import AutogradEngine
from pinnkit.training.guard import TrainingError, diagnose
from pinnkit.training.losses import Collocation

trainer = importlib.import_module("pinnkit.training.trainer")


def test_a_nan_is_rolled_back_and_training_goes_on(tiny_yaml, monkeypatch, capsys):
    real = trainer.term_losses
    calls = {"n": 0}

    def poisoned(model, engine, problem, sets, reduce=None):
        calls["n"] += 1
        losses = real(model, engine, problem, sets, reduce)
        if calls["n"] == 12:  # one bad evaluation, as an overflow would give
            losses["heat"] = losses["heat"] * float("nan")
        return losses

    monkeypatch.setattr(trainer, "term_losses", poisoned)
    run = pinnkit.train(tiny_yaml, run_dir=False, progress=True)
    out = capsys.readouterr().out
    # the diagnosis looks at the restored weights (the NaN came from the poisoned loss)
    assert ("pinnkit: step 11: non-finite heat; every term is finite at the last good weights "
            "(step 9): the step from there diverged") in out
    assert "rolled back to step 9 with lr 0.005 (rollback 1 of 5)" in out
    assert run.metrics["steps"] == 40
    assert all(math.isfinite(v) for v in run.metrics["loss"].values())


def test_nan_at_initialisation_is_refused_before_training(tiny_yaml, tmp_path, capsys):
    code = main(["train", str(tiny_yaml), "--out", str(tmp_path / "r"), "--quiet",
                 "--set", "equations.heat=u_t - alpha*u_xx + log(u - 100)"])
    assert code == 2
    assert "loss term 'heat' is nan at initialisation" in capsys.readouterr().err


def test_nan_that_keeps_coming_back_stops_after_k_rollbacks(tiny_yaml, tmp_path, monkeypatch):
    real = trainer.term_losses
    calls = {"n": 0}

    def poisoned(model, engine, problem, sets, reduce=None):
        calls["n"] += 1
        losses = real(model, engine, problem, sets, reduce)
        if calls["n"] >= 12:
            losses["walls"] = losses["walls"] * float("inf")
        return losses

    monkeypatch.setattr(trainer, "term_losses", poisoned)
    with pytest.raises(TrainingError) as info:
        pinnkit.train(tiny_yaml, run_dir=tmp_path / "r", progress=False,
                      overrides=["logging.checkpoint_every=5"])
    assert "non-finite walls" in str(info.value)
    assert "stopped after 5 rollbacks" in str(info.value)
    state = torch.load(tmp_path / "r" / "checkpoints" / "last.pt", weights_only=True)["state"]
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_absurd_learning_rate_recovers_or_stops_cleanly(tiny_yaml, tmp_path):
    out = tmp_path / "r"
    code = main(["train", str(tiny_yaml), "--out", str(out), "--quiet",
                 "--set", "training.stages.0.lr=10", "--set", "training.stages.0.steps=60"])
    assert code in (0, 1)
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["state"]
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert main(["eval", str(out)]) == 0


def long_run(tiny_yaml, out):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # compile=false: 100000 steps would make `auto` spend ~6 s compiling the loss before
    # the first step; the stop handling under test is the same loop either way
    return subprocess.Popen(
        [sys.executable, "-m", "pinnkit", "train", str(tiny_yaml), "--out", str(out), "--quiet",
         "--set", "training.stages.0.steps=100000", "--set", "logging.checkpoint_every=5",
         "--set", "training.compile=false"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_second_write(path, proc, seconds=180):
    """Return once the run has replaced ``path`` after first writing it (``os.replace``
    gives each checkpoint a new inode): it is then mid-run, past a checkpoint, with
    more to come, so a signal lands between or inside checkpoint writes."""
    end = time.time() + seconds
    first = None
    while time.time() < end:
        assert proc.poll() is None, proc.communicate()
        try:
            stamp = path.stat().st_ino
        except FileNotFoundError:
            stamp = None
        if first is None:
            first = stamp
        elif stamp is not None and stamp != first:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} was not written twice in {seconds} s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_signals_leave_a_resumable_run(tiny_yaml, tmp_path, sig, capsys):
    out = tmp_path / "r"
    proc = long_run(tiny_yaml, out)
    try:
        wait_for_second_write(out / "checkpoints" / "last.pt", proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    if sig == signal.SIGTERM:
        assert proc.returncode == 130 and "Traceback" not in err
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["state"]
    assert state["step"] >= 10  # the second checkpoint was on disk before the signal
    # the resume reads only the folder, so it runs in this process (a second interpreter
    # would spend ~4 s importing torch, dynamo and scipy again)
    code = main(["train", str(out), "--resume", "--quiet",
                 "--set", f"training.stages.0.steps={state['step'] + 5}"])
    assert code == 0, capsys.readouterr().err[-2000:]
    resumed = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["state"]
    assert resumed["step"] > state["step"]
    assert not list((out / "checkpoints").glob("*.tmp"))  # a killed write's temp file is swept


class _NanRight(torch.nn.Module):
    """u = (sin(x) + t) sqrt(0.75 - x): NaN, with all its derivatives, where x > 0.75."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return (torch.sin(x[:, :1]) + x[:, 1:2] + self.p) * torch.sqrt(0.75 - x[:, :1])


def test_diagnose_names_data_and_periodic_terms_with_their_points():
    """The NaN report reads data terms' observations and maps a periodic residual's
    entries back to the pair's point (regression: both used to break the report)."""
    root = Path(__file__).resolve().parents[1]
    problem, cfg = resolve(root / "configs" / "heat_inverse.yaml",
                           ["conditions.cycle={periodic: x, order: 1}"])
    points = Collocation(problem, cfg.training.points, 0, torch.device("cpu"), torch.float64)
    text = diagnose(_NanRight().double(), AutogradEngine(), problem, points.sets)
    assert "cycle: " in text and "obs.u: " in text and "heat: " in text, text
    cycle = text.split("cycle: ")[1].split(";")[0]
    assert "x=0 " in cycle or "x=0," in cycle  # the low-face point of a broken pair
