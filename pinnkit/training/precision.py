"""Matmul precision on CUDA: IEEE float32 unless the config asks for TF32 (accuracy first).

Ampere and later GPUs can run float32 matrix products in TF32 (10-bit mantissa), about
1e-3 relative error per product: fast, but a PINN's residuals are differences of such
products and its targets are 1e-5 and below. So training keeps IEEE float32 unless
``model.precision: tf32``. torch holds the setting process-wide; ``matmul_precision``
sets it for the duration of a training and restores the caller's value afterwards. It
touches only ``torch.backends.cuda.matmul.fp32_precision`` (mixing it with the legacy
``allow_tf32`` flag is an error in torch), which the CPU never reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """CUDA float32 matmuls in ``precision`` ("ieee" or "tf32") inside the block."""
    flags = torch.backends.cuda.matmul
    old = flags.fp32_precision
    flags.fp32_precision = "tf32" if precision == "tf32" else "ieee"
    try:
        yield
    finally:
        flags.fp32_precision = old
