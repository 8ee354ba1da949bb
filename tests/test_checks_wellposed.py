"""Well-posedness hints: initial conditions, uncovered faces, trivial solutions."""

from __future__ import annotations

from checks_helpers import HEAT, compiled, only, problems, report_for

import pinnkit
from pinnkit.checks.findings import Context
from pinnkit.checks.wellposed import check_parameters


def test_heat_is_clean(tmp_path):
    report = report_for(tmp_path, HEAT)
    assert report.ok and problems(report) == []


def test_time_input_without_initial_condition_warns(tmp_path):
    text = HEAT.replace("  initial: {on: t == 0, residual: u - sin(pi*x)}\n", "")
    text = text.replace("u_t - 0.1*u_xx", "u_t - 0.1*u_xx - sin(pi*x)")
    report = report_for(tmp_path, text)
    (f,) = problems(report)
    assert (f.level, f.check, f.key, f.line) == ("warning", "initial_condition", "conditions", 6)
    assert "input 't' is time-like but no condition applies at t == 0" in f.message
    assert "no initial condition" in f.message and "on: t == 0" in f.fix


def test_uncovered_faces_warn_one_line_each(tmp_path):
    report = report_for(tmp_path, """
        inputs: [x, y]
        outputs: [u]
        domain: {x: [0, 1], y: [0, 2]}
        equations:
          poisson: u_xx + u_yy + 1
        conditions:
          sides: {on: x == 0 or x == 1, residual: u}
        """)
    found = only(report, "boundary_coverage")
    assert [f.level for f in found] == ["warning", "warning"]
    assert "no condition applies on the face y == 0, although the equations differentiate " \
        "twice in y" in found[0].message
    assert "y == 2" in found[1].message and found[1].fix.startswith("add a condition with on: y")


ADVECTION = """
    inputs: [x, t]
    outputs: [u]
    domain: {x: [0, 1], t: [0, 1]}
    equations:
      advection: u_t + u_x
    conditions:
      initial: {on: t == 0, residual: u - sin(pi*x)}
      inflow: {on: x == 0, residual: u}
    """


def test_first_order_input_needs_one_face_only(tmp_path):
    assert problems(report_for(tmp_path, ADVECTION)) == []
    no_inflow = report_for(tmp_path, ADVECTION.replace("  inflow: {on: x == 0, residual: u}\n",
                                                       ""))
    (f,) = problems(no_inflow)
    assert "no condition applies on either face of x (x == 0 or x == 1)" in f.message


def test_homogeneous_problem_warns_that_zero_solves_it(tmp_path):
    report = report_for(tmp_path, """
        inputs: [x, y]
        outputs: [u]
        domain: {x: [0, 1], y: [0, 1]}
        equations:
          laplace: u_xx + u_yy
        conditions:
          walls: {on: boundary, residual: u}
        """)
    (f,) = problems(report)
    assert (f.level, f.check, f.key) == ("warning", "trivial_solution", "equations")
    assert "u = 0 satisfies every equation and condition (all are homogeneous) and there is " \
        "no data" in f.message


def test_trivial_solution_promoted_to_error(tmp_path):
    report = report_for(tmp_path, """
        inputs: [x]
        outputs: [u]
        domain: {x: [0, 1]}
        equations:
          pde: u_xx + u
        conditions:
          ends: {on: x == 0 or x == 1, residual: u_x}
        checks: {trivial_solution: error}
        """)
    assert not report.ok
    assert [f.level for f in only(report, "trivial_solution")] == ["error"]


def test_method_residuals_are_checked_too():
    class Laplace(pinnkit.Problem):
        inputs, outputs = ("x",), ("u",)
        domain = pinnkit.Box(x=(0, 1))
        equations = {"pde": lambda self, d: d.u_xx}
        conditions = {"ends": ("x == 0 or x == 1", "u")}

    report = pinnkit.api.check_report(Laplace())
    assert [f.check for f in problems(report)] == ["trivial_solution"]


def test_parameters_hook_is_silent_until_parameters_exist(tmp_path):
    problem, cfg = compiled(tmp_path, HEAT)
    ctx = Context(problem, cfg, pinnkit.MLP(2, 1, 4, 1))
    assert check_parameters(ctx) == []


def test_parameters_without_data_warn_once_parameters_exist():
    class Inverse(pinnkit.Problem):
        inputs, outputs = ("x",), ("u",)
        domain = pinnkit.Box(x=(0, 1))
        equations = {"pde": "u_xx + 1"}
        conditions = {"ends": ("x == 0 or x == 1", "u")}
        parameters = {"k": {"init": 0.5}}

    (f,) = only(pinnkit.api.check_report(Inverse()), "parameters")
    assert (f.level, f.key) == ("warning", "parameters.k")
    assert "learnable parameter 'k' has no data to identify it" in f.message
