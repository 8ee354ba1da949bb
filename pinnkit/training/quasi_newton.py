"""Dense self-scaled quasi-Newton stages: ``ssbfgs`` and ``ssbroyden``.

Both keep the inverse Hessian approximation ``H`` as a dense (P, P) matrix, so they suit the
small networks (a few thousand weights) that reach 1e-6 and below in float64. After a step
``s = x+ - x`` with gradient change ``y = g+ - g`` (``s.y > 0`` by the Wolfe conditions), the
update of the self-scaled Broyden family is

    H+ = (1/tau) [H - (H y)(H y)^T / (y.H y) + phi (y.H y) v v^T] + s s^T / (s.y),
    v  = s / (s.y) - H y / (y.H y),

with the scalars b = s.B s / s.y (B = H^-1, so s.B s = -alpha s.g), h = y.H y / s.y and
a = b h - 1 >= 0. ``phi = 1`` is BFGS and ``phi = 0`` DFP; ``tau`` rescales the old
approximation so that its eigenvalues stay near the curvature just measured.

* ``ssbfgs``: phi = 1, tau = min(1, 1/b) (Al-Baali's safeguarded Oren-Luenberger scaling).
* ``ssbroyden``: Al-Baali's restricted self-scaled Broyden choice, as used for PINNs by
  Urbán, Stefanou & Pons (JCP 2025) and Kiyani et al. (2025): with c = sqrt(a/(1+a)),
  rho = min(1, h(1 - c)), theta between (rho - 1)/a and 1/rho, nearest (1 - b)/b,
  sigma = 1 + a theta: phi = (1 - theta)/sigma and tau = min(rho sigma^(-1/(P-1)), 1/theta)
  for theta > 0, else min(rho sigma^(-1/(P-1)), sigma).

Each iteration takes a strong-Wolfe line search (torch's, as L-BFGS uses) from t = 1; when
it fails, a backtracking (Armijo) search; when both fail, ``H`` restarts from the identity,
and after ``RESTARTS`` such failures in a row the stage ends. The state (H, x, f, g) lives in
``optimizer.state``, so a checkpoint between calls resumes bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.lbfgs import _strong_wolfe  # the same line search torch's L-BFGS uses

from .flat import FlatOptimizer

RESTARTS = 3  # line-search failures in a row (each followed by a restart) before stopping
GRAD_TOL = 1e-13  # max |gradient| below which the stage has converged


class SelfScaledQuasiNewton(FlatOptimizer):
    """``step(closure)`` runs up to ``max_iter`` iterations; ``stop_reason`` says why it
    stopped early (``None`` while it can go on)."""

    def __init__(self, params: Any, variant: str = "ssbroyden", lr: float = 1.0,
                 max_iter: int = 25) -> None:
        if variant not in ("ssbfgs", "ssbroyden"):
            raise ValueError(f"variant must be ssbfgs or ssbroyden, not {variant!r}")
        super().__init__(params, {"lr": lr, "max_iter": max_iter})
        if len(self.param_groups) != 1:
            raise ValueError(f"{variant} takes one parameter group")
        self.variant = variant

    def _evaluate(self, closure: Callable[[], torch.Tensor], x: torch.Tensor
                  ) -> tuple[float, torch.Tensor]:
        self._set(x)
        with torch.enable_grad():
            f = float(closure().detach())
        return f, self._flat_grad()

    def reset(self) -> None:
        """Forget the curvature (after the points changed): the next step starts afresh."""
        self.state.clear()

    # ----------------------------------------------------------------- the iterations
    def step(self, closure: Callable[[], torch.Tensor]) -> float:  # type: ignore[override]
        st = self._state
        if st.get("stop"):
            return st["f"]
        if "x" not in st:  # first call of the stage, or after reset()
            x = self._flat_params()
            f, g = self._evaluate(closure, x)
            st.update(x=x, f=f, g=g, H=None, n_iter=0, failures=0)
        for _ in range(self.param_groups[0]["max_iter"]):
            if not self._iterate(closure, st):
                break
        self._set(st["x"])  # the parameters sit at the accepted point
        return st["f"]

    def _iterate(self, closure: Callable[[], torch.Tensor], st: dict[str, Any]) -> bool:
        x, f, g, H = st["x"], st["f"], st["g"], st["H"]
        if self._finished(st, f, g, GRAD_TOL):
            return False
        d = -g if H is None else -(H @ g)
        gtd = float(g @ d)
        if gtd >= 0:  # not a descent direction (round-off in H): restart along -g
            H, d = None, -g
            gtd = float(g @ d)
        # the first step of a fresh approximation has no scale: bound it as L-BFGS does
        t0 = min(1.0, 1.0 / float(g.abs().sum())) * self.param_groups[0]["lr"] if H is None \
            else self.param_groups[0]["lr"]
        found = self._line_search(closure, x, f, g, d, gtd, t0)
        if found is None:
            st["failures"] += 1
            st["H"] = None
            self._set(x)
            if st["failures"] >= RESTARTS:
                st["stop"] = (f"no decrease along {RESTARTS} search directions in a row "
                              "(the loss is at round-off, or the line search failed)")
                return False
            return True
        t, f_new, g_new = found
        s = t * d
        y = g_new - g
        st["H"] = self._update(H, s, y, g, t)
        st.update(x=x + s, f=f_new, g=g_new, failures=0)
        st["n_iter"] += 1
        return True

    def _line_search(self, closure: Callable[[], torch.Tensor], x: torch.Tensor, f: float,
                     g: torch.Tensor, d: torch.Tensor, gtd: float, t: float
                     ) -> tuple[float, float, torch.Tensor] | None:
        """(t, f(x + t d), g(x + t d)) for a step that decreases the loss, or None."""
        def obj(x0: torch.Tensor, step: float, direction: torch.Tensor
                ) -> tuple[float, torch.Tensor]:
            return self._evaluate(closure, x0 + step * direction)

        g_norm = float(g.norm())

        def ok(f_new: float, g_new: torch.Tensor, step: float) -> bool:
            # Armijo; or, where f no longer resolves the decrease (|f| near its round-off),
            # a smaller gradient: a loss with f* != 0 would otherwise stop at sqrt(eps)
            if not math.isfinite(f_new):
                return False
            return (f_new <= f + 1e-4 * step * gtd and f_new < f) or \
                (f_new - f <= 1e-15 * abs(f) and float(g_new.norm()) < g_norm)

        f_new, g_new, t_new, _ = _strong_wolfe(obj, x, t, d, f, g, gtd, max_ls=25)
        if ok(float(f_new), g_new, float(t_new)):
            return float(t_new), float(f_new), g_new
        step = t  # backtracking: halve until the Armijo condition holds
        for _ in range(40):
            f_new, g_new = obj(x, step, d)
            if ok(f_new, g_new, step):
                return step, f_new, g_new
            step *= 0.5
        return None

    def _update(self, H: torch.Tensor | None, s: torch.Tensor, y: torch.Tensor,
                g: torch.Tensor, t: float) -> torch.Tensor | None:
        sy = float(s @ y)
        if not sy > 1e-300:  # no positive curvature along s: keep H (a Wolfe step has some)
            return H
        if H is None:  # the identity scaled to the measured curvature (Nocedal & Wright 6.20)
            H = torch.eye(s.numel(), dtype=s.dtype, device=s.device) * (sy / float(y @ y))
        Hy = H @ y
        yHy = float(y @ Hy)
        if not yHy > 0:
            return H
        b = -t * float(s @ g) / sy  # s.B s / s.y, as B s = -t g along d = -H g
        h = yHy / sy
        a = max(b * h - 1.0, 0.0)
        phi, tau = self._parameters(a, b, h, s.numel())
        v = s / sy - Hy / yHy
        H = (H - torch.outer(Hy, Hy) / yHy + (phi * yHy) * torch.outer(v, v)) / tau \
            + torch.outer(s, s) / sy
        return 0.5 * (H + H.T)  # keep it symmetric against round-off

    def _parameters(self, a: float, b: float, h: float, n: int) -> tuple[float, float]:
        """(phi, tau) of the update."""
        if self.variant == "ssbfgs" or a < 1e-12:
            return 1.0, min(1.0, 1.0 / b) if b > 0 else 1.0
        c = math.sqrt(a / (1.0 + a))
        rho = min(1.0, h * (1.0 - c))
        theta_lo, theta_hi = (rho - 1.0) / a, 1.0 / rho
        theta = max(theta_lo, min(theta_hi, (1.0 - b) / b if b > 0 else theta_hi))
        sigma = 1.0 + a * theta
        scaled = rho * sigma ** (-1.0 / max(n - 1, 1))
        tau = min(scaled, 1.0 / theta) if theta > 0 else min(scaled, sigma)
        phi = (1.0 - theta) / sigma
        return phi, tau
