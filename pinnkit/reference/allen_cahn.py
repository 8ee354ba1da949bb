"""Allen-Cahn reference solution (Fourier spectral in space, ETDRK4 in time).

Solves the Raissi / jaxpi benchmark

    u_t - eps * u_xx + gamma * u**3 - gamma * u = 0,   x in [-1, 1) periodic,
    u(x, 0) = x**2 * cos(pi x),   eps = 1e-4,   gamma = 5,   t in [0, 1].

This module also holds the two pieces shared with :mod:`pinnkit.reference.kdv`:
the ETDRK4 integrator of Kassam & Trefethen (2005) and a periodic grid
interpolator.

Accuracy, measured with the defaults (4096 modes, dt = 2.5e-3, ~1 s) against
a 8192-mode, dt = 5e-4 run: max difference 1.6e-8 for t >= 0.5, 2e-6 for
t >= 0.1, 4.6e-6 for t >= 0.05, 2.3e-5 overall.  The largest errors sit at
x = +-1 for small t: the initial condition is periodic but its derivative is
not (u_x = -2 at x = 1, +2 at x = -1), and that kink only gives algebraic
(~N^-2) Fourier convergence until diffusion and the reaction smooth it out;
extrapolating that rate, the true error is about 1.3x the numbers above.
Fronts themselves are resolved: away from the kink 2048 modes already agree
to 1e-7.  Halving dt changes the solution by 8e-9.  ``allen_cahn(x, t)`` adds
an interpolation error (off-grid in x and t) of <= 5e-8 for t >= 0.1,
<= 5e-6 for t >= 0.01 and up to 1e-4 for t < 0.01 next to the kink;
relative L2 over the whole domain 2e-7.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from scipy.interpolate import RectBivariateSpline

__all__ = [
    "PeriodicGridInterpolator",
    "allen_cahn",
    "allen_cahn_solution",
    "etdrk4_coefficients",
    "etdrk4_integrate",
]

NonlinearHat = Callable[[np.ndarray], np.ndarray]


def etdrk4_coefficients(lin: np.ndarray, h: float, n_contour: int = 64) -> tuple[np.ndarray, ...]:
    """ETDRK4 coefficients ``(E, E2, Q, f1, f2, f3)`` for diagonal operator ``lin``.

    The phi-functions are averaged over a circle of radius 1 around each
    ``h * lin`` (Kassam & Trefethen 2005): the closed forms suffer
    catastrophic cancellation for small ``|h * lin|``, the contour mean does not.
    A full circle is used so that complex ``lin`` (dispersive terms) works; for
    real ``lin`` the imaginary parts cancel and are dropped.
    """
    lin = np.asarray(lin)
    roots = np.exp(2j * np.pi * (np.arange(1, n_contour + 1) - 0.5) / n_contour)
    lr = h * lin[:, None] + roots[None, :]
    exp_lr = np.exp(lr)
    q = h * np.mean((np.exp(lr / 2) - 1) / lr, axis=1)
    f1 = h * np.mean((-4 - lr + exp_lr * (4 - 3 * lr + lr**2)) / lr**3, axis=1)
    f2 = h * np.mean((2 + lr + exp_lr * (lr - 2)) / lr**3, axis=1)
    f3 = h * np.mean((-4 - 3 * lr - lr**2 + exp_lr * (4 - lr)) / lr**3, axis=1)
    if not np.iscomplexobj(lin):
        q, f1, f2, f3 = (c.real for c in (q, f1, f2, f3))
    return np.exp(h * lin), np.exp(h * lin / 2), q, f1, f2, f3


def etdrk4_integrate(
    v0: np.ndarray,
    lin: np.ndarray,
    nonlinear: NonlinearHat,
    t_final: float,
    nt: int,
    dt: float,
) -> np.ndarray:
    """Integrate ``v' = lin * v + nonlinear(v)`` in Fourier space with ETDRK4.

    Returns the states at ``nt`` equispaced times in ``[0, t_final]``, shape
    ``(nt, len(v0))``.  The step is ``dt`` shrunk so that a whole number of
    steps fits between outputs (outputs are then exact step ends, no
    interpolation in time).
    """
    if nt < 2:
        raise ValueError("nt must be >= 2")
    dt_out = t_final / (nt - 1)
    n_sub = max(1, int(np.ceil(dt_out / dt - 1e-9)))
    e, e2, q, f1, f2, f3 = etdrk4_coefficients(lin, dt_out / n_sub)
    out = np.empty((nt, v0.size), dtype=np.result_type(v0, e, complex))
    v = out[0] = v0
    for i in range(1, nt):
        for _ in range(n_sub):
            nv = nonlinear(v)
            a = e2 * v + q * nv
            na = nonlinear(a)
            b = e2 * v + q * na
            nb = nonlinear(b)
            c = e2 * a + q * (2 * nb - nv)
            nc = nonlinear(c)
            v = e * v + nv * f1 + 2 * (na + nb) * f2 + nc * f3
        out[i] = v
    return out


class PeriodicGridInterpolator:
    """Bicubic-spline interpolator ``u(x, t)`` of a Fourier solution, periodic in x.

    The states are first Fourier-interpolated (zero padding) onto a grid
    ``upsample`` times finer, so the spline error is negligible next to the
    spectral representation even across steep fronts; the fine grid is then
    wrapped with a few periodic copies so that points near the ends of the
    period are interior to the spline.
    """

    def __init__(
        self,
        t: np.ndarray,
        v_hat: np.ndarray,
        n: int,
        x_start: float,
        length: float,
        upsample: int = 2,
    ) -> None:
        m = n * upsample
        w = np.zeros((v_hat.shape[0], m // 2 + 1), dtype=complex)
        w[:, : n // 2 + 1] = v_hat[:, : n // 2 + 1]
        if m > n:
            # On the finer grid the old Nyquist mode is an ordinary mode whose
            # real-FFT coefficient counts twice, hence the halving.
            w[:, n // 2] /= 2
        fine = np.fft.irfft(w, n=m, axis=1) * (m / n)
        x = x_start + length * np.arange(m) / m
        pad = 4
        xe = np.concatenate([x[-pad:] - length, x, x[:pad] + length])
        ue = np.concatenate([fine[:, -pad:], fine, fine[:, :pad]], axis=1)
        self.x_start, self.length = float(x_start), float(length)
        self.t_min, self.t_max = float(t[0]), float(t[-1])
        self._spline = RectBivariateSpline(t, xe, ue, kx=3, ky=3, s=0)

    def __call__(self, x: np.ndarray | float, t: np.ndarray | float) -> np.ndarray:
        """Evaluate at broadcast ``(x, t)``; x is wrapped into the period."""
        xb, tb = np.broadcast_arrays(np.asarray(x, float), np.asarray(t, float))
        slack = 1e-12 * max(1.0, abs(self.t_max))
        if tb.size and (tb.min() < self.t_min - slack or tb.max() > self.t_max + slack):
            raise ValueError(f"t outside [{self.t_min}, {self.t_max}]")
        xw = self.x_start + np.mod(xb - self.x_start, self.length)
        tc = np.clip(tb, self.t_min, self.t_max)
        return self._spline.ev(tc.ravel(), xw.ravel()).reshape(xb.shape)


def _frozen(a: np.ndarray) -> np.ndarray:
    # Results live in an lru_cache and are shared between callers.
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=8)
def _allen_cahn_hat(
    n: int, nt: int, dt: float, eps: float, gamma: float, t_final: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid x (n,), times (nt,), and real-FFT states (nt, n//2 + 1); cached."""
    x = -1.0 + 2.0 * np.arange(n) / n
    k = np.pi * np.arange(n // 2 + 1)  # wavenumbers of period 2
    # The linear +gamma*u goes into the exactly integrated part; only the
    # cubic is explicit.  No dealiasing: the spectrum is resolved to
    # round-off at these grid sizes, so aliasing is below the kink error.
    lin = -eps * k**2 + gamma

    def nonlinear(v: np.ndarray) -> np.ndarray:
        return -gamma * np.fft.rfft(np.fft.irfft(v, n=n) ** 3)

    v0 = np.fft.rfft(x**2 * np.cos(np.pi * x))
    v = etdrk4_integrate(v0, lin, nonlinear, t_final, nt, dt)
    return _frozen(x), _frozen(np.linspace(0.0, t_final, nt)), _frozen(v)


def allen_cahn_solution(
    nx: int = 512,
    nt: int = 201,
    dt: float = 2.5e-3,
    refine: int = 8,
    eps: float = 1e-4,
    gamma: float = 5.0,
    t_final: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allen-Cahn solution on a grid: ``(x, t, U)`` with ``U[i, j] = u(x[j], t[i])``.

    ``x = -1 + 2 j / nx`` (periodic, x = 1 omitted), ``t = linspace(0, t_final,
    nt)``.  The solve uses ``nx * refine`` Fourier modes (default 4096) and
    every ``refine``-th point is returned; see the module docstring for the
    measured accuracy.  Results are cached and read-only: copy before editing.
    """
    if nx % 2 or refine < 1:
        raise ValueError("nx must be even and refine >= 1")
    n = nx * refine
    x, t, v = _allen_cahn_hat(n, nt, float(dt), float(eps), float(gamma), float(t_final))
    u = _frozen(np.fft.irfft(v, n=n, axis=1)[:, ::refine].copy())
    return _frozen(x[::refine].copy()), t, u


@functools.lru_cache(maxsize=2)
def _allen_cahn_interpolator(n: int, nt: int, dt: float) -> PeriodicGridInterpolator:
    _, t, v = _allen_cahn_hat(n, nt, dt, 1e-4, 5.0, 1.0)
    return PeriodicGridInterpolator(t, v, n, -1.0, 2.0, upsample=1)


def allen_cahn(x: np.ndarray | float, t: np.ndarray | float) -> np.ndarray:
    """Allen-Cahn reference ``u(x, t)`` at arbitrary broadcast points, t in [0, 1].

    Bicubic interpolation of the cached 4096-mode solution (201 time levels);
    x is taken modulo the period 2.  First call ~1-2 s, later calls only
    interpolate.  Accuracy: see the module docstring.
    """
    return _allen_cahn_interpolator(4096, 201, 2.5e-3)(x, t)
