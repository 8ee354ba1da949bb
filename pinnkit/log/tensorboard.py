"""TensorBoard event files; a no-op sink when disabled.

A resumed run writes into the same folder with ``purge_step``: TensorBoard then drops
whatever the interrupted session logged at or after that step, so curves do not fold
back on themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


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

    def image(self, tag: str, picture: np.ndarray, step: int) -> None:
        """``picture``: (H, W, 3) uint8."""
        if self.writer is not None:
            self.writer.add_image(tag, picture, step, dataformats="HWC")

    def text(self, tag: str, body: str, step: int = 0) -> None:
        if self.writer is not None:
            self.writer.add_text(tag, body, step)

    def hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float], step: int
                ) -> None:
        """The HParams table row of this run: its settings and final metrics.

        Written into this run's own event file (``SummaryWriter.add_hparams`` would open a
        second run in a subfolder), with the metrics as scalars under the same tags.
        """
        if self.writer is None:
            return
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        for summary in hparams_summary(dict(hparams), dict(metrics)):
            file_writer: Any = self.writer.file_writer  # torch's stub infers None from __init__
            file_writer.add_summary(summary)
        self.scalars(step, metrics)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
