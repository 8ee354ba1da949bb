"""TensorBoard event files; a no-op sink when disabled."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


class TensorBoard:
    def __init__(self, run_dir: Path | None, purge_step: int | None = None) -> None:
        self.writer = None
        if run_dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

            self.writer = SummaryWriter(str(run_dir), purge_step=purge_step)

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        if self.writer is not None:
            for tag, v in values.items():
                self.writer.add_scalar(tag, v, step)

    def text(self, tag: str, body: str) -> None:
        if self.writer is not None:
            self.writer.add_text(tag, body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
