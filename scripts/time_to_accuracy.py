"""Time to accuracy, side by side: one problem, four recipes, each on its own CPU core.

    python scripts/time_to_accuracy.py burgers                 # 15 min budget per recipe
    python scripts/time_to_accuracy.py poisson --budget 300 --png poisson.png
    python scripts/time_to_accuracy.py heat --recipes lbfgs,lm  # some of them

The recipes share the shipped config's network, points and Adam stage(s); they differ in
the stage after Adam:

    lbfgs      Adam -> L-BFGS, float32 (the recipe pinnkit shipped before second-order stages)
    ssbroyden  Adam -> ssbroyden, float64
    lm         Adam -> lm (Levenberg-Marquardt), float64
    deepxde    DeepXDE's own example recipe for the problem (Adam 1e-3, then L-BFGS; float32),
               when ``deepxde`` is importable (it is not a dependency); burgers and poisson

Each recipe runs as ``pinnkit train`` in its own process with ``OMP_NUM_THREADS=1`` (as many
at once as there are cores) and is stopped with Ctrl-C's signal at the budget, so every
number comes from this one invocation. The table gives the wall time at which the relative
L2 error (mean over fields) first reached 1e-2 ... 1e-6 and the error at the budget; the
PNG plots error against time.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
RECIPES = ("lbfgs", "ssbroyden", "lm", "deepxde")
MANY = 1_000_000  # steps of the second stage: the budget stops it


def second_stage(recipe: str) -> str:
    return {"lbfgs": f"{{optimizer: lbfgs, steps: {MANY}, dtype: float32, patience: {MANY}}}",
            "ssbroyden": f"{{optimizer: ssbroyden, steps: {MANY}, dtype: float64}}",
            "lm": f"{{optimizer: lm, steps: {MANY}, dtype: float64}}"}[recipe]


def adam_stages(config: Path) -> list[str]:
    """The shipped config's Adam stages, as YAML flow mappings."""
    sys.path.insert(0, str(ROOT))
    from pinnkit.config import load_config

    cfg = load_config(config)
    out = []
    for s in cfg.training.stages:
        if s.optimizer != "adam":
            break
        extra = f", schedule: cosine, lr_min: {s.lr_min}" if s.schedule == "cosine" else \
            (f", decay: {s.decay}, decay_every: {s.decay_every}" if s.decay != 1.0 else "")
        out.append(f"{{optimizer: adam, lr: {s.lr or 1e-3}, steps: {s.steps}{extra}}}")
    return out


def command(recipe: str, config: Path, out: Path) -> list[str]:
    if recipe == "deepxde":
        return [sys.executable, str(Path(__file__).with_name("deepxde_recipes.py")),
                config.stem, str(out)]
    stages = ", ".join([*adam_stages(config), second_stage(recipe)])
    return [sys.executable, "-m", "pinnkit", "train", str(config), "--out", str(out), "--quiet",
            "--set", f"training.stages=[{stages}]", "--set", "model.dtype=float32",
            "--set", "logging.every=25", "--set", "logging.images_every=1000000",
            "--set", "logging.checkpoint_every=1000000", "--set", "training.compile=false"]


def curve(run: Path) -> list[tuple[float, float]]:
    """(seconds, mean relative L2 error) from a run's history.csv."""
    path = run / "history.csv"
    if not path.is_file():
        return []
    points = []
    with path.open() as f:
        for row in csv.DictReader(f):
            errs = [float(v) for k, v in row.items() if k.startswith("l2/") and v]
            t = row.get("time/elapsed_s")
            if errs and t:
                points.append((float(t), sum(errs) / len(errs)))
    return points


def first_below(points: list[tuple[float, float]], level: float) -> float | None:
    return next((t for t, e in points if e <= level), None)


def run_all(problem: str, recipes: list[str], budget: float, folder: Path) -> dict[str, list]:
    config = ROOT / "configs" / f"{problem}.yaml"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    pending = list(recipes)
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    cores = max(1, min(len(recipes), os.cpu_count() or 1))
    while pending or running:
        while pending and len(running) < cores:
            r = pending.pop(0)
            proc = subprocess.Popen(command(r, config, folder / r), env=env, cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
            running[r] = (proc, time.monotonic())
        for r, (proc, start) in list(running.items()):
            if proc.poll() is not None:
                if proc.returncode not in (0, 130, -signal.SIGINT):
                    print(f"{r}: exit {proc.returncode}: {proc.stderr.read()[-2000:]}",
                          file=sys.stderr)
                del running[r]
            elif time.monotonic() - start > budget + 60:  # the wall time includes start-up
                proc.send_signal(signal.SIGINT)  # stops after the step, writes the run
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                del running[r]
        time.sleep(1.0)
    return {r: [p for p in curve(folder / r) if p[0] <= budget] for r in recipes}


def table(curves: dict[str, list[tuple[float, float]]], budget: float) -> str:
    head = "| recipe | " + " | ".join(f"to {lv:.0e}" for lv in LEVELS) + \
        f" | error at {budget:.0f} s |"
    lines = [head, "|" + "---|" * (len(LEVELS) + 2)]
    for r, pts in curves.items():
        cells = []
        for lv in LEVELS:
            t = first_below(pts, lv)
            cells.append("—" if t is None else f"{t:.0f} s")
        final = f"{pts[-1][1]:.2e}" if pts else "no result"
        lines.append(f"| {r} | " + " | ".join(cells) + f" | {final} |")
    return "\n".join(lines)


def plot(curves: dict[str, list[tuple[float, float]]], problem: str, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[plot]'); no PNG written")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for r, pts in curves.items():
        if pts:
            best = [min(e for _, e in pts[: i + 1]) for i in range(len(pts))]
            ax.semilogy([t for t, _ in pts], best, label=r)
    ax.set_xlabel("wall time (s), one CPU core each")
    ax.set_ylabel("relative L2 error (best so far)")
    ax.set_title(f"{problem}: time to accuracy")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("problem", help="a config name in configs/, e.g. burgers")
    ap.add_argument("--budget", type=float, default=900.0, help="seconds per recipe")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--png", type=Path, help="error-vs-time plot (default: PROBLEM_tta.png)")
    ap.add_argument("--runs", type=Path, help="keep the run folders here")
    args = ap.parse_args()
    recipes = [r for r in args.recipes.split(",") if r]
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        print(f"unknown recipe(s) {unknown}; choose from {', '.join(RECIPES)}", file=sys.stderr)
        return 2
    if "deepxde" in recipes:
        try:
            import deepxde  # noqa: F401
        except ImportError:
            print("deepxde is not importable: its column is left out")
            recipes.remove("deepxde")
    folder = args.runs or Path(tempfile.mkdtemp(prefix=f"tta-{args.problem}-"))
    curves = run_all(args.problem, recipes, args.budget, folder)
    print(f"\n{args.problem}: wall time to reach each relative L2 error, one core per recipe "
          f"({os.cpu_count()} cores, budget {args.budget:.0f} s)\n")
    print(table(curves, args.budget))
    plot(curves, args.problem, args.png or Path(f"{args.problem}_tta.png"))
    return 0 if all(curves.values()) and not math.isnan(args.budget) else 1


if __name__ == "__main__":
    sys.exit(main())
