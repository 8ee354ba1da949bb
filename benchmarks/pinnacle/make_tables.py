"""Write the small tables the PINNacle port reads (benchmarks/pinnacle/tables/).

    python benchmarks/pinnacle/make_tables.py              # all tables
    python benchmarks/pinnacle/make_tables.py --check      # also: the grid-convergence numbers
    python benchmarks/pinnacle/make_tables.py ks burgers1d # some of them

PINNacle's own reference solutions are COMSOL/solver tables that are not reproduced here.
Every table below is either a seeded stand-in for data PINNacle draws at random (initial
states, coefficient fields, noisy observations), or a reference computed here from the
problem as the YAML states it: by pinnkit's own reference code (pinnkit/reference/) or by
a small finite-difference / spectral solve. Each reference's discretisation error is
estimated with --check (the same solve on a grid twice as coarse), and README.md quotes
the numbers. Rewriting gives the same bytes (fixed seeds, fixed formats).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

HERE = Path(__file__).resolve().parent
TABLES = HERE / "tables"


def write_csv(name: str, columns: dict[str, np.ndarray], note: str) -> Path:
    TABLES.mkdir(exist_ok=True)
    path = TABLES / name
    names = list(columns)
    data = np.column_stack([np.asarray(columns[k], float).ravel() for k in names])
    with path.open("w", newline="\n") as fh:
        fh.write(",".join(names) + "\n")
        np.savetxt(fh, data, fmt="%.9g", delimiter=",")
    print(f"{path.relative_to(HERE)}: {len(data)} rows, {path.stat().st_size // 1024} KB — {note}")
    return path


# ---------------------------------------------------------------------------------------
# Random stand-ins for PINNacle's random draws


def smooth_random_field(x: np.ndarray, y: np.ndarray, box: tuple[float, float, float, float],
                        seed: int, modes: int = 12, decay: float = 2.0) -> np.ndarray:
    """A zero-mean, unit-variance smooth random field: a cosine series on the box with
    N(0, 1) coefficients damped by (1 + k^2 + l^2)^(-decay). (PINNacle draws Gaussian
    random fields with a power-law spectrum; this is the same kind of field, our own.)"""
    rng = np.random.default_rng(seed)
    x0, x1, y0, y1 = box
    sx, sy = (x - x0) / (x1 - x0), (y - y0) / (y1 - y0)
    g = np.zeros(np.broadcast(sx, sy).shape)
    for k in range(modes + 1):
        for m in range(modes + 1):
            if k == m == 0:
                continue
            c = rng.standard_normal() / (1.0 + k * k + m * m) ** decay
            g = g + c * np.cos(math.pi * k * sx) * np.cos(math.pi * m * sy)
    return (g - g.mean()) / g.std()


def heat2d_vc_coefficient(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.exp(smooth_random_field(x, y, (0, 1, 0, 1), seed=18))


def wave2d_coefficient(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where(smooth_random_field(x, y, (-1, 1, -1, 1), seed=19) > 0, 12.0, 1.0)


def grid(n: int, lo: float, hi: float) -> np.ndarray:
    return np.linspace(lo, hi, n + 1)


def coef_heat2d_vc() -> None:
    x, y = np.meshgrid(grid(64, 0, 1), grid(64, 0, 1), indexing="ij")
    write_csv("heat2d_vc_coef.csv", {"x": x, "y": y, "a": heat2d_vc_coefficient(x, y)},
              "a = exp(smooth random field), seed 18, 65 x 65 grid")


def coef_wave2d() -> None:
    x, y = np.meshgrid(grid(64, -1, 1), grid(64, -1, 1), indexing="ij")
    write_csv("wave2d_hetero_coef.csv", {"x": x, "y": y, "c": wave2d_coefficient(x, y)},
              "c = 12 where a smooth random field (seed 19) > 0, else 1; 65 x 65 grid")


# The nodes of the coefficient table: the block centres and the two outer edges, which
# repeat the outer blocks' values, so that nearest interpolation is exactly the blocks'
# piecewise-constant function and the table covers the whole domain.
MS_NODES = np.array([-10.0, -8.0, -4.0, 0.0, 4.0, 8.0, 10.0])
MS_BLOCK_OF_NODE = np.array([0, 0, 1, 2, 3, 4, 4])


def ms_coefficients() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block (i along x, j along y): a = 10^U(-1, 2), f0, f1 ~ N(0, 1) (seed 20)."""
    rng = np.random.default_rng(20)
    a = 10.0 ** rng.uniform(-1.0, 2.0, size=(5, 5))
    f0 = rng.standard_normal((5, 5))
    f1 = rng.standard_normal((5, 5))
    return a, f0, f1


def coef_poisson2d_ms() -> None:
    a, f0, f1 = ms_coefficients()
    x, y = np.meshgrid(MS_NODES, MS_NODES, indexing="ij")
    i, j = np.meshgrid(MS_BLOCK_OF_NODE, MS_BLOCK_OF_NODE, indexing="ij")
    write_csv("poisson2d_ms_coef.csv",
              {"x": x, "y": y, "a": a[i, j], "f0": f0[i, j], "f1": f1[i, j]},
              "25 block values (seed 20) at the block centres and the outer edges, 7 x 7")


def burgers2d_ic() -> None:
    """A smooth field periodic on [0, 4]^2 (a few Fourier modes, seed 21) for u and v."""
    rng = np.random.default_rng(21)
    x, y = np.meshgrid(grid(32, 0, 4), grid(32, 0, 4), indexing="ij")
    out = {}
    for name in ("u0", "v0"):
        f = np.zeros_like(x)
        for k in range(-2, 3):
            for m in range(-2, 3):
                if k == m == 0:
                    continue
                amp = rng.standard_normal() / (k * k + m * m)
                phase = rng.uniform(0, 2 * math.pi)
                f += amp * np.cos(2 * math.pi * (k * x + m * y) / 4 + phase)
        out[name] = f / np.abs(f).max()
    write_csv("burgers2d_ic.csv", {"x": x, "y": y, "t": np.zeros_like(x), **out},
              "u0, v0 at t = 0: periodic Fourier fields (seed 21), 33 x 33 grid")


def poisson_inverse_obs() -> None:
    rng = np.random.default_rng(22)
    x, y = np.meshgrid(np.linspace(0, 1, 50), np.linspace(0, 1, 50), indexing="ij")
    u = np.sin(np.pi * x) * np.sin(np.pi * y) + rng.normal(0, 0.1, x.shape)
    write_csv("poisson_inverse_obs.csv", {"x": x, "y": y, "u": u},
              "u on a 50 x 50 grid + N(0, 0.1) noise (seed 22)")


def heat_inverse_obs() -> None:
    rng = np.random.default_rng(23)
    x, y = rng.uniform(-1, 1, 2500), rng.uniform(-1, 1, 2500)
    t = rng.uniform(0, 1, 2500)
    u = np.exp(-t) * np.sin(np.pi * x) * np.sin(np.pi * y) + rng.normal(0, 0.1, 2500)
    write_csv("heat_inverse_obs.csv", {"x": x, "y": y, "t": t, "u": u},
              "u at 2500 uniform points + N(0, 0.1) noise (seed 23)")


# ---------------------------------------------------------------------------------------
# References computed here


def burgers1d() -> None:
    from pinnkit.reference.burgers import burgers_cole_hopf

    x, t = np.meshgrid(grid(128, -1, 1), grid(50, 0, 1), indexing="ij")
    u = burgers_cole_hopf(x, t, nu=0.01 / math.pi, n_quad=200)
    write_csv("burgers1d_ref.csv", {"x": x, "t": t, "u": u},
              "Cole-Hopf + Gauss-Hermite (pinnkit.reference.burgers), nu = 0.01/pi")


def laplacian_dirichlet(n: int, h: float) -> sp.csr_matrix:
    """5-point Laplacian on the (n-1)^2 interior nodes, zero Dirichlet values."""
    d = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(n - 1, n - 1)) / h**2
    eye = sp.identity(n - 1)
    return (sp.kron(d, eye) + sp.kron(eye, d)).tocsr()


def laplacian_robin(n: int, h: float, beta: float = 1.0) -> sp.csr_matrix:
    """5-point Laplacian on all (n+1)^2 nodes of a square with u_n + beta u = 0, the
    ghost values eliminated (second order): at the low face u_{-1} = u_1 - 2 h beta u_0."""
    m = n + 1
    d = sp.lil_matrix((m, m))
    for i in range(m):
        d[i, i] = -2.0
        if i > 0:
            d[i, i - 1] = 1.0
        if i < m - 1:
            d[i, i + 1] = 1.0
    d[0, 1] = 2.0
    d[0, 0] = -2.0 - 2.0 * h * beta
    d[m - 1, m - 2] = 2.0
    d[m - 1, m - 1] = -2.0 - 2.0 * h * beta
    d = d.tocsr() / h**2
    eye = sp.identity(m)
    return (sp.kron(d, eye) + sp.kron(eye, d)).tocsr()


def ms_block(v: np.ndarray) -> np.ndarray:
    """The block index of a coordinate in [-10, 10] (the nearest block centre)."""
    return np.clip(np.floor((v + 10.0) / 4.0), 0, 4).astype(int)


def solve_poisson2d_ms(n: int) -> tuple[np.ndarray, np.ndarray]:
    a, f0, f1 = ms_coefficients()
    h = 20.0 / n
    xs = grid(n, -10, 10)
    x, y = np.meshgrid(xs, xs, indexing="ij")
    i, j = ms_block(x), ms_block(y)
    bump = np.abs(np.sin(np.pi * (x + 10) / 4)) * np.abs(np.sin(np.pi * (y + 10) / 4))
    f = f0[i, j] + f1[i, j] * bump
    rhs = -(f / a[i, j]).ravel()
    u = spla.spsolve(laplacian_robin(n, h).tocsc(), rhs)
    return xs, u.reshape(n + 1, n + 1)


def poisson2d_ms() -> None:
    xs, u = solve_poisson2d_ms(400)
    s = slice(None, None, 5)
    x, y = np.meshgrid(xs[s], xs[s], indexing="ij")
    write_csv("poisson2d_ms_ref.csv", {"x": x, "y": y, "u": u[s, s]},
              "5-point finite differences, h = 0.05, Robin by ghost nodes; every 5th node")


def solve_heat2d_vc(n: int, dt: float, t_out: np.ndarray) -> np.ndarray:
    """u_t = a (u_xx + u_yy) + A sin(pi x) sin(5 pi y) sin(pi t), u = 0 on the edges and at
    t = 0: BDF2 (started by one backward-Euler step) on the interior nodes."""
    h = 1.0 / n
    xs = grid(n, 0, 1)[1:-1]
    x, y = np.meshgrid(xs, xs, indexing="ij")
    a = sp.diags(heat2d_vc_coefficient(x, y).ravel())
    op = (a @ laplacian_dirichlet(n, h)).tocsc()
    space = (200.0 * np.sin(np.pi * x) * np.sin(5 * np.pi * y)).ravel()
    eye = sp.identity(op.shape[0], format="csc")
    be = spla.factorized((eye - dt * op).tocsc())
    bdf2 = spla.factorized((eye - (2.0 / 3.0) * dt * op).tocsc())
    steps = int(round(t_out[-1] / dt))
    keep = {int(round(t / dt)): k for k, t in enumerate(t_out)}
    out = np.zeros((len(t_out), n + 1, n + 1))
    u_old = np.zeros(op.shape[0])
    u = be(u_old + dt * space * np.sin(np.pi * dt))
    for step in range(1, steps + 1):
        if step > 1:
            t = step * dt
            u, u_old = bdf2((4 * u - u_old) / 3 + (2.0 / 3.0) * dt * space * np.sin(np.pi * t)), u
        if step in keep:
            out[keep[step], 1:-1, 1:-1] = u.reshape(n - 1, n - 1)
    return out


def heat2d_vc() -> None:
    t_out = np.linspace(0, 5, 21)
    u = solve_heat2d_vc(64, 2.5e-3, t_out)
    s = slice(None, None, 4)
    xs = grid(64, 0, 1)[s]
    x, y, t = np.meshgrid(xs, xs, t_out, indexing="ij")
    write_csv("heat2d_vc_ref.csv", {"x": x, "y": y, "t": t, "u": np.moveaxis(u[:, s, s], 0, -1)},
              "BDF2 + 5-point finite differences, h = 1/64, dt = 2.5e-3; every 4th node, 21 times")


def solve_heat2d_lt(n: int, dt: float, t_out: np.ndarray) -> np.ndarray:
    """u_t = 0.001 Lap u + 5 sin(u^2) (1 + 2 sin(pi t/4)) sin(4 pi x) sin(2 pi y): classical
    RK4 on the 5-point method of lines, u = 0 on the edges."""
    h = 1.0 / n
    xs = grid(n, 0, 1)
    x, y = np.meshgrid(xs, xs, indexing="ij")
    space = 5.0 * np.sin(4 * np.pi * x) * np.sin(2 * np.pi * y)

    def rhs(u: np.ndarray, t: float) -> np.ndarray:
        lap = np.zeros_like(u)
        lap[1:-1, 1:-1] = (u[2:, 1:-1] + u[:-2, 1:-1] + u[1:-1, 2:] + u[1:-1, :-2]
                           - 4 * u[1:-1, 1:-1]) / h**2
        du = 0.001 * lap + np.sin(u * u) * (1 + 2 * np.sin(np.pi * t / 4)) * space
        du[0, :] = du[-1, :] = du[:, 0] = du[:, -1] = 0.0
        return du

    u = np.sin(4 * np.pi * x) * np.sin(3 * np.pi * y)
    u[0, :] = u[-1, :] = u[:, 0] = u[:, -1] = 0.0
    steps = int(round(t_out[-1] / dt))
    keep = {int(round(t / dt)): k for k, t in enumerate(t_out)}
    out = np.zeros((len(t_out), n + 1, n + 1))
    out[0] = u
    for step in range(steps):
        t = step * dt
        k1 = rhs(u, t)
        k2 = rhs(u + dt / 2 * k1, t + dt / 2)
        k3 = rhs(u + dt / 2 * k2, t + dt / 2)
        k4 = rhs(u + dt * k3, t + dt)
        u = u + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if step + 1 in keep:
            out[keep[step + 1]] = u
    return out


def heat2d_lt() -> None:
    t_out = np.linspace(0, 100, 21)
    u = solve_heat2d_lt(64, 5e-3, t_out)
    s = slice(None, None, 4)
    xs = grid(64, 0, 1)[s]
    x, y, t = np.meshgrid(xs, xs, t_out, indexing="ij")
    write_csv("heat2d_lt_ref.csv", {"x": x, "y": y, "t": t, "u": np.moveaxis(u[:, s, s], 0, -1)},
              "RK4 method of lines, 5-point, h = 1/64, dt = 5e-3; every 4th node, 21 times")


def solve_ks(n: int, dt: float, nt: int) -> np.ndarray:
    """u_t + alpha u u_x + beta u_xx + gamma u_xxxx = 0, 2 pi-periodic: Fourier (2/3
    dealiased) + ETDRK4 from pinnkit.reference.allen_cahn.etdrk4_integrate."""
    from pinnkit.reference.allen_cahn import etdrk4_integrate

    alpha, beta, gamma = 100 / 16, 100 / 16**2, 100 / 16**4
    k = np.arange(n // 2 + 1, dtype=float)
    lin = beta * k**2 - gamma * k**4
    keep = k < n / 3

    def nonlinear(v: np.ndarray) -> np.ndarray:
        u = np.fft.irfft(v, n=n)
        return np.where(keep, -0.5 * alpha * 1j * k * np.fft.rfft(u * u), 0.0)

    x = 2 * np.pi * np.arange(n) / n
    v0 = np.fft.rfft(np.cos(x) * (1 + np.sin(x)))
    v = etdrk4_integrate(v0, lin.astype(complex), nonlinear, 1.0, nt, dt)
    return np.fft.irfft(v, n=n, axis=1)


def ks() -> None:
    u = solve_ks(256, 1e-5, 51)[:, ::2]              # 128 points per period
    u = np.concatenate([u, u[:, :1]], axis=1)        # and x = 2 pi (= x = 0)
    x, t = np.meshgrid(2 * np.pi * np.arange(129) / 128, np.linspace(0, 1, 51), indexing="ij")
    write_csv("ks_ref.csv", {"x": x, "t": t, "u": u.T},
              "Fourier (256 modes, 2/3 dealiased) + ETDRK4, dt = 1e-5 (pinnkit's integrator)")


def solve_wave2d(n: int, t_out: np.ndarray, courant: float = 0.25) -> np.ndarray:
    """u_tt = c (u_xx + u_yy), u_n = 0 on the edges, a Gaussian pulse at rest: leapfrog on
    the 5-point Laplacian with mirror ghost nodes (second order)."""
    h = 2.0 / n
    xs = grid(n, -1, 1)
    x, y = np.meshgrid(xs, xs, indexing="ij")
    c = wave2d_coefficient(x, y)
    dt = courant * h / math.sqrt(12.0)
    steps_per = int(math.ceil((t_out[1] - t_out[0]) / dt))
    dt = (t_out[1] - t_out[0]) / steps_per

    def lap(u: np.ndarray) -> np.ndarray:
        p = np.pad(u, 1, mode="reflect")
        return (p[2:, 1:-1] + p[:-2, 1:-1] + p[1:-1, 2:] + p[1:-1, :-2] - 4 * u) / h**2

    u = np.exp(-((x + 0.5) ** 2 + y**2) / (2 * 0.3**2))
    out = np.zeros((len(t_out), n + 1, n + 1))
    out[0] = u
    u_old, u = u, u + 0.5 * dt**2 * c * lap(u)
    step = 1
    for k in range(1, len(t_out)):
        while step < k * steps_per:
            u, u_old = 2 * u - u_old + dt**2 * c * lap(u), u
            step += 1
        out[k] = u
    return out


def wave2d_hetero() -> None:
    t_out = np.linspace(0, 5, 21)
    u = solve_wave2d(128, t_out)
    s = slice(None, None, 8)
    xs = grid(128, -1, 1)[s]
    x, y, t = np.meshgrid(xs, xs, t_out, indexing="ij")
    write_csv("wave2d_hetero_ref.csv",
              {"x": x, "y": y, "t": t, "u": np.moveaxis(u[:, s, s], 0, -1)},
              "leapfrog + 5-point finite differences, h = 1/64; every 8th node, 21 times")


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def check() -> None:
    """Each computed reference against the same solve on a coarser grid (or smaller
    step): the relative L2 difference at the common nodes bounds the coarse one's error."""
    _, u400 = solve_poisson2d_ms(400)
    _, u200 = solve_poisson2d_ms(200)
    print(f"poisson2d_ms: h 0.1 vs 0.05: {rel(u200, u400[::2, ::2]):.2e}")
    t_out = np.linspace(0, 5, 21)
    a = solve_heat2d_vc(64, 2.5e-3, t_out)
    b = solve_heat2d_vc(32, 5e-3, t_out)
    print(f"heat2d_vc: h 1/32 vs 1/64: {rel(b, a[:, ::2, ::2]):.2e}")
    t_out = np.linspace(0, 100, 21)
    a = solve_heat2d_lt(64, 5e-3, t_out)
    b = solve_heat2d_lt(32, 1e-2, t_out)
    print(f"heat2d_lt: h 1/32 vs 1/64: {rel(b, a[:, ::2, ::2]):.2e}")
    a = solve_ks(512, 5e-6, 51)
    b = solve_ks(256, 1e-5, 51)
    print(f"ks: 256 vs 512 modes: {rel(b, a[:, ::2]):.2e}")
    t_out = np.linspace(0, 5, 21)
    a = solve_wave2d(128, t_out)
    b = solve_wave2d(64, t_out)
    print(f"wave2d_hetero: h 1/32 vs 1/64: {rel(b, a[:, ::2, ::2]):.2e}")


MAKERS: dict[str, Callable[[], None]] = {
    "burgers1d": burgers1d, "burgers2d_ic": burgers2d_ic, "poisson2d_ms_coef": coef_poisson2d_ms,
    "poisson2d_ms": poisson2d_ms, "heat2d_vc_coef": coef_heat2d_vc, "heat2d_vc": heat2d_vc,
    "heat2d_lt": heat2d_lt, "ks": ks, "wave2d_hetero_coef": coef_wave2d,
    "wave2d_hetero": wave2d_hetero, "poisson_inverse_obs": poisson_inverse_obs,
    "heat_inverse_obs": heat_inverse_obs,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="*", metavar="TABLE",
                        help=f"some of: {', '.join(MAKERS)} (default: all)")
    parser.add_argument("--check", action="store_true", help="print grid-convergence numbers")
    args = parser.parse_args(argv)
    unknown = [name for name in args.tables if name not in MAKERS]
    if unknown:
        parser.error(f"unknown table {unknown[0]!r}; choose from {', '.join(MAKERS)}")
    for name in args.tables or MAKERS:
        MAKERS[name]()
    if args.check:
        check()
    return 0


if __name__ == "__main__":
    sys.exit(main())
