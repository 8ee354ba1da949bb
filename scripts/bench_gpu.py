"""Training-step time, side by side in one run: nested autograd, the Taylor step eager,
compiled and compiled + CUDA-graph captured, DeepXDE's derivatives, and K stacked runs.

    python scripts/bench_gpu.py                        # CUDA when available: the issue's rows
    python scripts/bench_gpu.py --quick                # small CPU-sized settings
    python scripts/bench_gpu.py --steps 50 --warmup 5 --ks 1,8 --json out.json

One step is what ``pinnkit train`` does per Adam step: every loss term (interior,
boundary, initial points) and its gradient, and the Adam update, through pinnkit's own
trainer objects (``Closure``, ``torch.optim.Adam``; ``Stack`` for the stacked and the
captured rows). Time per step is the median of ``--steps`` steps after ``--warmup``
(CUDA events on CUDA, ``time.perf_counter`` on the CPU). Defaults: Burgers and Poisson
2-D, a 2-128x4-1 tanh MLP, 8192 interior points, float32 and float64, K = 1, 8, 32, 128.

Rows: ``autograd`` (nested reverse mode, model.engine: autograd), ``taylor`` (eager),
``taylor compiled`` (the loss torch.compile'd, as training.compile: true),
``taylor captured`` (CUDA only: forward, backward and Adam update as one compiled
function replayed as a CUDA graph, ``Stack.captured_step`` with K = 1), ``train
captured`` (what ``pinnkit train`` runs on CUDA: ``training/wholestep.py``'s whole step
over the network's own weights, with its one sync per step for the logged loss; on the
CPU ``train graph``, the same function eager, as ``training.compile: graph``), ``deepxde``
(when importable: DeepXDE's ``grad.jacobian``/``grad.hessian`` on the interior residual
only, pinnkit's network, torch's Adam) and ``stacked K=k`` (k runs of different seeds in
one vectorised step; on CUDA captured as well). ``ms/run`` is ms/step divided by K;
``vs taylor`` is the eager Taylor step's time over this row's time per run.

Peak memory: ``torch.cuda.max_memory_allocated`` over one step on CUDA (above what was
allocated before it); on the CPU the running sum of the allocations and frees the torch
profiler records during one step (its peak).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pinnkit.config import StageConfig  # noqa: E402
from pinnkit.setup import resolve  # noqa: E402
from pinnkit.training.losses import compiled_losses, term_losses  # noqa: E402
from pinnkit.training.setup import build_setup  # noqa: E402
from pinnkit.training.stacked import Stack  # noqa: E402
from pinnkit.training.trainer import Closure, new_state  # noqa: E402
from pinnkit.training.wholestep import WholeStep  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from bench_derivatives import peak_mb  # noqa: E402  (one memory probe for both scripts)

PROBLEMS = {"burgers": "configs/burgers.yaml", "poisson": "configs/poisson.yaml"}


def overrides(args: argparse.Namespace, dtype: str, device: str, seed: int = 0,
              engine: str = "auto") -> list[str]:
    return [f"model.width={args.width}", f"model.depth={args.depth}", f"model.dtype={dtype}",
            f"model.engine={engine}", f"training.points.domain={args.points}",
            "training.points.adaptive=null", f"training.device={device}",
            f"training.seed={seed}", "logging.tensorboard=false"]


def setup_for(problem: str, args: argparse.Namespace, dtype: str, device: str, seed: int = 0,
              engine: str = "auto"):
    p, cfg = resolve(ROOT / PROBLEMS[problem], overrides(args, dtype, device, seed, engine))
    return build_setup(p, cfg)


def single(setup, compiled: bool) -> Callable[[], object]:
    """One trainer step: Closure (loss, backward) and torch's Adam."""
    state = new_state(setup)
    engine = setup.engine()
    losses, _ = compiled_losses(term_losses, engine, state.model, setup.problem,
                                state.points.sets, "true" if compiled else "false", 0)
    closure = Closure(state, engine, setup.problem, losses)
    state.enter_stage(0, StageConfig(lr=1e-3))
    opt = state.optimizer
    assert opt is not None
    return lambda: opt.step(closure)  # type: ignore[arg-type]


def whole(setup, captured: bool) -> Callable[[], object]:
    """One Adam step on the path ``pinnkit train`` takes on CUDA (``WholeStep``)."""
    state = new_state(setup)
    state.enter_stage(0, StageConfig(lr=1e-3))
    opt = state.optimizer
    assert opt is not None
    step = WholeStep(state, setup.engine(), setup.problem, capture=captured)
    return lambda: step(opt)


def stacked(setups: list, captured: bool) -> Callable[[], object]:
    states, problems, engine = [], [], None
    for s in setups:
        state = new_state(s)
        state.enter_stage(0, StageConfig(lr=1e-3))
        engine = s.engine()
        states.append(state)
        problems.append(s.problem)
    stack = Stack(states, problems, engine)
    lrs, active = [1e-3] * len(states), [True] * len(states)
    step = stack.captured_step if captured else stack.step
    return lambda: step(lrs, active)


def deepxde_step(setup, problem: str) -> Callable[[], object] | None:
    """DeepXDE's cached derivatives on the interior residual, pinnkit's network."""
    try:
        os.environ.setdefault("DDE_BACKEND", "pytorch")
        import deepxde as dde  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - any import problem means "not available"
        return None
    state = new_state(setup)
    model, x0 = state.model, state.points.sets[0].x
    nu = setup.problem.constants.get("nu", 0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        x = x0.detach().requires_grad_(True)
        u = model(x)
        uxx = dde.grad.hessian(u, x, i=0, j=0)
        if problem == "burgers":
            res = dde.grad.jacobian(u, x, i=0, j=1) + u * dde.grad.jacobian(u, x, i=0, j=0) \
                - nu * uxx
        else:
            xs, ys = x[:, :1], x[:, 1:2]
            res = uxx + dde.grad.hessian(u, x, i=1, j=1) + 2 * torch.pi**2 * \
                torch.sin(torch.pi * xs) * torch.sin(torch.pi * ys)
        (res * res).mean().backward()
        dde.grad.clear()
        opt.step()

    return step


def timed(step: Callable[[], object], warmup: int, steps: int, device: torch.device
          ) -> tuple[float, float]:
    """(median ms per step, first call's seconds: compile time included)."""
    t0 = time.perf_counter()
    step()
    sync(device)
    first = time.perf_counter() - t0
    for _ in range(max(warmup - 1, 0)):
        step()
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            step()
            times.append(1e3 * (time.perf_counter() - t))
    return statistics.median(times), first


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def rows_for(problem: str, dtype: str, args: argparse.Namespace, device: torch.device
             ) -> list[dict]:
    dev = str(device)
    cuda = device.type == "cuda"
    methods: list[tuple[str, int, Callable[[], Callable[[], object] | None]]] = [
        ("autograd", 1, lambda: single(setup_for(problem, args, dtype, dev,
                                                 engine="autograd"), False)),
        ("taylor", 1, lambda: single(setup_for(problem, args, dtype, dev), False)),
    ]
    if args.compile:
        methods.append(("taylor compiled", 1,
                        lambda: single(setup_for(problem, args, dtype, dev), True)))
    if cuda:
        methods.append(("taylor captured", 1,
                        lambda: stacked([setup_for(problem, args, dtype, dev)], True)))
    methods.append(("train captured" if cuda else "train graph", 1,
                    lambda: whole(setup_for(problem, args, dtype, dev), cuda)))
    methods.append(("deepxde", 1, lambda: deepxde_step(setup_for(problem, args, dtype, dev),
                                                       problem)))
    for k in args.ks:
        methods.append((f"stacked K={k}", k, lambda k=k: stacked(
            [setup_for(problem, args, dtype, dev, seed=s) for s in range(k)], cuda)))
    out = []
    for name, k, make in methods:
        step = make()
        if step is None:
            continue
        ms, first = timed(step, args.warmup, args.steps, device)
        mb = peak_mb(step, device) if not args.no_memory else float("nan")
        out.append({"problem": problem, "dtype": dtype, "method": name, "K": k,
                    "ms_per_step": ms, "ms_per_run": ms / k, "first_call_s": first,
                    "peak_mb": mb})
        print(f"bench: {problem} {dtype} {name}: {ms:.2f} ms/step", file=sys.stderr,
              flush=True)
        del step
        if cuda:
            torch.cuda.empty_cache()
    base = next((r["ms_per_run"] for r in out if r["method"] == "taylor"), None)
    for r in out:
        r["vs_taylor"] = base / r["ms_per_run"] if base else float("nan")
    return out


def table(rows: list[dict]) -> str:
    head = ["problem", "dtype", "method", "ms/step", "ms/run", "vs taylor", "first call s",
            "peak MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        mb = "n/a" if r["peak_mb"] != r["peak_mb"] else f"{r['peak_mb']:.1f}"
        lines.append(f"| {r['problem']} | {r['dtype']} | {r['method']} | "
                     f"{r['ms_per_step']:.2f} | {r['ms_per_run']:.2f} | {r['vs_taylor']:.2f}x | "
                     f"{r['first_call_s']:.1f} | {mb} |")
    return "\n".join(lines)


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return (f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads), "
            f"torch {torch.__version__}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--problems", default="burgers,poisson")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--ks", default="1,8,32,128", help="stacked runs, e.g. 1,8")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--points", type=int, default=8192, help="interior points")
    p.add_argument("--steps", type=int, default=200, help="timed steps (median)")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--no-compile", dest="compile", action="store_false",
                   help="skip the compiled row (tens of seconds of compile time on a CPU)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory step")
    p.add_argument("--quick", action="store_true",
                   help="CPU-sized: 2-32x2-1, 512 points, 10 steps after 3, K = 1, 4")
    p.add_argument("--json", help="also write the rows to this file")
    p.add_argument("--out", help="write the markdown table to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.width, args.depth, args.points, args.steps, args.warmup = 32, 2, 512, 10, 3
        args.ks = "1,4"
    args.ks = [int(k) for k in str(args.ks).split(",") if k.strip()]
    device = torch.device(args.device)
    rows = []
    for problem in args.problems.split(","):
        for dtype in args.dtypes.split(","):
            rows.extend(rows_for(problem.strip(), dtype.strip(), args, device))
    text = (f"{machine(device)}; 2-{args.width}x{args.depth}-1 tanh, {args.points} interior "
            f"points; median of {args.steps} steps after {args.warmup}.\n\n{table(rows)}\n")
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(device), "rows": rows},
                                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
