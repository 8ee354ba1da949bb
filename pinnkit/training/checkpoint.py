"""Checkpoints written atomically and checksummed; read back only when the sum matches.

Atomic: a temp file in the same folder, fsync, then rename, so a crash or kill at any
moment leaves either the old file or the new one, never half.

Checksummed: a checkpoint is the zip archive ``torch.save`` writes, with the SHA-256 of
all its bytes before the comment field stored as the zip's comment
(``pinnkit-sha256:<hex>``). ``torch.load`` and ``zipfile`` read it as any .pt file, and
``load`` refuses a file whose bytes changed in any place (a bit flip, a cut, another
file renamed to last.pt) with one line that names it, instead of loading it silently
or failing deep inside torch.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import PinnkitError
from .files import write_atomic

FORMAT = 2  # bumped when the layout of a checkpoint changes (2: checksummed)
MARKER = b"pinnkit-sha256:"  # the zip comment: this, then 64 hex digits
_TAIL = len(MARKER) + 64
_EOCD = b"PK\x05\x06"  # the zip's end-of-central-directory record: 22 bytes + comment
FIX = ("Fix: use the run's other checkpoint (last.pt or best.pt) or a copy you kept, "
       "or train again")


def save_atomic(obj: Any, path: str | Path, root: str | Path | None = None) -> None:
    """torch.save ``obj`` to ``path``, checksummed, so that readers see the old file or the
    new one (``write_atomic``: a temp file and a rename, never through a link)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, signed(buffer.getvalue()), root)


def signed(data: bytes) -> bytes:
    """A zip archive (torch.save's) with the SHA-256 of its bytes as the zip comment."""
    if data[-22:-18] != _EOCD or data[-2:] != b"\0\0":
        raise ValueError("not a zip archive without a comment")
    digest = hashlib.sha256(data[:-2]).hexdigest().encode()
    return data[:-2] + _TAIL.to_bytes(2, "little") + MARKER + digest


def _verified(data: bytes) -> bool | None:
    """True: the checksum matches; False: there is one and it does not (or it is cut);
    None: the file carries no pinnkit checksum at all."""
    tail = data[-_TAIL:]
    if data[-_TAIL - 22:-_TAIL - 18] == _EOCD and tail.startswith(MARKER) \
            and data[-_TAIL - 2:-_TAIL] == _TAIL.to_bytes(2, "little"):
        digest = hashlib.sha256(data[:-_TAIL - 2]).hexdigest().encode()
        return tail[len(MARKER):] == digest
    return False if MARKER in data[-2 * _TAIL - 24:] else None


def load(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint whose checksum matches (``weights_only``: loading never runs
    pickled code). A damaged or foreign file is a PinnkitError naming it; one written by
    pinnkit before checkpoints were checksummed loads with a warning."""
    path = Path(path)
    if not path.is_file():
        raise PinnkitError(f"no checkpoint at {path}. Fix: give a run folder that holds "
                           "checkpoints/last.pt (written by pinnkit train)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PinnkitError(f"cannot read the checkpoint {path}: {exc.strerror or exc}. "
                           f"{FIX}") from None
    verified = _verified(data)
    if verified is False:
        raise PinnkitError(f"the checkpoint {path} is damaged: its bytes do not match the "
                           "checksum pinnkit wrote into it (changed or cut short since). "
                           f"{FIX}")
    obj = _torch_load(data, path, device, verified is True)
    if verified:
        if not isinstance(obj, dict):
            raise PinnkitError(f"the checkpoint {path} holds {_kind(obj)}, not a pinnkit "
                               f"checkpoint. {FIX}")
        return obj
    return _unsigned(obj, path)


def _torch_load(data: bytes, path: Path, device: str | torch.device, verified: bool) -> Any:
    if not verified and not data.startswith((b"PK\x03\x04", b"\x80")):  # zip or pickle
        raise PinnkitError(f"{path} is not a pinnkit checkpoint: {_what_bytes(data)}. {FIX}")
    try:
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except Exception:  # noqa: BLE001 - torch's reader raises anything on foreign bytes
        # (its own message would advise weights_only=False: never the fix here)
        what = "although its checksum matches" if verified else \
            "it carries no pinnkit checksum and is damaged or not a PyTorch file"
        raise PinnkitError(f"cannot read the checkpoint {path}: {what}. {FIX}") from None


def _unsigned(obj: Any, path: Path) -> dict[str, Any]:
    """A file without a checksum: a pinnkit checkpoint of format 1 (older pinnkit), or a
    foreign one."""
    ours = isinstance(obj, dict) and isinstance(obj.get("state"), dict) \
        and isinstance(obj.get("config"), dict) and "format" in obj
    if ours and obj["format"] == 1:
        warnings.warn(f"{path} has no checksum (written by pinnkit {obj.get('version', '?')},"
                      " before checkpoints were checksummed): loaded without verifying it",
                      stacklevel=3)
        return obj
    if ours:
        raise PinnkitError(f"the checkpoint {path} is damaged: its checksum is missing. {FIX}")
    raise PinnkitError(f"{path} holds {_kind(obj)}, not a checkpoint written by pinnkit train "
                       f"(those hold the config, the network and the training state). {FIX}")


def _kind(obj: Any) -> str:
    if isinstance(obj, dict):
        if obj and all(torch.is_tensor(v) for v in obj.values()):
            return "a plain state_dict (names -> tensors)"
        keys = ", ".join(repr(k) for k in list(obj)[:4])
        return f"a dict with keys {keys}" if obj else "an empty dict"
    if torch.is_tensor(obj):
        return f"a tensor of shape {tuple(obj.shape)}"
    return f"a {type(obj).__name__}"


def _what_bytes(data: bytes) -> str:
    if not data:
        return "the file is empty"
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "its bytes are neither a zip archive nor a pickle"
    first = text.strip().splitlines()[0][:40] if text.strip() else ""
    return f"it is text ({first!r}...)" if first else "it is blank text"


def save_checkpoint(path: Path, config: dict[str, Any], state: dict[str, Any],
                    version: str, root: Path | None = None) -> None:
    """One checkpoint: the resolved config, the full training state, pinnkit's version."""
    save_atomic({"format": FORMAT, "version": version, "step": state["step"], "config": config,
                 "state": state}, path, root)


def clean_temporaries(folder: Path) -> None:
    """Remove temp files a killed writer left behind (``.last.pt.XXXX.tmp``); links and
    folders of such names are left alone."""
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no such folder yet
        return
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".tmp") \
                and entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)
