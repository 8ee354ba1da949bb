"""Write the reference tables of the shipped examples whose reference is a table.

    python scripts/make_reference_tables.py            # all tables, into data/
    python scripts/make_reference_tables.py --out /tmp # elsewhere

Each table comes from pinnkit's own numerical reference code (pinnkit/reference/), with
no download, and is written as a CSV whose columns are named after the problem's inputs
and fields, as ``exact: {file: ...}`` reads it. Rewriting gives the same bytes.

* burgers_reference.csv: viscous Burgers u_t + u u_x = nu u_xx, u(x, 0) = -sin(pi x),
  u(+-1, t) = 0, nu = 0.1/pi, from the Cole-Hopf formula evaluated by Gauss-Hermite
  quadrature (pinnkit.reference.burgers, accurate to about 1e-14), on the 129 x 65 grid
  x = -1 + 2i/128, t = j/64 (8385 rows, about 340 KB). configs/burgers_table.yaml trains
  against it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

BURGERS_NU = 0.1 / math.pi


def burgers() -> tuple[dict[str, np.ndarray], str]:
    from pinnkit.reference.burgers import burgers_cole_hopf

    x, t = np.meshgrid(np.linspace(-1.0, 1.0, 129), np.linspace(0.0, 1.0, 65), indexing="ij")
    u = burgers_cole_hopf(x, t, nu=BURGERS_NU, n_quad=200)
    note = (f"viscous Burgers u_t + u u_x = nu u_xx, u(x,0) = -sin(pi x), u(+-1,t) = 0, "
            f"nu = {BURGERS_NU!r} (0.1/pi); Cole-Hopf + Gauss-Hermite quadrature, "
            "pinnkit.reference.burgers_cole_hopf(n_quad=200)")
    return {"x": x.ravel(), "t": t.ravel(), "u": u.ravel()}, note


TABLES: dict[str, tuple[str, Callable[[], tuple[dict[str, np.ndarray], str]]]] = {
    "burgers": ("burgers_reference.csv", burgers),
}


def write_csv(path: Path, columns: dict[str, np.ndarray], comment: str) -> None:
    """Coordinates as their shortest exact text, values with 17 significant digits (a
    float64 reads back to the same bits)."""
    names = list(columns)
    rows = np.stack([columns[n] for n in names], axis=1)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write(f"# {comment}; written by scripts/make_reference_tables.py\n")
        f.write(",".join(names) + "\n")
        for r in rows:
            f.write(",".join(repr(float(v)) for v in r) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="*", help=f"some of {', '.join(TABLES)}; default: all")
    ap.add_argument("--out", default="data", help="folder to write into (default data/)")
    args = ap.parse_args()
    unknown = [s for s in args.tables if s not in TABLES]
    if unknown:
        ap.error(f"unknown table '{unknown[0]}'; choose from {', '.join(TABLES)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.tables or TABLES:
        file, make = TABLES[name]
        columns, note = make()
        write_csv(out / file, columns, note)
        size = (out / file).stat().st_size
        print(f"wrote {out / file}: {len(columns['x'])} rows, {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
