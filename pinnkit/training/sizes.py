"""One memory estimate for the size keys together, before anything is allocated.

Each size key has an upper bound in the schema (``LIMITS``), which catches a typo such as
``width: 1e11``. Values inside the bounds can still multiply to more memory than the
machine has (a 16384-wide network on 1e7 points), and torch would then fail, or the
machine swap, minutes after start. The estimate here is a deliberately rough upper-side
count of the largest buffers: the network's parameters with their gradients and
optimizer state, the derivative graph of one step (points x width x depth x derivative
streams), adaptive resampling's candidates, and the picture grid. It is compared with the
memory free on the training device, and the key that contributes most is named.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import Config
from ..errors import ConfigError, line_of
from ..problem import CompiledProblem
from .optimizers import available_memory

GRAPH_FACTOR = 2  # tensors kept per activation and stream (measured: 1.4 to 1.6 on CPU)
GiB = 1024**3


@dataclass(frozen=True)
class Need:
    """What one key's part of the run holds, in bytes."""

    key: str
    value: int
    bytes: float
    what: str


def parameter_count(problem: CompiledProblem, cfg: Config) -> int:
    """The MLP's weights and biases, as ``build_model`` will make them (without making them)."""
    m = cfg.model
    n_in = len(problem.inputs) + len(m.periodic or {})  # periodic inputs: sin and cos
    if m.fourier_features is not None:
        n_in += 2 * m.fourier_features.features
    return (n_in + 1) * m.width + (m.depth - 1) * (m.width + 1) * m.width \
        + (m.width + 1) * len(problem.outputs) + len(problem.parameters)


def derivative_streams(problem: CompiledProblem) -> int:
    """Tensors of one activation's size per point that the derivatives keep: one per partial
    derivative read or passed through on the way (u_xx passes u_x), times its order + 1."""
    seen: set[tuple[str, tuple[int, ...]]] = set()
    for term in problem.terms:
        for p in term.partials:
            _below(p.field, p.orders, seen)
    return max(1, sum(sum(o) + 1 for _, o in seen))


def _below(field: str, orders: tuple[int, ...], seen: set) -> None:
    """Add ``orders`` and one path of lower derivatives down to the value."""
    while (field, orders) not in seen:
        seen.add((field, orders))
        i = next((i for i, k in enumerate(orders) if k), None)
        if i is None:
            return
        orders = orders[:i] + (orders[i] - 1,) + orders[i + 1:]


def estimate(problem: CompiledProblem, cfg: Config) -> list[Need]:
    """The large buffers of a run of ``cfg``, by the key that sizes each."""
    m, pts = cfg.model, cfg.training.points
    size = 8 if "float64" in (m.dtype, *(s.dtype for s in cfg.training.stages)) else 4
    n_params = parameter_count(problem, cfg)
    history = max((s.history for s in cfg.training.stages if s.optimizer == "lbfgs"), default=0)
    needs = [Need("model.width", m.width, n_params * size * (4 + 2 * history),
                  f"{n_params:,} network parameters with gradients and optimizer state")]
    streams = derivative_streams(problem)
    per_point = m.width * m.depth * streams * size * GRAPH_FACTOR
    if m.fourier_features is not None:
        per_point += 2 * m.fourier_features.features * streams * size * GRAPH_FACTOR
    boundary_terms = sum((2 if t.periodic is not None else 1) for t in problem.terms
                         if (t.selector is not None or t.periodic is not None)
                         and t.points is None)
    fixed = sum(len(t.points.x) for t in problem.terms if t.points is not None)
    chunk = pts.chunk or pts.domain
    interior = min(pts.domain, chunk)
    needs.append(Need("training.points.domain", pts.domain, interior * per_point,
                      f"the derivative graph of {interior:,} interior points x {streams} "
                      "derivative streams"))
    edge = pts.boundary * boundary_terms + min(fixed, chunk)  # at: and file: points too
    needs.append(Need("training.points.boundary", pts.boundary, edge * per_point,
                      f"the derivative graph of {edge:,} boundary points"))
    if pts.adaptive is not None:
        drawn = pts.domain * pts.adaptive.candidates
        needs.append(Need("training.points.adaptive.candidates", pts.adaptive.candidates,
                          min(drawn, chunk) * per_point + drawn * 8 * (len(problem.inputs) + 2),
                          f"residuals of {drawn:,} candidate points"))
    pixels = cfg.logging.grid ** min(len(problem.inputs), 2)
    needs.append(Need("logging.grid", cfg.logging.grid,
                      pixels * 8 * (len(problem.inputs) + 3 * len(problem.outputs)
                                    + len(problem.terms)) * 2,
                      f"pictures of {pixels:,} grid points"))
    return needs


def check_sizes(problem: CompiledProblem, cfg: Config, device: torch.device) -> None:
    """Refuse a config whose estimated memory exceeds what ``device`` has free, naming the
    key that contributes most; nothing has been allocated yet."""
    needs = estimate(problem, cfg)
    total = sum(n.bytes for n in needs[:1]) + max(n.bytes for n in needs[1:])
    have = available_memory(device)
    if have is None or total <= 0.9 * have:
        return
    top = max(needs, key=lambda n: n.bytes)
    power = 2 if top.key == "model.width" else 1  # parameters grow as width**2
    lower = max(1, int(top.value * (0.9 * have / total) ** (1 / power)))
    fix = f"lower {top.key} (now {top.value:,}) to about {lower:,}"
    if top.key.startswith("training.points") and not cfg.training.points.chunk:
        fix += ", or set training.points.chunk to compute the residuals in parts"
    raise ConfigError(top.key, f"training needs about {total / GiB:,.1f} GiB (largest part: "
                      f"{top.what}, {top.bytes / GiB:,.1f} GiB), but the {device.type} "
                      f"device has {have / GiB:,.1f} GiB free",
                      "a run that fits in memory", fix, line_of(cfg.lines, top.key),
                      cfg.source or None)
