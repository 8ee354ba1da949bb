"""Write the coefficient-field table of configs/poisson_field.yaml (no downloads).

    python scripts/make_fields.py            # writes data/conductivity.csv
    python scripts/make_fields.py --n 81     # a finer grid

The conductivity kappa(x, y) = 1 + 0.5 sin(pi x) cos(pi y), between 0.5 and 1.5, tabulated
on an n x n grid of [0, 1]^2 (default 41 x 41, rows in x-major order, 17 significant
digits), as a measured field would come. The config reads it with interpolate: cubic;
its closed form is used only here and in the config's manufactured source term, so that
u = sin(pi x) sin(pi y) solves -div(kappa grad u) = f exactly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def conductivity(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 1 + 0.5 * np.sin(np.pi * x) * np.cos(np.pi * y)


def write(path: Path, n: int) -> None:
    g = np.linspace(0.0, 1.0, n)
    x, y = np.meshgrid(g, g, indexing="ij")
    rows = np.column_stack([x.ravel(), y.ravel(), conductivity(x, y).ravel()])
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# kappa = 1 + 0.5 sin(pi x) cos(pi y) on a {n} x {n} grid of [0, 1]^2; "
              "written by scripts/make_fields.py\nx,y,kappa")
    np.savetxt(path, rows, delimiter=",", header=header, comments="", fmt="%.17g")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=41, help="grid points per axis")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "conductivity.csv")
    args = parser.parse_args()
    write(args.out, args.n)
    print(f"wrote {args.out} ({args.n} x {args.n} grid)")


if __name__ == "__main__":
    main()
