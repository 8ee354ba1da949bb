"""Checkpoints written atomically: a temp file in the same folder, fsync, then rename.

A crash or kill at any moment leaves either the old file or the new one, never half.
"""

from __future__ import annotations

import functools
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import PinnkitError

FORMAT = 1  # bumped when the layout of a checkpoint changes


def save_atomic(obj: Any, path: str | Path) -> None:
    """torch.save ``obj`` to ``path`` so that readers see the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _temporary(path: Path) -> tuple[int, str]:
    """A temp file beside ``path``, readable like any file the user creates.

    (mkstemp makes it private, 0600, and the rename would carry that over.)
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomic(text: str, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint. ``weights_only``: loading a run folder never runs pickled code."""
    path = Path(path)
    if not path.is_file():
        raise PinnkitError(f"no checkpoint at {path}. Fix: give a run folder that holds "
                           "checkpoints/last.pt (written by pinnkit train)")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError) as exc:
        raise PinnkitError(f"cannot read the checkpoint {path} ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else 'corrupt file'}). "
                           "Fix: use best.pt or an earlier copy, or train again") from None


def save_checkpoint(path: Path, config: dict[str, Any], state: dict[str, Any],
                    version: str) -> None:
    """One checkpoint: the resolved config, the full training state, pinnkit's version."""
    save_atomic({"format": FORMAT, "version": version, "step": state["step"], "config": config,
                 "state": state}, path)


def clean_temporaries(folder: Path) -> None:
    """Remove temp files a killed writer left behind (``.last.pt.XXXX.tmp``)."""
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
