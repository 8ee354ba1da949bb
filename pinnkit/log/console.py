"""Console progress: a tqdm bar on a terminal, one plain line every N steps otherwise."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from tqdm import tqdm


class Progress:
    def __init__(self, enabled: bool = True, every: int = 100) -> None:
        self.enabled, self.every = enabled, every
        self.tty = enabled and sys.stdout.isatty()
        self.bar: tqdm | None = None
        self.label = ""

    def stage(self, label: str, total: int, start: int = 0) -> None:
        self.close()
        self.label = label
        if self.tty:
            self.bar = tqdm(total=total, initial=start, desc=label, dynamic_ncols=True,
                            leave=True)

    def update(self, step: int, taken: int, loss: float, extra: Mapping[str, float]) -> None:
        """``taken`` steps have just been done, reaching global step ``step``."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(taken)
            self.bar.set_postfix(loss=f"{loss:.3e}", **{k: f"{v:.2e}" for k, v in extra.items()},
                                 refresh=False)
        elif step // self.every > (step - taken) // self.every:
            tail = "  ".join(f"{k} {v:.3e}" for k, v in extra.items())
            print(f"[{self.label}] step {step:6d}  loss {loss:.4e}  {tail}", flush=True)

    def message(self, text: str) -> None:
        if self.enabled:
            (self.bar.write if self.bar is not None else print)(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
