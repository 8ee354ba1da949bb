"""Data-parallel training across processes with torch.distributed (launched by torchrun).

Every rank holds the whole model and a disjoint share of the collocation points: each
point set is drawn once from the same seed on every rank and rank r keeps rows r, r+W,
r+2W, ... After each backward pass the gradients and the loss are averaged over ranks
with an explicit all-reduce, so every rank takes the same optimizer step (L-BFGS's line
search included) and the model equals a single-process run over the union of the points.
An explicit all-reduce rather than DistributedDataParallel, because the Taylor engine
walks the network's layers itself instead of calling its forward.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as td


@dataclass(frozen=True)
class Dist:
    """This process's place among the ranks; world 1 means a plain single process."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


SINGLE = Dist()


def from_env() -> Dist:
    """The ranks torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK, else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def init(dist: Dist, timeout_s: float = 300.0) -> None:
    """Join the process group: NCCL when CUDA is present, gloo on CPU."""
    if dist.active and not td.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(dist.local_rank)
        td.init_process_group(backend, timeout=timedelta(seconds=timeout_s))


def shutdown(dist: Dist) -> None:
    if dist.active and td.is_initialized():
        td.destroy_process_group()


def device_for(name: str, dist: Dist) -> str:
    """``auto`` on several ranks with CUDA is this rank's own GPU, cuda:LOCAL_RANK."""
    if name == "auto" and dist.active and torch.cuda.is_available():
        return f"cuda:{dist.local_rank}"
    return name


def shard(points: np.ndarray, dist: Dist) -> np.ndarray:
    """This rank's rows; a set too small to split (the two ends of an interval) is shared."""
    if not dist.active or len(points) < dist.world:
        return points
    return points[dist.rank :: dist.world]


def average_gradients(params: Iterable[torch.nn.Parameter], dist: Dist) -> None:
    """Replace each gradient by its mean over ranks (one all-reduce of a flat buffer)."""
    if not dist.active:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    td.all_reduce(flat, op=td.ReduceOp.SUM)
    flat /= dist.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def all_reduce_mean(flat: torch.Tensor, dist: Dist) -> None:
    """Replace ``flat`` in place by its mean over ranks."""
    if dist.active:
        td.all_reduce(flat, op=td.ReduceOp.SUM)
        flat /= dist.world


def average(values: dict[str, float], dist: Dist, device: torch.device) -> dict[str, float]:
    """Mean of named scalars over ranks (loss terms, for logging and the L-BFGS line search)."""
    if not dist.active or not values:
        return values
    buf = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    td.all_reduce(buf, op=td.ReduceOp.SUM)
    return dict(zip(values, (buf / dist.world).tolist(), strict=True))


def all_ok(ok: bool, dist: Dist) -> bool:
    """True when every rank is ok: a rank that failed its set-up says so instead of
    leaving the others waiting in the first all-reduce forever."""
    if not dist.active:
        return ok
    flag = torch.tensor([1 if ok else 0], dtype=torch.int64)
    if td.get_backend() == "nccl":
        flag = flag.cuda()
    td.all_reduce(flag, op=td.ReduceOp.MIN)
    return bool(flag.item())
