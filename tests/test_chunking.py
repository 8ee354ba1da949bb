"""Residuals evaluated in chunks: the same loss and gradients, and a back-off on OOM.

Everything runs in float64 (conftest), so chunked and unchunked results are compared at
1e-12: they differ only by the order of floating-point additions.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from checks_helpers import warns_checks

import pinnkit
from pinnkit import Box, Problem
from pinnkit.config import load_config
from pinnkit.engines import make_engine
from pinnkit.training.losses import Collocation, term_losses, total_loss
from pinnkit.training.setup import Setup, build_model

TOL = {"rtol": 1e-12, "atol": 1e-14}


def setup(path, chunk: int, problem=None):
    cfg = load_config(path, [f"training.points.chunk={chunk}"])
    compiled = pinnkit.check(problem, config={"training": {"points": {"domain": 64,
                                                                        "boundary": 16}}}) \
        if problem is not None else pinnkit.check(path)
    model = build_model(compiled, cfg)
    points = Collocation(compiled, cfg.training.points, 0, torch.device("cpu"), torch.float64)
    return compiled, model, points


def loss_and_grads(compiled, model, points, engine=None, extra=()):
    engine = engine or make_engine("autograd", model)
    params = [*model.parameters(), *extra]
    for p in params:
        p.grad = None
    losses = term_losses(model, engine, compiled, points.sets)
    total = total_loss(losses, compiled)
    total.backward()
    grads = [p.grad.clone() for p in params]
    return {k: v.detach() for k, v in losses.items()}, total.detach(), grads


@pytest.mark.parametrize("chunk", [5, 16, 63])
def test_chunked_loss_and_gradients_equal_unchunked(tiny_yaml, chunk):
    compiled, model, whole = setup(tiny_yaml, 0)
    _, _, parts = setup(tiny_yaml, chunk)
    assert parts.chunking.size == chunk and whole.chunking.size == 0
    want_losses, want_total, want_grads = loss_and_grads(compiled, model, whole)
    got_losses, got_total, got_grads = loss_and_grads(compiled, model, parts)
    assert set(got_losses) == {"heat", "initial", "walls"}
    for k in want_losses:
        torch.testing.assert_close(got_losses[k], want_losses[k], **TOL)
    torch.testing.assert_close(got_total, want_total, **TOL)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, **TOL)
    assert any(w.abs().max() > 1e-3 for w in want_grads)  # the comparison is not of zeros


class LearnableHeat(Problem):
    """Heat with a learnable diffusivity that lives outside the network."""

    inputs = ("x", "t")
    outputs = ("u",)
    domain = Box(x=(0, 1), t=(0, 1))
    conditions = {"initial": ("t == 0", "u - sin(pi*x)"), "level": ("x == 0", "2")}

    def __init__(self) -> None:
        super().__init__()
        self.k = torch.nn.Parameter(torch.tensor(0.3))

    def heat(self, d):
        return d.u_t - self.k * d.u_xx

    equations = {"heat": heat}


def test_chunking_keeps_gradients_of_parameters_outside_the_model(tiny_yaml):
    problem = LearnableHeat()
    with warns_checks("boundary_coverage"):  # no condition at x == 1: not needed here
        compiled, model, whole = setup(tiny_yaml, 0, problem)
        _, _, parts = setup(tiny_yaml, 5, problem)
    want = loss_and_grads(compiled, model, whole, extra=[problem.k])
    got = loss_and_grads(compiled, model, parts, extra=[problem.k])
    torch.testing.assert_close(got[1], want[1], **TOL)
    torch.testing.assert_close(got[2][-1], want[2][-1], **TOL)  # d loss / d k
    assert abs(float(want[2][-1])) > 1e-6
    # the constant residual "2" counts at every point, chunked or not
    torch.testing.assert_close(got[0]["level"], torch.tensor(4.0), **TOL)


def oom_above(limit: int, engine):
    """An engine that runs out of 'GPU memory' on more than ``limit`` points."""
    calls = []

    def wrapped(model, x, *args, **kwargs):
        calls.append(x.shape[0])
        if x.shape[0] > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return engine(model, x, *args, **kwargs)

    wrapped.calls = calls
    return wrapped


def test_out_of_memory_halves_the_chunk_warns_once_and_gives_the_same_loss(tiny_yaml):
    compiled, model, points = setup(tiny_yaml, 0)
    want = loss_and_grads(compiled, model, points)
    engine = oom_above(20, make_engine("autograd", model))
    with pytest.warns(RuntimeWarning, match="out of GPU memory evaluating residuals on 64 "
                      "points at once; evaluating them in chunks of 16 points"):
        got = loss_and_grads(compiled, model, points, engine)
    assert points.chunking.size == 16  # 64 -> 32 -> 16, and it stays there
    assert engine.calls[:3] == [64, 32, 16]
    torch.testing.assert_close(got[1], want[1], **TOL)
    for g, w in zip(got[2], want[2], strict=True):
        torch.testing.assert_close(g, w, **TOL)
    engine.calls.clear()
    points.sample(1)  # resampling keeps the smaller chunk
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        loss_and_grads(compiled, model, points, engine)
    assert max(engine.calls) == 16


def test_out_of_memory_on_a_single_point_is_raised(tiny_yaml):
    compiled, model, points = setup(tiny_yaml, 0)
    engine = oom_above(0, make_engine("autograd", model))
    with pytest.raises(torch.cuda.OutOfMemoryError):
        term_losses(model, engine, compiled, points.sets)


def test_training_with_chunks_or_an_oom_back_off_matches_plain_training(tiny_yaml,
                                                                        monkeypatch):
    plain = pinnkit.train(tiny_yaml, 12, run_dir=False, progress=False)
    chunked = pinnkit.train(tiny_yaml, 12, run_dir=False, progress=False,
                            overrides=["training.points.chunk=10"])
    real = Setup.engine
    monkeypatch.setattr(Setup, "engine", lambda self: oom_above(40, real(self)))
    with pytest.warns(RuntimeWarning, match="chunks of 32 points"):
        backed_off = pinnkit.train(tiny_yaml, 12, run_dir=False, progress=False)
    for run in (chunked, backed_off):
        for k, v in plain.metrics["loss"].items():
            assert run.metrics["loss"][k] == pytest.approx(v, rel=1e-9)


@pytest.mark.parametrize("chunk", [7, 40])
def test_chunks_under_causal_weighting_give_the_causal_loss_and_gradients(tiny_yaml, chunk):
    """Causal weighting needs every interior point's loss for its slice weights: chunked,
    the weights come from a graph-free pass and the loss is their weighted sum, equal to
    the unchunked causal loss (and its gradients) at round-off, not silently unchunked."""
    from pinnkit.config import CausalConfig
    from pinnkit.training.causal import CausalWeights

    compiled, model, whole = setup(tiny_yaml, 0)
    _, _, parts = setup(tiny_yaml, chunk)
    engine = make_engine("autograd", model)
    results = []
    for points in (whole, parts):
        reduce = CausalWeights(compiled, CausalConfig(chunks=4, epsilon=10.0), 1)
        for p in model.parameters():
            p.grad = None
        losses = term_losses(model, engine, compiled, points.sets, reduce)
        total_loss(losses, compiled).backward()
        results.append(({k: v.detach() for k, v in losses.items()}, reduce.last,
                        [p.grad.clone() for p in model.parameters()]))
    (want, want_w, want_g), (got, got_w, got_g) = results
    assert float(want_w.min()) < 0.9  # the causal weights do differ from 1 here
    torch.testing.assert_close(got_w, want_w, **TOL)
    for k in want:
        torch.testing.assert_close(got[k], want[k], **TOL)
    for g, w in zip(got_g, want_g, strict=True):
        torch.testing.assert_close(g, w, **TOL)
