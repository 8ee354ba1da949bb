"""Write the synthetic observation files of the inverse-problem and sine-fit examples.

    python scripts/make_inverse_data.py            # all data sets, into data/
    python scripts/make_inverse_data.py heat sine  # some of them

Every set is drawn from an exact solution, with Gaussian noise of a stated size and a
fixed seed, so the files in data/ can be regenerated bit for bit:

* heat_inverse.csv: u = exp(-alpha pi^2 t) sin(pi x), alpha = 0.1, at 500 uniform random
  points of [0, 1]^2; noise sigma = 0.01 (1 % of max |u|).
* burgers_inverse.csv: viscous Burgers with u(x, 0) = -sin(pi x), nu = 0.1/pi, from the
  Cole-Hopf formula (pinnkit.reference.burgers), at 2000 uniform random points of
  [-1, 1] x [0, 1]; noise sigma = 0.01 (1 % of max |u|).
* sine.csv: u = sin x and u_x = cos x at 64 equally spaced x in [0, 2 pi], no noise.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

HEAT_ALPHA = 0.1
BURGERS_NU = 0.1 / math.pi
NOISE = 0.01  # absolute noise standard deviation; max |u| is 1 in every set


def heat(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], str]:
    x, t = rng.uniform(0, 1, 500), rng.uniform(0, 1, 500)
    u = np.exp(-HEAT_ALPHA * math.pi**2 * t) * np.sin(math.pi * x)
    note = f"heat u_t = alpha u_xx, alpha = {HEAT_ALPHA}, u = exp(-alpha pi^2 t) sin(pi x)"
    return {"x": x, "t": t, "u": u + NOISE * rng.standard_normal(500)}, note


def burgers(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], str]:
    from pinnkit.reference.burgers import burgers_cole_hopf

    x, t = rng.uniform(-1, 1, 2000), rng.uniform(0, 1, 2000)
    u = burgers_cole_hopf(x, t, nu=BURGERS_NU)
    note = f"Burgers u_t + u u_x = nu u_xx, u(x,0) = -sin(pi x), nu = {BURGERS_NU!r} (Cole-Hopf)"
    return {"x": x, "t": t, "u": u + NOISE * rng.standard_normal(2000)}, note


def sine(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], str]:
    x = np.linspace(0.0, 2 * math.pi, 64)
    return {"x": x, "u": np.sin(x), "u_x": np.cos(x)}, "u = sin x, u_x = cos x, no noise"


SETS: dict[str, tuple[str, Callable[[np.random.Generator], tuple[dict, str]], float]] = {
    "heat": ("heat_inverse.csv", heat, NOISE),
    "burgers": ("burgers_inverse.csv", burgers, NOISE),
    "sine": ("sine.csv", sine, 0.0),
}


def write_csv(path: Path, columns: dict[str, np.ndarray], comment: str) -> None:
    names = list(columns)
    rows = np.stack([columns[n] for n in names], axis=1)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write(f"# {comment}\n")
        f.write(",".join(names) + "\n")
        for r in rows:
            f.write(",".join(f"{v:.10g}" for v in r) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="*", help=f"some of {', '.join(SETS)}; default: all")
    ap.add_argument("--out", default="data", help="folder to write into (default data/)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    unknown = [s for s in args.sets if s not in SETS]
    if unknown:
        ap.error(f"unknown set '{unknown[0]}'; choose from {', '.join(SETS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.sets or SETS:
        file, make, noise = SETS[name]
        rng = np.random.default_rng([args.seed, list(SETS).index(name)])  # per set: stable
        columns, note = make(rng)
        comment = f"{note}; noise sigma {noise}; seed {args.seed}; scripts/make_inverse_data.py"
        write_csv(out / file, columns, comment)
        print(f"wrote {out / file}: {len(next(iter(columns.values())))} rows")


if __name__ == "__main__":
    main()
