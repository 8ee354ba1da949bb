import numpy as np
import pytest

from pinnkit.errors import ConfigError, PinnkitError
from pinnkit.geometry import Box, get_sampler, parse_selector, shape_from_config
from pinnkit.geometry.sampling import sobol


def sample(box, text, n=64, sampler="sobol"):
    sel = parse_selector(text, box.names, (), box.part_names())
    return box.sample_boundary(n, get_sampler(sampler), 0, sel)


def test_interior_points_fill_the_box():
    box = Box(x=(-50, 50), t=(0, 2))
    pts = box.sample_interior(1024, get_sampler("sobol"), 3)
    assert pts.shape == (1024, 2) and box.contains(pts).all()
    assert pts[:, 0].min() < -45 and pts[:, 0].max() > 45  # low discrepancy: covers the range


@pytest.mark.parametrize("sampler", ["sobol", "uniform"])
def test_faces_selected_by_on_expressions(sampler):
    box = Box(x=(0, 1), t=(0, 2))
    walls = sample(box, "x == 0 or x == 1", sampler=sampler)
    assert set(np.unique(walls.points[:, 0])) == {0.0, 1.0}
    assert np.all(walls.normals[:, 0] == np.where(walls.points[:, 0] == 0, -1.0, 1.0))
    initial = sample(box, "t == 0", sampler=sampler)
    assert np.all(initial.points[:, 1] == 0) and np.ptp(initial.points[:, 0]) > 0.9
    assert np.all(initial.normals == [0.0, -1.0])


def test_boundary_spreads_by_face_length():
    box = Box(x=(0, 3), y=(0, 1))
    b = sample(box, "boundary", n=800)
    on_long = np.isclose(b.points[:, 1], 0) | np.isclose(b.points[:, 1], 1)
    assert len(b.points) == 800
    assert on_long.mean() == pytest.approx(0.75, abs=0.01)


def test_partial_face_by_inequality():
    box = Box(x=(0, 1), y=(0, 1))
    b = sample(box, "x == 1 and y > 0.5", n=50)
    assert len(b.points) == 50
    assert np.all(b.points[:, 0] == 1) and np.all(b.points[:, 1] > 0.5)


def test_interval_ends_are_single_points():
    b = sample(Box(x=(-1, 1)), "x == -1 or x == 1")
    assert b.points.tolist() == [[-1.0], [1.0]] and b.normals.tolist() == [[-1.0], [1.0]]


def test_selector_matching_nothing_is_an_error():
    with pytest.raises(PinnkitError, match="selector 'x == 2' matches no boundary point"):
        sample(Box(x=(0, 1), t=(0, 1)), "x == 2")


def test_sobol_prefix_is_deterministic_and_warning_free():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = sobol(100, 2, 5), sobol(100, 2, 5)
    assert np.array_equal(a, b) and a.shape == (100, 2)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"x": [1, 0], "t": [0, 1]}, "domain.x: bounds [1, 0] are empty or reversed"),
        ({"x": [0, 0], "t": [0, 1]}, "bounds [0, 0] are empty or reversed"),
        ({"x": [0, 1]}, "no bounds for input 't'"),
        ({"x": [0, 1], "t": [0, 1], "y": [0, 1]}, "'y' is not an input"),
        ({"x": [0], "t": [0, 1]}, "domain.x: found [0]; expected [low, high], two numbers"),
        ([0, 1], "expected a mapping from each input to [low, high]"),
    ],
)
def test_domain_errors(spec, message):
    with pytest.raises(ConfigError) as info:
        shape_from_config(spec, ("x", "t"))
    assert message in str(info.value)


def test_unknown_sampler_lists_choices():
    with pytest.raises(ConfigError, match="unknown sampler 'sobl' \\(did you mean 'sobol'\\?\\)"):
        get_sampler("sobl")
