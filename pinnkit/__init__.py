"""pinnkit: physics-informed neural networks from PDEs written as text."""

__version__ = "0.1.0"

from .api import check, train  # noqa: E402
from .engines import derivatives  # noqa: E402
from .errors import ConfigError, ExprError, PinnkitError  # noqa: E402
from .evaluate import TrainedModel, load  # noqa: E402
from .geometry import (  # noqa: E402
    Ball,
    Box,
    Difference,
    Disk,
    Intersection,
    Polygon,
    SpaceTime,
    Union,
)
from .models.mlp import MLP  # noqa: E402
from .problem import Problem  # noqa: E402
from .training.trainer import Run  # noqa: E402

__all__ = ["MLP", "Ball", "Box", "ConfigError", "Difference", "Disk", "ExprError",
           "Intersection", "PinnkitError", "Polygon", "Problem", "Run", "SpaceTime",
           "TrainedModel", "Union", "__version__", "check", "derivatives", "load", "train"]
