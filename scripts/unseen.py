"""Second-order stages on problems the project was never tuned on, against Adam -> L-BFGS.

    python scripts/unseen.py                 # both problems, both recipes, two at a time
    python scripts/unseen.py --jobs 1 --only klein_gordon
    python scripts/unseen.py --collect       # table from runs/unseen/*/metrics.json

Each problem is written here as a config, as a user would write it, and trained twice with
the same network, points and Adam stage: (a) Adam then L-BFGS in float32, the recipe of
the first problem library, with 5000 L-BFGS steps; (b) Adam then Levenberg-Marquardt
(``lm``) in float64, 800 steps. Nothing was tuned on them. Each run is one
``pinnkit train`` on one core (``OMP_NUM_THREADS=1``); the table gives each recipe's
relative L2 error and wall time, and the ratio of the errors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Steady advection-diffusion on the unit square: -lap u + (1, 0.5).grad u = f, with
# u = exp(x) sin(pi y), so f = pi^2 u + 0.5 pi exp(x) cos(pi y); u given on the boundary.
ADVECTION = """\
name: advection_diffusion
inputs: [x, y]
outputs: [u]
domain: {x: [0, 1], y: [0, 1]}
equations:
  transport: -(u_xx + u_yy) + u_x + 0.5*u_y - (pi**2*exp(x)*sin(pi*y) + 0.5*pi*exp(x)*cos(pi*y))
conditions:
  edges: {on: boundary, residual: u - exp(x)*sin(pi*y)}
exact: exp(x)*sin(pi*y)
"""

# Klein-Gordon u_tt - u_xx + u^3 = f on [0, 1] x [0, 1] (Wang, Teng & Perdikaris 2021):
# u = x cos(5 pi t) + (x t)^3; initial value x and velocity 0, walls at x = 0 and 1.
KG_FORCE = "-25*pi**2*x*cos(5*pi*t) + 6*x**3*t - 6*x*t**3 + (x*cos(5*pi*t) + x**3*t**3)**3"
KLEIN_GORDON = """\
name: klein_gordon
inputs: [x, t]
outputs: [u]
domain: {x: [0, 1], t: [0, 1]}
equations:
  kg: u_tt - u_xx + u**3 - (FORCE)
conditions:
  initial:  {on: t == 0, residual: u - x}
  velocity: {on: t == 0, residual: u_t}
  walls:    {on: x == 0 or x == 1, residual: u - x*cos(5*pi*t) - x**3*t**3}
exact: x*cos(5*pi*t) + x**3*t**3
""".replace("FORCE", KG_FORCE)

COMMON = """\
model: {width: 20, depth: 3, activation: tanh}
training:
  seed: 0
  points: {domain: 2048, boundary: 256, sampler: sobol, resample_every: 100}
  stages:
    - {optimizer: adam, lr: 1.0e-3, steps: 2000}
    - %s
logging: {every: 100}
"""

RECIPES = {
    "lbfgs32": "{optimizer: lbfgs, steps: 5000}",
    "lm64": "{optimizer: lm, steps: 800, dtype: float64}",
}
PROBLEMS = {"advection_diffusion": ADVECTION, "klein_gordon": KLEIN_GORDON}


def train(problem: str, recipe: str, out: Path) -> Path:
    folder = out / f"{problem}-{recipe}"
    config = out / f"{problem}-{recipe}.yaml"
    config.write_text(PROBLEMS[problem] + COMMON % RECIPES[recipe])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "pinnkit", "train", str(config), "--out",
                    str(folder), "--overwrite", "--quiet"], check=True, env=env, cwd=ROOT)
    return folder


def table(out: Path, problems: list[str]) -> str:
    rows = ["| problem | Adam -> L-BFGS float32 | Adam -> lm float64 | ratio |",
            "|---|---|---|---|"]
    for problem in problems:
        cells, errors = [], []
        for recipe in RECIPES:
            path = out / f"{problem}-{recipe}" / "metrics.json"
            if not path.is_file():
                cells.append("—")
                continue
            m = json.loads(path.read_text())
            err = m["best"]["l2_relative_error"]["u"] if "best" in m else \
                m["l2_relative_error"]["u"]
            errors.append(err)
            cells.append(f"{err:.2e} in {m['wall_time_s']:.0f} s ({m['steps']} steps)")
        ratio = f"{errors[0] / errors[1]:.0f}x" if len(errors) == 2 else "—"
        rows.append(f"| {problem} | {' | '.join(cells)} | {ratio} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated problems: " + ", ".join(PROBLEMS))
    ap.add_argument("--jobs", type=int, default=2, help="trainings at a time, one core each")
    ap.add_argument("--out", default=str(ROOT / "runs" / "unseen"))
    ap.add_argument("--collect", action="store_true", help="tabulate finished runs only")
    args = ap.parse_args()
    problems = args.only.split(",") if args.only else list(PROBLEMS)
    unknown = [p for p in problems if p not in PROBLEMS]
    if unknown:
        ap.error(f"unknown problem {unknown[0]}; choose from {', '.join(PROBLEMS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.collect:
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda job: train(*job, out),
                          [(p, r) for p in problems for r in RECIPES]))
    print(table(out, problems))


if __name__ == "__main__":
    main()
