"""How much memory ``training.points.chunk`` saves, and what it costs in time.

For each chunk size, one loss-and-gradient evaluation of a config's collocation points
(as in one training step) is measured: on CUDA the peak allocated memory; on CPU the peak
of bytes held by the autograd graph (every tensor saved for backward is counted while it
is alive). Also the wall time of that evaluation and the gradient's largest deviation from
the unchunked one.

    python scripts/chunk_memory.py configs/burgers.yaml --chunks 0 4096 1024 256
"""

from __future__ import annotations

import argparse
import time
import weakref

import torch

import pinnkit
from pinnkit.config import load_config
from pinnkit.engines import make_engine
from pinnkit.training.losses import Collocation, term_losses, total_loss
from pinnkit.training.setup import DTYPES, build_model, resolve_device


class _Held:
    """An object only the graph holds, so it dies with the graph."""

    def __init__(self, t: torch.Tensor) -> None:
        self.t = t


class GraphBytes:
    """Live bytes of tensors saved for backward, through saved-tensor hooks."""

    def __init__(self) -> None:
        self.live = self.peak = 0

    def pack(self, t: torch.Tensor) -> _Held:
        holder = _Held(t)
        n = t.numel() * t.element_size()
        self.live += n
        self.peak = max(self.peak, self.live)
        weakref.finalize(holder, self.release, n)
        return holder

    def release(self, n: int) -> None:
        self.live -= n

    @staticmethod
    def unpack(holder: _Held) -> torch.Tensor:
        return holder.t


def measure(path: str, chunk: int, device: torch.device) -> tuple[float, float, list]:
    cfg = load_config(path, [f"training.points.chunk={chunk}"])
    problem = pinnkit.check(path)
    dtype = DTYPES[cfg.model.dtype]
    model = build_model(problem, cfg).to(device=device, dtype=dtype)
    engine = make_engine(cfg.model.engine, model)
    points = Collocation(problem, cfg.training.points, cfg.training.seed, device, dtype)
    counter = GraphBytes()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        total_loss(term_losses(model, engine, problem, points.sets), problem).backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else counter.peak
    return peak / 2**20, seconds, [p.grad.detach().clone() for p in model.parameters()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--chunks", type=int, nargs="+", default=[0, 4096, 1024, 256])
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    kind = "peak CUDA memory" if device.type == "cuda" else "peak autograd-graph memory"
    print(f"{args.config} on {device}: {kind} of one loss+gradient evaluation")
    measure(args.config, 0, device)  # warm-up
    base = None
    for chunk in args.chunks:
        mib, seconds, grads = measure(args.config, chunk, device)
        base = base or grads
        dev = max(float((g - b).abs().max() / b.abs().max().clamp_min(1e-30))
                  for g, b in zip(grads, base, strict=True))
        print(f"chunk {chunk or 'off':>6}: {mib:9.1f} MiB  {seconds * 1e3:8.1f} ms  "
              f"max relative gradient change {dev:.1e}")


if __name__ == "__main__":
    main()
