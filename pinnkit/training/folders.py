"""Which folder a run writes, claimed before training; and which Python a run may import.

A run folder is recognisably pinnkit's by its marker, ``.pinnkit-run`` (JSON), created with
O_EXCL when the run claims the folder: two runs started together cannot both claim one
folder, since only one of them creates the marker; the other takes NAME-2. (Folders
written before markers existed are recognised by config.yaml beside checkpoints/ or
event files.) Nothing else is ever written into, cleared or resumed as a run.

The marker also records, at training time, the Python file that ``problem:`` names (its
real path and SHA-256) and the run folder's real path. ``eval``, ``plot``, ``load`` and
``--resume`` import that file only when the record vouches for it (same folder, same
file, same bytes), or when the user says ``--trust`` / ``trust=True``: a run folder from
somewhere else cannot run its code by being evaluated.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import yaml

from .._version import __version__
from ..config import Config
from ..errors import PinnkitError
from ..problem import find_problem_file
from .files import RunFileError, folder_for, os_error, write_atomic

MARKER = ".pinnkit-run"
#: what a run writes; ``--overwrite`` removes these (and only these) first
RUN_FILES = ("config.yaml", "metrics.json", "history.csv")
RUN_GLOBS = ("events.out.tfevents.*", ".*.tmp")
SUBFOLDERS = {"checkpoints": ("last.pt", "best.pt", ".*.tmp"), "plots": ("*.png", ".*.tmp")}


def is_run_folder(path: Path) -> bool:
    """A folder pinnkit wrote: its marker, or (older runs) config.yaml with checkpoints/
    or TensorBoard event files beside it."""
    if not path.is_dir():
        return False
    if (path / MARKER).is_file():
        return True
    return ((path / "checkpoints").is_dir() or any(path.glob("events.out.tfevents.*"))) \
        and _pinnkit_config(path / "config.yaml")


def _pinnkit_config(path: Path) -> bool:
    """Whether ``path`` is a config.yaml that pinnkit wrote (every section, resolved), not
    another tool's file of that name."""
    try:
        if path.stat().st_size > 1_000_000:
            return False
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and {"name", "model", "training", "logging"} <= set(data)


def claim(base: Path, overwrite: bool = False) -> Path:
    """Claim ``base`` for a new run, or the next free ``base-2``, ``base-3``...; return it.

    ``overwrite``: ``base`` itself, its earlier run's files removed first. An existing
    folder that is not a run folder (and not empty) is refused, never written into."""
    if base.exists() or base.is_symlink():
        _refuse_foreign(base)
        if overwrite and is_run_folder(base):
            clear(base)
            _mark(base, exclusive=False)
            return base
    if _try_claim(base):
        return base
    n = max([_suffix(p, base.name) for p in _siblings(base)] + [1]) + 1
    while not _try_claim(base.parent / f"{base.name}-{n}"):
        n += 1
    return base.parent / f"{base.name}-{n}"


def latest(base: Path) -> Path:
    """The folder of the latest run of ``base`` that wrote checkpoints: what ``--resume``
    continues (``base`` itself when there is none: resuming then says so)."""
    runs = [p for p in [base, *_siblings(base)] if (p / "checkpoints").is_dir()]
    return max(runs, key=lambda p: _suffix(p, base.name), default=base)


def _siblings(base: Path) -> list[Path]:
    pattern = re.compile(re.escape(base.name) + r"-(\d+)")
    try:
        return [p for p in base.parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:  # no parent folder yet
        return []


def _suffix(path: Path, name: str) -> int:
    return 1 if path.name == name else int(path.name[len(name) + 1:])


def _try_claim(path: Path) -> bool:
    """Create ``path`` (or take it empty) and its marker; False when it is taken."""
    folder_for(path.parent)
    try:
        os.mkdir(path)
    except FileExistsError:
        if path.is_symlink() or not path.is_dir() or is_run_folder(path) or _entries(path):
            return False
    except OSError as exc:
        raise os_error(exc, path, "create the run folder") from None
    return _mark(path, exclusive=True)


def _entries(path: Path) -> list[str]:
    try:
        return sorted(p.name for p in path.iterdir())
    except OSError as exc:
        raise os_error(exc, path, "read the folder") from None


def _refuse_foreign(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        kind = "a symbolic link" if path.is_symlink() else "a file"
        raise RunFileError(f"{path} is {kind}, not a run folder; pinnkit does not write "
                           "there. Fix: give a new folder with --out DIR (or logging.dir), "
                           "or remove it")
    entries = _entries(path)
    if entries and not is_run_folder(path):
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise RunFileError(f"{path} exists and is not a pinnkit run folder (it holds "
                           f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}: "
                           f"{shown}); pinnkit does not write into it. Fix: give a new or "
                           "empty folder with --out DIR (or logging.dir), or leave them out "
                           "to write runs/NAME")


def _mark(path: Path, exclusive: bool) -> bool:
    """Write the marker; with ``exclusive``, only where none is (False: taken)."""
    record = json.dumps(_record(path), indent=2) + "\n"
    if not exclusive:
        write_atomic(path / MARKER, record, path)
        return True
    try:
        fd = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    except OSError as exc:
        raise os_error(exc, path / MARKER, "claim the run folder") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(record)
    except OSError as exc:
        raise os_error(exc, path / MARKER, "claim the run folder") from None
    return True


def _record(path: Path, problem: dict[str, str] | None = None) -> dict[str, Any]:
    return {"pinnkit": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "folder": os.path.realpath(path), "problem": problem}


def clear(path: Path) -> None:
    """Remove what an earlier run left in ``path`` (its files, by name: nothing else)."""
    try:
        for name in RUN_FILES:
            _remove(path / name)
        for pattern in RUN_GLOBS:
            for p in path.glob(pattern):
                _remove(p)
        for sub, patterns in SUBFOLDERS.items():
            folder = path / sub
            if folder.is_symlink():  # the link goes, never what it points at
                folder.unlink()
                continue
            if not folder.is_dir():
                continue
            for pattern in patterns:
                for p in folder.glob(pattern):
                    _remove(p)
            if not any(folder.iterdir()):
                folder.rmdir()
    except OSError as exc:
        raise os_error(exc, exc.filename or path, "clear the earlier run in") from None


def _remove(p: Path) -> None:
    if p.is_symlink() or p.is_file():
        p.unlink()


# --- which Python a run folder may import ---------------------------------------------

def problem_file(spec: str | None, base: Path) -> Path | None:
    """The file ``problem: FILE.py:Class`` names, found by the loader's own search (beside
    the config, then in the working folder); None when there is none."""
    if not isinstance(spec, str) or ":" not in spec:
        return None
    return find_problem_file(spec.rsplit(":", 1)[0], base)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_problem(run_dir: Path, saved: Config) -> None:
    """Mark ``run_dir`` as this run's, vouching for the problem file it was trained with."""
    path = problem_file(saved.problem, run_dir)
    problem = None if path is None else {"file": os.path.realpath(path),
                                         "sha256": _sha256(path)}
    write_atomic(run_dir / MARKER, json.dumps(_record(run_dir, problem), indent=2) + "\n",
                 run_dir)


def check_trust(run_dir: Path, spec: Any, trust: bool = False) -> None:
    """Raise unless the Python file ``spec`` names may be imported for ``run_dir``."""
    path = problem_file(spec, run_dir)
    if trust or path is None:  # a missing file is reported by the loader, importing nothing
        return
    why = _distrust(run_dir, path)
    if why:
        raise PinnkitError(
            f"{run_dir / 'config.yaml'} names the Python file "
            f"{os.path.normpath(os.path.abspath(path))} (problem: {spec}), "
            f"which pinnkit would import and run; {why}. Fix: read that file, then pass "
            "--trust (Python: trust=True) to run it")


def _distrust(run_dir: Path, path: Path) -> str:
    """Why the marker does not vouch for ``path``; '' when it does."""
    try:
        record = json.loads((run_dir / MARKER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "the run folder holds no record that it was trained with that file here"
    except (OSError, ValueError):
        return f"its record ({MARKER}) cannot be read"
    problem = record.get("problem") if isinstance(record, dict) else None
    if not isinstance(problem, dict):
        return "the run folder holds no record that it was trained with that file"
    if record.get("folder") != os.path.realpath(run_dir):
        return f"the run was trained in {record.get('folder')}, not here"
    if problem.get("file") != os.path.realpath(path):
        return f"the run was trained with {problem.get('file')}, not this file"
    try:
        same = problem.get("sha256") == _sha256(path)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    return "" if same else "the file changed since the run was trained (its SHA-256 differs)"


__all__ = ["MARKER", "check_trust", "claim", "clear", "is_run_folder", "latest",
           "problem_file", "record_problem"]
