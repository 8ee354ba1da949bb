"""The second-order stages against closed forms (float64): ssbfgs, ssbroyden and lm.

* both quasi-Newton variants reach the minimiser of Rosenbrock's function and of a convex
  quadratic to 1e-10;
* lm solves a linear least-squares problem in one step, and its Gauss-Newton system
  (J^T J, J^T R) built through the Taylor engine matches the closure's gradient and loss
  on problems with boundary, periodic and data terms and a learnable parameter;
* a stage's dtype promotes the network without changing its values;
* a stop inside each new stage resumes to the uninterrupted run's parameters;
* networks too large for a dense stage are refused before training, with the fix.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
import torch
from runhelpers import TINY, flat_params, write_config

from pinnkit.api import check_report, resolve
from pinnkit.cli import main
from pinnkit.engines import make_engine
from pinnkit.training import trainer
from pinnkit.training.gauss_newton import LevenbergMarquardt
from pinnkit.training.quasi_newton import SelfScaledQuasiNewton
from pinnkit.training.setup import build_setup

VARIANTS = ("ssbfgs", "ssbroyden")


def minimise(variant: str, x: torch.nn.Parameter, f, calls: int = 60) -> SelfScaledQuasiNewton:
    opt = SelfScaledQuasiNewton([x], variant, max_iter=25)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = f(x)
        value.backward()
        return value

    for _ in range(calls):
        opt.step(closure)
        if opt.stop_reason:
            break
    return opt


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("n", [2, 10])
def test_quasi_newton_finds_the_rosenbrock_minimum(variant: str, n: int) -> None:
    x0 = torch.tensor([-1.2, 1.0] * (n // 2), dtype=torch.float64)
    x = torch.nn.Parameter(x0)
    opt = minimise(variant, x, lambda z: (100 * (z[1:] - z[:-1]**2)**2
                                          + (1 - z[:-1])**2).sum())
    assert float((x.detach() - 1).abs().max()) <= 1e-10, opt.stop_reason
    assert opt.stop_reason is not None and opt.stop_reason.startswith("converged")


@pytest.mark.parametrize("variant", VARIANTS)
def test_quasi_newton_solves_a_quadratic(variant: str) -> None:
    gen = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.randn(30, 30, dtype=torch.float64, generator=gen))[0]
    A = q @ torch.diag(torch.logspace(0, 2, 30, dtype=torch.float64)) @ q.T  # condition 100
    b = torch.randn(30, dtype=torch.float64, generator=gen)
    x = torch.nn.Parameter(torch.zeros(30, dtype=torch.float64))
    minimise(variant, x, lambda z: 0.5 * z @ A @ z - b @ z)
    solution = torch.linalg.solve(A, b)
    assert float((x.detach() - solution).norm() / solution.norm()) <= 1e-10


class LinearLeastSquares:
    """A closure for lm with R(x) = A x - b: J = A exactly."""

    def __init__(self, x: torch.nn.Parameter) -> None:
        gen = torch.Generator().manual_seed(1)
        self.A = torch.randn(40, 8, dtype=torch.float64, generator=gen)
        self.b = torch.randn(40, dtype=torch.float64, generator=gen)
        self.x, self.systems = x, 0

    def normal_equations(self):
        self.systems += 1
        r = self.A @ self.x.detach() - self.b
        return self.A.T @ self.A, self.A.T @ r, float(r @ r)

    def value(self) -> float:
        r = self.A @ self.x.detach() - self.b
        return float(r @ r)


def test_lm_solves_linear_least_squares_in_one_step() -> None:
    x = torch.nn.Parameter(torch.zeros(8, dtype=torch.float64))
    problem = LinearLeastSquares(x)
    opt = LevenbergMarquardt([x], damping=1e-14, max_iter=1)
    opt.step(problem)
    solution = torch.linalg.lstsq(problem.A, problem.b.unsqueeze(1)).solution.squeeze(1)
    assert float((x.detach() - solution).abs().max()) <= 1e-10
    assert problem.systems == 1


PERIODIC_DATA = TINY.replace("  walls:   {on: x == 0 or x == 1, residual: u}",
                             "  walls:   {on: x == 0, residual: k*u_x - u_x}\n"
                             "  cycle:   {periodic: x}") \
    .replace("constants: {alpha: 0.1}", "constants: {alpha: 0.1}\nparameters: {k: {init: 0.7}}") \
    .replace("domain: 32, boundary: 8", "domain: 24, boundary: 6")


# observations of u and u_x, some rows without a u_x (NaN): each target is the mean over
# its own rows, which lm's per-point residuals must reproduce
WITH_DATA = TINY.replace("exact:", "data:\n  obs: {file: obs.csv, weight: 3}\nexact:")
OBS = "x,t,u,u_x\n0.1,0.2,0.3,1.0\n0.5,0.5,0.2,nan\n0.9,0.1,-0.1,0.4\n0.3,0.8,0.05,nan\n"


@pytest.mark.parametrize("text", [TINY, PERIODIC_DATA, WITH_DATA],
                         ids=["tiny", "periodic+parameter", "data"])
def test_gauss_newton_system_matches_the_closure(tmp_path: Path, text: str) -> None:
    """J^T R is half the loss gradient and |R|^2 the loss, over weights and parameters."""
    (tmp_path / "obs.csv").write_text(OBS)
    with warnings.catch_warnings():  # the NaN rows are on purpose
        warnings.filterwarnings("ignore", "data.obs: 2 of 4 rows have no value")
        problem, cfg = resolve(write_config(tmp_path, text))
    state = trainer.new_state(build_setup(problem, cfg))
    engine = make_engine("taylor", state.model)
    closure = trainer.Closure(state, engine, problem)
    loss = float(closure().detach())
    grad = torch.cat([torch.zeros_like(p).reshape(-1) if p.grad is None else p.grad.reshape(-1)
                      for p in state.trainable()])
    A, g, f = closure.normal_equations()
    assert f == pytest.approx(loss, rel=1e-12)
    assert float((2 * g - grad).abs().max()) <= 1e-12 * max(1.0, float(grad.abs().max()))
    assert A.shape == (grad.numel(), grad.numel())
    assert float((A - A.T).abs().max()) == 0.0
    assert float(torch.linalg.eigvalsh(A).min()) >= -1e-10 * float(A.diagonal().max())


def test_stage_dtype_promotes_without_changing_the_network(tmp_path: Path) -> None:
    text = TINY.replace("dtype: float64", "dtype: float32").replace(
        "- {optimizer: lbfgs, steps: 100}", "- {optimizer: lm, steps: 1, dtype: float64}")
    problem, cfg = resolve(write_config(tmp_path, text))
    state = trainer.new_state(build_setup(problem, cfg))
    before = [p.detach().clone() for p in state.model.parameters()]
    x = state.points.sets[0].x.clone()
    state.set_precision(torch.float64)
    for old, new in zip(before, state.model.parameters(), strict=True):
        assert new.dtype == torch.float64 and torch.equal(new.detach(), old.double())
    assert state.points.sets[0].x.dtype == torch.float64
    assert torch.equal(state.points.sets[0].x, x.double())
    run = trainer.fit(build_setup(problem, cfg), None, progress=False)
    assert next(run.model.parameters()).dtype == torch.float64
    assert run.metrics["stages"][-1]["optimizer"] == "lm"


STAGES = {
    "ssbroyden": "- {optimizer: ssbroyden, steps: 100}",
    "ssbfgs": "- {optimizer: ssbfgs, steps: 100}",
    # 60 steps (each solves a dense system) with a resample on either side of the stop
    "lm": "- {optimizer: lm, steps: 60, resample_every: 20}",
}


@pytest.mark.parametrize("name", [n if n != "ssbfgs" else  # ssbroyden runs its code path
                                  pytest.param(n, marks=pytest.mark.slow) for n in STAGES])
def test_stop_inside_a_second_order_stage_resumes_exactly(tmp_path: Path, name: str) -> None:
    text = TINY.replace("- {optimizer: lbfgs, steps: 100}", STAGES[name])
    straight = trainer.fit(build_setup(*resolve(write_config(tmp_path, text))), tmp_path / "a",
                           progress=False)
    budget = 100 + int(re.search(r"steps: (\d+)", STAGES[name]).group(1))
    assert straight.metrics["steps"] == budget or straight.metrics["stages"][-1]["reason"] \
        .startswith(("converged", "no ", "stalled"))
    folder = tmp_path / "b"
    first = trainer.fit(build_setup(*resolve(write_config(tmp_path, text))), folder, progress=False,
                        stop_at=130)
    assert not first.metrics["finished"] and first.metrics["steps"] >= 130
    second = trainer.fit(build_setup(*resolve(write_config(tmp_path, text))), folder,
                         progress=False, resume=True)
    assert second.metrics["steps"] == straight.metrics["steps"]
    diff = float((flat_params(second.model) - flat_params(straight.model)).abs().max())
    assert diff <= 1e-12, f"{name}: resumed parameters differ by {diff:.3e}"


@pytest.mark.slow  # an accuracy run (7 s); pytest -m slow
def test_lm_and_quasi_newton_train_the_tiny_problem_far_below_adam(tmp_path: Path) -> None:
    """Same Adam start; the second-order stages end 100x below the Adam stage's error."""
    errors = {}
    for name, stage in [("adam", "- {optimizer: adam, lr: 1.0e-3, steps: 100}"),
                        ("lm", "- {optimizer: lm, steps: 100}"),
                        ("ssbroyden", "- {optimizer: ssbroyden, steps: 100}")]:
        text = TINY.replace("- {optimizer: lbfgs, steps: 100}", stage) \
            .replace("resample_every: 30", "resample_every: 0")
        run = trainer.fit(build_setup(*resolve(write_config(tmp_path, text))), None, progress=False)
        errors[name] = run.metrics["l2_relative_error"]["u"]
    assert errors["lm"] <= errors["adam"] / 100, errors
    assert errors["ssbroyden"] <= errors["adam"] / 100, errors


@pytest.mark.slow  # 7 s; pytest -m slow
def test_stalled_stage_ends_with_its_reason(tmp_path: Path) -> None:
    """float32 L-BFGS sits at a bit-identical loss; the stage ends instead of going on."""
    # compile: false, as the budget of 100000 steps would make `auto` compile the loss (~6 s)
    text = TINY.replace("- {optimizer: lbfgs, steps: 100}",
                        "- {optimizer: lbfgs, steps: 100000, patience: 50}") \
        .replace("resample_every: 30", "resample_every: 0").replace("float64", "float32") \
        .replace("  seed: 0\n", "  seed: 0\n  compile: false\n")
    assert "compile: false" in text
    path = write_config(tmp_path, text)
    assert main(["train", str(path), "--quiet", "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    reason = metrics["stages"][-1]["reason"]
    assert metrics["steps"] < 100_100
    assert re.match(r"(stalled: the loss has not gone 0.0001 below \S+ in \d+ steps|converged)",
                    reason), reason
    assert metrics["stages"][0] == {"stage": 0, "optimizer": "adam", "step": 100,
                                    "reason": "budget used (100 steps)"}


def test_dense_stage_refuses_a_large_network(tmp_path: Path) -> None:
    text = TINY.replace("width: 6, depth: 2", "width: 128, depth: 2").replace(
        "- {optimizer: lbfgs, steps: 100}", "- {optimizer: ssbroyden, steps: 100}")
    report = check_report(write_config(tmp_path, text))
    assert report.error is not None
    assert "training.stages.1.optimizer" in report.error
    assert "ssbroyden keeps a dense 17025 x 17025 matrix" in report.error
    assert "at most 10000 parameters" in report.error and "smaller network" in report.error


def test_lm_refuses_a_system_that_does_not_fit(tmp_path: Path, monkeypatch) -> None:
    from pinnkit.training import optimizers

    monkeypatch.setattr(optimizers, "available_memory", lambda device: 1 << 16)  # 64 KB free
    text = TINY.replace("- {optimizer: lbfgs, steps: 100}", "- {optimizer: lm, steps: 100}")
    path = write_config(tmp_path, text)
    report = check_report(path)
    assert report.error is not None and "training.stages.1.optimizer" in report.error
    assert re.search(r"lm needs about [\d.]+ [KMG]?B for 67 parameters and 48 residual values",
                     report.error), report.error
    assert main(["train", str(path), "--quiet", "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_lm_refuses_an_objective_term(tmp_path: Path) -> None:
    text = TINY.replace("- {optimizer: lbfgs, steps: 100}", "- {optimizer: lm, steps: 100}") \
        + "objective:\n  energy: {integrand: u**2}\n"
    report = check_report(write_config(tmp_path, text))
    assert report.error is not None
    assert "lm minimises a sum of squared residuals" in report.error and "energy" in report.error
