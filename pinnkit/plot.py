"""``pinnkit plot``: PNGs of prediction, reference, error and loss history (matplotlib extra).

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas, never pyplot, so
nothing global (backend, open figures) changes in the caller's process. Every PNG has a
fixed size: ``PANEL`` inches per panel at ``DPI``.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PinnkitError
from .evaluate import TrainedModel, load
from .problem import Problem
from .training.files import folder_for, write_atomic
from .training.monitor import picture_grid
from .training.snapshot import FieldSnapshot, snapshot

EXTRA = 'pip install "pinnkit[plot]" (in a checkout: pip install -e ".[plot]")'
DPI = 100
PANEL = (4.5, 4.0)  # inches: each panel is 450 x 400 pixels


def require_matplotlib() -> Any:
    """matplotlib's ``Figure`` class, or a PinnkitError that names the extra to install."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError:
        raise PinnkitError("pinnkit plot needs matplotlib, which is the optional 'plot' extra. "
                           f"Fix: {EXTRA}") from None
    return Figure


def plot_run(run_dir: str | Path, checkpoint: str = "last", out_dir: str | Path | None = None,
             problem: Problem | None = None, trust: bool = False) -> list[Path]:
    """Write RUN/plots/FIELD.png for each output and RUN/plots/loss.png; return the paths.

    Each PNG is written by ``write_atomic`` (temp file and rename; never through a link
    inside the run folder or ``out_dir``). ``trust``: as for ``load``."""
    figure_cls = require_matplotlib()
    trained = load(run_dir, checkpoint, problem=problem, trust=trust)
    if trained.stale_reference is not None:
        warnings.warn(f"{trained.stale_reference}; plotting without the reference",
                      stacklevel=2)
    root = Path(out_dir) if out_dir is not None else Path(run_dir)
    out = folder_for(root if out_dir is not None else root / "plots", root)
    snap = field_snapshot(trained)
    paths = [field_figure(figure_cls, snap, f, out / f"{f}.png") for f in trained.outputs]
    history = read_history(Path(run_dir) / "history.csv")
    if history:
        paths.append(history_figure(figure_cls, history, out / "loss.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    """The figure as PNG bytes, then into place atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")
    return write_atomic(path, buffer.getvalue(), path.parent)


def field_snapshot(trained: TrainedModel) -> FieldSnapshot:
    return snapshot(trained.model, trained.problem, picture_grid(trained.problem,
                                                                  trained.config))


def _new(figure_cls: Any, panels: int) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = figure_cls(figsize=(PANEL[0] * panels, PANEL[1]), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, panels, i + 1) for i in range(panels)]


def field_figure(figure_cls: Any, snap: FieldSnapshot, name: str, path: Path) -> Path:
    """Prediction, reference and |error| of one field: heatmaps in 2-D, curves in 1-D."""
    pred = snap.prediction[name]
    ref = snap.reference_of(name)
    grid = snap.grid
    if len(grid.axes) == 1:
        fig, axs = _new(figure_cls, 1 if ref is None else 2)
        x = grid.coords[0]
        axs[0].plot(x, pred, label="prediction")
        if ref is not None:
            axs[0].plot(x, ref, "--", label="reference")
            axs[1].plot(x, snap.error(name), color="tab:red")
            axs[1].set(title=f"|error| of {name}", xlabel=grid.axes[0])
        axs[0].set(title=name, xlabel=grid.axes[0])
        axs[0].legend()
    else:
        fig, axs = _new(figure_cls, 1 if ref is None else 3)
        both = pred if ref is None else np.concatenate([pred.ravel(), ref.ravel()])
        lo, hi = float(np.nanmin(both)), float(np.nanmax(both))
        panels: list[tuple[np.ndarray, str, float | None, float | None]] = [
            (pred, f"{name}: prediction", lo, hi)]
        if ref is not None:
            panels += [(ref, f"{name}: reference", lo, hi),
                       (snap.error(name), f"{name}: |error|", None, None)]
        extent = [grid.coords[0][0], grid.coords[0][-1], grid.coords[1][0], grid.coords[1][-1]]
        for ax, (values, title, vmin, vmax) in zip(axs, panels, strict=True):
            image = ax.imshow(values.T, origin="lower", extent=extent, aspect="auto",
                              vmin=vmin, vmax=vmax, cmap="viridis")
            fig.colorbar(image, ax=ax)
            ax.set(title=title, xlabel=grid.axes[0], ylabel=grid.axes[1])
    if grid.fixed:
        fig.suptitle(grid.title())
    return _save(fig, path)


def read_history(path: Path) -> list[dict[str, float]]:
    """history.csv as records; empty cells (a term logged later) become NaN. A damaged
    file or row is a warning, and the rows that can be read are drawn."""
    if not path.is_file():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError, csv.Error) as exc:  # ValueError: UnicodeDecodeError
        warnings.warn(f"{path} is damaged ({type(exc).__name__}); no loss.png", stacklevel=2)
        return []
    records, bad = [], []
    for line, row in enumerate(rows, start=2):
        try:
            record = {k: float(v) if v != "" else math.nan for k, v in row.items()}
            if None in record or not math.isfinite(record["step"]):
                raise ValueError
        except (ValueError, TypeError, KeyError):  # text, a short or long row, no step
            bad.append(line)
            continue
        records.append(record)
    if bad:
        warnings.warn(f"{path} is damaged: {len(bad)} of {len(rows)} rows cannot be read "
                      f"(first at line {bad[0]}); drawing the other {len(records)}",
                      stacklevel=2)
    return records


def stage_boundaries(history: list[dict[str, float]]) -> list[float]:
    """The step where each stage ended: the last step logged in it (a stage logs its
    final step), not the first step logged in the next one (up to logging.every later)."""
    return [prev["step"] for r, prev in zip(history[1:], history, strict=False)
            if r.get("stage", 1) != prev.get("stage", 1)]


def history_figure(figure_cls: Any, history: list[dict[str, float]], path: Path) -> Path:
    """Loss terms and total over steps; relative L2 errors beside them when known."""
    steps = np.array([r["step"] for r in history])
    errors = [k for k in history[0] if k.startswith("l2/")]
    fig, axs = _new(figure_cls, 2 if errors else 1)
    for key in [k for k in history[0] if k.startswith("loss/")]:
        values = np.array([r.get(key, math.nan) for r in history])
        axs[0].semilogy(steps, values, lw=2.5 if key == "loss/total" else 1.2,
                        label=key.split("/", 1)[1])
    for ax in axs:
        for step in stage_boundaries(history):
            ax.axvline(step, color="grey", ls=":", lw=1)
    axs[0].set(title="loss", xlabel="step")
    axs[0].legend()
    for key in errors:
        axs[1].semilogy(steps, [r.get(key, math.nan) for r in history],
                        label=key.rsplit("/", 1)[1])
    if errors:
        axs[1].set(title="relative L2 error", xlabel="step")
        axs[1].legend()
    return _save(fig, path)
