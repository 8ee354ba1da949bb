"""The functions beyond the elementary ones: where, min, max, clip, sign, heaviside, atan2,
atan, asin, acos, erf. Their symbolic derivatives against torch autograd (float64, 1e-12),
interval bounds against samples, parse errors, smoothness findings, and a corner-singular
exact solution written with atan2."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from checks_helpers import only, report_for

from pinnkit.engines.autograd import AutogradEngine
from pinnkit.engines.taylor import TaylorEngine
from pinnkit.errors import ExprError
from pinnkit.expr import Namespace, compile_expr, parse
from pinnkit.expr import tree as t
from pinnkit.expr.analysis import jumps
from pinnkit.expr.bounds import interval
from pinnkit.expr.names import Partial
from pinnkit.models.mlp import MLP
from pinnkit.models.transform import OutputTransform

NS = Namespace(("x", "y"), ("u",), ("c",))
C = 0.7

# expressions of the inputs whose first and second derivatives the symbolic rules give;
# arguments are kept away from the kinks (measure zero) by the sampled box below
SMOOTH = [
    "atan(x*y - 0.3)", "asin(0.6*x*y)", "acos(0.5*x - 0.4*y)", "erf(2*x - y)",
    "atan2(y + 0.2, x - 1.5)", "atan2(x*y + 0.1, c)", "atan2(sin(x), cos(y) + 2)",
    "erf(x)*atan(y)**2", "asin(x/2)/acos(y/3)",
]
PIECEWISE = [
    "where(x < y, x**2*y, sin(y))", "where(x > 0.2 and y < 0.5, exp(x), y**3)",
    "where(not x < 0, x*y, -x)", "min(x**2, y)", "max(x*y, sin(x))", "min(x, y, 0.3*x*y)",
    "clip(x*y, 0.1, 0.3)", "clip(x, y - 0.2, y + 0.2)", "abs(x - y)*x",
    "sign(x - y)*y**2", "heaviside(x - 0.4)*x*y", "where(x < 0.5, 1, 10)",
]


def _points(n: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 2, generator=g, dtype=torch.float64) * 0.9 + 0.05)


def _env(x: torch.Tensor) -> dict:
    return {"x": x[:, 0], "y": x[:, 1], "c": C}


def _value(text: str, x: torch.Tensor) -> torch.Tensor:
    v = compile_expr(parse(text, NS)).fn(_env(x))
    return torch.as_tensor(v, dtype=x.dtype).expand(len(x))


def _autograd(text: str, x: torch.Tensor, wrt: tuple[int, ...]) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    v = _value(text, x)
    for i in wrt:
        g = torch.autograd.grad(v.sum(), x, create_graph=True, allow_unused=True)[0] \
            if v.requires_grad else None  # a piecewise constant has no graph
        v = torch.zeros(len(x), dtype=x.dtype) if g is None else g[:, i]
    return v.detach()


@pytest.mark.parametrize("text", SMOOTH + PIECEWISE)
@pytest.mark.parametrize("wrt", [(0,), (1,), (0, 0), (0, 1), (1, 1)])
def test_symbolic_derivative_equals_autograd(text, wrt):
    x = _points()
    names = ", ".join("xy"[i] for i in wrt)
    got = _value(f"d({text}, {names})", x)
    want = _autograd(text, x, wrt)
    scale = 1.0 + float(want.abs().max())
    assert float((got - want).abs().max()) <= 1e-12 * scale


def test_third_derivatives_of_the_smooth_functions():
    x = _points(16)
    for text in SMOOTH:
        got = _value(f"d({text}, x, y, y)", x)
        want = _autograd(text, x, (0, 1, 1))
        assert float((got - want).abs().max()) <= 1e-12 * (1 + float(want.abs().max())), text


def test_values_match_numpy():
    x = _points()
    a, b = x[:, 0].numpy(), x[:, 1].numpy()
    cases = {
        "where(x < y, x, 2*y)": np.where(a < b, a, 2 * b), "min(x, y)": np.minimum(a, b),
        "max(x, y, 0.5)": np.maximum(np.maximum(a, b), 0.5), "sign(x - 0.5)": np.sign(a - 0.5),
        "heaviside(x - 0.5)": np.heaviside(a - 0.5, 0.5), "atan2(y - 0.5, x - 0.5)":
        np.arctan2(b - 0.5, a - 0.5), "atan(x)": np.arctan(a), "asin(x)": np.arcsin(a),
        "acos(y)": np.arccos(b), "erf(x - y)": np.array([math.erf(v) for v in a - b]),
        "clip(x, 0.3, 0.6)": np.clip(a, 0.3, 0.6),
    }
    for text, want in cases.items():
        np.testing.assert_allclose(_value(text, x).numpy(), want, rtol=1e-15, atol=1e-15,
                                   err_msg=text)
    # heaviside is 1/2 at zero, as 0.5*(1 + sign)
    assert float(_value("heaviside(x - x)", x)[0]) == 0.5


def test_where_of_numbers_keeps_the_dtype_of_the_points():
    for dtype in (torch.float32, torch.float64):
        x = _points(8).to(dtype)
        v = _value("where(x < 0.5, 0.1, 1)", x)
        assert v.dtype == dtype
    x = _points(8)
    assert float(_value("where(x < 0.5, 0.1, 1)", x).min()) in (0.1, 1.0)  # not 0.1 rounded


def test_derivatives_of_the_piecewise_functions_are_piecewise():
    d = lambda text: parse(text, NS)  # noqa: E731
    assert d("d(max(u, 0), x)") == t.Call("where", t.Compare(">=", t.Field(Partial(
        "u", (0, 0))), t.Num(0.0)), (t.Field(Partial("u", (1, 0))), t.Num(0.0)))
    # a coefficient that jumps: zero on both sides, plus a marker of the dropped delta
    k = d("d(where(x < 0.5, 1, 10), x)")
    assert isinstance(k, t.Jump) and k.func == "where"
    assert compile_expr(k).fn(_env(_points(4))) == 0.0
    # across y the condition x < 0.5 does not move: no delta, nothing dropped
    assert d("d(where(x < 0.5, 1, 10), y)") == t.Num(0.0)
    assert d("d(sign(x), y)") == t.Num(0.0) and isinstance(d("d(sign(x), x)"), t.Jump)
    # a kink differentiated once drops nothing; twice it does
    assert not jumps(d("d(abs(u), x)")) and jumps(d("d(abs(u), x, x)"))
    assert not jumps(d("d(clip(u, 0, 1), x)")) and jumps(d("d(clip(u, 0, 1), x, y)"))
    # the marker has no children: the derivative table is not asked for what it marks
    assert compile_expr(d("d(max(u_x, 0), x)")).needs == {Partial("u", (2, 0)),
                                                           Partial("u", (1, 0))}


INTERVALS = [  # (expression, known intervals, the interval it must give)
    ("atan(x)", {"x": (0.0, math.inf)}, (0.0, math.pi / 2)),
    ("erf(x)", {"x": (-math.inf, math.inf)}, (-1.0, 1.0)),
    ("asin(x)", {"x": (-5.0, 0.5)}, (-math.pi / 2, math.asin(0.5))),
    ("acos(x)", {"x": (0.0, 2.0)}, (0.0, math.pi / 2)),
    ("sign(x)", {"x": (0.5, 2.0)}, (1.0, 1.0)),
    ("heaviside(x)", {"x": (-2.0, 3.0)}, (0.0, 1.0)),
    ("heaviside(x)", {"x": (-2.0, -1.0)}, (0.0, 0.0)),
    ("atan2(y, x)", {"x": (1.0, 2.0), "y": (-1.0, 1.0)}, (-math.pi / 2, math.pi / 2)),
    ("atan2(y, x)", {"x": (-1.0, 2.0), "y": (0.0, 1.0)}, (0.0, math.pi)),
    ("min(x, y)", {"x": (0.0, 2.0), "y": (1.0, 3.0)}, (0.0, 2.0)),
    ("max(x, y)", {"x": (0.0, 2.0), "y": (1.0, 3.0)}, (1.0, 3.0)),
    ("clip(u, 0, 1)", {}, (0.0, 1.0)),  # a free field, clipped
    ("max(u, 0)", {}, (0.0, math.inf)),
    ("where(x < 0.5, 1, 10)", {"x": (0.0, 1.0)}, (1.0, 10.0)),
    ("where(u < 0, u**2, exp(u))", {}, (0.0, math.inf)),
]


@pytest.mark.parametrize("text, known, want", INTERVALS)
def test_interval_bounds(text, known, want):
    lo, hi = interval(parse(text, NS), known)
    assert lo == pytest.approx(want[0], abs=1e-15) and hi == pytest.approx(want[1], abs=1e-15)


@pytest.mark.parametrize("text", SMOOTH + PIECEWISE)
def test_interval_holds_every_sampled_value(text):
    x = _points(512, seed=3)
    lo, hi = interval(parse(text, NS), {"x": (0.05, 0.95), "y": (0.05, 0.95), "c": (C, C)})
    v = _value(text, x)
    assert float(v.min()) >= lo - 1e-12 and float(v.max()) <= hi + 1e-12


PARSE_ERRORS = [
    ("where(x < 0.5, 1)", "where() takes exactly three arguments, found 2",
     "where(condition, value where it holds, value elsewhere)"),
    ("where(x, 1, 2)", "where()'s first argument must be a condition, found 'x'",
     "where(x < 0.5, 1, 10)"),
    ("atan2(x)", "atan2() takes exactly two arguments, found 1", "atan2(y, x)"),
    ("clip(u, 0)", "clip() takes exactly three arguments, found 2", "clip(a, lo, hi)"),
    ("max(u)", "max() takes at least two arguments, found 1", "max(a, b)"),
    ("erf(x, y)", "erf() takes exactly one argument, found 2", "erf(pi*x)"),
    ("x < 0.5", "comparisons are only allowed in 'on:' selectors and as where()'s "
     "condition", "where(x < 0.5, 1, 10)"),
    ("u*(x > 0 and y > 0)", "'and'/'or' are only allowed", "where(x > 0.2 and x < 0.4, 1, 0)"),
    ("d(x < 0.5, x)", "comparisons are only allowed", ""),
    ("wehre(x < 0.5, 1, 2)", "unknown function 'wehre' (did you mean 'where'?)", "clip"),
]


@pytest.mark.parametrize("text, message, fix", PARSE_ERRORS)
def test_parse_errors(text, message, fix):
    with pytest.raises(ExprError) as exc:
        parse(text, NS)
    assert message in exc.value.message
    assert fix in exc.value.fix


def test_wrong_arity_names_the_key_and_line(tmp_path, capsys):
    from pinnkit.cli import main

    path = tmp_path / "case.yaml"
    path.write_text(PIECEWISE_1D.replace("where(x < 0.5, k1, k2)", "where(x < 0.5, k1)"))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "equations.pde (line 7 of" in err  # the text starts with a blank line
    assert "where() takes exactly three arguments, found 2 (column 4)" in err
    assert "Fix: write where(condition, value where it holds, value elsewhere)" in err


PIECEWISE_1D = """
inputs: [x]
outputs: [u]
domain: {x: [0, 1]}
constants: {k1: 1, k2: 10}
equations:
  pde: -d(where(x < 0.5, k1, k2)*u_x, x) - 1
conditions:
  ends: {on: x == 0 or x == 1, residual: u}
model: {width: 8, depth: 2}
training:
  points: {domain: 64, boundary: 8}
  stages: [{optimizer: adam, steps: 2}]
"""


def test_differentiated_coefficient_jump_is_a_warning(tmp_path):
    report = report_for(tmp_path, PIECEWISE_1D)
    (f,) = only(report, "smoothness")
    assert (f.level, f.key, f.line) == ("warning", "equations.pde", 6)
    assert "residual 'pde' differentiates a piecewise function of the inputs across its " \
        "jump (where x < 0.5 switches)" in f.message
    assert "continuity of the flux k*u_x" in f.message
    assert "make the flux an output" in f.fix and report.ok


def test_coefficient_jump_not_differentiated_is_fine(tmp_path):
    text = PIECEWISE_1D.replace("-d(where(x < 0.5, k1, k2)*u_x, x) - 1",
                                "-u_xx - where(x < 0.5, k1, k2)")
    assert not only(report_for(tmp_path, text), "smoothness")


@pytest.mark.parametrize("residual, where", [
    ("d(max(u, 0), x, x) - 1", "where u >= 0 switches"),
    ("d(max(u_x, 0), x, x) - 1", "where u_x >= 0 switches"),
    ("d(abs(u), x, x) + 1", "where u = 0"),
    ("d(sign(u - 0.5), x)", "where u - 0.5 = 0"),
    ("d(where(u > x, u, 0), x)", "where u > x switches"),
])
def test_differentiated_kink_of_a_field_is_an_error(tmp_path, residual, where):
    report = report_for(tmp_path, PIECEWISE_1D.replace(
        "-d(where(x < 0.5, k1, k2)*u_x, x) - 1", residual))
    (f,) = only(report, "smoothness")
    assert f.level == "error" and f.key == "equations.pde" and not report.ok
    assert "differentiates a function of the network's fields past its kink or jump " \
        f"({where})" in f.message
    assert "0.5*(u + sqrt(u**2 + 1e-4)) for max(u, 0)" in f.fix


def test_kink_of_a_field_differentiated_once_is_fine(tmp_path):
    text = PIECEWISE_1D.replace("-d(where(x < 0.5, k1, k2)*u_x, x) - 1",
                                "d(max(u, 0), x) + u_xx - 1")
    assert not only(report_for(tmp_path, text), "smoothness")


def test_transform_kinks_limit_the_order(tmp_path):
    from checks_helpers import compiled

    from pinnkit.checks.smoothness import transform_limit

    problem, _ = compiled(tmp_path, PIECEWISE_1D)
    ns = problem.namespace
    assert transform_limit("max(x - 0.5, 0)*net", ns).order == 1
    assert transform_limit("where(x < 0.5, 1, 2)*net", ns).order == 0
    assert transform_limit("clip(x, 0.2, 0.8)*net", ns).label == "clip(x, 0.2, 0.8)"
    assert transform_limit("erf(x)*atan2(x, 1)*net", ns) is None


def test_taylor_engine_differentiates_transforms_with_the_new_functions():
    """The Taylor engine differentiates an output transform with the symbolic rules; nested
    autograd through the same torch functions must agree (float64)."""
    spec = {"u": "erf(x)*net + atan2(t + 1, 2 - x)*net**2 + asin(x/3)",
            "v": "where(x < 0.5, 1 + x**2, 2*x)*net + acos(t/2)*atan(net)"}
    tr = OutputTransform(spec, ("x", "t"), ("u", "v"))
    model = MLP(2, 2, 8, 2, "tanh", [0, 0], [1, 1], transform=tr).double()
    x = torch.rand(9, 2, dtype=torch.float64)
    keys = [Partial("u", (0, 0)), Partial("u", (2, 0)), Partial("u", (1, 1)),
            Partial("v", (1, 0)), Partial("v", (0, 3)), Partial("v", (2, 1))]
    want = AutogradEngine()(model, x, keys, ("u", "v"))
    got = TaylorEngine()(model, x, keys, ("u", "v"))
    for key in keys:
        scale = float(want[key].detach().abs().max()) + 1.0
        assert float((got[key] - want[key]).detach().abs().max()) <= 1e-11 * scale, key


CORNER = "(x**2 + y**2)**(1/3)*sin(2*(atan2(-y, -x) + pi)/3)"


def test_corner_singular_solution_with_atan2():
    """r^(2/3) sin(2 theta/3) on the L-shaped domain, theta in (0, 2 pi) measured from the
    positive x axis (the branch cut along it, on the L's boundary), equals numpy's and is
    harmonic: its Laplacian from the symbolic rules vanishes at interior points."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(400, 2, generator=g, dtype=torch.float64) * 2 - 1
    x = x[~((x[:, 0] > 0) & (x[:, 1] < 0))]  # the L: the square less its fourth quadrant
    a, b = x[:, 0].numpy(), x[:, 1].numpy()
    theta = np.mod(np.arctan2(b, a), 2 * np.pi)
    want = np.hypot(a, b) ** (2 / 3) * np.sin(2 * theta / 3)
    np.testing.assert_allclose(_value(CORNER, x).numpy(), want, rtol=1e-13, atol=1e-15)
    lap = _value(f"d({CORNER}, x, x) + d({CORNER}, y, y)", x)
    grad = _value(f"d({CORNER}, x)", x)
    assert float(lap.abs().max()) < 1e-11 * float(grad.abs().max())
    # zero on both edges of the re-entrant corner
    edge = torch.tensor([[0.3, 0.0], [0.0, -0.6]], dtype=torch.float64)
    assert float(_value(CORNER, edge).abs().max()) < 1e-15


def test_selectors_evaluate_the_new_functions_with_numpy():
    from pinnkit.geometry import parse_selector

    cols = {"x": np.array([0.2, 0.8, -0.5]), "y": np.array([0.5, -0.5, 0.1])}
    cases = {"atan2(y, x) > 0": [True, False, True], "max(x, y) >= 0.5": [True, True, False],
             "erf(x) > 0": [True, True, False], "where(x < 0, 1, 0) == 1": [False, False, True],
             "clip(y, 0, 0.2) == 0.2": [True, False, False],
             "heaviside(x) + sign(y) == 2": [True, False, False]}
    for text, want in cases.items():
        sel = parse_selector(text, ("x", "y"), {}, ())
        np.testing.assert_array_equal(sel(cols, {}, 1e-12), want, err_msg=text)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_functions_on_cuda_match_cpu():
    x = _points(4096)
    for text in SMOOTH + PIECEWISE:
        for expr in (text, f"d({text}, x, y)"):
            cpu = _value(expr, x)
            gpu = _value(expr, x.cuda())
            assert gpu.device.type == "cuda"
            torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-12, atol=1e-12)
