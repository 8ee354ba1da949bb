"""pinnkit sweep: K stacked runs give what K single trainings give, to round-off (float64).

The bar of issue 19: ``pinnkit sweep configs/heat.yaml --seeds 4`` (shortened with --set:
a short Adam stage, then a short lm stage) writes four run folders and a summary whose
runs match four separate ``pinnkit train`` runs with those seeds: final weights allclose
at 1e-10 relative to each tensor's largest entry, same metrics.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

import pinnkit
from pinnkit.cli import main
from pinnkit.config import StageConfig
from pinnkit.errors import ConfigError, PinnkitError
from pinnkit.setup import resolve
from pinnkit.training.checkpoint import load
from pinnkit.training.setup import build_setup
from pinnkit.training.stacked import Stack, StackedAdam
from pinnkit.training.summary import read, stats
from pinnkit.training.sweepgrid import expand, parse_grid, read_seeds, seed_list
from pinnkit.training.trainer import new_state

ROOT = Path(__file__).resolve().parents[1]
HEAT = str(ROOT / "configs" / "heat.yaml")
# float64 throughout; resampling inside the Adam stage; a records/checkpoint cadence that
# crosses the stack's steps; lm as in the shipped recipe
SHORT = ["model.dtype=float64", "training.points.domain=128", "training.points.boundary=32",
         "training.points.resample_every=15", "training.stages.0.steps=40",
         "training.stages.1.steps=10", "logging.every=10", "logging.checkpoint_every=25",
         "logging.tensorboard=false"]
RTOL = 1e-10


def _sets(items: list[str]) -> list[str]:
    return [a for s in items for a in ("--set", s)]


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load(run_dir / "checkpoints" / "last.pt")["state"]["model"]


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest difference of two state dicts, relative to each tensor's largest entry."""
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max() / b[k].abs().max().clamp_min(1e-300))
               for k in a if a[k].is_floating_point())


def test_sweep_of_four_seeds_matches_four_single_trainings(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", HEAT, "--seeds", "4", *_sets(SHORT), "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| metric | n | mean | median | std | min | max |" in printed
    assert "l2/u" in printed and f"wrote {out}" in printed
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert [r["run"] for r in rows] == [f"seed={s}" for s in range(4)]
    for s in range(4):
        run = out / f"seed={s}"
        for name in ("config.yaml", "metrics.json", "history.csv", "checkpoints/last.pt",
                     "checkpoints/best.pt"):
            assert (run / name).is_file(), name
        assert f"seed: {s}" in (run / "config.yaml").read_text()
        single = tmp_path / f"single{s}"
        assert main(["train", HEAT, *_sets([*SHORT, f"training.seed={s}"]), "--out",
                     str(single), "--quiet"]) == 0
        assert _close(_weights(run), _weights(single)) < RTOL
        mine = json.loads((run / "metrics.json").read_text())
        theirs = json.loads((single / "metrics.json").read_text())
        assert mine["steps"] == theirs["steps"] == 50
        assert [st["reason"] for st in mine["stages"]] == \
            [st["reason"] for st in theirs["stages"]]
        for key in ("l2_relative_error", "max_abs_error", "loss"):
            for k, v in theirs[key].items():
                assert mine[key][k] == pytest.approx(v, rel=1e-8), (key, k)
        assert float(rows[s]["l2/u"]) == pytest.approx(theirs["l2_relative_error"]["u"],
                                                       rel=1e-8)
        # the logged records agree too (losses at the same weights, same steps)
        hist = list(csv.DictReader(open(run / "history.csv")))
        ref = list(csv.DictReader(open(single / "history.csv")))
        assert [r["step"] for r in hist] == [r["step"] for r in ref]
        assert float(hist[-1]["loss/total"]) == pytest.approx(float(ref[-1]["loss/total"]),
                                                              rel=1e-8)
    summary = list(csv.DictReader(open(out / "summary.csv")))
    l2 = next(r for r in summary if r["metric"] == "l2/u")
    values = [float(r["l2/u"]) for r in rows]
    assert int(l2["n"]) == 4
    assert float(l2["mean"]) == pytest.approx(sum(values) / 4, rel=1e-12)
    assert float(l2["min"]) == min(values) and float(l2["max"]) == max(values)


@pytest.mark.slow  # 4 s; the four-seed test checks equality in every run
def test_grid_over_a_constant_and_a_width(tmp_path: Path) -> None:
    """Widths make two stacks; the constant's values share a stack (each run reads its own
    alpha in the step). Adam only, so runs end through the sweep's own finish."""
    sets = ["model.dtype=float64", "training.points.domain=64", "training.points.boundary=16",
            "training.stages=[{optimizer: adam, lr: 1.0e-2, steps: 30}]", "logging.every=10",
            "logging.tensorboard=false"]
    done = pinnkit.sweep(HEAT, seeds=2, grid=["model.width=[6,8]", "constants.alpha=[0.1,0.2]"],
                         overrides=sets, out=tmp_path / "grid", progress=False)
    assert [r["run"] for r in done.rows][:3] == \
        ["width=6_alpha=0.1_seed=0", "width=6_alpha=0.1_seed=1", "width=6_alpha=0.2_seed=0"]
    assert all(r["status"] == "finished" for r in done.rows) and len(done.runs) == 8
    assert len({(r["model.width"], r["constants.alpha"]) for r in done.rows}) == 4
    assert {(r["model.width"], r["constants.alpha"], r["metric"]) for r in done.summary} >= \
        {(6, 0.2, "l2/u"), (8, 0.1, "loss/total")}
    for index, (width, alpha, seed) in [(3, (6, 0.2, 1)), (4, (8, 0.1, 0))]:
        single = pinnkit.train(HEAT, overrides=[*sets, f"model.width={width}",
                                                f"constants.alpha={alpha}",
                                                f"training.seed={seed}"],
                               run_dir=tmp_path / f"single{index}", progress=False)
        run = done.runs[index]
        assert run is not None and run.config.constants["alpha"] == alpha
        assert _close(run.model.state_dict(), single.model.state_dict()) < RTOL
        assert run.metrics["l2_relative_error"]["u"] == \
            pytest.approx(single.metrics["l2_relative_error"]["u"], rel=1e-8)
    rows, table, keys = read(done.folder)
    assert keys == ["model.width", "constants.alpha"] and len(rows) == 8
    assert {r["metric"] for r in table} >= {"l2/u", "linf/u", "loss/heat", "loss/total"}


def test_stacked_adam_is_torch_adam_per_run() -> None:
    """Elementwise Adam over (K, ...) tensors with per-run learning rates equals K torch
    Adams; an idle run's weights and moments do not move."""
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)
    stacked = w.clone().requires_grad_()
    adam = StackedAdam([stacked])
    singles = [w[k].clone().requires_grad_() for k in range(3)]
    torch_adams = [torch.optim.Adam([p], lr=lr) for p, lr in zip(singles, (1e-3, 1e-2, 0.5),
                                                                    strict=True)]
    for step in range(6):
        grad = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)
        stacked.grad = grad.clone()
        active = [True, step % 2 == 0, True]
        adam.step([1e-3, 1e-2, 0.5], active)
        for k, (p, opt) in enumerate(zip(singles, torch_adams, strict=True)):
            if active[k]:
                p.grad = grad[k].clone()
                opt.step()
    for k, p in enumerate(singles):
        torch.testing.assert_close(stacked.detach()[k], p.detach(), rtol=1e-15, atol=0)
    assert adam.steps == [6, 3, 6]


def _states(seeds: list[int], overrides: list[str] = ()) -> tuple[list, list, object]:
    states, problems, engine = [], [], None
    for s in seeds:
        problem, cfg = resolve(HEAT, [*SHORT, *overrides, f"training.seed={s}"])
        setup = build_setup(problem, cfg)
        state = new_state(setup)
        state.enter_stage(0, StageConfig())
        engine = setup.engine()
        states.append(state)
        problems.append(problem)
    return states, problems, engine


def test_point_buffers_are_refilled_in_place() -> None:
    """A resampled run's points go into its slice of the stack's buffers: the storage (what
    a captured CUDA graph reads) stays, and each slice is that run's own points."""
    states, problems, engine = _states([0, 1])
    stack = Stack(states, problems, engine)
    ptrs = [x.data_ptr() for x in stack.xs]
    states[1].points.sample(3)
    stack.refill(1)
    assert [x.data_ptr() for x in stack.xs] == ptrs
    for i, ps in enumerate(states[1].points.sets):
        assert torch.equal(stack.xs[i][1], ps.x)
        assert torch.equal(stack.xs[i][0], states[0].points.sets[i].x)
    assert not torch.equal(stack.xs[0][0], stack.xs[0][1])  # seeds draw their own points


def test_stack_loss_and_gradient_are_each_runs_own() -> None:
    """The vectorised loss of run k, and its gradient, are those of run k's own Closure."""
    from pinnkit.training.trainer import Closure

    states, problems, engine = _states([0, 2], ["constants.alpha=0.3"])
    problems[1] = resolve(HEAT, [*SHORT, "training.seed=2"])[0]  # alpha 0.1 here
    stack = Stack(states, problems, engine)
    assert set(stack.constants) == {"alpha"}
    total, _ = stack.losses()
    for k, (state, problem) in enumerate(zip(states, problems, strict=True)):
        closure = Closure(state, engine, problem)
        loss = closure()
        assert float(total[k]) == pytest.approx(float(loss.detach()), rel=1e-13)
        for name, p in state.model.named_parameters():
            torch.testing.assert_close(stack.params[f"net.{name}"].grad[k], p.grad,
                                       rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("key", "value", "text"), [
    ("training.causal", "{chunks: 4}", "training.causal (from --set): is set, and causal "
     "weights are measured from one run's per-point losses"),
    ("training.balance", "{every: 10}", "training.balance (from --set): is set"),
    ("training.points.adaptive", "{scheme: rad}", "training.points.adaptive (from --set): "
     "is set, and adaptive resampling draws points from one run's residuals"),
])
def test_options_coupling_points_to_the_network_are_refused(tmp_path: Path, key: str,
                                                            value: str, text: str) -> None:
    with pytest.raises(ConfigError, match=r"^" + text.replace("(", r"\(").replace(")", r"\)")):
        pinnkit.sweep(HEAT, seeds=2, overrides=[*SHORT, f"{key}={value}"],
                      out=tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()  # refused before any folder was made


def test_grid_and_seed_errors_name_the_fix(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ConfigError, match=r"model.width \(from --set\): --grid value 32 is "
                       r"not a list; expected a non-empty list"):
        parse_grid(["model.width=32"])
    with pytest.raises(ConfigError, match=r"training.seed .*: is set by the sweep itself.*"
                       r"Fix: use --seeds"):
        parse_grid({"training.seed": [1, 2]})
    with pytest.raises(ConfigError, match="--grid needs KEY=\\[VALUES\\]"):
        parse_grid(["model.width"])
    with pytest.raises(PinnkitError, match="expected a number \\(8\\) or a comma-separated"):
        read_seeds("eight")
    assert read_seeds("3") == 3 and read_seeds("0,5") == [0, 5]
    assert seed_list(3, 7) == [7, 8, 9] and seed_list([4, 2], 0) == [4, 2]
    assert main(["sweep", HEAT, "--grid", "model.width=[8,]x", "--quiet"]) == 2
    assert "pinnkit: error: model.width" in capsys.readouterr().err
    specs = expand([0, 1], {"model.width": [8], "training.stages.0.lr": [0.1]})
    assert [s.label for s in specs] == ["width=8_lr=0.1_seed=0", "width=8_lr=0.1_seed=1"]
    assert specs[1].overrides == ("model.width=8", "training.stages.0.lr=0.1",
                                  "training.seed=1")


def test_spread_statistics() -> None:
    s = stats([1.0, 2.0, 4.0])
    assert s["n"] == 3 and s["mean"] == pytest.approx(7 / 3) and s["median"] == 2.0
    assert s["std"] == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2
                                                + (4 - 7 / 3) ** 2) / 2))
    assert s["min"] == 1.0 and s["max"] == 4.0
    assert math.isnan(stats([1.0])["std"]) and stats([])["n"] == 0


def test_capture_is_chosen_on_cuda_only() -> None:
    from pinnkit.training.stacked import use_capture

    assert not use_capture(torch.device("cpu"), "auto")
    assert not use_capture(torch.device("cpu"), "true")
    assert use_capture(torch.device("cuda"), "auto") and use_capture(torch.device("cuda:1"),
                                                                     "true")
    assert not use_capture(torch.device("cuda"), "false")


def test_functional_step_is_the_stacked_step_and_traces_as_one_graph() -> None:
    """What CUDA captures: gradients by torch.func and Adam on device tensors, equal to the
    autograd step with StackedAdam (an idle run included), and one graph without breaks."""
    import torch._dynamo as dynamo

    from pinnkit.engines.compile import _disable_untraced

    states, problems, engine = _states([0, 1])
    eager, functional = Stack(states, problems, engine), Stack(states, problems, engine)
    lrs = [1e-2, 5e-3]
    for i in range(4):
        active = [True, i % 2 == 0]
        a, _ = eager.step(lrs, active)
        b, _ = functional.functional_step(torch.tensor(lrs), torch.tensor(active))
        assert b.tolist() == pytest.approx(a, rel=1e-13)
    for n, p in eager.params.items():
        torch.testing.assert_close(functional.params[n], p, rtol=1e-12, atol=1e-15)
    assert functional.adam.step_counts.tolist() == eager.adam.steps == [4, 2]
    _disable_untraced()  # what maybe_compile does before a compiled call
    fresh = Stack(states, problems, engine)
    explained = dynamo.explain(fresh.functional_step)(torch.tensor(lrs),
                                                      torch.tensor([True, True]))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)


def test_tf32_stays_off_unless_asked() -> None:
    from pinnkit.training.precision import matmul_precision

    flags = torch.backends.cuda.matmul
    before = flags.fp32_precision
    with matmul_precision("ieee"):
        assert flags.fp32_precision == "ieee"
    with matmul_precision("tf32"):
        assert flags.fp32_precision == "tf32"
    assert flags.fp32_precision == before
    problem, cfg = resolve(HEAT, [])
    assert cfg.model.precision == "ieee"
    with pytest.raises(ConfigError, match="model.precision"):
        resolve(HEAT, ["model.precision=fp16"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_captured_sweep_matches_the_eager_sweep_on_cuda(tmp_path: Path) -> None:
    """On CUDA the stacked Adam step is one captured graph; in float64 it trains the runs
    the eager stacked step trains (training.compile: false), to round-off."""
    sets = [*SHORT[:-1], "training.device=cuda",
            "training.stages=[{optimizer: adam, lr: 1.0e-2, steps: 40}]"]
    captured = pinnkit.sweep(HEAT, seeds=3, overrides=sets, out=tmp_path / "c",
                             progress=False)
    eager = pinnkit.sweep(HEAT, seeds=3, overrides=[*sets, "training.compile=false"],
                          out=tmp_path / "e", progress=False)
    for a, b in zip(captured.runs, eager.runs, strict=True):
        assert a is not None and b is not None
        assert _close(a.model.state_dict(), b.model.state_dict()) < 1e-9
