"""The whole Adam step of one run as one function; on CUDA, compiled and captured.

A PINN's network is small, so on a GPU an eager step is bound by kernel launches. Here an
Adam step of a single run — the Taylor forward, the loss, the gradients
(``torch.func.grad`` of ``functional_call``) and the Adam update — is one function of
tensors only, with no Python number that changes between steps: on CUDA it is compiled
with ``mode="reduce-overhead"``, i.e. recorded once as a CUDA graph and replayed. Its
inputs keep their addresses (``mark_static_address``): the network's weights (updated in
place), Adam's moments, the point buffers (resampled points are copied into them) and
0-d tensors for the step size and bias correction, filled from Python before each replay.

The trainer's loop is unchanged around it: the stage's ``torch.optim.Adam`` stays the
state's optimizer, its ``lr`` (schedulers, the NaN guard's cuts) is read before each step,
and after each step its ``state`` holds this step's moment tensors and step count in the
format its own step writes. So checkpoints, exact resume, rollbacks and a change of path
between sessions need nothing else: whatever replaced the optimizer's state (a resume, a
rollback) is copied into the static buffers before the next step (found by identity).
The update is torch's single-tensor Adam, operation for operation, with the bias
corrections computed in Python exactly as torch computes them; eagerly on the CPU
(``training.compile: graph``) it gives the ordinary path's weights to round-off.

Where the step cannot be one function the ordinary step runs, and ``plan`` says why
(metrics.json ``compile.step``): the autograd engine, causal weighting (a reduction of
the per-point losses between the forward and the mean), learnable parameters, chunked
points, torchrun's gradient averaging. Adaptive weights and adaptive resampling act
between steps and are kept.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch.func import functional_call

from ..config import Config, StageConfig
from ..engines.compile import AUTO_MIN_STEPS, CompileInfo, maybe_compile
from .distributed import Dist
from .losses import PointSet, set_needs
from .optimizers import run_steps
from .setup import Setup
from .stacked import _Losses
from .state import TrainState


def plan(setup: Setup, dist: Dist) -> tuple[str, str]:
    """Which path the Adam stages take, and why: ``captured`` (CUDA: compiled, one CUDA
    graph per stage), ``graph`` (the same function, eager: ``compile: graph`` off CUDA) or
    ``ordinary`` (torch's Adam over the closure's ``backward``)."""
    cfg = setup.config
    mode, cuda = str(cfg.training.compile).lower(), setup.device.type == "cuda"
    steps = sum(s.steps for s in cfg.training.stages)
    if mode == "false":
        return "ordinary", "training.compile: false"
    if not cuda and mode != "graph":
        return "ordinary", (f"{setup.device.type}: the ordinary step (no kernel launches to "
                            "save; training.compile: graph runs the whole-step path here)")
    if mode == "auto" and steps < AUTO_MIN_STEPS:
        return "ordinary", f"auto: {steps} steps < {AUTO_MIN_STEPS}, compile time not repaid"
    blocker = _blocker(setup, cfg, dist)
    if blocker:
        return "ordinary", blocker
    if not any(s.optimizer == "adam" for s in cfg.training.stages):
        return "ordinary", "no adam stage"
    if cuda:
        return "captured", "whole Adam step compiled with CUDA-graph capture"
    return "graph", "whole Adam step as one function, eager (training.compile: graph)"


def _blocker(setup: Setup, cfg: Config, dist: Dist) -> str | None:
    if setup.engine_name != "taylor":
        return (f"model.engine resolved to {setup.engine_name}: nested autograd does not "
                "run under torch.func")
    if cfg.training.causal is not None:
        return "training.causal reduces the per-point losses outside the whole step"
    if len(setup.problem.parameters):
        return ("learnable parameters (" + ", ".join(setup.problem.parameters.names)
                + ") are not in the whole step")
    if cfg.training.points.chunk:
        return "training.points.chunk: the whole step evaluates all points at once"
    if dist.active:
        return "torchrun: gradients are averaged across ranks between backward and step"
    return None


class AdamSteps:
    """What takes a stage's optimizer steps in ``fit``: for Adam stages on the whole-step
    path a ``WholeStep`` (one per stage), otherwise ``optimizers.run_steps``."""

    def __init__(self, setup: Setup, state: TrainState, engine: Any, dist: Dist) -> None:
        self.state, self.engine, self.problem = state, engine, setup.problem
        self.path, reason = plan(setup, dist)
        self.info: dict[str, Any] = {"path": self.path, "reason": reason, "seconds": None,
                                     "graph_breaks": 0, "fallback": None}
        self.current: WholeStep | None = None

    def start_stage(self, stage: StageConfig) -> None:
        """Build the stage's whole step (after its dtype and optimizer are set)."""
        self.current = None
        if stage.optimizer != "adam" or self.path == "ordinary":
            return
        why = unsupported(self.state.optimizer)
        if why:
            self.info.update(path="ordinary", reason=why)
            return
        self.current = WholeStep(self.state, self.engine, self.problem,
                                 capture=self.path == "captured")

    def run(self, closure: Any, limit: int) -> int:
        """One optimizer call: the whole step (one Adam step) or ``run_steps``."""
        opt = self.state.optimizer
        assert opt is not None  # the stage's, made when it started
        if self.current is None:
            return run_steps(opt, closure, limit)
        closure.total, closure.terms = self.current(opt)
        compiled = self.current.info
        if compiled is not None:
            # torch.compile unavailable (enabled False) or failed: the function ran eagerly
            self.info.update(seconds=compiled.compile_seconds, graph_breaks=compiled.graph_breaks,
                             fallback=compiled.fallback if compiled.enabled else compiled.reason)
        return 1


def unsupported(opt: torch.optim.Optimizer | None) -> str | None:
    """Why this Adam is not the plain one the whole step reproduces (None: it is)."""
    if not isinstance(opt, torch.optim.Adam) or len(opt.param_groups) != 1:
        return "the stage's optimizer is not a single-group torch Adam"
    group = opt.param_groups[0]
    if group.get("weight_decay") or group.get("amsgrad") or group.get("maximize"):
        return "Adam with weight decay, amsgrad or maximize"
    return None


def _step_dtype() -> torch.dtype:
    # the dtype torch's Adam gives its CPU step counter (float64 under a float64 default)
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class WholeStep:
    """One Adam stage's whole step over ``state.model``'s own weights (see the module)."""

    def __init__(self, state: TrainState, engine: Any, problem: Any, capture: bool) -> None:
        model, sets = state.model, state.points.sets
        self.state, self.capture = state, capture
        prepare = getattr(engine, "prepare", None)  # plans built now, not inside a trace
        if prepare is not None:
            for ps in sets:
                prepare(model, set_needs(ps), ps.x.shape[-1], problem.outputs)
        self.template = _Losses(copy.deepcopy(model), engine, problem, sets)
        self.live = [p for _, p in model.named_parameters()]
        self.names = [f"net.{n}" for n, _ in model.named_parameters()]
        # views of the model's own weights: the update writes the network in place
        self.params = {n: p.detach() for n, p in zip(self.names, self.live, strict=True)}
        self.buffers = {f"net.{n}": b.detach() for n, b in model.named_buffers()}
        first = self.live[0]
        dtype, device = first.dtype, first.device
        self.exp_avg = [torch.zeros_like(p) for p in self.live]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.live]
        self.counters = [torch.tensor(0.0, dtype=_step_dtype()) for _ in self.live]
        self.count = 0  # Adam steps taken (the optimizer's "step")
        self.size = torch.zeros((), dtype=dtype, device=device)  # -lr / (1 - b1^t)
        self.root = torch.ones((), dtype=dtype, device=device)   # sqrt(1 - b2^t)
        self.weights = {n: torch.tensor(w, dtype=dtype, device=device)
                        for n, w in state.weights.items()}
        self.seen_weights: dict[str, float] = dict(state.weights)
        self.term_names = [t.name for ps in sets for t in ps.terms]
        # the state's tensors the buffers were last filled from (held, so compared by
        # identity without an id being reused)
        self.sources: list[tuple[torch.Tensor | None, ...]] = []
        self.xs: list[torch.Tensor] = []
        self.normals: dict[str, torch.Tensor] = {}
        self.extras: list[list[torch.Tensor]] = []
        self._load_points(sets, fresh=True)
        self.betas: tuple[float, float] = (0.9, 0.999)
        self.eps = 1e-8
        self.info: CompileInfo | None = None
        self._call: Any = self._step
        if capture:
            self._mark_static()
            self._call, self.info = maybe_compile(self._step, "true", capture=True)

    # -- keeping the static inputs equal to the state's --------------------------------
    def _load_points(self, sets: list[PointSet], fresh: bool = False) -> None:
        """Copy the state's points into the buffers where they are new objects (a
        resample, a resume); a buffer whose shape changed is replaced (a recompile)."""
        if fresh:
            self.xs = [ps.x.detach().clone() for ps in sets]
            self.normals = {str(i): ps.normals.detach().clone() for i, ps in enumerate(sets)
                            if ps.normals is not None}
            self.extras = [[v.detach().clone() for v in ps.extra.values()] for ps in sets]
            self.sources = [_sources(ps) for ps in sets]
            return
        if len(sets) != len(self.xs):
            raise RuntimeError("the point sets changed in number during an Adam stage")
        with torch.no_grad():
            for i, ps in enumerate(sets):
                now = _sources(ps)
                if all(a is b for a, b in zip(now, self.sources[i], strict=True)):
                    continue
                self.xs[i] = self._refill(self.xs[i], ps.x)
                if ps.normals is not None:
                    self.normals[str(i)] = self._refill(self.normals[str(i)], ps.normals)
                self.extras[i] = [self._refill(b, v) for b, v in
                                  zip(self.extras[i], ps.extra.values(), strict=True)]
                self.sources[i] = now

    def _refill(self, buffer: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """``value`` in ``buffer``'s storage; a new buffer (a recompile) when its shape or
        dtype differs."""
        if buffer.shape == value.shape and buffer.dtype == value.dtype:
            buffer.copy_(value)
            return buffer
        fresh = value.detach().clone()
        if self.capture:
            import torch._dynamo as dynamo

            dynamo.mark_static_address(fresh)
        return fresh

    def _load_moments(self, opt: torch.optim.Optimizer) -> None:
        """Take the optimizer's state when it is not this step's (fresh, resumed, rolled
        back), then point it at this step's tensors."""
        entry = opt.state.get(self.live[0])
        if entry and entry.get("exp_avg") is self.exp_avg[0]:
            return
        with torch.no_grad():
            for p, m, v in zip(self.live, self.exp_avg, self.exp_avg_sq, strict=True):
                saved = opt.state.get(p)
                m.copy_(saved["exp_avg"]) if saved else m.zero_()
                v.copy_(saved["exp_avg_sq"]) if saved else v.zero_()
        self.count = int(float(entry["step"])) if entry else 0
        self._publish(opt)

    def _publish(self, opt: torch.optim.Optimizer) -> None:
        """The optimizer's state is this step's: what torch's Adam would hold now."""
        for p, m, v, c in zip(self.live, self.exp_avg, self.exp_avg_sq, self.counters,
                              strict=True):
            c.fill_(float(self.count))
            opt.state[p] = {"step": c, "exp_avg": m, "exp_avg_sq": v}

    def _mark_static(self) -> None:
        import torch._dynamo as dynamo

        for t in [*self.params.values(), *self.buffers.values(), *self.exp_avg,
                  *self.exp_avg_sq, self.size, self.root, *self.weights.values(), *self.xs,
                  *self.normals.values(), *(t for e in self.extras for t in e)]:
            dynamo.mark_static_address(t)

    # -- the step ------------------------------------------------------------------------
    def __call__(self, opt: torch.optim.Optimizer) -> tuple[float, dict[str, float]]:
        """One Adam step of ``opt``'s stage; the loss and terms before it (as Adam's
        closure measures them)."""
        state = self.state
        for name, p in zip(self.names, self.live, strict=True):
            if self.params[name].data_ptr() != p.data_ptr():  # only a cast replaces them
                raise RuntimeError("the network's weights were replaced during an Adam stage")
        self._load_points(state.points.sets)
        self._load_moments(opt)
        if state.weights != self.seen_weights:  # adaptive weights moved between steps
            for n, w in state.weights.items():
                self.weights[n].fill_(w)
            self.seen_weights = dict(state.weights)
        group = opt.param_groups[0]
        b1, b2 = group["betas"]
        self.betas, self.eps = (float(b1), float(b2)), float(group["eps"])
        step = float(self.count + 1)
        # Python floats, as torch's single-tensor Adam computes them
        self.size.fill_(-(group["lr"] / (1 - b1**step)))
        self.root.fill_((1 - b2**step) ** 0.5)
        if self.info is not None:
            torch.compiler.cudagraph_mark_step_begin()
        values = self._call().tolist()  # one device sync per step
        self.count += 1
        self._publish(opt)
        opt._opt_called = True  # type: ignore[attr-defined]  # as opt.step's wrapper notes
        return values[0], dict(zip(self.term_names, values[1:], strict=True))

    def _step(self) -> torch.Tensor:
        """Loss, gradients and Adam update; returns [total, *terms] before the update."""
        def objective(ps: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
            total, terms = functional_call(self.template, (ps, self.buffers),
                                           (self.xs, self.normals, self.extras, {},
                                            self.weights))
            return total, (total, terms)

        grads, (total, terms) = torch.func.grad(objective, has_aux=True)(self.params)
        b1, b2 = self.betas
        with torch.no_grad():
            for n, m, v in zip(self.names, self.exp_avg, self.exp_avg_sq, strict=True):
                g, p = grads[n], self.params[n]
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (v.sqrt() / self.root).add_(self.eps)
                p.add_(self.size * m / denom)  # addcdiv_(m, denom, value=size), same order
        return torch.stack([total.detach(), *(terms[t].detach() for t in self.term_names)])


def _sources(ps: PointSet) -> tuple[torch.Tensor | None, ...]:
    return (ps.x, ps.normals, *ps.extra.values())
