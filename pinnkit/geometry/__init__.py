"""Domains, boundary selectors and point sampling."""

from .sampling import SAMPLERS, get_sampler
from .selectors import Selector, parse_selector
from .shapes import BoundarySample, Box, Shape, shape_from_config

__all__ = ["SAMPLERS", "BoundarySample", "Box", "Selector", "Shape", "get_sampler",
           "parse_selector", "shape_from_config"]
