"""Triangle meshes and convex polyhedra against closed forms (float64 numpy).

Arrays need nothing beyond numpy and scipy; the tests that read STL/OBJ files need the
optional trimesh (``pip install -e ".[mesh]"``) and are skipped, saying so, without it.
Meshes come from scripts/make_mesh.py (a cube of 12 triangles, icospheres, the cube with a
spherical cavity of configs/meshes/cavity.stl).
"""

from __future__ import annotations

import importlib.util
import math
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pinnkit
from pinnkit.config import config_from_data, read_yaml
from pinnkit.errors import ConfigError
from pinnkit.geometry import (
    Box,
    Disk,
    Mesh,
    Polyhedron,
    ShapeError,
    get_sampler,
    parse_selector,
    shape_from_config,
)
from pinnkit.geometry import mesh as mesh_module
from pinnkit.geometry.surface import _point_triangle, winding_numbers
from pinnkit.problem import compile_problem, problem_from_config

ROOT = Path(__file__).resolve().parents[1]
SOBOL, UNIFORM = get_sampler("sobol"), get_sampler("uniform")
spec = importlib.util.spec_from_file_location("make_mesh", ROOT / "scripts" / "make_mesh.py")
make = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make)
needs_trimesh = pytest.mark.skipif(importlib.util.find_spec("trimesh") is None,
                                   reason='reading STL/OBJ needs trimesh: pip install -e ".[mesh]"')


def cube() -> Mesh:
    v, f = make.box_surface()
    return Mesh(vertices=v, faces=f)


def select(shape, text="boundary"):
    return parse_selector(text, shape.names, {}, shape.part_names())


def brute_distance(points, tri):
    d = [_point_triangle(points, np.broadcast_to(t, (len(points), 3, 3))) for t in tri]
    return np.min(d, axis=0)


def test_a_cube_mesh_is_the_box():
    m, box = cube(), Box(x=(-1, 1), y=(-1, 1), z=(-1, 1))
    assert m.measure() == pytest.approx(8.0, rel=1e-15)
    np.testing.assert_array_equal(m.bounds()[0], [-1, -1, -1])
    pts = UNIFORM(5000, 3, 0) * 3 - 1.5
    np.testing.assert_array_equal(m.contains(pts, 0.0), box.contains(pts, 0.0))
    np.testing.assert_allclose(m.sdf(pts), box.sdf(pts), atol=1e-12)  # exact, in and out
    b = m.sample_boundary(6000, SOBOL, 1, select(m))
    np.testing.assert_allclose(box.sdf(b.points), 0, atol=1e-14)
    # uniform by area: a sixth on each face, and each normal is that face's
    face = np.argmax(np.abs(b.points), axis=1) * 2 + (np.max(b.points, axis=1) > 0.999)
    assert np.bincount(face, minlength=6) == pytest.approx([1000] * 6, abs=50)
    expected = np.zeros_like(b.points)
    axis = np.argmax(np.abs(b.points), axis=1)
    expected[np.arange(len(axis)), axis] = np.sign(b.points[np.arange(len(axis)), axis])
    np.testing.assert_array_equal(b.normals, expected)


def test_points_within_a_face_are_uniform_by_area():
    m = cube()
    pts, _ = m.pieces()[0].draw(20_000, UNIFORM, 3)
    top = pts[pts[:, 2] > 0.999]
    # on the face z = 1, split into two triangles by a diagonal: each quarter holds 1/4
    quarter = np.mean((top[:, 0] > 0) & (top[:, 1] > 0))
    assert quarter == pytest.approx(0.25, abs=0.02)
    assert np.mean(top[:, 0] ** 2 < 0.25) == pytest.approx(0.5, abs=0.02)


def test_the_cavity_mesh_volume_membership_and_normals():
    v, f = make.cavity()
    m = Mesh(vertices=v, faces=f)
    assert m.surface.components == 2
    sphere = make.icosphere(3, 0.4)
    t = sphere[0][sphere[1]]
    inner = float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum()) / 6
    assert m.measure() == pytest.approx(8 - inner, rel=1e-14)
    assert inner == pytest.approx(4 / 3 * math.pi * 0.4**3, rel=1e-2)  # facets: 0.7 % short
    pts = SOBOL(8192, 3, 2) * 2 - 1
    r = np.linalg.norm(pts, axis=1)
    inside = m.contains(pts, 0.0)
    # exact away from the facets (which lie between radius 0.3963 and 0.4)
    clear = np.abs(r - 0.398) > 0.003
    np.testing.assert_array_equal(inside[clear], (r > 0.4)[clear])
    b = m.sample_boundary(2000, SOBOL, 0, select(m, "x**2 + y**2 + z**2 < 0.5"))
    assert np.all(np.einsum("ij,ij->i", b.points, b.normals) < 0)  # into the cavity


@pytest.mark.parametrize("flip", ["all", "cavity", "one_face_of_each"])
def test_inward_or_mixed_faces_are_turned_outward(flip):
    v, f = make.cavity()
    good = Mesh(vertices=v, faces=f)
    g = f.copy()
    if flip == "all":
        g = g[:, ::-1]
    elif flip == "cavity":
        g[12:] = g[12:, ::-1]
    else:
        g[[0, 40]] = g[[0, 40], ::-1]
    m = Mesh(vertices=v, faces=g)
    assert m.measure() == pytest.approx(good.measure(), rel=1e-14)
    a = m.sample_boundary(500, SOBOL, 0, select(m))
    b = good.sample_boundary(500, SOBOL, 0, select(good))
    np.testing.assert_allclose(a.points, b.points, atol=1e-15)
    np.testing.assert_allclose(a.normals, b.normals, atol=1e-15)


def test_the_winding_number_is_one_inside_and_zero_outside():
    v, f = make.icosphere(2, 1.0)
    tri = v[f]
    pts = np.array([[0, 0, 0], [0.5, 0.2, -0.3], [2, 0, 0], [0, 0, -5], [0.1, 0.95, 0]])
    w = winding_numbers(pts, tri)
    np.testing.assert_allclose(w[:4], [1, 1, 0, 0], atol=1e-12)


def test_distance_is_exact_near_the_surface():
    v, f = make.cavity(level=2)
    m = Mesh(vertices=v, faces=f)
    tri = m.surface.triangles
    base, nrm = m.pieces()[0].draw(400, SOBOL, 4)
    for h in (1e-9, 1e-4, 0.01):
        pts = base + h * nrm * np.where(np.arange(400) % 2, 1, -1)[:, None]
        d = m.distance(pts)
        np.testing.assert_allclose(d, brute_distance(pts, tri), rtol=1e-9, atol=1e-15)
    far = UNIFORM(300, 3, 1) * 2 - 1
    d, exact = m.distance(far), brute_distance(far, tri)
    band = m._distance.band
    near = exact <= band
    np.testing.assert_allclose(d[near], exact[near], rtol=1e-12)
    assert np.all(d[~near] > band) and np.all(d[~near] <= exact[~near] * (1 + 1e-12))


def test_normals_from_the_signed_distance_are_the_face_normals():
    m = cube()
    pts, nrm = m.pieces()[0].draw(200, SOBOL, 5)
    interior = np.sum(np.abs(pts) > 0.99, axis=1) == 1  # away from edges
    np.testing.assert_allclose(m.normals(pts[interior]), nrm[interior], atol=1e-6)


def test_csg_with_the_other_shapes():
    m = cube()
    holed = m - Disk((0, 0, 0), 0.5, name="hole")
    assert holed.part_names() == ("boundary", "hole")
    assert holed.measure() == pytest.approx(8 - 4 / 3 * math.pi / 8, rel=5e-3)
    b = holed.sample_boundary(500, SOBOL, 0, select(holed, "hole"))
    np.testing.assert_allclose(np.linalg.norm(b.points, axis=1), 0.5, atol=1e-12)
    assert np.all(np.einsum("ij,ij->i", b.points, b.normals) < 0)
    both = m | Box(x=(0, 3), y=(-1, 1), z=(-1, 1))
    assert both.measure() == pytest.approx(16.0, rel=5e-3)
    pts = both.sample_interior(2000, SOBOL, 0)
    assert np.all(pts[:, 0] >= -1) and np.mean(pts[:, 0] > 1) == pytest.approx(0.5, abs=0.02)


def test_named_parts_from_face_indices():
    v, f = make.box_surface()
    top = [i for i, t in enumerate(f) if np.all(v[t][:, 2] == 1)]
    m = Mesh(vertices=v, faces=f, parts={"lid": top}, name="skin")
    assert m.part_names() == ("boundary", "lid", "skin")
    lid = m.sample_boundary(100, SOBOL, 0, select(m, "lid"))
    np.testing.assert_allclose(lid.points[:, 2], 1, rtol=1e-15)
    rest = m.sample_boundary(500, SOBOL, 0, select(m, "boundary and not lid"))
    assert np.all(rest.points[:, 2] < 1 - 1e-9)
    assert m.selected_measure(select(m, "lid")) == pytest.approx(4.0)


def test_reordered_coordinates_keep_the_solid_and_its_parts():
    v, f = make.box_surface((0, 0, 0), (1, 2, 3))
    m = Mesh(vertices=v, faces=f, parts={"a": [0, 1]})
    r = m.reordered(("z", "x", "y"))
    assert r.names == ("z", "x", "y") and r.measure() == pytest.approx(6.0)
    np.testing.assert_array_equal(r.bounds()[1], [3, 1, 2])
    b = r.sample_boundary(300, SOBOL, 0, select(r))
    assert np.all(np.einsum("ij,ij->i", b.points - [1.5, 0.5, 1], b.normals) > 0)  # outward
    assert r.part_names() == ("boundary", "a")


@pytest.mark.parametrize("change, text", [
    (lambda v, f: (v, f[1:]), "Mesh(faces=...): is not watertight: 3 edge(s) belong to a "
     "single face, e.g. the edge from"),
    (lambda v, f: (v, np.concatenate([f, f[:1]])), "edge(s) belong to three or more faces"),
    (lambda v, f: (v, f + 1), "Mesh(faces=...): found an array of shape (12, 3)"),
    (lambda v, f: (v[:, :2], f), "Mesh(vertices=...): found an array of shape (8, 2)"),
    (lambda v, f: (v, f.astype(float)), "expected triangles as rows of three vertex indices"),
])
def test_broken_meshes_are_refused_in_python_words(change, text):
    v, f = change(*make.box_surface())
    with pytest.raises(ShapeError) as info:
        Mesh(vertices=v, faces=f)
    assert text in str(info.value), str(info.value)
    assert "Fix:" in str(info.value) and "domain" not in str(info.value)


def test_a_mesh_past_the_face_bound_is_refused(monkeypatch):
    monkeypatch.setattr(mesh_module, "MAX_FACES", 10)
    with pytest.raises(ShapeError, match=r"has 12 faces; expected at most 10 .* Fix: "
                                         "decimate it"):
        cube()


def test_parts_must_not_overlap_and_must_be_names():
    v, f = make.box_surface()
    with pytest.raises(ShapeError, match="parts 'a' and 'b' share faces"):
        Mesh(vertices=v, faces=f, parts={"a": [0, 1], "b": [1]})
    with pytest.raises(ShapeError, match="the group 'not' cannot name a boundary part"):
        Mesh(vertices=v, faces=f, parts={"not": [0]})


def test_polyhedron_tetrahedron_and_octahedron():
    tet = Polyhedron([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0.1, 0.1, 0.1)])
    assert tet.measure() == pytest.approx(1 / 6) and len(tet.pieces()) == 4
    areas = sorted(p.measure for p in tet.pieces())
    assert areas == pytest.approx([0.5, 0.5, 0.5, math.sqrt(3) / 2])
    b = tet.sample_boundary(4000, SOBOL, 0, select(tet))
    slanted = np.abs(b.points.sum(axis=1) - 1) < 1e-12
    np.testing.assert_allclose(b.normals[slanted], np.full((slanted.sum(), 3), 3**-0.5))
    assert np.mean(slanted) == pytest.approx(math.sqrt(3) / 2 / sum(areas), abs=0.02)
    octa = Polyhedron([(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)],
                      name="skin")
    pts = UNIFORM(4000, 3, 0) * 2.4 - 1.2
    np.testing.assert_array_equal(octa.contains(pts, 0.0), np.abs(pts).sum(axis=1) <= 1)
    inside = np.abs(pts).sum(axis=1) < 1
    np.testing.assert_allclose(octa.sdf(pts[inside]),
                               (np.abs(pts[inside]).sum(axis=1) - 1) / math.sqrt(3),
                               atol=1e-14)
    assert octa.measure() == pytest.approx(4 / 3) and octa.part_names() == ("boundary", "skin")


def test_a_cube_hull_has_six_faces():
    c = Polyhedron(make.box_surface()[0])
    assert len(c.planes) == 6 and [p.measure for p in c.pieces()] == pytest.approx([4.0] * 6)


def test_flat_points_are_not_a_polyhedron():
    with pytest.raises(ShapeError, match=r"Polyhedron\(vertices=...\): lie in one plane"):
        Polyhedron([(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)])


# --- YAML ------------------------------------------------------------------------------

def compile_yaml(text: str, folder: Path):
    path = folder / "m.yaml"
    path.write_text(textwrap.dedent(text))
    data, lines = read_yaml(path.read_text(), str(path))
    cfg = config_from_data(data, lines, str(path))
    return compile_problem(problem_from_config(cfg), cfg)


PROBLEM = """\
inputs: [x, y, z]
outputs: [u]
domain: {domain}
equations:
  pde: u_xx + u_yy + u_zz
conditions:
  wall: {{on: {on}, residual: u}}
"""


def test_polyhedron_from_yaml(tmp_path):
    p = compile_yaml(PROBLEM.format(domain="{polyhedron: {vertices: [[0, 0, 0], [1, 0, 0], "
                                           "[0, 1, 0], [0, 0, 1]], name: skin}}", on="skin"),
                     tmp_path)
    assert isinstance(p.shape, Polyhedron) and p.shape.measure() == pytest.approx(1 / 6)


@pytest.mark.parametrize("domain, key, text", [
    ("{polyhedron: {vertices: [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]]}}",
     "domain.polyhedron.vertices", "lie in one plane (or on one line); expected the corners"),
    ("{polyhedron: {vertices: [[0, 0], [1, 0]]}}", "domain.polyhedron.vertices",
     "expected a list of [x, y, z] points"),
    ("{mesh: nowhere.stl}", "domain.mesh", "file 'nowhere.stl' not found"),
    ("{mesh: {file: part.stl, scale: -1}}", "domain.mesh.scale",
     "found -1.0; expected a positive number"),
    ("{mesh: {file: part.stl, units: mm}}", "domain.mesh.units", "unknown key 'units'"),
    ("{mesh: part.step}", "domain.mesh", "'part.step' is not an STL or OBJ file"),
])
def test_yaml_errors_name_key_line_and_fix(tmp_path, domain, key, text):
    (tmp_path / "part.stl").write_bytes(b"")
    (tmp_path / "part.step").write_bytes(b"")
    with pytest.raises(ConfigError) as info:
        compile_yaml(PROBLEM.format(domain=domain, on="boundary"), tmp_path)
    exc = info.value
    assert exc.key == key and exc.line == 3, (exc.key, exc.line)
    assert text in str(exc) and "Fix:" in str(exc), str(exc)


def test_a_mesh_needs_three_space_inputs():
    with pytest.raises(ConfigError, match=r"a mesh is 3-D; the space coordinates are x, y"):
        shape_from_config({"mesh": "part.stl"}, ("x", "y"))


def test_without_trimesh_the_error_says_what_to_install(tmp_path, monkeypatch):
    make.write_stl(tmp_path / "cube.stl", *make.box_surface())
    monkeypatch.setitem(sys.modules, "trimesh", None)  # import now raises ImportError
    with pytest.raises(ConfigError) as info:
        compile_yaml(PROBLEM.format(domain="{mesh: cube.stl}", on="boundary"), tmp_path)
    msg = str(info.value)
    assert "domain.mesh (line 3" in msg and "needs the trimesh package" in msg
    assert 'Fix: run pip install "pinnkit[mesh]"' in msg
    with pytest.raises(ShapeError, match=r'Mesh\(file=...\): reading a mesh file needs the '
                                         r'trimesh package.*pip install "pinnkit\[mesh\]"'):
        Mesh(tmp_path / "cube.stl")


@needs_trimesh
def test_an_stl_next_to_the_yaml_is_found_from_any_working_directory(tmp_path, monkeypatch):
    (tmp_path / "meshes").mkdir()
    make.write_stl(tmp_path / "meshes" / "cube.stl", *make.box_surface())
    monkeypatch.chdir(ROOT)
    p = compile_yaml(PROBLEM.format(domain="{mesh: {file: meshes/cube.stl, scale: 0.5}}",
                                    on="z == 0.5"), tmp_path)
    assert isinstance(p.shape, Mesh) and p.shape.measure() == pytest.approx(1.0)
    np.testing.assert_allclose(p.shape.bounds()[1], [0.5, 0.5, 0.5])


@needs_trimesh
def test_obj_groups_are_named_parts(tmp_path):
    v, f = make.cavity(level=1)
    make.write_obj(tmp_path / "part.obj", v, f, {"outer": np.arange(12),
                                                  "cavity": np.arange(12, len(f))})
    m = Mesh(tmp_path / "part.obj")
    assert m.part_names() == ("boundary", "cavity", "outer")
    b = m.sample_boundary(200, SOBOL, 0, select(m, "cavity"))
    np.testing.assert_allclose(np.linalg.norm(b.points, axis=1), 0.4, rtol=0.2)
    assert np.all(np.einsum("ij,ij->i", b.points, b.normals) < 0)
    p = compile_yaml(PROBLEM.format(domain="{mesh: part.obj}", on="outer"), tmp_path)
    assert p.shape.part_names() == ("boundary", "cavity", "outer")


@needs_trimesh
def test_an_open_mesh_file_is_refused_at_its_key(tmp_path):
    v, f = make.box_surface()
    make.write_stl(tmp_path / "open.stl", v, f[1:])
    with pytest.raises(ConfigError) as info:
        compile_yaml(PROBLEM.format(domain="{mesh: open.stl}", on="boundary"), tmp_path)
    msg = str(info.value)
    assert "domain.mesh (line 3" in msg and "is not watertight: 3 edge(s)" in msg
    assert "Fix: close the holes" in msg


@needs_trimesh
def test_python_problem_on_a_mesh_checks():
    class Cavity(pinnkit.Problem):
        inputs = ("x", "y", "z")
        outputs = ("u",)
        domain = Mesh(ROOT / "configs" / "meshes" / "cavity.stl")
        equations = {"laplace": "u_xx + u_yy + u_zz"}
        conditions = {"wall": ("boundary", "u - 1/sqrt(x**2 + y**2 + z**2)")}

    compiled = pinnkit.check(Cavity())
    assert compiled.shape.measure() == pytest.approx(8 - 4 / 3 * math.pi * 0.4**3, rel=1e-3)


@needs_trimesh
def test_the_shipped_mesh_is_the_script_output(tmp_path):
    make.main(["--out", str(tmp_path / "cavity.stl")])
    assert (tmp_path / "cavity.stl").read_bytes() == \
        (ROOT / "configs" / "meshes" / "cavity.stl").read_bytes()


@needs_trimesh
def test_a_run_on_a_mesh_reloads_from_any_working_directory(tmp_path, monkeypatch):
    from pinnkit.cli import main

    run = tmp_path / "run"
    assert main(["train", str(ROOT / "configs" / "laplace_mesh.yaml"), "--out", str(run),
                 "--quiet", "--set", "training.stages=[{optimizer: adam, steps: 2}]",
                 "--set", "training.points.domain=64", "--set", "training.points.boundary=16",
                 "--set", "model.width=8"]) == 0
    written = yaml_domain(run / "config.yaml")
    assert (run / written["mesh"]).resolve() == (ROOT / "configs/meshes/cavity.stl").resolve()
    monkeypatch.chdir(tmp_path)
    model = pinnkit.load(run)
    assert isinstance(model.problem.shape, Mesh)


def yaml_domain(path: Path):
    import yaml

    return yaml.safe_load(path.read_text())["domain"]
