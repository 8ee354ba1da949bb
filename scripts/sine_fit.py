"""The sine-fit trap, measured: u_xx of a fit to values alone versus values and slopes.

    python scripts/sine_fit.py                       # the shipped configs, full length
    python scripts/sine_fit.py --set training.stages.0.steps=300 --set training.stages.1.steps=50

Trains configs/sine_fit.yaml (64 samples of sin x, column u only) and
configs/sine_fit_sobolev.yaml (the same samples with u_x), then prints the relative L2
error of the predicted u, u_x and u_xx against sin x, cos x and -sin x on 2001 points of
[0, 2 pi], and the ratio of the u_xx errors.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import torch

import pinnkit
from pinnkit.training.trainer import Run

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"values": ROOT / "configs/sine_fit.yaml",
           "values + u_x": ROOT / "configs/sine_fit_sobolev.yaml"}


def derivative_errors(run: Run, n: int = 2001) -> dict[str, float]:
    """Relative L2 error of u, u_x, u_xx against sin, cos, -sin on a fine grid."""
    x = torch.linspace(0.0, 2 * math.pi, n, dtype=torch.float64)
    got = pinnkit.derivatives(run.model, x.unsqueeze(-1), ["u", "u_x", "u_xx"], ("x",), ("u",))
    exact = {"u": torch.sin(x), "u_x": torch.cos(x), "u_xx": -torch.sin(x)}
    return {k: float(torch.linalg.norm(got[k].double().cpu() - v) / torch.linalg.norm(v))
            for k, v in exact.items()}


def compare(overrides: Sequence[str] = ()) -> dict[str, dict[str, float]]:
    """Train both configs with the same overrides; errors per config label."""
    out = {}
    for label, path in CONFIGS.items():
        run = pinnkit.train(path, overrides=list(overrides), run_dir=False, progress=False)
        out[label] = derivative_errors(run)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    errors = compare(args.overrides)
    print(f"{'data':14s} {'u':>10s} {'u_x':>10s} {'u_xx':>10s}   (relative L2 error)")
    for label, e in errors.items():
        print(f"{label:14s} {e['u']:10.2e} {e['u_x']:10.2e} {e['u_xx']:10.2e}")
    ratio = errors["values"]["u_xx"] / errors["values + u_x"]["u_xx"]
    print(f"u_xx error ratio (values / values + u_x): {ratio:.1f}x")


if __name__ == "__main__":
    main()
