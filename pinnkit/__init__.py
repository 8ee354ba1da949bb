"""pinnkit: physics-informed neural networks from PDEs written as text.

The names below are loaded on first use (PEP 562), so ``pinnkit --help`` and a config
error answer without importing torch, and ``import pinnkit`` costs only what is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import CheckError, CheckWarning, ConfigError, ExprError, PinnkitError, TrainingError

# public name -> module that defines it
_LAZY = {
    "check": ".api", "check_report": ".api", "sweep": ".api", "Sweep": ".api", "train": ".api",
    "Report": ".checks",
    "derivatives": ".engines",
    "TrainedModel": ".evaluate", "load": ".evaluate",
    "Ball": ".geometry", "Box": ".geometry", "Difference": ".geometry", "Disk": ".geometry",
    "Ellipse": ".geometry", "Ellipsoid": ".geometry", "Intersection": ".geometry",
    "Mesh": ".geometry", "Polygon": ".geometry", "Polyhedron": ".geometry", "Shape": ".geometry",
    "SpaceTime": ".geometry",
    "Union": ".geometry",
    "MLP": ".models.mlp",
    "Problem": ".problem",
    "Run": ".evaluate",
}

__all__ = ["MLP", "Ball", "Box", "CheckError", "CheckWarning", "ConfigError", "Difference",
           "Disk", "Ellipse", "Ellipsoid", "ExprError", "Intersection", "Mesh", "PinnkitError",
           "Polygon", "Polyhedron", "Problem", "Report",
           "Run", "Shape", "SpaceTime", "Sweep", "TrainedModel", "TrainingError", "Union",
           "__version__", "check", "check_report", "derivatives", "load", "sweep", "train"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pinnkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from .api import Sweep, check, check_report, sweep, train
    from .checks import Report
    from .engines import derivatives
    from .evaluate import Run, TrainedModel, load
    from .geometry import (
        Ball,
        Box,
        Difference,
        Disk,
        Ellipse,
        Ellipsoid,
        Intersection,
        Mesh,
        Polygon,
        Polyhedron,
        SpaceTime,
        Union,
    )
    from .models.mlp import MLP
    from .problem import Problem
