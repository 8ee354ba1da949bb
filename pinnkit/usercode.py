"""Errors raised inside the user's own code, reported as theirs.

A Problem's residual method, ``exact()`` or parameter code that raises is the user's
mistake, not pinnkit's: the CLI shows one line with the user's file, line, function and
the exception's message (exit 2), instead of a traceback through pinnkit and torch.
``user_code_error`` finds that frame in a traceback; the places that call user code
(compiling a Problem, the checks, the training loop, ``pinnkit eval``) pass what they
catch through it, so the hot path carries no ``try`` of its own.
"""

from __future__ import annotations

import inspect
import os
import sysconfig
import traceback
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from .errors import PinnkitError

_PACKAGE = os.path.dirname(os.path.realpath(__file__)) + os.sep
_LIBRARIES = tuple(sorted({os.path.realpath(p) + os.sep for k, p in sysconfig.get_paths().items()
                           if k in ("stdlib", "platstdlib", "purelib", "platlib")}))


class UserCodeError(PinnkitError):
    """The user's code (a Problem's method) raised; exit 2, their file and line."""


def user_files(*objects: Any) -> frozenset[str]:
    """The source files of the user's classes behind ``objects`` (a Problem, a module):
    where a frame must lie for an error to be reported as the user's."""
    files = set()
    for obj in objects:
        for cls in type(obj).__mro__:
            try:
                file = inspect.getsourcefile(cls)
            except (TypeError, OSError):  # builtins, classes made at run time
                continue
            if file and _is_user(file):
                files.add(os.path.realpath(file))
    return frozenset(files)


def _is_user(filename: str, files: Collection[str] | None = None) -> bool:
    if not filename or filename.startswith("<"):  # <frozen ...>, generated code
        return False
    path = os.path.realpath(filename)
    if files is not None:
        return path in files
    if path.startswith(_PACKAGE) or path.startswith(_LIBRARIES):
        return False
    return "site-packages" not in path and "dist-packages" not in path


def _user_frame(exc: BaseException, files: Collection[str] | None
                ) -> traceback.FrameSummary | None:
    """The innermost frame of user code that pinnkit called, or None."""
    frames = traceback.extract_tb(exc.__traceback__)
    first = next((i for i, f in enumerate(frames)
                  if os.path.realpath(f.filename).startswith(_PACKAGE)), None)
    if first is None:
        return None
    user = [f for f in frames[first:] if _is_user(f.filename, files)]
    return user[-1] if user else None


def user_code_error(exc: BaseException, what: str = "",
                    files: Collection[str] | None = None) -> UserCodeError | None:
    """``exc`` (or an exception it was raised from, as torch.compile wraps them) as the
    user's error, when it was raised in the user's code (in ``files`` when given, else in
    any file outside pinnkit and the installed libraries); None when it is pinnkit's own
    or already a user-facing error."""
    if isinstance(exc, PinnkitError) or not isinstance(exc, Exception):
        return None
    seen: set[int] = set()
    chain: BaseException | None = exc
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        frame = _user_frame(chain, files)
        if frame is not None:
            return UserCodeError(describe(chain, frame, what))
        chain = chain.__cause__ or chain.__context__
    return None


def describe(exc: BaseException, frame: traceback.FrameSummary, what: str = "") -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    source = f" (`{frame.line.strip()}`)" if frame.line else ""
    path = shown_path(frame.filename)
    return (f"{path}, line {frame.lineno}, in {frame.name}{source}: "
            f"{what + ' ' if what else ''}raised {type(exc).__name__}"
            f"{': ' + text if text else ''}. Fix: correct {frame.name} in {path}")


def shown_path(filename: str) -> str:
    """A path relative to the working folder when it lies inside it."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if rel.startswith("..") else rel


@contextmanager
def calling_user(what: str = "", files: Collection[str] | None = None) -> Iterator[None]:
    """Turn an exception raised in the user's code inside the block into UserCodeError."""
    try:
        yield
    except Exception as exc:
        error = user_code_error(exc, what, files)
        if error is None:
            raise
        raise error from exc
