"""The ``lm`` stage: Levenberg-Marquardt on the stacked residuals of every loss term.

The loss is a sum of squares: sum over terms of w * mean(r^2) = |R|^2 with the stacked
vector R = [sqrt(w / L) r] (L the term's number of residual values). With J = dR/dtheta
over the network's weights and the learnable parameters, each iteration solves the damped
normal equations (J^T J + lambda I) delta = -J^T R by Cholesky and accepts delta when the
loss decreases; lambda follows Nielsen's rule (shrink by max(1/3, 1 - (2 rho - 1)^3) on an
accepted step, grow by a doubling factor on a rejected one). Gauss-Newton on a PINN loss is
what "energy natural gradient" methods compute; the damping replaces their line search.

J comes from ``torch.func``: ``vmap`` over points of ``jacrev`` over the parameters, through
the configured derivative engine, a chunk of points at a time, so memory is one chunk of J
plus J^T J (P x P). Under torchrun every rank adds its points' J^T J and J^T R and the sums
are averaged, so all ranks solve the same system and take the same step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from .flat import FlatOptimizer

GRAD_TOL = 1e-15  # max |J^T R| below which the stage has converged
MAX_DAMPING = 1e16  # lambda / max diag(J^T J) past which no step can decrease the loss
ROWS = 2048  # points (or periodic pairs) per Jacobian chunk


class _Holder(nn.Module):
    """The model and the learnable parameters under one root, for ``functional_call``."""

    def __init__(self, model: nn.Module, params: nn.ParameterDict) -> None:
        super().__init__()
        self.model, self.params = model, params

    def forward(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


class NormalEquations:
    """``(J^T J, J^T R, |R|^2)`` of the weighted residuals at the current parameters."""

    def __init__(self, model: nn.Module, params: nn.ParameterDict, engine: Callable,
                 problem: Any, rows: int = ROWS) -> None:
        self.holder = _Holder(model, params)
        self.engine, self.problem, self.rows = engine, problem, rows

    def theta(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.holder.named_parameters()}

    def __call__(self, sets: list[Any], weights: dict[str, float]
                 ) -> tuple[torch.Tensor, torch.Tensor, float]:
        theta = self.theta()
        P = sum(v.numel() for v in theta.values())
        ref = next(iter(theta.values()))
        A = torch.zeros(P, P, dtype=ref.dtype, device=ref.device)
        g = torch.zeros(P, dtype=ref.dtype, device=ref.device)
        f = 0.0
        for ps in sets:
            for J, r in self._blocks(theta, ps, weights):
                A.addmm_(J.T, J)
                g.addmv_(J.T, r)
                f += float(r @ r)
        return 0.5 * (A + A.T), g, f  # symmetric to the bit: Cholesky reads one triangle

    def _blocks(self, theta: dict[str, torch.Tensor], ps: Any, weights: dict[str, float]):
        """(J, R) of ``ps``'s terms, a chunk of groups at a time; a group is one point, or
        one pair of points for a periodic condition."""
        problem, engine, holder = self.problem, self.engine, self.holder
        needs = frozenset().union(*(t.needs for t in ps.terms))
        terms = ps.terms
        x, normals = ps.x, ps.normals
        k = 2 if ps.paired else 1
        n = x.shape[0] // k
        # (groups, k, ...): periodic rows i and n + i form group i
        group = (lambda a: a.reshape(k, n, *a.shape[1:]).transpose(0, 1)) if ps.paired \
            else (lambda a: a.unsqueeze(1))
        xs = group(x)
        ns = None if normals is None else group(normals)
        extra, fixed, counts = _per_point(ps.extra, x.shape[0], group, k)

        def residuals(xg: torch.Tensor, ng: torch.Tensor | None,
                      eg: dict[Any, torch.Tensor]) -> dict[str, torch.Tensor]:
            table = engine(holder.model, xg, needs, problem.outputs, create_graph=True)
            env = problem.env(xg, table, ng)
            env.update(fixed)
            env.update(eg)
            out = {}
            for t in terms:
                r = torch.as_tensor(t.residual(env), dtype=xg.dtype, device=xg.device)
                r = (r.expand(xg.shape[:1]) if r.ndim == 0 else r).reshape(-1)
                mask = eg.get(("mask", t.name))
                out[t.name] = r if mask is None else r * mask.reshape(-1)
            return out

        def of_group(th: dict[str, torch.Tensor], xg: torch.Tensor, ng: torch.Tensor | None,
                     eg: dict[Any, torch.Tensor]) -> tuple[dict[str, Any], dict[str, Any]]:
            out = functional_call(holder, th, (residuals, xg, ng, eg))
            return out, {name: v.detach() for name, v in out.items()}

        jac = vmap(jacrev(of_group, has_aux=True), in_dims=(None, 0, None if ns is None else 0, 0))
        for a in range(0, n, self.rows):
            sl = slice(a, a + self.rows)
            jt, rt = jac(theta, xs[sl], None if ns is None else ns[sl],
                         {key: v[sl] for key, v in extra.items()})
            Js, rs = [], []
            for t in terms:
                r = rt[t.name]  # (groups, per-group values)
                scale = math.sqrt(weights[t.name] / (counts.get(t.name, n) * r.shape[1]))
                rows = r.shape[0] * r.shape[1]
                Js.append(scale * torch.cat([v.reshape(rows, -1) for v in jt[t.name].values()],
                                            dim=1))
                rs.append(scale * r.reshape(-1))
            yield torch.cat(Js), torch.cat(rs)


def _per_point(extra: dict[Any, torch.Tensor], n: int, group: Any, k: int
               ) -> tuple[dict[Any, torch.Tensor], dict[Any, torch.Tensor], dict[str, int]]:
    """A point set's env entries split by group (point), for ``vmap``. A data target's
    ``("rows", name)`` indexes the whole set's predictions, which a single point cannot
    read: it becomes each point's own row, its values spread over the points
    (``("values", name)``, 0 where the row has none) with a 0/1 ``("mask", name)``, and
    the target keeps its own count of rows for its mean. Returns (grouped entries,
    entries every group reads as they are, rows per data target)."""
    grouped: dict[Any, torch.Tensor] = {}
    fixed: dict[Any, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for key, v in extra.items():
        kind, name = key if isinstance(key, tuple) and len(key) == 2 else (None, None)
        if kind == "rows" and ("values", name) in extra:
            values = extra[("values", name)]
            spread, mask = values.new_zeros(n), values.new_zeros(n)
            spread[v], mask[v] = values, 1.0
            grouped[("values", name)], grouped[("mask", name)] = group(spread), group(mask)
            fixed[key] = torch.arange(k, device=v.device)
            counts[str(name)] = len(v)
        elif not (kind == "values" and ("rows", name) in extra):
            grouped[key] = group(v)
    return grouped, fixed, counts


class LevenbergMarquardt(FlatOptimizer):
    """``step(closure)`` runs up to ``max_iter`` iterations (accepted or rejected trial
    steps); the closure supplies ``normal_equations()`` and ``value()``."""

    def __init__(self, params: Any, damping: float = 1e-3, max_iter: int = 5) -> None:
        super().__init__(params, {"damping": damping, "max_iter": max_iter})
        self._system: tuple[torch.Tensor, torch.Tensor] | None = None  # at st["x"]; not saved:
        # a resume recomputes it from the same parameters and points, to the same bits

    @property
    def damping(self) -> float | None:
        """The current lambda (None before the first iteration)."""
        return self._state.get("lam")

    def reset(self) -> None:
        """The points changed: the next iteration builds the system anew."""
        self._system = None
        self._state.pop("f", None)

    def step(self, closure: Any) -> float:  # type: ignore[override]
        st = self._state
        if "x" not in st:
            st.update(x=self._flat_params(), lam=None, nu=2.0, n_iter=0)
        for _ in range(self.param_groups[0]["max_iter"]):
            if st.get("stop") or not self._iterate(closure, st):
                break
        self._set(st["x"])
        return st["f"]

    def _iterate(self, closure: Any, st: dict[str, Any]) -> bool:
        if self._system is None:
            self._set(st["x"])
            A, g, f = closure.normal_equations()
            self._system = A, g
            st.setdefault("f", f)  # after an accepted step: the trial's value, to the bit
        A, g = self._system
        f = st["f"]
        if self._finished(st, f, g, GRAD_TOL):
            return False
        scale = float(A.diagonal().max()) or 1.0
        if st["lam"] is None:
            st["lam"] = self.param_groups[0]["damping"] * scale
        st["n_iter"] += 1
        eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
        L, info = torch.linalg.cholesky_ex(A + st["lam"] * eye)
        if int(info) != 0:  # not positive definite at this damping (round-off): damp more
            return self._reject(st, scale)
        delta = -torch.cholesky_solve(g.unsqueeze(1), L).squeeze(1)
        predicted = -float(2 * (delta @ g) + delta @ (A @ delta))
        x = st["x"]
        if float(delta.norm()) <= 1e-15 * (float(x.norm()) + 1e-15) or not predicted > 0:
            st["stop"] = "converged: the step is below round-off"
            return False
        self._set(x + delta)
        f_new = closure.value()
        rho = (f - f_new) / predicted
        if math.isfinite(f_new) and rho > 0:
            st["x"], st["f"] = x + delta, f_new
            st["lam"] *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
            st["nu"] = 2.0
            self._system = None
            return True
        self._set(x)
        return self._reject(st, scale)

    def _reject(self, st: dict[str, Any], scale: float) -> bool:
        st["lam"] *= st["nu"]
        st["nu"] *= 2.0
        if st["lam"] > MAX_DAMPING * scale:
            st["stop"] = "no damped step decreases the loss (it is at round-off)"
            return False
        return True
