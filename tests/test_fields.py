"""Coefficient fields (``fields:``): the interpolants against scipy and closed forms
(float64, round-off), their derivatives, clamping, dtype/device/vmap, expressions that
read them, the checks, and the Python API."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from checks_helpers import only, report_for, write
from scipy.interpolate import CubicSpline, LinearNDInterpolator, RegularGridInterpolator
from scipy.spatial import cKDTree

import pinnkit
from pinnkit import Problem
from pinnkit.checks.boundedness import classify
from pinnkit.errors import ConfigError
from pinnkit.expr import Partial, parse
from pinnkit.expr import tree as t
from pinnkit.fields import GridField, ScatteredField, load_field
from pinnkit.geometry import Box

RNG = np.random.default_rng(0)
BOX2 = Box(x=(0, 1), y=(-1, 2))


def _grid(nodes, f):
    mesh = np.meshgrid(*nodes, indexing="ij")
    pts = np.stack([m.ravel() for m in mesh], 1)
    return pts, f(*[pts[:, k] for k in range(len(nodes))])


def _field(points, values, method, axes=("x", "y"), shape=BOX2, inputs=None):
    table = {a: points[:, k] for k, a in enumerate(axes)}
    perm = RNG.permutation(len(values))  # rows in any order
    table = {k: v[perm] for k, v in {**table, "k": values}.items()}
    return load_field("k", {"table": table, "interpolate": method}, inputs or axes, shape, [])


def _at(field, q, orders):
    return field([torch.as_tensor(q[:, k]) for k in range(q.shape[1])], orders).numpy()


NODES2 = [np.sort(np.r_[0, RNG.uniform(0, 1, 9), 1]), np.linspace(-1, 2, 7)]  # uneven in x
SMOOTH = lambda x, y: np.sin(3 * x) * np.cos(y) + x * y  # noqa: E731
Q2 = np.c_[RNG.uniform(0, 1, 500), RNG.uniform(-1, 2, 500)]


@pytest.mark.parametrize("method", ["nearest", "linear"])
def test_grid_values_equal_scipy(method):
    pts, vals = _grid(NODES2, SMOOTH)
    f = _field(pts, vals, method)
    assert isinstance(f, GridField) and f.describe() == f"11 x 7 grid, {method}"
    want = RegularGridInterpolator(NODES2, vals.reshape(11, 7), method=method)(Q2)
    np.testing.assert_allclose(_at(f, Q2, (0, 0)), want, rtol=0, atol=1e-14)


def _tensor_spline(nodes, grid, q, orders):
    """The not-a-knot tensor-product spline by scipy, one axis after the other."""
    out = []
    for p in q:
        v = grid
        for k in range(len(nodes) - 1, -1, -1):  # last axis first, down to a number
            v = CubicSpline(nodes[k], v, axis=k)(p[k], orders[k])
        out.append(float(v))
    return np.array(out)


@pytest.mark.parametrize("orders", [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (0, 2), (2, 2),
                                    (3, 1)])
def test_grid_cubic_equals_scipy_splines(orders):
    pts, vals = _grid(NODES2, SMOOTH)
    f = _field(pts, vals, "cubic")
    want = _tensor_spline(NODES2, vals.reshape(11, 7), Q2[:60], orders)
    got = _at(f, Q2[:60], orders)
    # round-off grows like h^-order on this uneven grid (its smallest cell is 0.02 wide)
    tol = 1e-12 if sum(orders) <= 2 else 1e-10
    assert np.max(np.abs(got - want)) <= tol * (1 + np.max(np.abs(want)))


def test_cubic_and_linear_reproduce_what_they_can_exactly():
    """Not-a-knot splines reproduce cubics, multilinear interpolation bilinear functions:
    values and every derivative then have closed forms (float64, 1e-12)."""
    x, y = Q2[:, 0], Q2[:, 1]
    pts, vals = _grid(NODES2, lambda a, b: a**3 - 2 * a**2 * b + b**3 + a * b)
    cubic = _field(pts, vals, "cubic")
    exact = {(0, 0): x**3 - 2 * x**2 * y + y**3 + x * y, (1, 0): 3 * x**2 - 4 * x * y + y,
             (0, 1): -2 * x**2 + 3 * y**2 + x, (2, 0): 6 * x - 4 * y, (1, 1): -4 * x + 1,
             (0, 2): 6 * y, (2, 1): np.full_like(x, -4.0), (0, 3): np.full_like(x, 6.0),
             (0, 4): np.zeros_like(x)}
    for orders, want in exact.items():
        np.testing.assert_allclose(_at(cubic, Q2, orders), want, rtol=0, atol=1e-11,
                                   err_msg=str(orders))
    pts, vals = _grid(NODES2, lambda a, b: 1 + 2 * a + 3 * b + 4 * a * b)
    linear = _field(pts, vals, "linear")
    for orders, want in {(0, 0): 1 + 2 * x + 3 * y + 4 * x * y, (1, 0): 2 + 4 * y,
                         (0, 1): 3 + 4 * x, (1, 1): np.full_like(x, 4.0),
                         (2, 0): np.zeros_like(x)}.items():
        np.testing.assert_allclose(_at(linear, Q2, orders), want, rtol=0, atol=1e-12)


def test_cubic_converges_at_fourth_order():
    errors = []
    for n in (11, 21, 41):
        g = np.linspace(0, 1, n)
        f = _field(g[:, None], np.exp(np.sin(3 * g)), "cubic", ("x",), Box(x=(0, 1)))
        q = np.linspace(0, 1, 997)[:, None]
        errors.append(np.max(np.abs(_at(f, q, (0,)) - np.exp(np.sin(3 * q[:, 0])))))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(rates > 3.7), rates  # h^4


def test_three_dimensional_grid():
    nodes = [np.linspace(0, 1, 5), np.linspace(0, 2, 6), np.array([0.0, 0.3, 0.7, 1.0])]
    pts, vals = _grid(nodes, lambda a, b, c: np.sin(a + b) * np.exp(c))
    q = np.c_[RNG.uniform(0, 1, 40), RNG.uniform(0, 2, 40), RNG.uniform(0, 1, 40)]
    box = Box(x=(0, 1), y=(0, 2), z=(0, 1))
    lin = _field(pts, vals, "linear", ("x", "y", "z"), box)
    want = RegularGridInterpolator(nodes, vals.reshape(5, 6, 4))(q)
    np.testing.assert_allclose(_at(lin, q, (0, 0, 0)), want, atol=1e-14)
    cub = _field(pts, vals, "cubic", ("x", "y", "z"), box)
    for orders in [(0, 0, 0), (1, 0, 2), (2, 1, 1)]:
        want = _tensor_spline(nodes, vals.reshape(5, 6, 4), q, orders)
        np.testing.assert_allclose(_at(cub, q, orders), want, atol=1e-11)


def test_scattered_linear_equals_scipy_and_has_exact_gradients():
    pts = RNG.uniform(0, 1, (300, 2))
    vals = np.sin(4 * pts[:, 0]) + pts[:, 1] ** 2
    box = Box(x=(0, 1), y=(0, 1))
    f = _field(pts, vals, "linear", shape=box)
    assert isinstance(f, ScatteredField) and f.describe() == "300 scattered points, linear"
    q = RNG.uniform(0, 1, (3000, 2))
    want = LinearNDInterpolator(pts, vals)(q)
    inside = np.isfinite(want)
    assert inside.mean() > 0.9
    np.testing.assert_allclose(_at(f, q, (0, 0))[inside], want[inside], atol=1e-13)
    plane = _field(pts, 1 + 2 * pts[:, 0] - 3 * pts[:, 1], "linear", shape=box)
    np.testing.assert_allclose(_at(plane, q[inside], (1, 0)), 2.0, atol=1e-10)
    np.testing.assert_allclose(_at(plane, q[inside], (0, 1)), -3.0, atol=1e-10)
    assert np.all(_at(plane, q, (1, 1)) == 0)
    # outside the hull: a convex combination of the nearest simplex's values
    out = _at(f, q[~inside], (0, 0))
    assert np.all(out >= vals.min() - 1e-12) and np.all(out <= vals.max() + 1e-12)
    assert np.all(_at(plane, q[~inside], (1, 0)) == 0)


def test_scattered_linear_in_three_dimensions():
    pts = RNG.uniform(0, 1, (200, 3))
    vals = pts @ np.array([1.0, -2.0, 0.5]) + 3
    f = _field(pts, vals, "linear", ("x", "y", "z"), Box(x=(0, 1), y=(0, 1), z=(0, 1)))
    q = RNG.uniform(0.3, 0.7, (500, 3))
    np.testing.assert_allclose(_at(f, q, (0, 0, 0)), q @ np.array([1.0, -2.0, 0.5]) + 3,
                               atol=1e-12)
    np.testing.assert_allclose(_at(f, q, (0, 1, 0)), -2.0, atol=1e-10)


def test_scattered_nearest_is_the_nearest_point_everywhere():
    pts = RNG.uniform(0, 1, (500, 2))
    vals = RNG.normal(size=500)
    f = _field(pts, vals, "nearest", shape=Box(x=(-0.5, 1.5), y=(0, 1)))
    q = np.c_[RNG.uniform(-0.5, 1.5, 4000), RNG.uniform(0, 1, 4000)]  # also outside the hull
    want = vals[cKDTree(pts).query(q)[1]]
    np.testing.assert_array_equal(_at(f, q, (0, 0)), want)
    assert np.all(_at(f, q, (1, 0)) == 0)


def test_grid_is_clamped_outside_its_range():
    g = np.linspace(0, 1, 6)
    f = _field(g[:, None], g**2, "cubic", ("x",), Box(x=(-1, 2)))
    q = np.array([[-0.5], [1.5]])
    np.testing.assert_allclose(_at(f, q, (0,)), [0.0, 1.0], atol=1e-15)
    assert np.all(_at(f, q, (1,)) == 0) and np.all(_at(f, q, (2,)) == 0)


def test_table_follows_dtype_and_vmap():
    pts, vals = _grid(NODES2, SMOOTH)
    f = _field(pts, vals, "cubic")
    q = torch.as_tensor(Q2[:50])
    want = f([q[:, 0], q[:, 1]], (1, 1))
    got32 = f([q[:, 0].float(), q[:, 1].float()], (1, 1))
    assert got32.dtype == torch.float32
    torch.testing.assert_close(got32.double(), want, rtol=1e-4, atol=1e-4)
    mapped = torch.func.vmap(lambda p: f([p[:, 0], p[:, 1]], (1, 1)))(q[:, None, :])
    torch.testing.assert_close(mapped[:, 0], want, rtol=0, atol=1e-15)
    scattered = _field(RNG.uniform(0, 1, (100, 2)), RNG.normal(size=100), "linear",
                       shape=Box(x=(0, 1), y=(0, 1)))
    r = torch.rand(20, 2, dtype=torch.float64)
    one = scattered([r[:, 0], r[:, 1]], (0, 0))
    many = torch.func.vmap(lambda p: scattered([p[:, 0], p[:, 1]], (0, 0)))(r[:, None, :])
    torch.testing.assert_close(many[:, 0], one, rtol=0, atol=1e-15)


def test_value_range_holds_the_spline():
    pts, vals = _grid(NODES2, SMOOTH)
    f = _field(pts, vals, "cubic")
    lo, hi = f.value_range()
    dense = np.c_[RNG.uniform(0, 1, 20000), RNG.uniform(-1, 2, 20000)]
    v = _at(f, dense, (0, 0))
    assert lo <= v.min() and v.max() <= hi
    assert lo < vals.min() and hi > vals.max()  # a spline overshoots its values


HEAT_FIELD = """
inputs: [x, t]
outputs: [u]
domain: {x: [0, 1], t: [0, 1]}
fields:
  kappa: {file: kappa.csv, interpolate: INTERP}
equations:
  heat: u_t - d(kappa*u_x, x)
conditions:
  initial: {on: t == 0, residual: u - sin(pi*x)}
  walls: {on: x == 0 or x == 1, residual: u}
model: {width: 8, depth: 2}
training:
  points: {domain: 64, boundary: 16}
  stages: [{optimizer: adam, steps: 2}]
"""


def _kappa_csv(tmp_path, lo=0.0, hi=1.0, n=11):
    g = np.linspace(lo, hi, n)
    (tmp_path / "kappa.csv").write_text("x,kappa\n" + "".join(
        f"{float(a)!r},{float(1 + 0.5 * a * a)!r}\n" for a in g))


def test_expressions_read_fields_and_their_derivatives(tmp_path):
    _kappa_csv(tmp_path)
    problem = pinnkit.check(write(tmp_path, HEAT_FIELD.replace("INTERP", "cubic")))
    ns = problem.namespace
    assert ns.fields == ("kappa",)
    k = lambda *o: t.Coef(Partial("kappa", o))  # noqa: E731
    assert parse("kappa_x", ns) == k(1, 0) and parse("d(kappa, x, x)", ns) == k(2, 0)
    assert parse("d(kappa*u_x, x)", ns) == t.add(t.mul(k(1, 0), t.Field(Partial("u", (1, 0)))),
                                                 t.mul(k(0, 0), t.Field(Partial("u", (2, 0)))))
    heat = next(term for term in problem.terms if term.name == "heat")
    assert heat.needs == {Partial("u", (0, 1)), Partial("u", (1, 0)), Partial("u", (2, 0))}
    x = torch.tensor([[0.25, 0.5], [0.75, 0.1]], dtype=torch.float64)
    env = problem.env(x, {p: torch.ones(2, dtype=torch.float64) for p in heat.needs})
    # u_t - kappa_x u_x - kappa u_xx with all derivatives 1, kappa = 1 + x^2/2 (cubic: exact)
    want = 1 - x[:, 0] - (1 + 0.5 * x[:, 0] ** 2)
    torch.testing.assert_close(heat.residual(env), want, rtol=0, atol=1e-14)
    # kappa depends on x only: its t-derivative is exactly zero
    env = problem.env(x, {})
    assert torch.equal(problem.fields.value(k(0, 1), env), torch.zeros(2, dtype=torch.float64))


def test_python_problem_with_a_field_table_and_a_method_residual():
    g = np.linspace(0, 1, 21)

    class Diffusion(Problem):
        inputs = ("x",)
        outputs = ("u",)
        domain = Box(x=(0, 1))
        fields = {"kappa": {"table": {"x": g, "kappa": 2 + np.sin(g)}, "interpolate": "cubic"}}
        equations = {"pde": "-d(kappa*u_x, x) - 1",
                     "method": lambda self, d: -d.kappa * d.u_xx - d("kappa", "x") * d.u_x - 1}
        conditions = {"ends": ("x == 0 or x == 1", "u")}

    problem = pinnkit.check(Diffusion())
    terms = {term.name: term for term in problem.terms}
    x = torch.rand(7, 1, dtype=torch.float64)
    table = {p: torch.rand(7, dtype=torch.float64) for p in terms["pde"].needs}
    assert terms["method"].needs == terms["pde"].needs
    env = problem.env(x, table)
    torch.testing.assert_close(terms["method"].residual(env), terms["pde"].residual(env))
    run = pinnkit.train(Diffusion(), steps=3, run_dir=False, progress=False)  # from Python
    assert run.metrics["steps"] == 3


def test_linear_field_differentiated_twice_is_a_smoothness_error(tmp_path):
    _kappa_csv(tmp_path)
    text = HEAT_FIELD.replace("INTERP", "linear").replace("d(kappa*u_x, x)",
                                                         "d(kappa*u_x, x) - kappa_xx")
    report = report_for(tmp_path, text)
    (f,) = only(report, "smoothness")
    assert (f.level, f.key, f.line) == ("error", "equations.heat", 7)
    assert "residual 'heat' needs kappa_xx, but coefficient field 'kappa' (11-point grid, " \
        "linear) is piecewise linear along each axis" in f.message
    assert f.fix.startswith("interpolate: cubic on fields.kappa")
    # linear has the first derivative that d(kappa*u_x, x) needs
    assert not only(report_for(tmp_path, HEAT_FIELD.replace("INTERP", "linear")), "smoothness")
    nearest = report_for(tmp_path, HEAT_FIELD.replace("INTERP", "nearest"))
    assert "needs kappa_x" in only(nearest, "smoothness")[0].message


def test_domain_beyond_the_table_is_a_warning(tmp_path):
    _kappa_csv(tmp_path, 0.0, 0.8)
    report = report_for(tmp_path, HEAT_FIELD.replace("INTERP", "cubic"))
    info, warning = only(report, "field_range")
    assert info.level == "info" and info.message == \
        "11-point grid, cubic, over x in [0, 0.8], from kappa.csv"
    assert warning.level == "warning" and warning.key == "fields.kappa" and warning.line == 5
    assert "the domain reaches x in [0, 1] (the table: [0, 0.8])" in warning.message
    assert "held at its edge value" in warning.message
    _kappa_csv(tmp_path)
    assert [f.level for f in only(report_for(tmp_path, HEAT_FIELD.replace("INTERP", "cubic")),
                                  "field_range")] == ["info"]


def test_scattered_table_that_misses_the_domain_is_a_warning(tmp_path):
    p = RNG.uniform(0.2, 0.8, (60, 2))
    (tmp_path / "kappa.csv").write_text("x,t,kappa\n" + "".join(
        f"{float(a)!r},{float(b)!r},{float(1 + a)!r}\n" for a, b in p))
    report = report_for(tmp_path, HEAT_FIELD.replace("INTERP", "linear"))
    (warning,) = [f for f in only(report, "field_range") if f.level == "warning"]
    share = float(warning.message.split("%")[0]) / 100
    assert 0.5 < share < 0.8  # the hull lies within [0.2, 0.8]^2: about 64% is outside
    assert "convex hull of the 60 points of kappa.csv" in warning.message


def test_boundedness_reads_the_field_range(tmp_path):
    _kappa_csv(tmp_path)
    problem = pinnkit.check(write(tmp_path, HEAT_FIELD.replace("INTERP", "linear")))
    ns = problem.namespace
    assert classify(parse("kappa*u_x**2", ns), problem).verdict == "bounded"
    assert classify(parse("exp(u)*kappa", ns), problem).verdict == "bounded"  # kappa >= 1
    assert classify(parse("(kappa - 2)*u_x**2", ns), problem).verdict == "unbounded"


def test_field_errors_from_python():
    class P(Problem):
        inputs = ("x",)
        outputs = ("u",)
        domain = Box(x=(0, 1))
        equations = {"pde": "u_xx - kappa"}
        conditions = {"ends": ("x == 0 or x == 1", "u")}

    P.fields = {"kappa": {"table": {"x": [0.0, 0.5, 1.0], "kappa": [1.0, math.nan, 1.0]}}}
    with pytest.raises(ConfigError, match=r"fields.kappa.table \(<python>\): fields.kappa."
                                          r"table, row 2, column 'kappa': found nan"):
        pinnkit.check(P())
    P.fields = {"kappa": {"table": {"x": [0.0, 0.5, 1.0], "k": [1.0, 2.0, 1.0]}}}
    with pytest.raises(ConfigError, match="has no column 'kappa'"):
        pinnkit.check(P())
    P.fields = {"kappa": 3.0}
    with pytest.raises(ConfigError, match=r"fields.kappa \(<python>\): found float 3.0; "
                                          r"expected a file path or \{file: ..., "
                                          r"interpolate: ...\}"):
        pinnkit.check(P())


def test_run_folder_reads_the_field_table_from_anywhere(tmp_path, monkeypatch, capsys):
    from pinnkit.cli import main

    (tmp_path / "cfg").mkdir()
    _kappa_csv(tmp_path / "cfg")
    path = write(tmp_path / "cfg", HEAT_FIELD.replace("INTERP", "cubic"))
    run = tmp_path / "runs" / "heat"
    assert main(["train", str(path), "--out", str(run), "--quiet"]) == 0
    saved = (run / "config.yaml").read_text()
    assert "file: ../../cfg/kappa.csv" in saved
    monkeypatch.chdir(tmp_path / "runs")
    assert main(["train", str(run), "--resume", "--quiet",
                 "--set", "training.stages=[{optimizer: adam, steps: 4}]"]) == 0, \
        capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fields_on_cuda_match_cpu():
    pts, vals = _grid(NODES2, SMOOTH)
    scattered = RNG.uniform(0, 1, (2000, 2))
    fields = [(_field(pts, vals, m), Q2) for m in ("nearest", "linear", "cubic")] + \
        [(_field(scattered, np.sin(scattered.sum(1)), m, shape=Box(x=(0, 1), y=(0, 1))),
          RNG.uniform(0, 1, (4096, 2))) for m in ("nearest", "linear")]
    for f, q in fields:
        for orders in [(0, 0), (1, 0), (1, 1)]:
            cols = [torch.as_tensor(q[:, k]) for k in range(2)]
            cpu = f(cols, orders)
            gpu = f([c.cuda() for c in cols], orders)
            assert gpu.device.type == "cuda"
            torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-12, atol=1e-12)
