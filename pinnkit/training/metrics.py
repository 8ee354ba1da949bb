"""Accuracy against the reference: relative L2 error per field on a fresh grid."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import ConfigError
from ..geometry import Shape, get_sampler
from ..problem import CompiledProblem


def evaluation_points(shape: Shape, n: int = 16384, seed: int = 12345) -> np.ndarray:
    """A regular grid for 1-2 inputs (points not used in training), Sobol points beyond."""
    lo, hi = shape.bounds()
    d = len(lo)
    if d <= 2:
        per = int(round(n ** (1.0 / d))) if d == 2 else min(n, 2001)
        axes = [np.linspace(lo[i], hi[i], per) for i in range(d)]
        pts = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
        return pts[shape.contains(pts)]
    return shape.sample_interior(n, get_sampler("sobol"), seed)


def check_reference(problem: CompiledProblem, key: str, line: int | None,
                    source: str | None) -> None:
    """The reference must be finite on the validation points: a NaN there makes every
    error NaN, so best.pt (which keeps the lowest error) would never be written."""
    if problem.exact is None:
        return
    x = evaluation_points(problem.shape)
    with torch.no_grad():
        ref = problem.exact(torch.as_tensor(x, dtype=torch.float64)).to(torch.float64)
    for j, f in enumerate(problem.outputs):
        bad = ~torch.isfinite(ref[:, j])
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            at = ", ".join(f"{n} = {x[i, k]:g}" for k, n in enumerate(problem.inputs))
            raise ConfigError(key.format(field=f), f"the reference {f} is {float(ref[i, j])} at "
                              f"{int(bad.sum())} of {len(x)} validation points (e.g. at {at})",
                              "a reference that is finite on the whole domain",
                              "correct the expression (a division by zero? log of 0?), or "
                              "remove exact:", line, source)


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch: int = 65536) -> torch.Tensor:
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def relative_l2(model: torch.nn.Module, problem: CompiledProblem, x: np.ndarray
                ) -> dict[str, float]:
    """||u - u_ref|| / ||u_ref|| per output field; {} without a reference."""
    return reference_errors(model, problem, x).get("l2_relative", {})


def reference_errors(model: torch.nn.Module, problem: CompiledProblem, x: np.ndarray
                     ) -> dict[str, dict[str, float]]:
    """Relative L2 and largest absolute error per field at ``x``; {} without a reference."""
    if problem.exact is None:
        return {}
    p = next(model.parameters())
    xt = torch.as_tensor(x, dtype=torch.float64)
    with torch.no_grad():
        ref = problem.exact(xt).to(torch.float64)
    pred = predict(model, xt.to(device=p.device, dtype=p.dtype)).to(torch.float64).cpu()
    l2, linf = {}, {}
    for j, f in enumerate(problem.outputs):
        diff = pred[:, j] - ref[:, j]
        norm, err = float(torch.linalg.norm(ref[:, j])), float(torch.linalg.norm(diff))
        # a reference that is zero everywhere has no relative error: the RMS error stands in
        # (the output_scale check says so before training)
        l2[f] = err / norm if norm > 0 else err / math.sqrt(max(len(diff), 1))
        linf[f] = float(diff.abs().max()) if len(diff) else 0.0
    return {"l2_relative": l2, "max_abs": linf}
