"""The run folder a training session writes, and TensorBoard inside it.

    runs/NAME/
      config.yaml            the resolved config (what ``--resume`` and ``pinnkit eval`` read)
      checkpoints/last.pt    every logging.checkpoint_every steps and at the end
      checkpoints/best.pt    lowest validation error so far (loss without a reference)
      history.csv            one row per logged step (what ``pinnkit plot`` draws)
      metrics.json           the final numbers
      events.out.tfevents.*  TensorBoard: scalars, field images, config text, hparams

Every file is written by ``files.write_atomic`` (temp file + rename, never through a
link inside the folder; an OS error is one line, exit 2). ``.pinnkit-run`` marks the folder
as a run's and vouches for its problem file (``folders``). Without a folder (``run_dir``
None) every method is a no-op, so the trainer never asks whether one exists.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._version import __version__
from ..config import Config, relocated, to_data, to_yaml
from ..errors import ConfigError, PinnkitError, line_of
from ..log import TensorBoard
from ..log.images import heatmap, line_plot
from .checkpoint import clean_temporaries, load, save_checkpoint
from .files import folder_for, os_error, write_atomic
from .folders import record_problem
from .snapshot import FieldSnapshot
from .state import TrainState


class RunFolder:
    def __init__(self, run_dir: Path | None, cfg: Config, start_step: int = 0,
                 resume: bool = False) -> None:
        self.dir, self.cfg = run_dir, cfg
        # what config.yaml and the checkpoints hold: paths relative to the run folder
        self.saved = relocated(cfg, run_dir) if run_dir is not None else cfg
        if run_dir is not None:
            folder_for(run_dir)
            clean_temporaries(run_dir / "checkpoints")
            # paths relative to the run folder, so the copy works from anywhere
            write_atomic(run_dir / "config.yaml", to_yaml(self.saved), run_dir)
            record_problem(run_dir, self.saved)  # the problem file eval may import later
        # on resume, drop what the interrupted session logged after its last checkpoint
        try:
            self.board = TensorBoard(run_dir if run_dir is not None and
                                     cfg.logging.tensorboard else None,
                                     purge_step=start_step + 1 if resume else None)
        except OSError as exc:
            raise os_error(exc, exc.filename or run_dir or "",
                           "write TensorBoard files in") from None
        self.board.text("config", "\n".join("    " + ln for ln in to_yaml(cfg).splitlines()),
                        start_step)

    def checkpoint(self, name: str, state: TrainState) -> None:
        """checkpoints/NAME.pt with the whole state; never written from a non-finite loss."""
        if self.dir is None:
            return
        last = state.history[-1]["loss/total"] if state.history else 0.0
        if not np.isfinite(last):
            return
        state.tick()
        save_checkpoint(self.dir / "checkpoints" / f"{name}.pt", to_data(self.saved),
                        state.state_dict(), __version__, self.dir)
        self.write_history(state.history)

    def record(self, state: TrainState, record: dict[str, float], value: float) -> None:
        """Log a record; write best.pt when ``value`` (validation error) is a new low."""
        state.history.append(record)
        self.board.scalars(int(record["step"]), {k: v for k, v in record.items()
                                                 if k != "step"})
        if np.isfinite(value) and value < state.best:
            state.best = value
            self.checkpoint("best", state)

    def images(self, step: int, snap: FieldSnapshot) -> None:
        if self.board.writer is None:
            return
        for tag, picture in field_pictures(snap).items():
            self.board.image(tag, picture, step)
        self.board.flush()

    def write_history(self, history: list[dict[str, float]]) -> None:
        if self.dir is None or not history:
            return
        columns = list(dict.fromkeys(k for r in history for k in r))
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, restval="")
        writer.writeheader()
        writer.writerows(history)
        write_atomic(self.dir / "history.csv", out.getvalue(), self.dir)

    def finish(self, state: TrainState, metrics: dict[str, Any]) -> None:
        """last.pt, metrics.json, the HParams row; then close TensorBoard."""
        self.checkpoint("last", state)
        if self.dir is not None:
            write_atomic(self.dir / "metrics.json", json.dumps(metrics, indent=2) + "\n",
                         self.dir)
        final = {f"final/l2_relative/{k}": v for k, v in metrics["l2_relative_error"].items()}
        final["final/loss"] = state.history[-1]["loss/total"]  # weighted, as trained
        self.board.hparams(hparams_of(self.cfg), final, state.step)
        self.board.close()


def field_pictures(snap: FieldSnapshot) -> dict[str, np.ndarray]:
    """TensorBoard images per field: prediction, reference and absolute error."""
    pictures = {}
    two_d = len(snap.grid.axes) == 2
    for f, pred in snap.prediction.items():
        ref = snap.reference_of(f)
        if two_d:
            both = pred if ref is None else np.concatenate([pred.ravel(), ref.ravel()])
            lo, hi = np.nanmin(both), np.nanmax(both)
            pictures[f"field/{f}/prediction"] = heatmap(pred, lo, hi)
            if ref is not None:
                pictures[f"field/{f}/reference"] = heatmap(ref, lo, hi)
                pictures[f"field/{f}/error"] = heatmap(snap.error(f))
        else:
            x = snap.grid.coords[0]
            pictures[f"field/{f}/prediction"] = line_plot(x, [pred] if ref is None
                                                          else [pred, ref])
            if ref is not None:
                pictures[f"field/{f}/reference"] = line_plot(x, [ref])
                pictures[f"field/{f}/error"] = line_plot(x, [snap.error(f)])
    return pictures


def hparams_of(cfg: Config) -> dict[str, Any]:
    """The settings shown in TensorBoard's HParams table (scalars and short text only)."""
    stages = " ".join(f"{s.optimizer}:{s.steps}@{s.lr if s.lr is not None else 'default'}"
                      for s in cfg.training.stages)
    pts = cfg.training.points
    return {"model.width": cfg.model.width, "model.depth": cfg.model.depth,
            "model.activation": cfg.model.activation, "model.dtype": cfg.model.dtype,
            "training.seed": cfg.training.seed, "points.domain": pts.domain,
            "points.boundary": pts.boundary, "points.resample_every": pts.resample_every,
            "stages": stages}


def restore(state: TrainState, run_dir: Path, cfg: Config, device: torch.device) -> None:
    """Load checkpoints/last.pt of ``run_dir`` into ``state`` for ``--resume``."""
    path = run_dir / "checkpoints" / "last.pt"
    if not path.is_file():
        raise PinnkitError(f"nothing to resume in {run_dir}: {path.name} is missing from "
                           f"{path.parent}. Fix: train without --resume to start a new run")
    ckpt = load(path, device)
    changed = changed_keys(ckpt["config"], to_data(relocated(cfg, run_dir)))
    frozen_keys(ckpt["config"], cfg, changed, run_dir)
    if changed:
        warnings.warn(f"resuming {run_dir} with a config that differs from the checkpoint's "
                      f"in: {', '.join(changed)}; the new values apply from here on",
                      stacklevel=2)
    try:
        state.load_state_dict(ckpt["state"], cfg.training.stages)
    except (RuntimeError, KeyError, ValueError, IndexError) as exc:
        raise PinnkitError(f"cannot resume {run_dir}: its checkpoint does not fit this config "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0]}). Fix: resume "
                           "with the run's own config.yaml, or train a new run") from None


#: keys that say what the saved weights mean: the network's shape and activation, its
#: precision and derivative engine, the embeddings and constraints built into it, what its
#: inputs and outputs are and how inputs are normalised (the domain), the learnable
#: parameters and the Python problem. Changing one on resume would load weights into a
#: network they were not trained for (or reinterpret them): refused, like width and depth.
FROZEN = ("model", "inputs", "outputs", "domain", "parameters", "problem")


def frozen_keys(old: dict[str, Any], cfg: Config, changed: list[str], run_dir: Path) -> None:
    """Raise for the first key in ``changed`` that the saved weights depend on (a key the
    checkpoint does not hold, written by an older pinnkit, is not compared)."""
    for key in changed:
        if key.split(".")[0] not in FROZEN:
            continue
        trained, present = _lookup(old, key)
        if not present:
            continue
        now, _ = _lookup(to_data(relocated(cfg, run_dir)), key)
        raise ConfigError(key, f"{_shown(now)} where the run in {run_dir} was trained with "
                          f"{_shown(trained)}",
                          "the value it was trained with: the saved weights mean what they "
                          "meant in training", f"start a new run with the new value (train "
                          f"the config without --resume, e.g. --set {key}=...), or resume "
                          f"without changing {key}", line_of(cfg.lines, key))


def _lookup(data: Any, key: str) -> tuple[Any, bool]:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return None, False
        data = data[part]
    return data, True


def _shown(value: Any) -> str:
    text = "nothing" if value is None else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two plain-data configs differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in dict.fromkeys([*old, *new]):
            out += changed_keys(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    return [] if old == new else [prefix or "<config>"]
