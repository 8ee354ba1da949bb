"""Console progress: a tqdm bar per stage on a terminal, one plain line every N steps otherwise.

The bar shows the loss and the relative L2 errors in its postfix and tqdm's ETA; the
plain lines (logs of batch jobs, CI) carry the same numbers and their own ETA.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

from tqdm import tqdm


class Progress:
    def __init__(self, enabled: bool = True, every: int = 100) -> None:
        self.enabled, self.every = enabled, every
        self.tty = enabled and sys.stdout.isatty()
        self.bar: tqdm | None = None
        self.label = ""
        self.total = self.done = self.start = 0
        self.t0 = time.perf_counter()
        self.warm = False
        self.began, self.first = self.t0, 0
        self.extra: dict[str, float] = {}

    def stage(self, label: str, total: int, start: int = 0) -> None:
        """A stage of ``total`` steps begins, ``start`` of them already done (resume)."""
        self.close()
        self.label, self.total, self.done, self.start = label, total, start, start
        self.t0, self.warm = time.perf_counter(), False
        self.began, self.first = self.t0, start
        if self.tty:
            self.bar = tqdm(total=total, initial=start, desc=label, dynamic_ncols=True,
                            leave=True)

    def update(self, step: int, taken: int, loss: float,
               extra: Mapping[str, float] | None = None) -> None:
        """``taken`` steps have just been done, reaching global step ``step``. ``extra``
        (errors, learnable parameters) comes with a fresh record only; the bar keeps the
        last one with the step it was measured at, so it never passes for current.

        The ETA leaves out the stage's first call, which holds the compile time: its pace
        is measured from the second step on."""
        if not self.enabled:
            return
        self.done += taken
        if extra is not None:
            self.extra = {**extra, "at": step} if extra else {}
        if not self.warm:
            self.warm, self.t0, self.start = True, time.perf_counter(), self.done
            if self.bar is not None:
                self.bar.reset(self.total)
                self.bar.initial = self.bar.n = self.bar.last_print_n = self.done
        elif self.bar is not None:
            self.bar.update(taken)
        if self.bar is not None:
            shown: dict[str, Any] = {"loss": f"{loss:.3e}"}
            shown.update({("at step" if k == "at" else k): (int(v) if k == "at" else f"{v:.2e}")
                          for k, v in self.extra.items()})
            self.bar.set_postfix(shown, refresh=False)
        elif step // self.every > (step - taken) // self.every:
            tail = "".join(f"  {k} {v:.3e}" for k, v in self.extra.items() if k != "at")
            print(f"[{self.label}] step {step:6d}  loss {loss:.4e}{tail}  eta {self.eta()}",
                  flush=True)

    def eta(self) -> str:
        """Time left in this stage at the pace of this session so far."""
        ran, elapsed = self.done - self.start, time.perf_counter() - self.t0
        if ran <= 0:  # only the first call so far: its pace, compile time and all
            ran, elapsed = self.done - self.first, time.perf_counter() - self.began
        if ran <= 0 or elapsed <= 0:
            return "?"
        seconds = int(round((self.total - self.done) * elapsed / ran))
        h, rest = divmod(max(seconds, 0), 3600)
        return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"

    def message(self, text: str) -> None:
        if self.enabled:
            (self.bar.write if self.bar is not None else print)(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
