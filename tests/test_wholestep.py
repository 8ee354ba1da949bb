"""The whole-step Adam path (training/wholestep.py) trains what the ordinary step trains.

On CUDA, ``training.compile: auto``/``true`` runs an Adam stage's step — loss, gradients
(torch.func) and the Adam update — as one compiled, CUDA-graph-captured function. The same
function runs eagerly on the CPU under ``training.compile: graph``, and these tests hold it
to the ordinary path (torch's Adam over ``loss.backward()``) in float64: with resampling,
a step decay and a cosine stage, the weights, records and Adam state agree to 1e-12
relative (bit for bit is seen); a stop and resume on the path, and a NaN rollback on it,
retrace the straight run. The CUDA run itself is the ``gpu``-marked test at the end.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest
import torch

import pinnkit
from pinnkit.setup import resolve
from pinnkit.training.checkpoint import load
from pinnkit.training.distributed import SINGLE
from pinnkit.training.setup import build_setup
from pinnkit.training.wholestep import WholeStep, plan

trainer = importlib.import_module("pinnkit.training.trainer")

ROOT = Path(__file__).resolve().parents[1]
HEAT = str(ROOT / "configs" / "heat.yaml")
# two Adam stages (a step decay, then cosine), resampling inside both, then lm
SHORT = ["model.dtype=float64", "training.points.domain=128", "training.points.boundary=32",
         "training.points.resample_every=15",
         "training.stages=[{optimizer: adam, lr: 1.0e-2, steps: 40, decay: 0.5, "
         "decay_every: 10}, {optimizer: adam, lr: 2.0e-3, steps: 20, schedule: cosine}, "
         "{optimizer: lm, steps: 5}]",
         "logging.every=10", "logging.checkpoint_every=25", "logging.tensorboard=false"]
RTOL = 1e-12


def _train(tmp: Path, mode: str, extra: tuple[str, ...] = (), **kw: object) -> trainer.Fitted:
    setup = build_setup(*resolve(HEAT, [*SHORT, f"training.compile={mode}", *extra]))
    return trainer.fit(setup, tmp, **{"progress": False, **kw})  # type: ignore[arg-type]


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max() / b[k].abs().max().clamp_min(1e-300))
               for k in a if a[k].is_floating_point())


@pytest.fixture(scope="module")
def ordinary(tmp_path_factory: pytest.TempPathFactory) -> trainer.Fitted:
    return _train(tmp_path_factory.mktemp("ordinary") / "run", "false")


def test_graph_path_gives_the_ordinary_weights(tmp_path: Path,
                                               ordinary: trainer.Fitted) -> None:
    run = _train(tmp_path / "run", "graph")
    assert run.metrics["compile"]["step"]["path"] == "graph"
    assert ordinary.metrics["compile"]["step"]["path"] == "ordinary"
    assert _close(run.model.state_dict(), ordinary.model.state_dict()) < RTOL
    assert len(run.history) == len(ordinary.history)
    for a, b in zip(run.history, ordinary.history, strict=True):
        assert a["step"] == b["step"] and a.get("lr") == b.get("lr")
        assert a["loss/total"] == pytest.approx(b["loss/total"], rel=1e-10)


def test_checkpoints_hold_torch_adams_state(tmp_path: Path) -> None:
    """Stopped inside the first Adam stage, both paths write the same last.pt optimizer
    state: torch.optim.Adam's format (per-parameter step, exp_avg, exp_avg_sq)."""
    saved = {}
    for mode in ("false", "graph"):
        run = _train(tmp_path / mode, mode, stop_at=33)
        assert not run.metrics["finished"] and run.metrics["steps"] == 33
        saved[mode] = load(tmp_path / mode / "checkpoints" / "last.pt")["state"]["optimizer"]
    a, b = saved["graph"], saved["false"]
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for k, entry in b["state"].items():
        got = a["state"][k]
        assert list(got) == list(entry) == ["step", "exp_avg", "exp_avg_sq"]
        assert got["step"].dtype == entry["step"].dtype and float(got["step"]) == 33.0
        assert _close({"m": got["exp_avg"], "v": got["exp_avg_sq"]},
                      {"m": entry["exp_avg"], "v": entry["exp_avg_sq"]}) < RTOL


@pytest.mark.parametrize("stop_at, resume_mode", [(23, "graph"), (47, "graph"),
                                                  (23, "false")])
def test_stop_and_resume_on_the_graph_path_is_exact(tmp_path: Path, ordinary: trainer.Fitted,
                                                    stop_at: int, resume_mode: str) -> None:
    """A stop inside either Adam stage, resumed on the graph path (or on the ordinary one:
    the checkpoint is the same), ends where the straight run ends."""
    folder = tmp_path / "run"
    first = _train(folder, "graph", stop_at=stop_at)
    assert first.metrics["steps"] == stop_at and not first.metrics["finished"]
    if resume_mode == "graph":
        second = _train(folder, resume_mode, resume=True)
    else:
        with pytest.warns(UserWarning, match="differs from the checkpoint's in: "
                          "training.compile"):
            second = _train(folder, resume_mode, resume=True)
    assert second.metrics["finished"] and second.metrics["steps"] == 65
    assert _close(second.model.state_dict(), ordinary.model.state_dict()) < RTOL


@pytest.mark.slow  # 3 s; the graph path equals the ordinary one in the fast tests
def test_a_rollback_on_the_graph_path_retraces_the_ordinary_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
        ) -> None:
    """A non-finite loss in the step from 11 rolls back to the last good state, whose Adam
    moments the optimizer reloads: the next whole step takes them (found by identity), and
    the run ends where the ordinary path, poisoned at the same step, ends."""
    states: list = []
    real_state, real_losses, real_step = trainer.new_state, trainer.term_losses, \
        WholeStep._step
    poisoned = {"done": False}

    def keep_state(*args, **kwargs):
        states.append(real_state(*args, **kwargs))
        return states[-1]

    def bad_now() -> bool:
        if not poisoned["done"] and states and states[-1].step == 11:
            poisoned["done"] = True
            return True
        return False

    def losses(model, engine, problem, sets, reduce=None):
        out = real_losses(model, engine, problem, sets, reduce)
        if bad_now():
            out["heat"] = out["heat"] * float("nan")
        return out

    def step(self: WholeStep) -> torch.Tensor:
        out = real_step(self)
        return out * float("nan") if bad_now() else out

    monkeypatch.setattr(trainer, "new_state", keep_state)
    monkeypatch.setattr(trainer, "term_losses", losses)
    monkeypatch.setattr(WholeStep, "_step", step)
    runs = {}
    for mode in ("false", "graph"):
        poisoned["done"] = False
        runs[mode] = _train(tmp_path / mode, mode, progress=True)
        assert poisoned["done"]
        # at step 11 the decayed rate is 5e-3: the retry takes half of it
        out = capsys.readouterr().out
        print(out)
        assert ("pinnkit: step 12: non-finite heat; every term is finite at the last good "
                "weights (step 10): the step from there diverged; rolled back to step 10 "
                "with lr 0.0025 (rollback 1 of 5)") in out
    assert _close(runs["graph"].model.state_dict(), runs["false"].model.state_dict()) < RTOL


@pytest.mark.slow  # 3 s; pytest -m slow
def test_adaptive_weights_and_points_stay_on_the_graph_path(tmp_path: Path) -> None:
    """training.balance and training.points.adaptive act between steps: the whole step
    reads the moved weights and the new points."""
    extra = ("training.balance={every: 10}", "training.points.adaptive={scheme: r3}")
    runs = {m: _train(tmp_path / m, m, extra) for m in ("false", "graph")}
    assert runs["graph"].metrics["compile"]["step"]["path"] == "graph"
    assert _close(runs["graph"].model.state_dict(), runs["false"].model.state_dict()) < RTOL
    assert runs["graph"].history[-1]["weight/initial"] == pytest.approx(
        runs["false"].history[-1]["weight/initial"], rel=1e-10)


def _setup(*extra: str, device: str | None = None):
    setup = build_setup(*resolve(HEAT, [*SHORT, *extra]))
    return setup if device is None else dataclasses.replace(setup, device=torch.device(device))


def test_the_path_and_its_reason() -> None:
    """CUDA: captured (auto from 2000 steps, true always); the CPU: ordinary unless
    compile: graph; what the whole step cannot carry falls back, saying why."""
    assert plan(_setup(), SINGLE) == ("ordinary", "cpu: the ordinary step (no kernel "
                                      "launches to save; training.compile: graph runs the "
                                      "whole-step path here)")
    assert plan(_setup("training.compile=graph"), SINGLE)[0] == "graph"
    assert plan(_setup("training.compile=true", device="cuda"), SINGLE)[0] == "captured"
    assert plan(_setup(device="cuda"), SINGLE) == (
        "ordinary", "auto: 65 steps < 2000, compile time not repaid")
    long = "training.stages=[{optimizer: adam, steps: 2000}]"
    assert plan(_setup(long, device="cuda"), SINGLE)[0] == "captured"
    assert plan(_setup("training.compile=false", device="cuda"), SINGLE) == (
        "ordinary", "training.compile: false")
    adam_only = "training.stages=[{optimizer: adam, steps: 30}]"  # lm needs taylor
    for extra, why in [(("model.engine=autograd", adam_only), "model.engine resolved to "
                        "autograd"),
                       (("training.causal={chunks: 4}",), "training.causal reduces"),
                       (("training.points.chunk=64",), "training.points.chunk")]:
        path, reason = plan(_setup("training.compile=graph", *extra), SINGLE)
        assert path == "ordinary" and reason.startswith(why), reason


def test_the_whole_step_traces_as_one_graph() -> None:
    """What CUDA compiles: one graph, no break (dynamo's explain, on the CPU)."""
    import torch._dynamo as dynamo

    from pinnkit.engines.compile import _disable_untraced

    setup = _setup("training.compile=graph")
    state = trainer.new_state(setup)
    state.enter_stage(0, setup.config.training.stages[0])
    step = WholeStep(state, setup.engine(), setup.problem, capture=False)
    _disable_untraced()  # what maybe_compile does before a compiled call
    explained = dynamo.explain(step._step)()
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)


def test_tf32_only_inside_a_run_that_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    """model.precision applies to single runs: tf32 inside fit, the caller's setting
    after it; ieee keeps IEEE inside and leaves the setting as it was."""
    flags = torch.backends.cuda.matmul
    seen: list[str] = []
    real = trainer._fit

    def spy(*args, **kwargs):
        seen.append(flags.fp32_precision)
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "_fit", spy)
    before = flags.fp32_precision
    short = ["training.stages=[{optimizer: adam, steps: 2}]", "logging.tensorboard=false"]
    for precision in ("tf32", "ieee"):
        pinnkit.train(HEAT, overrides=[*short, f"model.precision={precision}"],
                      run_dir=False, progress=False)
        assert flags.fp32_precision == before
    assert seen == ["tf32", "ieee"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_captured_step_on_cuda_trains_the_ordinary_weights(tmp_path: Path) -> None:
    """On CUDA the Adam stages run as captured CUDA graphs (no cudagraph skip), in float64
    train what the ordinary step trains, and a stop + resume there is exact."""
    from torch._dynamo.utils import counters

    cuda = ("training.device=cuda",)
    ordinary = _train(tmp_path / "o", "false", cuda)
    counters.clear()
    captured = _train(tmp_path / "c", "true", cuda)
    step = captured.metrics["compile"]["step"]
    assert step["path"] == "captured" and step["fallback"] is None, step
    assert step["graph_breaks"] == 0
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])
    assert _close(captured.model.state_dict(), ordinary.model.state_dict()) < 1e-9
    _train(tmp_path / "s", "true", cuda, stop_at=23)
    resumed = _train(tmp_path / "s", "true", cuda, resume=True)
    assert _close(resumed.model.state_dict(), captured.model.state_dict()) < 1e-9
