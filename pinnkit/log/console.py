"""Console progress: a tqdm bar per stage on a terminal, one plain line every N steps otherwise.

The bar shows the loss and the relative L2 errors in its postfix and tqdm's ETA; the
plain lines (logs of batch jobs, CI) carry the same numbers and their own ETA.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping

from tqdm import tqdm


class Progress:
    def __init__(self, enabled: bool = True, every: int = 100) -> None:
        self.enabled, self.every = enabled, every
        self.tty = enabled and sys.stdout.isatty()
        self.bar: tqdm | None = None
        self.label = ""
        self.total = self.done = self.start = 0
        self.t0 = time.perf_counter()

    def stage(self, label: str, total: int, start: int = 0) -> None:
        """A stage of ``total`` steps begins, ``start`` of them already done (resume)."""
        self.close()
        self.label, self.total, self.done, self.start = label, total, start, start
        self.t0 = time.perf_counter()
        if self.tty:
            self.bar = tqdm(total=total, initial=start, desc=label, dynamic_ncols=True,
                            leave=True)

    def update(self, step: int, taken: int, loss: float, extra: Mapping[str, float]) -> None:
        """``taken`` steps have just been done, reaching global step ``step``."""
        if not self.enabled:
            return
        self.done += taken
        if self.bar is not None:
            self.bar.update(taken)
            self.bar.set_postfix(loss=f"{loss:.3e}", **{k: f"{v:.2e}" for k, v in extra.items()},
                                 refresh=False)
        elif step // self.every > (step - taken) // self.every:
            tail = "".join(f"  {k} {v:.3e}" for k, v in extra.items())
            print(f"[{self.label}] step {step:6d}  loss {loss:.4e}{tail}  eta {self.eta()}",
                  flush=True)

    def eta(self) -> str:
        """Time left in this stage at the pace of this session so far."""
        ran, elapsed = self.done - self.start, time.perf_counter() - self.t0
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
