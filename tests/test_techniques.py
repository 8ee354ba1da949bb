"""Training techniques against closed forms: periodic conditions, adaptive weights, causal
weighting, adaptive resampling and the cosine schedule."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from checks_helpers import warns_checks

import pinnkit
from pinnkit.api import resolve
from pinnkit.config import (
    AdaptivePointsConfig,
    BalanceConfig,
    CausalConfig,
    PointsConfig,
    StageConfig,
)
from pinnkit.engines.autograd import AutogradEngine
from pinnkit.errors import CheckWarning, ConfigError
from pinnkit.geometry import get_sampler, paired_faces
from pinnkit.problem import Problem
from pinnkit.training.adaptive import AdaptiveSampler, interior_set
from pinnkit.training.causal import CausalWeights
from pinnkit.training.losses import Collocation, term_losses
from pinnkit.training.optimizers import make_scheduler
from pinnkit.training.setup import build_setup
from pinnkit.training.techniques import Techniques
from pinnkit.training.trainer import new_state
from pinnkit.training.weights import Balancer

CPU = torch.device("cpu")


class Function(torch.nn.Module):
    """A fixed function of the inputs as a module (one unused parameter for the engine)."""

    def __init__(self, fn):
        super().__init__()
        self.fn, self.p = fn, torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.fn(x).unsqueeze(-1)


class Ring(Problem):
    inputs, outputs = ("x", "t"), ("u",)
    domain = {"x": [-1, 1], "t": [0, 1]}
    equations = {"pde": "u_t - u_xx"}
    conditions = {"cycle": {"periodic": "x"}}


def check_ring(problem: Problem | None = None, reads_u: bool = False):
    """pinnkit.check of Ring, which is ill-posed on purpose (no initial condition, u = 0
    solves it, and an equation that never reads u itself leaves u + c a solution too):
    the checks must say so."""
    with warns_checks("initial_condition", "trivial_solution",
                      *(() if reads_u else ("constant_offset",))):
        return pinnkit.check(problem or Ring())


# ----------------------------------------------------------- periodic conditions


def test_paired_faces_pairs_rows():
    box = pinnkit.Box(x=(-1, 1), t=(0, 2), y=(3, 4))
    pts = paired_faces(box, 0, 5, get_sampler("sobol"), 1)
    assert pts.shape == (10, 3)
    np.testing.assert_array_equal(pts[:5, 0], -1.0)
    np.testing.assert_array_equal(pts[5:, 0], 1.0)
    np.testing.assert_array_equal(pts[:5, 1:], pts[5:, 1:])
    assert np.all((pts[:, 1] >= 0) & (pts[:, 1] <= 2) & (pts[:, 2] >= 3) & (pts[:, 2] <= 4))


@pytest.mark.parametrize("eq, order, names", [
    ("u_t - u_xx", None, {"u", "u_x"}),
    ("u_t + u*u_x + u_xxx", None, {"u", "u_x", "u_xx"}),
    ("u_t - u_xx", 0, {"u"}),
])
def test_periodic_condition_matches_the_needed_derivatives(eq, order, names):
    cond = {"periodic": "x"} if order is None else {"periodic": "x", "order": order}
    problem = Ring()
    problem.equations, problem.conditions = {"pde": eq}, {"cycle": cond}
    term = check_ring(problem, reads_u="u*" in eq).terms[1]
    assert {p.name(("x", "t")) for p in term.needs} == names
    assert term.periodic == 0


@pytest.mark.parametrize("fn, loss", [
    (lambda x: torch.sin(math.pi * x[:, 0]) * x[:, 1], 0.0),  # periodic: no loss
    (lambda x: x[:, 0], 2.0),  # u jumps by 2 (squared: 4), u_x agrees: mean of 4 and 0
    (lambda x: x[:, 0] ** 2 * torch.cos(math.pi * x[:, 0]), 8.0),  # u agrees, u_x: -2 vs 2
])
def test_periodic_condition_loss_closed_form(fn, loss):
    compiled = check_ring()
    points = Collocation(compiled, PointsConfig(domain=16, boundary=32), 0, CPU, torch.float64)
    got = term_losses(Function(fn), AutogradEngine(), compiled, points.sets)["cycle"]
    assert float(got.detach()) == pytest.approx(loss, abs=1e-12)


@pytest.mark.parametrize("cond, message", [
    ({"periodic": "z"}, r"conditions.cycle.periodic: 'z' is not an input; expected one of"),
    ({"periodic": "x", "on": "x == 0"}, "has both periodic and on/residual"),
    ({"periodic": "x", "order": -1}, r"conditions.cycle.order: found -1; expected a whole"),
])
def test_periodic_condition_errors(cond, message):
    problem = Ring()
    problem.conditions = {"cycle": cond}
    with pytest.raises(ConfigError, match=message):
        pinnkit.check(problem)


def test_periodic_condition_from_yaml(tiny_yaml):
    # sin(pi x) e^(-alpha pi^2 t) is not periodic in u_x on [0, 1]: the check says so
    with pytest.warns(CheckWarning, match=r"\[exact_residual\] conditions.cycle \(from --set\): "
                      "the reference does not satisfy condition 'cycle'"):
        compiled = pinnkit.check(tiny_yaml, overrides=["conditions.cycle={periodic: x}"])
    assert [t.name for t in compiled.terms] == ["heat", "initial", "walls", "cycle"]


# ------------------------------------------------------------- adaptive weights


def _balancer(scheme, momentum=0.0, kinds=("equation", "condition", "condition")):
    terms = [SimpleNamespace(name=n, weight=1.0, kind=k) for n, k in zip("abc", kinds, strict=True)]
    return Balancer(SimpleNamespace(terms=terms), BalanceConfig(scheme=scheme, every=10,
                                                                momentum=momentum))


def test_gradnorm_equalises_weighted_gradient_norms():
    p = torch.nn.Parameter(torch.ones(4))
    losses = {"a": (3 * p).sum(), "b": p.sum(), "c": 1e-12 * p.sum()}  # norms 6, 2, ~0
    w = _balancer("gradnorm").update(losses, [p])
    assert w["a"] == pytest.approx(8 / 6) and w["b"] == pytest.approx(8 / 2)
    assert w["c"] == 1.0  # negligible gradient (satisfied by construction): left alone
    assert w["a"] * 6 == pytest.approx(w["b"] * 2)


def test_gradnorm_momentum():
    p = torch.nn.Parameter(torch.ones(4))
    w = _balancer("gradnorm", 0.9).update({"a": (3 * p).sum(), "b": p.sum()}, [p])
    assert w["b"] == pytest.approx(0.9 * 1.0 + 0.1 * 4.0)


def test_annealing_keeps_equations_and_scales_the_rest():
    p = torch.nn.Parameter(torch.ones(4))
    losses = {"a": (2 * p).sum(), "b": (0.5 * p).sum(), "c": (p**2).sum() / 4}
    w = _balancer("annealing").update(losses, [p])
    assert w["a"] == 1.0  # the equation is the reference
    assert w["b"] == pytest.approx(2 / 0.5)  # max |g_eq| / mean |g_b|
    assert w["c"] == pytest.approx(2 / 0.5)


def test_balance_runs_in_training_and_logs_weights(tiny_yaml):
    run = pinnkit.train(tiny_yaml, run_dir=False, progress=False,
                        overrides=["training.balance={scheme: gradnorm, every: 5}"])
    last = run.history[-1]
    assert {"weight/heat", "weight/initial", "weight/walls"} <= set(last)
    assert last["weight/initial"] != 1.0  # moved from the start value


def test_without_balance_static_weights_are_used(tiny_yaml):
    a = pinnkit.train(tiny_yaml, 3, run_dir=False, progress=False,
                      overrides=["training.weights={initial: 3}"])
    weights = {k: v for k, v in a.history[-1].items() if k.startswith("weight/")}
    assert weights == {"weight/heat": 1.0, "weight/initial": 3.0, "weight/walls": 1.0}


# ------------------------------------------------------------- causal weighting


def test_causal_weights_closed_form():
    compiled = check_ring()
    causal = CausalWeights(compiled, CausalConfig(chunks=4, epsilon=0.5), column=1)
    t = torch.tensor([0.1, 0.2, 0.3, 0.6, 0.7, 0.9, 0.95])
    r = torch.tensor([1.0, 3.0, 2.0, 1.0, 1.0, 2.0, 4.0])
    x = torch.stack([torch.zeros_like(t), t], 1)
    slices = torch.tensor([5.0, 4.0, 1.0, 10.0])  # mean r^2 in [0, .25), [.25, .5), ...
    w = torch.exp(-0.5 * torch.tensor([0.0, 5.0, 9.0, 10.0]))
    got = causal(compiled.terms[0], x, r**2)  # per-point losses: squared residuals
    torch.testing.assert_close(got, (w * slices).mean())
    assert causal.min_weight() == pytest.approx(math.exp(-5.0))
    assert float(causal(compiled.terms[1], x, r**2)) == pytest.approx(float((r**2).mean()))


def test_causal_training_logs_min_weight(tiny_yaml):
    run = pinnkit.train(tiny_yaml, 4, run_dir=False, progress=False,
                        overrides=["training.causal={chunks: 4}"])
    assert 0.0 < run.history[-1]["causal/min_weight"] <= 1.0


def test_causal_weighting_in_adam_stages_only(tiny_yaml):
    problem, cfg = resolve(tiny_yaml, ["training.causal={chunks: 4, epsilon: 100}"])
    state = new_state(build_setup(problem, cfg))
    engine = AutogradEngine()
    tech = Techniques(problem, cfg, state, engine)

    def heat():
        return float(term_losses(state.model, engine, problem, state.points.sets,
                                 tech.reduce)["heat"].detach())

    tech.start_stage(StageConfig(optimizer="adam"))
    causal = heat()
    tech.start_stage(StageConfig(optimizer="lbfgs"))  # a fixed objective: the plain mean
    plain = heat()
    assert plain == float(term_losses(state.model, engine, problem, state.points.sets)["heat"]
                          .detach())
    assert causal < 0.5 * plain  # later slices are switched off by epsilon = 100


def test_causal_time_must_be_an_input(tiny_yaml):
    with pytest.raises(ConfigError, match=r"training.causal.time \(from --set\): 'tau' is not"
                       r" an input; expected the input that is time, one of: x, t"):
        pinnkit.check(tiny_yaml, overrides=["training.causal={time: tau}"])


# ---------------------------------------------------------- adaptive resampling


class Ramp(Problem):
    """Residual u_x with u = softplus(50 (x - 1/2))/50: |r| ~ 1 for x > 1/2, ~0 below."""

    inputs, outputs = ("x", "y"), ("u",)
    domain = {"x": [0, 1], "y": [0, 1]}
    equations = {"pde": "u_x"}


def check_ramp():
    """pinnkit.check of Ramp, ill-posed on purpose (no inflow condition, u = 0 solves it,
    and so does u + c)."""
    with warns_checks("boundary_coverage", "trivial_solution", "constant_offset"):
        return pinnkit.check(Ramp())


RAMP = Function(lambda x: torch.nn.functional.softplus(50 * (x[:, 0] - 0.5)) / 50)


@pytest.mark.parametrize("c, low, high", [(0.0, 0.97, 1.0), (1.0, 0.70, 0.80)])
def test_rad_draws_where_the_residual_is(c, low, high):
    compiled = check_ramp()
    points = Collocation(compiled, PointsConfig(domain=2000), 0, CPU, torch.float64)
    AdaptiveSampler(compiled, AdaptivePointsConfig(scheme="rad", c=c), points)(
        RAMP, AutogradEngine(), 1)
    x = interior_set(points).x
    assert x.shape == (2000, 2)
    # density ~ |r| / mean |r| + c: with c = 0 nearly all points have x > 0.45; with c = 1
    # the right half holds (2 + 1) / (2 + 1 + 1) = 3/4 of them
    share = float((x[:, 0] > 0.45 if c == 0 else x[:, 0] > 0.5).double().mean())
    assert low <= share <= high


def test_r3_retains_high_residual_points():
    compiled = check_ramp()
    points = Collocation(compiled, PointsConfig(domain=1000), 0, CPU, torch.float64)
    old = interior_set(points).x.clone()
    AdaptiveSampler(compiled, AdaptivePointsConfig(scheme="r3"), points)(
        RAMP, AutogradEngine(), 1)
    new = interior_set(points).x
    r2 = torch.sigmoid(50 * (old[:, 0] - 0.5)) ** 2  # the residual u_x, squared
    above = r2 > r2.mean()
    kept = int(above.sum())
    assert new.shape == old.shape and 0 < kept < 1000
    torch.testing.assert_close(new[:kept], old[above], rtol=0, atol=0)
    assert float((new[kept:, 0] > 0.5).double().mean()) < 0.6  # the rest is fresh


def test_adaptive_needs_resampling(tiny_yaml):
    with pytest.raises(ConfigError, match=r"training.points.adaptive \(from --set\): is set but"
                       " training.points.resample_every is 0"):
        pinnkit.check(tiny_yaml, overrides=["training.points.adaptive={scheme: rad}",
                                            "training.points.resample_every=0"])


def test_adaptive_training_runs(tiny_yaml):
    run = pinnkit.train(tiny_yaml, 12, run_dir=False, progress=False,
                        overrides=["training.points.adaptive={scheme: rad, candidates: 2}"])
    assert math.isfinite(run.metrics["loss"]["heat"])


# --------------------------------------------------------------------- schedule


def test_cosine_schedule_closed_form():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1e-3)
    sched = make_scheduler(opt, StageConfig(steps=100, lr=1e-3, schedule="cosine", lr_min=1e-5))
    lrs = []
    for _ in range(100):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[49] == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lrs[-1] == pytest.approx(1e-5)


def test_cosine_schedule_from_yaml(tiny_yaml):
    run = pinnkit.train(tiny_yaml, run_dir=False, progress=False, overrides=[
        "training.stages=[{optimizer: adam, lr: 0.01, steps: 20, schedule: cosine}]"])
    assert run.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)
