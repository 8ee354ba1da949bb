"""Stopping and resuming retraces the uninterrupted run exactly (float64, CPU).

The tiny run has 100 Adam steps (with learning-rate decay and resampling every 30 steps)
and then 100 L-BFGS iterations in chunks of 25: a stop at the stage change, a stop inside
L-BFGS, and a crash inside Adam resumed from the periodic checkpoint before it, must all
end with the same parameters as the straight run, to 1e-12.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from runhelpers import flat_params, write_config

from pinnkit.api import resolve, resume_target, run_folder
from pinnkit.cli import main
from pinnkit.errors import PinnkitError
from pinnkit.training import checkpoint, trainer
from pinnkit.training.checkpoint import load
from pinnkit.training.optimizers import LBFGS_CHUNK
from pinnkit.training.setup import build_model, build_setup
from pinnkit.training.stop import StopRequest

TOL = 1e-12


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("straight")
    problem, cfg = resolve(write_config(folder))
    run = trainer.fit(build_setup(problem, cfg), folder / "run", progress=False)
    assert run.metrics["steps"] == 200 and run.metrics["finished"]
    return {"params": flat_params(run.model), "metrics": run.metrics, "folder": folder}


@pytest.mark.parametrize("stop_at, within", [(100, 1), (130, LBFGS_CHUNK)])
def test_stop_and_resume_matches_the_straight_run(tmp_path: Path, straight: dict,
                                                  stop_at: int, within: int) -> None:
    problem, cfg = resolve(write_config(tmp_path))
    folder = tmp_path / "run"
    first = trainer.fit(build_setup(problem, cfg), folder, progress=False, stop_at=stop_at)
    # at 100 Adam has just ended; inside L-BFGS a stop waits for the end of the chunk
    stopped_at = first.metrics["steps"]
    assert stop_at <= stopped_at < stop_at + within and not first.metrics["finished"]
    assert load(folder / "checkpoints" / "last.pt")["step"] == stopped_at
    second = trainer.fit(build_setup(*resolve(write_config(tmp_path))), folder, progress=False,
                         resume=True)
    assert second.metrics["steps"] == 200 and second.metrics["finished"]
    diff = (flat_params(second.model) - straight["params"]).abs().max().item()
    assert diff <= TOL, f"resumed parameters differ by {diff:.3e}"
    assert second.metrics["loss"] == pytest.approx(straight["metrics"]["loss"], rel=1e-9)


def test_resume_after_a_crash_continues_from_the_periodic_checkpoint(
        tmp_path: Path, straight: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    problem, cfg = resolve(write_config(tmp_path))
    folder = tmp_path / "run"
    real_keep = trainer.NanGuard.keep

    def crash_at_70(guard: trainer.NanGuard, state) -> None:  # runs after every good step
        if state.step >= 70:
            raise RuntimeError("simulated crash")
        real_keep(guard, state)

    monkeypatch.setattr(trainer.NanGuard, "keep", crash_at_70)
    with pytest.raises(RuntimeError, match="simulated crash"):
        trainer.fit(build_setup(problem, cfg), folder, progress=False)
    monkeypatch.undo()
    # checkpoint_every 50: steps 60 (with its resampling) and 70 are redone after resuming
    assert load(folder / "checkpoints" / "last.pt")["state"]["step"] == 50
    # the CLI with the run folder: reads runs/NAME/config.yaml, continues last.pt
    assert main(["train", str(folder), "--resume", "--quiet"]) == 0
    resumed = load(folder / "checkpoints" / "last.pt")["state"]
    assert resumed["step"] == 200
    model = build_model(problem, cfg).double()
    model.load_state_dict(resumed["model"])
    assert (flat_params(model) - straight["params"]).abs().max().item() <= TOL
    # one TensorBoard run; the steps logged after the checkpoint before the crash are purged
    events = EventAccumulator(str(folder))
    events.Reload()
    steps = [e.step for e in events.Scalars("l2/u")]
    assert steps == sorted(set(steps)) and steps[-1] == 200
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["steps"] == 200 and metrics["finished"]


def test_a_crash_between_temp_file_and_rename_keeps_the_old_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "checkpoints" / "last.pt"
    checkpoint.save_atomic({"step": 100, "w": torch.ones(3)}, target)

    def die(*args: object) -> None:
        raise SystemExit("killed before the rename")

    monkeypatch.setattr(checkpoint.os, "replace", die)  # the new file is complete by now
    with pytest.raises(SystemExit):
        checkpoint.save_atomic({"step": 200, "w": torch.zeros(3)}, target)
    monkeypatch.undo()
    kept = checkpoint.load(target)
    assert kept["step"] == 100 and torch.equal(kept["w"], torch.ones(3))
    # a hard kill leaves the temp file behind: the next run's folder setup removes it
    (target.parent / ".last.pt.abc123.tmp").write_bytes(b"half")
    checkpoint.clean_temporaries(target.parent)
    assert [p.name for p in target.parent.iterdir()] == ["last.pt"]


def test_resume_picks_the_latest_run_of_a_name(tmp_path: Path) -> None:
    problem, cfg = resolve(write_config(tmp_path), [f"logging.dir={tmp_path / 'runs' / 'tiny'}"])
    base = tmp_path / "runs" / "tiny"
    assert run_folder(cfg) == base
    (base / "checkpoints").mkdir(parents=True)
    assert run_folder(cfg) == tmp_path / "runs" / "tiny-2"  # never clobbers an earlier run
    assert run_folder(cfg, resume=True) == base
    (tmp_path / "runs" / "tiny-2" / "checkpoints").mkdir(parents=True)
    assert run_folder(cfg) == tmp_path / "runs" / "tiny-3"
    assert run_folder(cfg, resume=True) == tmp_path / "runs" / "tiny-2"
    config = write_config(tmp_path).with_name("tiny.yaml")
    _, _, folder = resume_target(config, [f"logging.dir={base}"])
    assert folder == tmp_path / "runs" / "tiny-2"


def test_resume_errors_name_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = str(write_config(tmp_path))
    out = f"logging.dir={tmp_path / 'nothing'}"
    assert main(["train", config, "--set", out, "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "nothing to resume in" in err and "last.pt is missing" in err
    assert "Fix: train without --resume" in err and "Traceback" not in err
    assert main(["train", config, "--resume", "--overwrite"]) == 2
    assert "--resume continues a run and --overwrite replaces it" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["train", str(tmp_path / "empty"), "--resume"]) == 2
    assert "without config.yaml, so not a run folder" in capsys.readouterr().err


def test_resume_with_a_changed_model_is_a_clear_error(tmp_path: Path) -> None:
    problem, cfg = resolve(write_config(tmp_path))
    trainer.fit(build_setup(problem, cfg), tmp_path / "run", progress=False, stop_at=20)
    problem, cfg = resolve(write_config(tmp_path), ["model.width=7"])
    # named before any weights are loaded (it used to be torch's size mismatch, relayed)
    with pytest.raises(PinnkitError, match=r"model.width \(from --set\): 7 where the run in "
                       r".* was trained with 6.*Fix: start a new run"):
        trainer.fit(build_setup(problem, cfg), tmp_path / "run", progress=False, resume=True)


def test_first_ctrl_c_asks_for_a_stop_and_the_second_aborts() -> None:
    import signal

    heard = []
    with StopRequest(on_interrupt=lambda: heard.append(True)) as stop:
        assert not stop(10**9)
        signal.raise_signal(signal.SIGINT)
        assert stop(0) and heard == [True]
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


TECHNIQUES = """\
  balance: {scheme: gradnorm, every: 20}
  causal: {chunks: 4, epsilon: 1.0}
"""


def test_resume_with_the_techniques_matches_the_straight_run(tmp_path: Path) -> None:
    """Adaptive weights (in the checkpointed weight table), causal weighting and RAD
    points (the checkpointed points) survive a stop inside Adam exactly."""
    from runhelpers import TINY

    text = TINY.replace("resample_every: 30}", "resample_every: 30, adaptive: {scheme: rad}}")
    text = text.replace("training:\n", "training:\n" + TECHNIQUES)
    text = text.replace("decay: 0.5, decay_every: 40", "schedule: cosine, lr_min: 1.0e-4")
    text = text.replace("model: {width: 6, depth: 2, activation: tanh, dtype: float64}",
                        "model: {width: 6, depth: 2, activation: tanh, dtype: float64,\n"
                        "        transform: 't*net + sin(pi*x)'}")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight = trainer.fit(build_setup(*resolve(write_config(tmp_path / "a", text))),
                           tmp_path / "a" / "run", progress=False)
    assert straight.history[-1]["weight/walls"] != 1.0  # the balancer did move the weights
    folder = tmp_path / "b" / "run"
    first = trainer.fit(build_setup(*resolve(write_config(tmp_path / "b", text))), folder,
                        progress=False, stop_at=70)
    assert first.metrics["steps"] == 70
    second = trainer.fit(build_setup(*resolve(write_config(tmp_path / "b", text))), folder,
                         progress=False, resume=True)
    assert second.metrics["steps"] == 200
    diff = (flat_params(second.model) - flat_params(straight.model)).abs().max().item()
    assert diff <= TOL, f"resumed parameters differ by {diff:.3e}"
