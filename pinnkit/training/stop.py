"""Stopping a run cleanly, so that it can be resumed exactly.

A stop takes effect between optimizer steps (for L-BFGS: between chunks of iterations),
never inside one: the checkpoint written then is the state an uninterrupted run passes
through, so resuming from it retraces that run. Ctrl-C or SIGTERM asks for such a stop; a second
Ctrl-C aborts at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any


class StopRequest:
    """``stop(step)`` is true once ``step >= stop_at`` or after a first Ctrl-C."""

    def __init__(self, stop_at: int | None = None,
                 on_interrupt: Callable[[], None] | None = None) -> None:
        self.stop_at, self.on_interrupt = stop_at, on_interrupt
        self.interrupted = False
        self._previous: Any = None
        self._installed = False

    def __call__(self, step: int) -> bool:
        return self.interrupted or (self.stop_at is not None and step >= self.stop_at)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True
        if self.on_interrupt is not None:
            self.on_interrupt()

    def __enter__(self) -> StopRequest:
        # signal handlers can only be set from the main thread; elsewhere Ctrl-C aborts
        if threading.current_thread() is threading.main_thread():
            # SIGTERM (a scheduler's kill, a closed terminal) stops as cleanly as Ctrl-C
            self._previous = {sig: signal.signal(sig, self._handle)
                              for sig in (signal.SIGINT, signal.SIGTERM)}
            self._installed = True
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._installed:
            for sig, previous in self._previous.items():
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
            self._installed = False
