"""Domains, boundary selectors and point sampling."""

from .csg import Difference, Intersection, Union
from .disk import Ball, Disk
from .ellipse import Ellipse, Ellipsoid
from .from_config import require_selected, shape_from_config
from .mesh import Mesh, Polyhedron
from .normals import boundary_namespace, normal_env, normal_names
from .periodic import paired_faces
from .polygon import Polygon
from .product import SpaceTime
from .sampling import SAMPLERS, get_sampler
from .selectors import Selector, parse_selector
from .shapes import BoundarySample, Box, Piece, Shape, ShapeError

__all__ = ["SAMPLERS", "Ball", "BoundarySample", "Box", "Difference", "Disk", "Ellipse",
           "Ellipsoid", "Intersection", "Mesh", "Piece", "Polygon", "Polyhedron", "Selector",
           "Shape", "ShapeError", "SpaceTime", "Union", "boundary_namespace",
           "get_sampler", "normal_env", "normal_names", "paired_faces", "parse_selector",
           "require_selected", "shape_from_config"]
