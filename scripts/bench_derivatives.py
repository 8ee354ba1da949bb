"""Benchmark derivative engines on full PINN training steps.

Every method trains its own copy of the same network with Adam; one step is the
residual loss, its backward pass and the optimizer step. Methods run round-robin in one
process (so drifting machine load hits all of them alike) and the median step time after
warm-up is reported, with the speed-up over a naive nested ``torch.autograd.grad``
baseline written the way a user would, and the ratio to a value-only step next to the
Taylor stream count S (a Taylor step should cost at most about S value-only steps).

    python scripts/bench_derivatives.py            # full run, markdown table
    python scripts/bench_derivatives.py --quick    # smoke test in a few seconds
    python scripts/bench_derivatives.py --json out.json --problems burgers poisson
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pinnkit.engines.compile import maybe_compile
from pinnkit.engines.taylor import Combo, ComboAutogradEngine, TaylorEngine
from pinnkit.expr.names import Partial
from pinnkit.models.mlp import MLP

Tensor = torch.Tensor
Table = dict[str, Tensor]


def _grad(q: Tensor, x: Tensor) -> Tensor:
    return torch.autograd.grad(q.sum(), x, create_graph=True)[0]


def _unit(d: int, i: int, k: int) -> tuple[int, ...]:
    return tuple(k if j == i else 0 for j in range(d))


@dataclass
class Problem:
    """A residual written once over named derivatives, plus the naive way to get them."""

    name: str
    d: int
    keys: dict[str, Partial | Combo]  # name -> what pinnkit engines are asked for
    residual: Callable[[Table, Tensor], Tensor]
    naive: Callable[[Tensor, Tensor], Table]  # (u, x) -> the same names by nested grad
    width: int = 128
    depth: int = 4


def _burgers_naive(u: Tensor, x: Tensor) -> Table:
    g = _grad(u, x)
    u_x, u_t = g[:, 0], g[:, 1]
    return {"u": u, "u_x": u_x, "u_t": u_t, "u_xx": _grad(u_x, x)[:, 0]}


def _kdv_naive(u: Tensor, x: Tensor) -> Table:
    g = _grad(u, x)
    u_x, u_t = g[:, 0], g[:, 1]
    u_xx = _grad(u_x, x)[:, 0]
    return {"u": u, "u_x": u_x, "u_t": u_t, "u_xxx": _grad(u_xx, x)[:, 0]}


def _laplacian_naive(u: Tensor, x: Tensor) -> Table:
    g = _grad(u, x)
    return {"lap": sum(_grad(g[:, i], x)[:, i] for i in range(x.shape[1]))}


def _beam_naive(u: Tensor, x: Tensor) -> Table:
    q = u
    for _ in range(4):
        q = _grad(q, x)[:, 0]
    return {"u_xxxx": q}


def _biharmonic_naive(u: Tensor, x: Tensor) -> Table:
    g = _grad(u, x)
    u_xx, u_yy = _grad(g[:, 0], x)[:, 0], _grad(g[:, 1], x)[:, 1]
    u_xxxx = _grad(_grad(u_xx, x)[:, 0], x)[:, 0]
    u_xxyy = _grad(_grad(u_xx, x)[:, 1], x)[:, 1]
    u_yyyy = _grad(_grad(u_yy, x)[:, 1], x)[:, 1]
    return {"bih": u_xxxx + 2 * u_xxyy + u_yyyy}


def _source(x: Tensor) -> Tensor:
    return torch.prod(torch.sin(math.pi * x), dim=1)


def _laplacian(d: int) -> Combo:
    return Combo.of("u", [(_unit(d, i, 2), 1.0) for i in range(d)])


NU = 0.01 / math.pi
BURGERS_KEYS = {"u": Partial("u", (0, 0)), "u_x": Partial("u", (1, 0)),
                "u_t": Partial("u", (0, 1)), "u_xx": Partial("u", (2, 0))}


def _burgers_res(v: Table, x: Tensor) -> Tensor:
    return v["u_t"] + v["u"] * v["u_x"] - NU * v["u_xx"]


PROBLEMS = [
    Problem("burgers", 2, BURGERS_KEYS, _burgers_res, _burgers_naive),
    Problem("burgers-small", 2, BURGERS_KEYS, _burgers_res, _burgers_naive, width=20, depth=3),
    Problem("poisson2d", 2, {"lap": _laplacian(2)}, lambda v, x: v["lap"] - _source(x),
            _laplacian_naive),
    Problem("kdv", 2, {"u": Partial("u", (0, 0)), "u_x": Partial("u", (1, 0)),
                       "u_t": Partial("u", (0, 1)), "u_xxx": Partial("u", (3, 0))},
            lambda v, x: v["u_t"] + v["u"] * v["u_x"] + 0.0025 * v["u_xxx"], _kdv_naive),
    Problem("beam", 1, {"u_xxxx": Partial("u", (4,))}, lambda v, x: v["u_xxxx"] - 1.0,
            _beam_naive),
    Problem("biharmonic2d", 2, {"bih": Combo.of("u", [((4, 0), 1.0), ((2, 2), 2.0),
                                                     ((0, 4), 1.0)])},
            lambda v, x: v["bih"] - _source(x), _biharmonic_naive),
    Problem("laplace10d", 10, {"lap": _laplacian(10)}, lambda v, x: v["lap"] - _source(x),
            _laplacian_naive),
]


def _deepxde_loss(problem: Problem) -> Callable[[MLP, Tensor], Tensor] | None:
    """DeepXDE's cached ``grad.jacobian``/``grad.hessian`` when it is importable."""
    try:
        os.environ.setdefault("DDE_BACKEND", "pytorch")
        import deepxde as dde  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - any import problem means "not available"
        return None
    if problem.name.startswith("beam") or problem.name.startswith("bih") or \
            problem.name.startswith("kdv"):
        return None  # DeepXDE has no cached operator above second order

    def loss(model: MLP, x: Tensor) -> Tensor:
        x = x.detach().requires_grad_(True)
        u = model(x)
        v: Table = {"u": u[:, 0]}
        if "u_x" in problem.keys:
            v["u_x"] = dde.grad.jacobian(u, x, i=0, j=0)[:, 0]
            v["u_t"] = dde.grad.jacobian(u, x, i=0, j=1)[:, 0]
            v["u_xx"] = dde.grad.hessian(u, x, i=0, j=0)[:, 0]
        if "lap" in problem.keys:
            v["lap"] = sum(dde.grad.hessian(u, x, i=i, j=i)[:, 0] for i in range(problem.d))
        res = problem.residual(v, x)
        dde.grad.clear()
        return (res * res).mean()

    return loss


@dataclass
class Method:
    name: str
    loss: Callable[[], Tensor]
    model: MLP
    opt: torch.optim.Optimizer
    times: list[float] = field(default_factory=list)
    first: float = 0.0
    peak_mb: float | None = None


def _methods(problem: Problem, base: MLP, x: Tensor, compile_: bool) -> list[Method]:
    """One (loss closure, model copy, optimizer) per method, all from the same weights."""
    names = list(problem.keys)
    keys = list(problem.keys.values())
    out: list[Method] = []

    def add(name: str, make: Callable[[MLP], Callable[[], Tensor]]) -> None:
        model = copy.deepcopy(base)
        out.append(Method(name, make(model), model, torch.optim.Adam(model.parameters(), 1e-3)))

    def naive(model: MLP) -> Callable[[], Tensor]:
        def loss() -> Tensor:
            xr = x.detach().requires_grad_(True)
            res = problem.residual(problem.naive(model(xr)[:, 0], xr), x)
            return (res * res).mean()
        return loss

    def engine(eng: Callable) -> Callable[[MLP], Callable[[], Tensor]]:
        def make(model: MLP) -> Callable[[], Tensor]:
            def loss() -> Tensor:
                table = eng(model, x, keys, ["u"])
                res = problem.residual({n: table[k] for n, k in zip(names, keys,
                                                                    strict=True)}, x)
                return (res * res).mean()
            return loss
        return make

    add("baseline", naive)
    dde_loss = _deepxde_loss(problem)
    if dde_loss is not None:
        add("deepxde", lambda m: (lambda: dde_loss(m, x)))
    add("pinnkit-autograd", engine(ComboAutogradEngine()))
    add("taylor", engine(TaylorEngine()))
    if compile_:
        program = TaylorEngine().program(keys, problem.d, ["u"])
        add("taylor-compiled", lambda m: maybe_compile(
            engine(lambda mod, xx, _k, _o: program(mod, xx))(m), "true")[0])
    add("u-only", lambda m: (lambda: m(x)[:, 0].square().mean()))
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _step(m: Method) -> None:
    m.opt.zero_grad(set_to_none=True)
    m.loss().backward()
    m.opt.step()


def peak_mb(step: Callable[[], object], device: torch.device) -> float:
    """Peak extra memory of one step: CUDA's own counter, or on CPU the running sum of
    every allocation and free the profiler records during ``step()`` (also used by bench_gpu.py)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - start) / 2**20
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    mem = sorted((e["ts"], e["args"]["Bytes"]) for e in events
                 if e.get("name") == "[memory]" and e["args"].get("Device Type", 0) == 0)
    total = peak = 0
    for _, nbytes in mem:
        total += nbytes
        peak = max(peak, total)
    return peak / 2**20


def run_problem(problem: Problem, n: int, steps: int, warmup: int, device: torch.device,
                compile_: bool, memory: bool) -> dict:
    torch.manual_seed(0)
    x = torch.rand(n, problem.d, device=device)
    base = MLP(problem.d, 1, width=problem.width, depth=problem.depth, activation="tanh").to(
        device=device, dtype=torch.float32)
    methods = _methods(problem, base, x, compile_)
    for i in range(warmup + steps):
        for m in methods:  # round-robin: every method sees the same machine state
            _sync(device)
            start = time.perf_counter()
            _step(m)
            _sync(device)
            elapsed = time.perf_counter() - start
            if i == 0:
                m.first = elapsed
            if i >= warmup:
                m.times.append(elapsed)
    if memory:
        for m in methods:
            m.peak_mb = peak_mb(lambda m=m: _step(m), device)
    streams = TaylorEngine().program(problem.keys.values(), problem.d, ["u"]).plan.streams
    med = {m.name: statistics.median(m.times) for m in methods}
    return {
        "problem": problem.name, "width": problem.width, "depth": problem.depth, "n": n,
        "streams": streams, "steps": steps,
        "median_ms": {k: 1e3 * v for k, v in med.items()},
        "speedup": {k: med["baseline"] / v for k, v in med.items()},
        "per_u_only": {k: v / med["u-only"] for k, v in med.items()},
        "first_step_s": {m.name: m.first for m in methods},
        "peak_mb": {m.name: m.peak_mb for m in methods},
    }


def table(results: list[dict]) -> str:
    methods = [m for m in ("baseline", "deepxde", "pinnkit-autograd", "taylor",
                           "taylor-compiled", "u-only")
               if any(m in r["median_ms"] for r in results)]
    head = ["problem", "net", "S"] + [f"{m} ms (x)" for m in methods] + [
        "best taylor / u-only", "peak MB " + "/".join(methods)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["problem"], f"{r['width']}x{r['depth']}", str(r["streams"])]
        for m in methods:
            ms = r["median_ms"].get(m)
            cells.append("-" if ms is None else f"{ms:.1f} ({r['speedup'][m]:.2f}x)")
        best = min((r["per_u_only"][m] for m in ("taylor", "taylor-compiled")
                    if m in r["per_u_only"]), default=float("nan"))
        cells.append(f"{best:.2f} (S={r['streams']})")
        cells.append("/".join("-" if r["peak_mb"].get(m) is None else f"{r['peak_mb'][m]:.0f}"
                              for m in methods))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N, few steps, no compile")
    parser.add_argument("--n", type=int, default=None, help="collocation points (8192)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (30)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (3)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--problems", nargs="*", default=None,
                        help=f"subset of {[p.name for p in PROBLEMS]}")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--json", default=None, help="also write results to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    n = args.n or (256 if args.quick else 8192)
    steps = args.steps or (3 if args.quick else 30)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    compile_ = not (args.no_compile or args.quick)
    device = torch.device(args.device)
    chosen = [p for p in PROBLEMS if args.problems is None or p.name in args.problems]
    results = []
    for problem in chosen:
        results.append(run_problem(problem, n, steps, warmup, device, compile_,
                                   not args.no_memory))
        print(f"# {problem.name}: " + ", ".join(
            f"{k} {v:.1f}ms" for k, v in results[-1]["median_ms"].items()), file=sys.stderr)
    print(f"float32, N={n}, {steps} steps (median after {warmup} warm-up), device={device}, "
          f"threads={args.threads}, torch {torch.__version__}\n")
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
