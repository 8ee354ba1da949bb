"""Every file pinnkit writes into a run folder goes through ``write_atomic``.

Atomic: the bytes go to a temp file beside the target (created with O_EXCL, so never
through a link), are flushed to disk, and ``os.replace`` puts it in place: a reader sees
the old file or the new one, never half of one, and a full disk or a kill leaves the old
file as it was. ``os.replace`` replaces a symbolic link at the target itself instead of
writing where it points.

Symlink-safe: the folders between the run folder (``root``) and the file must be real
folders. A link planted inside a run folder (``plots -> /somewhere``) would carry every
later write out of it, so it is refused with one line naming it.

An ``OSError`` on the way (disk full, read-only, a file where a folder should be) becomes
``RunFileError``: one line with the path, what the OS said, and the fix; exit 2.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile
from pathlib import Path

from ..errors import PinnkitError


class RunFileError(PinnkitError):
    """A run folder or a file in it cannot be written (or read); exit 2, one line."""


def write_atomic(path: str | Path, data: bytes | str, root: str | Path | None = None,
                 durable: bool = True) -> Path:
    """Write ``data`` to ``path`` through a temp file and a rename; return ``path``.

    ``root``: the folder the file belongs to (the run folder); the folders from it down to
    ``path`` are created where missing and must not be symbolic links.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    folder_for(path.parent, root)
    try:
        fd, tmp = _temporary(path)
    except OSError as exc:
        raise os_error(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise os_error(exc, path) from None
        raise
    if durable:
        _sync_folder(path.parent)
    return path


def folder_for(folder: str | Path, root: str | Path | None = None) -> Path:
    """``folder``, created where missing, with no symbolic link between ``root`` and it."""
    folder = Path(folder)
    if root is not None:
        root = Path(root)
        try:
            parts = folder.relative_to(root).parts
        except ValueError:  # not below root: only the folder itself is checked
            parts = ()
        here = root
        for part in parts:
            here = here / part
            if here.is_symlink():
                raise RunFileError(
                    f"{here} is a symbolic link (to {os.readlink(here)}); pinnkit does not "
                    f"write through links inside a run folder. Fix: remove the link "
                    f"(rm {here}), or write elsewhere with --out DIR")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, folder, "create the folder") from None
    return folder


#: what to do about an OSError, by errno
_FIXES = {
    errno.ENOSPC: "free space on that disk, or write the run elsewhere with --out DIR",
    errno.EDQUOT: "free space within your disk quota, or write the run elsewhere with "
                  "--out DIR",
    errno.EACCES: "make the folder writable (chmod u+w), or write elsewhere with --out DIR",
    errno.EPERM: "make the folder writable, or write elsewhere with --out DIR",
    errno.EROFS: "the file system is read-only: write elsewhere with --out DIR",
    errno.ENOTDIR: "a part of that path is a file, not a folder: choose another folder "
                   "(--out DIR or logging.dir)",
    errno.EEXIST: "a file of that name is in the way: choose another folder (--out DIR or "
                  "logging.dir)",
    errno.EISDIR: "a folder of that name is in the way: remove it or write elsewhere with "
                  "--out DIR",
    errno.ENOENT: "the folder cannot be created there: choose a folder under one you can "
                  "write (--out DIR or logging.dir)",
}


def os_error(exc: OSError, path: str | Path, doing: str = "write") -> RunFileError:
    """``exc`` as one line: what pinnkit was doing, the path, what the OS said, the fix."""
    said = exc.strerror or str(exc) or type(exc).__name__
    code = errno.errorcode.get(exc.errno, "") if exc.errno else ""
    fix = "check the path, or write elsewhere with --out DIR"
    fix = _FIXES.get(exc.errno, fix) if exc.errno is not None else fix
    where = f" {path}" if str(path) else ""
    return RunFileError(f"cannot {doing}{where}: {said}{f' ({code})' if code else ''}. "
                        f"Fix: {fix}")


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
