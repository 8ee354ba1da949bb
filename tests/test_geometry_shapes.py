"""Shapes: membership, boundary points, outward normals, uniform sampling (float64 numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pinnkit.errors import ConfigError, PinnkitError
from pinnkit.geometry import (
    Ball,
    Box,
    Difference,
    Disk,
    Intersection,
    Polygon,
    ShapeError,
    SpaceTime,
    Union,
    get_sampler,
    parse_selector,
)

SOBOL, UNIFORM = get_sampler("sobol"), get_sampler("uniform")
L_SHAPE = [(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)]


def plate_with_hole():
    return Box(x=(-1, 1), y=(-1, 1)) - Disk((0, 0), 0.3, name="hole")


SHAPES = {
    "box": lambda: Box(x=(-1, 2), y=(0, 1)),
    "disk": lambda: Disk((0.5, -0.2), 0.7),
    "ball3d": lambda: Ball((0, 0, 1), 2.0),
    "ball4d": lambda: Ball((0, 0, 0, 0), 1.0),
    "polygon_L": lambda: Polygon(L_SHAPE),
    "polygon_cw": lambda: Polygon(L_SHAPE[::-1]),
    "difference": plate_with_hole,
    "union": lambda: Union(Disk((0, 0), 1), Disk((1.2, 0), 0.8), Box(x=(-0.5, 0.5), y=(0, 1.6))),
    "intersection": lambda: Intersection(Disk((0, 0), 1), Box(x=(0, 2), y=(-2, 2))),
    "nested": lambda: (Polygon(L_SHAPE) | Box(x=(1.5, 3), y=(0, 0.5))) - Disk((0.5, 0.5), 0.2),
    "spacetime": lambda: SpaceTime(plate_with_hole(), t=(0, 2)),
}


def select(shape, text="boundary"):
    return parse_selector(text, shape.names, (), shape.part_names())


@pytest.mark.parametrize("kind", SHAPES)
@pytest.mark.parametrize("sampler", [SOBOL, UNIFORM])
def test_interior_points_lie_inside(kind, sampler):
    shape = SHAPES[kind]()
    pts = shape.sample_interior(2000, sampler, 3)
    assert pts.shape == (2000, len(shape.names))
    assert np.all(shape.sdf(pts) <= 1e-12)
    lo, hi = shape.bounds()
    assert np.all((pts >= lo - 1e-12) & (pts <= hi + 1e-12))


@pytest.mark.parametrize("kind", SHAPES)
def test_boundary_points_lie_on_boundary_with_outward_unit_normals(kind):
    shape = SHAPES[kind]()
    b = shape.sample_boundary(1500, SOBOL, 5, select(shape))
    assert b.points.shape == b.normals.shape == (1500, len(shape.names))
    assert np.all(np.abs(shape.sdf(b.points)) <= 1e-6)
    np.testing.assert_allclose(np.linalg.norm(b.normals, axis=1), 1.0, atol=1e-12)
    h = 1e-6
    assert not np.any(shape.contains(b.points + h * b.normals, tol=0.0)), "normal points in"
    assert np.all(shape.contains(b.points - h * b.normals, tol=0.0)), "normal points out"


@pytest.mark.parametrize("kind", ["disk", "polygon_L", "difference", "union", "intersection"])
def test_normals_from_the_signed_distance_agree_with_sampled_ones(kind):
    shape = SHAPES[kind]()
    b = shape.sample_boundary(400, SOBOL, 1, select(shape))
    lo, hi = shape.bounds()
    # away from corners (where the normal jumps) the two must agree
    smooth = np.ones(len(b.points), bool)
    if kind in ("polygon_L", "difference", "union", "intersection"):
        g = shape.normals(b.points + 1e-3 * b.normals)  # just outside: gradient is unique
        smooth = np.linalg.norm(g - shape.normals(b.points - 1e-3 * b.normals), axis=1) < 1e-3
    assert smooth.mean() > 0.9
    np.testing.assert_allclose(shape.normals(b.points)[smooth], b.normals[smooth], atol=1e-5)


def test_closed_forms_on_the_plate_with_a_hole():
    shape = plate_with_hole()
    hole = shape.sample_boundary(500, SOBOL, 0, select(shape, "hole"))
    r = np.linalg.norm(hole.points, axis=1)
    np.testing.assert_allclose(r, 0.3, atol=1e-12)
    np.testing.assert_allclose(hole.normals, -hole.points / 0.3, atol=1e-12)  # into the hole
    outer = shape.sample_boundary(500, SOBOL, 0, select(shape, "x == 1 and y > 0"))
    np.testing.assert_array_equal(outer.points[:, 0], 1.0)
    assert np.all(outer.points[:, 1] > 0)
    np.testing.assert_array_equal(outer.normals, np.tile([1.0, 0.0], (500, 1)))
    assert shape.part_names() == ("boundary", "hole")
    assert shape.measure() == pytest.approx(4 - math.pi * 0.09, rel=2e-3)


def test_boundary_is_uniform_by_length_across_pieces():
    shape = plate_with_hole()
    b = shape.sample_boundary(4000, UNIFORM, 2, select(shape))
    on_hole = np.abs(np.linalg.norm(b.points, axis=1) - 0.3) < 1e-9
    share = 0.6 * math.pi / (8 + 0.6 * math.pi)
    assert on_hole.mean() == pytest.approx(share, abs=0.005)  # counts are allocated
    angles = np.arctan2(b.points[on_hole, 1], b.points[on_hole, 0])
    assert stats.kstest((angles + math.pi) / (2 * math.pi), "uniform").pvalue > 1e-3


@pytest.mark.parametrize("sampler", [SOBOL, UNIFORM])
def test_disk_interior_is_uniform_by_area(sampler):
    disk = Disk((1.0, -2.0), 0.5)
    pts = disk.sample_interior(4000, sampler, 11) - (1.0, -2.0)
    r2 = np.sum(pts**2, axis=1) / 0.25  # area fraction inside radius r: uniform on [0, 1]
    theta = (np.arctan2(pts[:, 1], pts[:, 0]) + math.pi) / (2 * math.pi)
    assert stats.kstest(r2, "uniform").pvalue > 1e-3
    assert stats.kstest(theta, "uniform").pvalue > 1e-3
    # 4 rings x 8 sectors of equal area: equal expected counts
    cells = np.minimum((r2 * 4).astype(int), 3) * 8 + np.minimum((theta * 8).astype(int), 7)
    counts = np.bincount(cells, minlength=32)
    assert stats.chisquare(counts).pvalue > 1e-3
    # the test can fail: radius-uniform sampling (denser at the centre) is rejected
    assert stats.kstest(np.sqrt(r2), "uniform").pvalue < 1e-6


def test_ball_interior_and_sphere_are_uniform_in_3d():
    ball = Ball((0, 0, 0), 2.0)
    pts = ball.sample_interior(4000, UNIFORM, 4)
    assert stats.kstest(np.sum(pts**2, axis=1) ** 1.5 / 8, "uniform").pvalue > 1e-3
    b = ball.sample_boundary(4000, UNIFORM, 4, select(ball))
    np.testing.assert_allclose(b.normals, b.points / 2, atol=1e-12)
    assert stats.kstest((b.points[:, 2] + 2) / 4, "uniform").pvalue > 1e-3  # Archimedes


def test_polygon_interior_is_uniform_by_area():
    pts = Polygon(L_SHAPE).sample_interior(3000, UNIFORM, 8)
    cells = (pts[:, 0] > 1).astype(int) + 2 * (pts[:, 1] > 1).astype(int)  # 3 unit squares
    counts = np.bincount(cells, minlength=4)
    assert counts[3] == 0
    assert stats.chisquare(counts[:3]).pvalue > 1e-3


def test_one_dimensional_disk_has_two_end_points():
    seg = Disk((2.0,), 0.5, names=("x",))
    b = seg.sample_boundary(64, SOBOL, 0, select(seg))
    np.testing.assert_array_equal(np.sort(b.points[:, 0]), [1.5, 2.5])
    np.testing.assert_array_equal(b.normals[np.argsort(b.points[:, 0]), 0], [-1.0, 1.0])
    right = seg.sample_boundary(64, SOBOL, 0, select(seg, "x == 2.5"))
    assert right.points.tolist() == [[2.5]]


def test_box_faces_keep_their_behaviour():
    box = Box(x=(0, 1), t=(0, 1))
    b = box.sample_boundary(256, SOBOL, 0, select(box, "x == 0 or x == 1"))
    assert set(b.points[:, 0]) == {0.0, 1.0}
    np.testing.assert_array_equal(b.normals[:, 0], np.where(b.points[:, 0] == 1, 1.0, -1.0))
    assert (b.points[:, 0] == 0).sum() == 128


def test_selectors_may_read_the_normal():
    disk = Disk((0, 0), 1)
    b = disk.sample_boundary(300, SOBOL, 0, select(disk, "boundary and nx > 0.5"))
    assert np.all(b.normals[:, 0] > 0.5)
    frac = disk.selected_measure(select(disk, "nx > 0.5")) / (2 * math.pi)
    # 1024 uniform probe points: the estimate's standard deviation is 0.015
    assert frac == pytest.approx(1 / 3, abs=0.045)


def test_spacetime_parts_initial_and_lateral():
    st = SpaceTime(plate_with_hole(), t=(0, 2))
    assert st.part_names() == ("boundary", "final", "hole", "initial")
    init = st.sample_boundary(300, SOBOL, 0, select(st, "initial"))
    np.testing.assert_array_equal(init.points[:, 2], 0.0)
    np.testing.assert_array_equal(init.normals, np.tile([0.0, 0.0, -1.0], (300, 1)))
    assert np.all(plate_with_hole().sdf(init.points[:, :2]) <= 0)
    same = st.sample_boundary(300, SOBOL, 0, select(st, "t == 0"))
    np.testing.assert_array_equal(same.points, init.points)
    wall = st.sample_boundary(300, SOBOL, 0, select(st))
    assert np.all((wall.points[:, 2] > 0) & (wall.points[:, 2] < 2))
    np.testing.assert_array_equal(wall.normals[:, 2], 0.0)
    hole = st.sample_boundary(300, SOBOL, 0, select(st, "hole"))
    np.testing.assert_allclose(np.linalg.norm(hole.points[:, :2], axis=1), 0.3, atol=1e-12)


def test_reordered_shapes_put_coordinates_in_input_order():
    st = SpaceTime(Disk((0.5, 0), 1), t=(0, 1)).reordered(["t", "y", "x"])
    assert st.names == ("t", "y", "x")
    lo, hi = st.bounds()
    np.testing.assert_allclose(lo, [0, -1, -0.5])
    init = st.sample_boundary(200, SOBOL, 0, select(st, "t == 0"))
    np.testing.assert_array_equal(init.points[:, 0], 0.0)
    np.testing.assert_array_equal(init.normals[:, 0], -1.0)
    assert np.all(st.contains(st.sample_interior(500, SOBOL, 0)))
    disk = Disk((0.5, 0), 1).reordered(["y", "x"])
    np.testing.assert_allclose(disk.center, [0, 0.5])


def test_union_does_not_count_a_shared_face_twice_or_keep_an_inner_one():
    shape = Box(x=(0, 1), y=(0, 1)) | Box(x=(1, 2), y=(0, 1))
    b = shape.sample_boundary(3000, SOBOL, 0, select(shape))
    inner_face = (np.abs(b.points[:, 0] - 1) < 1e-9) & (b.points[:, 1] > 0) & (b.points[:, 1] < 1)
    assert not np.any(inner_face)
    bottom = np.mean(b.points[:, 1] == 0)
    assert bottom == pytest.approx(2 / 6, abs=0.01)  # perimeter 6, bottom edge 2


def test_selector_that_matches_nothing_is_an_error_naming_the_parts():
    shape = plate_with_hole()
    assert shape.selected_measure(select(shape, "x == 5")) == 0
    with pytest.raises(PinnkitError, match=r"matches no boundary point.*boundary, hole"):
        shape.sample_boundary(10, SOBOL, 0, select(shape, "x == 5"))


@pytest.mark.parametrize("vertices, message", [
    ([(0, 0), (1, 0)], "at least 3 points"),
    ([(0, 0), (1, 1), (2, 2)], "enclose no area"),
    ([(0, 0), (1, 1), (1, 0), (0, 1)], "crosses edge"),
])
def test_bad_polygons_are_errors(vertices, message):
    with pytest.raises(ShapeError, match=message):
        Polygon(vertices)


def test_bad_disks_and_combinations_are_errors():
    with pytest.raises(ShapeError, match=r"radius=...\): found -1.*positive number"):
        Disk((0, 0), -1)
    with pytest.raises(ShapeError, match="has coordinates x, y, z.*the same coordinates"):
        Difference(Disk((0, 0), 1), Ball((0, 0, 0), 1))
    with pytest.raises(ShapeError, match="do not overlap"):
        Intersection(Disk((0, 0), 1), Disk((5, 0), 1))
    with pytest.raises(ShapeError, match="'boundary' cannot name a boundary part"):
        Disk((0, 0), 1, name="boundary")


@pytest.mark.parametrize("build, message", [
    (lambda: Box(x=(1, 0)), "Box(x=...): bounds [1, 0] are empty or reversed; expected "
     "low < high. Fix: pass x=(0, 1)"),
    (lambda: Box(x=(0, 1), t=(2, 2)), "Box(t=...): bounds [2, 2] are empty or reversed; "
     "expected low < high. Fix: pass t=(2, 3)"),
    (lambda: Box(x=(0, math.inf)), "Box(x=...): bounds [0, inf] are not finite or too far "
     "apart; expected two finite numbers [low, high]. Fix: truncate an unbounded domain to a "
     "finite interval, e.g. x=(-10, 10)"),
    (lambda: Union(Box(x=(0, 1))), "Union(...): found 1 shape(s); expected two or more "
     "shapes. Fix: pass the shapes to combine, e.g. Union(a, b)"),
    (lambda: Disk((0, 0), -1), "Disk(radius=...): found -1; expected a positive number. "
     "Fix: pass e.g. radius=1"),
    (lambda: Polygon([(0, 0), (1, 0)]), "Polygon(vertices=...): found [(0, 0), (1, 0)]; "
     "expected at least 3 points [x, y] of finite numbers. Fix: pass e.g. "
     "vertices=[(0, 0), (1, 0), (0, 1)]"),
    (lambda: SpaceTime(Disk((0, 0), 1), t=(1, 0)), "SpaceTime(t=...): found [1, 0]; expected "
     "[start, end] with start < end. Fix: pass e.g. t=(0, 1)"),
])
def test_shapes_built_in_python_say_what_is_wrong_in_python(build, message):
    """No YAML key (domain.x) and no YAML fix (write [0, 1]) for a constructor called from
    Python; the config layer words the same mistakes for YAML (test_geometry_config)."""
    with pytest.raises(ShapeError) as info:
        build()
    assert str(info.value) == message
    assert not isinstance(info.value, ConfigError) and isinstance(info.value, PinnkitError)
