"""Sinks that know nothing of training: console progress, TensorBoard."""

from .console import Progress
from .tensorboard import TensorBoard

__all__ = ["Progress", "TensorBoard"]
