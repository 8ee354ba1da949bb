"""Accuracy against the reference: errors per field on a fixed grid (a closed-form
``exact``) or at a reference table's points (``exact: {file: ...}``)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import ConfigError
from ..geometry import Shape, get_sampler
from ..problem import CompiledProblem


def validation_points(problem: CompiledProblem) -> np.ndarray:
    """Where training measures its errors: the reference table's points, else a grid."""
    if problem.reference is not None:
        return problem.reference.x
    return evaluation_points(problem.shape)


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
    error NaN, so best.pt (which keeps the lowest error) would never be written. (A
    reference table's cells were checked as it was read; an empty one means no value.)"""
    if problem.exact is None or problem.reference is not None:
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
    """``field_errors`` against ``exact`` evaluated at ``x``; {} without a reference."""
    if problem.exact is None:
        return {}
    with torch.no_grad():
        ref = problem.exact(torch.as_tensor(x, dtype=torch.float64)).to(torch.float64)
    return errors_at(model, x, ref.cpu().numpy(), problem.outputs)


def errors_at(model: torch.nn.Module, x: np.ndarray, ref: np.ndarray,
              outputs: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """``field_errors`` of the network's prediction at ``x`` (N, d) against ``ref``
    (N, len(outputs), NaN where there is no reference value); evaluated in batches."""
    p = next(model.parameters())
    xt = torch.as_tensor(x, dtype=torch.float64).to(device=p.device, dtype=p.dtype)
    pred = predict(model, xt).to(torch.float64).cpu().numpy()
    return field_errors(pred, ref, outputs)


def field_errors(pred: np.ndarray, ref: np.ndarray, outputs: tuple[str, ...]
                 ) -> dict[str, dict[str, float]]:
    """Errors per field at the rows where the reference has a value (a finite one):

    - ``l2_relative``: ||u - u_ref||_2 / ||u_ref||_2 (for a reference that is zero at every
      compared point, the root-mean-square error stands in: the relative one is undefined);
    - ``mean_abs``: mean |u - u_ref| (the L1 error per point); ``max_abs``: max |u - u_ref|;
    - ``pooled``: ``{"l2_relative": ...}`` over every compared field at once, sqrt(sum of
      squared errors / sum of squared references), the same zero rule.

    A field the reference has no value for (a table without its column) is left out.
    """
    l2, l1, linf = {}, {}, {}
    err2 = ref2 = 0.0
    count = 0
    for j, f in enumerate(outputs):
        have = np.isfinite(ref[:, j])
        if not have.any():
            continue
        diff = pred[have, j] - ref[have, j]
        e2, r2 = float(diff @ diff), float(ref[have, j] @ ref[have, j])
        l2[f] = _relative(e2, r2, len(diff))
        l1[f] = float(np.mean(np.abs(diff)))
        linf[f] = float(np.max(np.abs(diff)))
        err2, ref2, count = err2 + e2, ref2 + r2, count + len(diff)
    out = {"l2_relative": l2, "mean_abs": l1, "max_abs": linf}
    if count:
        out["pooled"] = {"l2_relative": _relative(err2, ref2, count)}
    return out


def _relative(err2: float, ref2: float, n: int) -> float:
    """sqrt(err2 / ref2); the RMS error sqrt(err2 / n) where the reference is all zero."""
    return math.sqrt(err2 / ref2) if ref2 > 0 else math.sqrt(err2 / max(n, 1))
