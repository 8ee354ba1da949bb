"""``domain:`` in YAML: every form, and errors that name the key, its line and the fix."""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest

from pinnkit.config import config_from_data, read_yaml
from pinnkit.errors import ConfigError
from pinnkit.geometry import Box, Difference, Disk, Intersection, Polygon, SpaceTime, Union
from pinnkit.problem import compile_problem, problem_from_config
from pinnkit.training.setup import build_setup
from pinnkit.training.trainer import fit

HEAD = """\
name: geo
inputs: {inputs}
outputs: [u]
"""
TAIL = """\
equations:
  pde: u_xx + u_yy
conditions:
  {name}: {{on: "{on}", residual: u}}
"""


def compile_text(domain: str, inputs: str = "[x, y]", on: str = "boundary",
                 name: str = "wall"):
    text = HEAD.format(inputs=inputs) + textwrap.dedent(domain) + TAIL.format(on=on, name=name)
    data, lines = read_yaml(text, "geo.yaml")
    cfg = config_from_data(data, lines, "geo.yaml")
    return compile_problem(problem_from_config(cfg), cfg)


def error(domain: str, **kw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        compile_text(domain, **kw)
    return info.value


PLATE = """\
domain:
  difference:
    - box: {x: [-1, 1], y: [-1, 1]}
    - disk: {center: [0, 0], radius: 0.3, name: hole}
"""


def test_the_plain_box_form_keeps_working():
    p = compile_text("domain: {x: [0, 1], y: [0, 2]}\n", on="x == 0 or y == 2")
    assert isinstance(p.shape, Box)
    np.testing.assert_array_equal(p.shape.bounds()[1], [1, 2])


@pytest.mark.parametrize("on", ["boundary", "hole", "x == -1", "x == 1 and y > 0",
                                "boundary and not hole", "nx > 0.5"])
def test_plate_with_a_hole_and_its_selectors(on):
    p = compile_text(PLATE, on=on)
    assert isinstance(p.shape, Difference)
    assert p.shape.part_names() == ("boundary", "hole")
    assert p.terms[1].selector.text == on


def test_shapes_and_combinations_build_the_right_classes():
    cases = {
        "domain: {disk: {center: [0, 1], radius: 2}}\n": Disk,
        "domain: {polygon: {vertices: [[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]]}}\n":
            Polygon,
        "domain: {union: [{disk: {center: [0, 0], radius: 1}}, "
        "{box: {x: [0, 2], y: [-1, 1]}}]}\n": Union,
        "domain: {intersection: [{disk: {center: [0, 0], radius: 1}}, "
        "{box: {y: [0, 2], x: [-1, 1]}}]}\n": Intersection,
    }
    for domain, cls in cases.items():
        assert isinstance(compile_text(domain).shape, cls), domain
    ball = compile_text("domain: {ball: {center: [0, 0, 0], radius: 1}}\n", "[x, y, z]")
    assert ball.shape.names == ("x", "y", "z")


def test_time_inside_domain_makes_a_space_time_product_in_input_order():
    p = compile_text(PLATE + "  time: {t: [0, 2]}\n", inputs="[t, x, y]", on="initial")
    assert p.shape.names == ("t", "x", "y")
    lo, hi = p.shape.bounds()
    np.testing.assert_array_equal(lo, [0, -1, -1])
    q = compile_text(PLATE + "  time: {t: [0, 2]}\n", inputs="[x, y, t]", on="t == 0")
    assert isinstance(q.shape, SpaceTime)
    assert q.shape.part_names() == ("boundary", "final", "hole", "initial")


def test_disk_coordinates_follow_the_inputs_order():
    p = compile_text("domain: {disk: {center: [1, 2], radius: 0.5}}\n", inputs="[y, x]")
    assert p.shape.names == ("y", "x")
    np.testing.assert_array_equal(p.shape.center, [1, 2])  # y = 1, x = 2


@pytest.mark.parametrize("domain, key, line, text", [
    ("domain: {dsk: {center: [0, 0], radius: 1}}\n", "domain.dsk", 4,
     r"unknown shape 'dsk' \(did you mean 'disk'\?\); expected one of 'ball', 'box'"),
    ("domain:\n  disk: {center: [0, 0]}\n", "domain.disk", 5,
     r"'radius' is missing.*Fix: write \{center: \[0, 0\], radius: 1\}"),
    ("domain:\n  disk: {center: [0, 0], radius: -2}\n", "domain.disk.radius", 5,
     r"found -2.0; expected a positive number. Fix: write e.g. radius: 1"),
    ("domain:\n  disk:\n    center: [0, 0, 0]\n    radius: 1\n", "domain.disk.center", 6,
     r"\(3 numbers\); expected one number per space coordinate \(x, y: the inputs, in "
     r"order, without time\). Fix: write center: \[0, 0\]"),
    ("domain:\n  disk: {center: [0, 0], radious: 1}\n", "domain.disk.radious", 5,
     r"unknown key 'radious' \(did you mean 'radius'\?\)"),
    ("domain:\n  disk: {center: [0, 0], radius: 1, name: x}\n", "domain.disk.name", 5,
     r"'x' is an input.*Fix: choose another name, e.g. hole"),
    ("domain:\n  polygon: {vertices: [[0, 0], [1, 1], [1, 0], [0, 1]]}\n",
     "domain.polygon.vertices", 5, r"edge 0 -> 1 crosses edge 2 -> 3; expected a simple"),
    ("domain:\n  union:\n    - disk: {center: [0, 0], radius: 1}\n", "domain.union", 5,
     r"expected a list of two or more shapes"),
    ("domain:\n  union:\n    - disk: {center: [0, 0], radius: 1}\n    - [1, 2]\n",
     "domain.union.1", 7, r"found \[1, 2\]; expected one shape"),
    ("domain:\n  difference:\n    - box: {x: [-1, 1]}\n    - disk: {center: [0, 0], "
     "radius: 1}\n", "domain.difference.0.box", 6,
     r"no bounds for space coordinate 'y'.*Fix: add y: \[low, high\]"),
    ("domain:\n  disk: {center: [0, 0], radius: 1}\n  box: {x: [0, 1], y: [0, 1]}\n",
     "domain.box", 6, r"a second shape 'box' next to 'disk'.*Fix: write domain: \{union:"),
])
def test_domain_errors_name_key_line_and_fix(domain, key, line, text):
    exc = error(domain)
    assert (exc.key, exc.line) == (key, line)
    assert exc.source == "geo.yaml" or exc.source is None
    assert re.search(text, str(exc)), str(exc)


def test_time_errors():
    exc = error("domain:\n  disk: {center: [0, 0], radius: 1}\n  time: {s: [0, 1]}\n",
                inputs="[x, y, t]")
    assert (exc.key, exc.line) == ("domain.time.s", 6)
    assert "'s' is not an input; expected one of: x, y, t" in str(exc)
    exc = error("domain:\n  box: {x: [0, 1], y: [0, 1], t: [0, 1]}\n  time: {t: [0, 1]}\n",
                inputs="[x, y, t]")
    assert (exc.key, exc.line) == ("domain.box.t", 5)
    assert "'t' is not a space coordinate" in str(exc) and "time: {t: [t0, t1]}" in str(exc)
    exc = error("domain:\n  disk: {center: [0, 0], radius: 1}\n  time: {t: [1, 0]}\n",
                inputs="[x, y, t]")
    assert exc.key == "domain.time.t" and "start < end" in str(exc)
    exc = error("domain:\n  x: [0, 1]\n  time: {t: [0, 1]}\n", inputs="[x, t]")
    assert exc.key == "domain.x" and "put the bounds inside a box" in str(exc)


def test_a_selector_matching_nothing_names_the_key_line_and_parts():
    exc = error(PLATE, on="x == 5")
    assert (exc.key, exc.line) == ("conditions.wall.on", 11)
    assert "'x == 5' matches no point of the boundary" in str(exc)
    assert "its parts are: boundary, hole" in str(exc)


def test_a_condition_on_a_missing_part_names_the_key_line_and_parts():
    exc = error(PLATE, on="hol")
    assert (exc.key, exc.line) == ("conditions.wall.on", 11)
    assert "unknown name 'hol' (did you mean 'hole'?)" in str(exc)
    assert "the boundary parts are boundary, hole" in str(exc)
    exc = error(PLATE + "  time: {t: [0, 1]}\n", inputs="[x, y, t]", on="start")
    assert "the boundary parts are boundary, final, hole, initial" in str(exc)


def test_a_space_time_config_trains_a_few_steps():
    text = """\
inputs: [x, y, t]
outputs: [u]
domain:
  disk: {center: [0, 0], radius: 1}
  time: {t: [0, 0.5]}
equations:
  heat: u_t - 0.1*(u_xx + u_yy)
conditions:
  initial: {on: initial, residual: u - (1 - x**2 - y**2)}
  wall: {on: boundary, residual: u_n + u}
model: {width: 8, depth: 1, dtype: float64}
training: {points: {domain: 64, boundary: 32}, stages: [{optimizer: adam, steps: 3}]}
"""
    data, lines = read_yaml(text)
    cfg = config_from_data(data, lines, "<st>")
    run = fit(build_setup(compile_problem(problem_from_config(cfg), cfg), cfg), None,
              progress=False)
    assert run.metrics["steps"] == 3
    assert set(run.metrics["loss"]) == {"heat", "initial", "wall"}
    assert all(np.isfinite(v) for v in run.metrics["loss"].values())
