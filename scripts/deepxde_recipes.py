"""DeepXDE's recipe for a problem, trained with DeepXDE, logged like a pinnkit run.

    DDE_BACKEND=pytorch python scripts/deepxde_recipes.py burgers OUT_DIR

Used by ``scripts/time_to_accuracy.py`` for its ``deepxde`` column; ``deepxde`` is not a
pinnkit dependency (``pip install deepxde``). Writes ``OUT_DIR/history.csv`` with the
columns ``step``, ``time/elapsed_s`` (training time only, evaluation excluded) and ``l2/u``
(relative L2 error on pinnkit's own reference grid for the problem), every 250 iterations,
until interrupted (SIGINT) or done.

The recipes follow DeepXDE's examples: Burgers is ``examples/pinn_forward/Burgers.py``
(FNN 2-20x3-1 tanh, Glorot normal, 2540 domain, 80 boundary and 160 initial points, Adam
1e-3 for 15000 iterations, then L-BFGS), on pinnkit's t in [0, 1]. For Poisson 2-D
(sin(pi x) sin(pi y)) DeepXDE has no example; the recipe is the one of its Poisson
examples on 2-D domains (FNN 2-50x4-1 tanh, Glorot uniform, Adam 1e-3, then L-BFGS) with
pinnkit's point counts (2048 domain, 512 boundary).
"""

from __future__ import annotations

import csv
import os
import signal
import sys
import time
from pathlib import Path

os.environ.setdefault("DDE_BACKEND", "pytorch")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

CHUNK = 250  # iterations between error evaluations


def reference(problem: str) -> tuple[np.ndarray, np.ndarray]:
    """pinnkit's evaluation grid and reference values for the problem's config."""
    import torch

    from pinnkit.api import resolve
    from pinnkit.training.metrics import evaluation_points

    compiled, _ = resolve(ROOT / "configs" / f"{problem}.yaml")
    x = evaluation_points(compiled.shape)  # the points pinnkit's own l2/u is measured on
    u = compiled.exact(torch.as_tensor(x, dtype=torch.float64))
    return x, u.detach().cpu().numpy().reshape(len(x), -1)[:, 0]


def burgers(dde):
    geom = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 1))

    def pde(x, y):
        u_x = dde.grad.jacobian(y, x, i=0, j=0)
        u_t = dde.grad.jacobian(y, x, i=0, j=1)
        u_xx = dde.grad.hessian(y, x, i=0, j=0)
        return u_t + y * u_x - 0.01 / np.pi * u_xx

    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geom, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(geom, pde, [bc, ic], num_domain=2540, num_boundary=80,
                            num_initial=160)
    return data, dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal"), 15000


def poisson(dde):
    geom = dde.geometry.Rectangle([0, 0], [1, 1])

    def pde(x, y):
        lap = dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1)
        f = 2 * np.pi**2 * dde.backend.sin(np.pi * x[:, 0:1]) * dde.backend.sin(np.pi * x[:, 1:2])
        return lap + f

    bc = dde.icbc.DirichletBC(geom, lambda x: 0, lambda _, on_boundary: on_boundary)
    data = dde.data.PDE(geom, pde, [bc], num_domain=2048, num_boundary=512)
    return data, dde.nn.FNN([2] + [50] * 4 + [1], "tanh", "Glorot uniform"), 20000


RECIPES = {"burgers": burgers, "poisson": poisson}


def main() -> int:
    problem, out = sys.argv[1], Path(sys.argv[2])
    if problem not in RECIPES:
        print(f"no DeepXDE recipe for {problem}; have {', '.join(RECIPES)}", file=sys.stderr)
        return 2
    import deepxde as dde

    out.mkdir(parents=True, exist_ok=True)
    x_ref, u_ref = reference(problem)
    data, net, adam_iterations = RECIPES[problem](dde)
    model = dde.Model(data, net)
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    rows: list[dict[str, float]] = []
    elapsed, step = 0.0, 0

    def log() -> None:
        u = model.predict(x_ref)[:, 0]
        rows.append({"step": step, "time/elapsed_s": elapsed,
                     "l2/u": float(np.linalg.norm(u - u_ref) / np.linalg.norm(u_ref))})
        with (out / "history.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, list(rows[0]))
            w.writeheader()
            w.writerows(rows)

    model.compile("adam", lr=1e-3)
    while step < adam_iterations and not stop["now"]:
        t = time.perf_counter()
        model.train(iterations=CHUNK, display_every=10**9, verbose=0)
        elapsed += time.perf_counter() - t
        step += CHUNK
        log()
    dde.optimizers.set_LBFGS_options(maxiter=CHUNK)
    model.compile("L-BFGS")
    while not stop["now"] and step < adam_iterations + 15000:  # DeepXDE's default maxiter
        t = time.perf_counter()
        model.train(display_every=10**9, verbose=0)
        elapsed += time.perf_counter() - t
        step += CHUNK
        log()
    return 0


if __name__ == "__main__":
    sys.exit(main())
