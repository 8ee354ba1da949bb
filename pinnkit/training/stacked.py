"""Many trainings of one network shape as one: their weights stacked, one vectorised step.

K runs whose networks have the same parameter shapes (seeds, values of a PDE constant)
keep their own ``TrainState``; a ``Stack`` holds, for one Adam stage, their weights as
tensors of shape (K, ...) and their collocation points as (K, N, d) buffers. One step
evaluates every run's loss with ``torch.func.vmap`` over ``functional_call`` of the
derivative engine, differentiates the sum of the K losses (each run's gradient is that of
its own loss: nothing couples them) and updates the weights with ``StackedAdam``.

``StackedAdam`` is torch's Adam, elementwise, with each run's own learning rate and step
count: the same operations in the same order as ``torch.optim.Adam``'s single-tensor
step, so a run's weights follow the path its single training takes, to round-off (the
batched matrix products may round differently). Nothing is shared between runs: no
global gradient clipping, no shared loss scale.

The point buffers are static: a resampled run's new points are copied into its slice in
place (``refill``), so their storage, and a captured CUDA graph reading it, stays valid.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch.func import functional_call, vmap

from ..problem import CompiledProblem, Term
from .losses import Chunking, PointSet, pointwise, set_needs
from .state import TrainState


def use_capture(device: torch.device, compile_mode: str) -> bool:
    """Whether a stack's Adam step runs as one captured CUDA graph: on CUDA, unless
    ``training.compile: false``. The CPU always takes the eager step (compiling costs
    tens of seconds there, and there are no kernel launches to save)."""
    return device.type == "cuda" and str(compile_mode).lower() != "false"


class _Losses(torch.nn.Module):
    """One run's weighted loss as a module call, so ``functional_call`` can swap in the
    stacked weights of each run (the engine reads the network's layers directly)."""

    def __init__(self, net: torch.nn.Module, engine: Any, problem: CompiledProblem,
                 sets: Sequence[PointSet]) -> None:
        super().__init__()
        self.net, self.engine, self.problem = net, engine, problem
        self.chunking = Chunking()
        self.meta: list[tuple[tuple[Term, ...], bool, tuple[Any, ...]]] = [
            (ps.terms, ps.paired, tuple(ps.extra)) for ps in sets]

    def forward(self, xs: list[torch.Tensor], normals: dict[str, torch.Tensor],
                extras: list[list[torch.Tensor]], constants: dict[str, torch.Tensor],
                weights: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # each run's own value of the constants that differ (0-d tensors under vmap);
        # residual expressions read constants from the env, tensors or floats alike
        problem = self.problem if not constants else dataclasses.replace(
            self.problem, constants={**self.problem.constants, **constants})  # type: ignore
        losses: dict[str, torch.Tensor] = {}
        for i, ((terms, paired, keys), x) in enumerate(zip(self.meta, xs, strict=True)):
            # the chunking object is passed, not built: a dataclass default_factory call
            # inside the trace is a graph break (the vectorised step never chunks)
            ps = PointSet(terms, x, normals.get(str(i)), self.chunking,
                          dict(zip(keys, extras[i], strict=True)), paired)
            per_point = pointwise(self.net, self.engine, problem, ps)
            losses.update({t.name: per_point[t.name].mean() for t in terms})
        # summed in the order the single run's Closure sums them
        total: torch.Tensor = sum(weights[n] * v for n, v in losses.items())  # type: ignore
        return total, losses


class StackedAdam:
    """Adam over stacked (K, ...) tensors with a learning rate and step count per run."""

    def __init__(self, params: Sequence[torch.Tensor], betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params = list(params)
        self.betas, self.eps = betas, eps
        self.k = self.params[0].shape[0]
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = [0] * self.k
        # the functional step's counts, on the device (kept equal to ``steps`` by callers)
        self.step_counts = torch.zeros(self.k, dtype=torch.float64 if self.params[0].dtype
                                       == torch.float64 else torch.float32,
                                       device=self.params[0].device)

    @torch.no_grad()
    def step(self, lrs: Sequence[float], active: Sequence[bool]) -> None:
        """One Adam step of every active run; the others' weights and moments stay."""
        b1, b2 = self.betas
        idle = [k for k in range(self.k) if not active[k]]
        kept = [(p[idle].clone(), m[idle].clone(), v[idle].clone())
                for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True)] \
            if idle else []
        for k in range(self.k):
            if active[k]:
                self.steps[k] += 1
        steps = [max(s, 1) for s in self.steps]
        # Python floats per run, as torch's single-tensor Adam computes them
        size = [-lr / (1 - b1**s) for lr, s in zip(lrs, steps, strict=True)]
        root = [(1 - b2**s) ** 0.5 for s in steps]
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            g = p.grad
            assert g is not None, "the stacked loss was not differentiated"
            shape = (self.k,) + (1,) * (p.ndim - 1)
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / p.new_tensor(root).view(shape)).add_(self.eps)
            # addcdiv_(m, denom, value=s) computes p + s * m / denom, in that order
            p.add_(m * p.new_tensor(size).view(shape) / denom)
        for (p, m, v), (p0, m0, v0) in zip(zip(self.params, self.exp_avg, self.exp_avg_sq,
                                               strict=True), kept, strict=False):
            p[idle], m[idle], v[idle] = p0, m0, v0


class Stack:
    """K runs' networks, points and Adam moments as stacked tensors, for one Adam stage.

    ``states`` share the parameter shapes of ``states[0].model`` (the template the
    vectorised step calls), its problem (``problem``; ``constants`` lists the names whose
    values differ between runs, passed per run) and its point-set layout.
    """

    def __init__(self, states: Sequence[TrainState], problems: Sequence[CompiledProblem],
                 engine: Any) -> None:
        self.states, self.k = list(states), len(states)
        first = self.states[0]
        prepare = getattr(engine, "prepare", None)  # plans built now, not inside a trace
        if prepare is not None:
            for ps in first.points.sets:
                prepare(first.model, set_needs(ps), ps.x.shape[-1], problems[0].outputs)
        self.template = _Losses(copy.deepcopy(first.model), engine, problems[0],
                                first.points.sets)
        names = [n for n, _ in first.model.named_parameters()]
        self.names = names
        self.params = {f"net.{n}": torch.stack([dict(s.model.named_parameters())[n].detach()
                                                for s in self.states]).requires_grad_()
                       for n in names}
        self.buffers = {f"net.{n}": torch.stack([dict(s.model.named_buffers())[n]
                                                 for s in self.states])
                        for n, _ in first.model.named_buffers()}
        sets = [s.points.sets for s in self.states]
        self.xs = [torch.stack([run[i].x for run in sets]) for i in range(len(sets[0]))]
        self.normals = {str(i): torch.stack([run[i].normals for run in sets])  # type: ignore
                        for i in range(len(sets[0])) if sets[0][i].normals is not None}
        self.extras = [[torch.stack([run[i].extra[key] for run in sets])
                        for key in sets[0][i].extra] for i in range(len(sets[0]))]
        dtype, device = self.xs[0].dtype, self.xs[0].device
        differ = [c for c in problems[0].constants
                  if len({p.constants[c] for p in problems}) > 1]
        self.constants = {c: torch.tensor([p.constants[c] for p in problems], dtype=dtype,
                                          device=device) for c in differ}
        self.weights = {n: torch.tensor([s.weights[n] for s in self.states], dtype=dtype,
                                        device=device) for n in first.weights}
        self.adam = StackedAdam(list(self.params.values()))
        for k, s in enumerate(self.states):
            self._load_moments(k, s)
        self._call = vmap(self._one, in_dims=(0, 0, 0, 0, 0, 0, 0), randomness="error")
        self._captured: Any = None

    def _one(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
             xs: list[torch.Tensor], normals: dict[str, torch.Tensor],
             extras: list[list[torch.Tensor]], constants: dict[str, torch.Tensor],
             weights: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return functional_call(self.template, (params, buffers),
                               (xs, normals, extras, constants, weights))

    def losses(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Every run's weighted loss (K,) and terms {name: (K,)}, differentiated: each
        stacked weight's ``grad`` holds every run's own gradient."""
        for p in self.params.values():
            p.grad = None
        total, terms = self._call(self.params, self.buffers, self.xs, self.normals,
                                  self.extras, self.constants, self.weights)
        total.sum().backward()
        return total.detach(), {n: v.detach() for n, v in terms.items()}

    def step(self, lrs: Sequence[float], active: Sequence[bool]
             ) -> tuple[list[float], list[dict[str, float]]]:
        """One vectorised Adam step; each run's loss and terms *before* it (as Adam's
        closure measures them)."""
        total, terms = self.losses()
        self.adam.step(lrs, active)
        totals = total.tolist()
        columns = {n: v.tolist() for n, v in terms.items()}
        return totals, [{n: columns[n][k] for n in columns} for k in range(self.k)]

    def functional_step(self, lrs: torch.Tensor, active: torch.Tensor
                        ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The same step without autograd's ``backward`` or Python numbers: gradients by
        ``torch.func.grad`` of the vmapped loss, the Adam update on tensors (``lrs``,
        ``active`` and the step counts live on the device). Nothing in it breaks a
        torch.compile graph, so on CUDA the whole step is one captured graph (``capture``).
        Returns each run's loss and terms before the step."""
        params = {n: p.detach() for n, p in self.params.items()}

        def objective(ps: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
            total, terms = self._call(ps, self.buffers, self.xs, self.normals, self.extras,
                                      self.constants, self.weights)
            return total.sum(), (total, terms)

        grads, (total, terms) = torch.func.grad(objective, has_aux=True)(params)
        b1, b2 = self.adam.betas
        steps = self.adam.step_counts
        steps.add_(active.to(steps.dtype))
        size = -lrs / (1 - b1 ** steps.clamp_min(1))
        root = (1 - b2 ** steps.clamp_min(1)) ** 0.5
        for (n, p), m, v in zip(params.items(), self.adam.exp_avg, self.adam.exp_avg_sq,
                                strict=True):
            shape = (self.k,) + (1,) * (p.ndim - 1)
            keep = active.view(shape)
            g = grads[n]
            m.copy_(torch.where(keep, m.lerp(g, 1 - b1), m))
            v.copy_(torch.where(keep, v * b2 + (1 - b2) * g * g, v))
            denom = v.sqrt() / root.view(shape).to(v.dtype) + self.adam.eps
            p.copy_(torch.where(keep, p + m * size.view(shape).to(p.dtype) / denom, p))
        return total.detach(), {n: t.detach() for n, t in terms.items()}

    def captured_step(self, lrs: Sequence[float], active: Sequence[bool]
                      ) -> tuple[list[float], list[dict[str, float]]]:
        """``step`` through ``functional_step`` compiled with CUDA-graph capture
        (``mode="reduce-overhead"``: one graph, replayed every step; the weights, moments
        and the point buffers, refilled in place, are its static inputs). For CUDA (see
        ``use_capture``); the Python step counts stay the ones checkpoints read."""
        if self._captured is None:
            self._captured = torch.compile(self.functional_step, mode="reduce-overhead")
        device = self.xs[0].device
        counts = self.adam.step_counts
        counts.copy_(torch.tensor(self.adam.steps, dtype=counts.dtype))
        total, terms = self._captured(torch.tensor(list(lrs), dtype=counts.dtype,
                                                   device=device),
                                      torch.tensor(list(active), device=device))
        self.adam.steps = [s + int(a) for s, a in zip(self.adam.steps, active, strict=True)]
        totals = total.tolist()
        columns = {n: v.tolist() for n, v in terms.items()}
        return totals, [{n: columns[n][k] for n in columns} for k in range(self.k)]

    @torch.no_grad()
    def finite(self) -> list[bool]:
        """Per run: whether all its stacked weights are finite."""
        ok = torch.ones(self.k, dtype=torch.bool, device=self.xs[0].device)
        for p in self.params.values():
            ok &= torch.isfinite(p.reshape(self.k, -1)).all(dim=1)
        return ok.tolist()

    def refill(self, k: int) -> None:
        """Copy run ``k``'s current points into its slice of the static buffers."""
        sets = self.states[k].points.sets
        with torch.no_grad():
            for i, ps in enumerate(sets):
                self.xs[i][k].copy_(ps.x)
                if str(i) in self.normals:
                    assert ps.normals is not None
                    self.normals[str(i)][k].copy_(ps.normals)

    @torch.no_grad()
    def pull(self, k: int) -> None:
        """Run ``k``'s TrainState takes its stacked weights and Adam moments: its model and
        its optimizer then hold what its single training would (checkpoints, records)."""
        s = self.states[k]
        own = dict(s.model.named_parameters())
        for n in self.names:
            own[n].copy_(self.params[f"net.{n}"][k])
        opt = s.optimizer
        if opt is None or self.adam.steps[k] == 0:
            return
        step = self.adam.steps[k]
        for n, m, v in zip(self.names, self.adam.exp_avg, self.adam.exp_avg_sq, strict=True):
            opt.state[own[n]] = {"step": torch.tensor(float(step)), "exp_avg": m[k].clone(),
                                 "exp_avg_sq": v[k].clone()}

    @torch.no_grad()
    def push(self, k: int) -> None:
        """The stack takes run ``k``'s weights and Adam moments (after a rollback)."""
        s = self.states[k]
        own = dict(s.model.named_parameters())
        for n in self.names:
            self.params[f"net.{n}"][k].copy_(own[n])
        self._load_moments(k, s)

    def _load_moments(self, k: int, s: TrainState) -> None:
        own = dict(s.model.named_parameters())
        opt = s.optimizer
        saved = [opt.state.get(own[n]) if opt is not None else None for n in self.names]
        with torch.no_grad():
            for m, v, st in zip(self.adam.exp_avg, self.adam.exp_avg_sq, saved, strict=True):
                m[k].copy_(st["exp_avg"]) if st else m[k].zero_()
                v[k].copy_(st["exp_avg_sq"]) if st else v[k].zero_()
        first = saved[0] if saved else None
        self.adam.steps[k] = int(float(first["step"])) if first else 0
