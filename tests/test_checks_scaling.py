"""Inputs, points and scales: domain errors in the report, empty selectors, output size,
unnormalised inputs, and the step-0 loss report."""

from __future__ import annotations

import json
import re

from checks_helpers import HEAT, compiled, only, report_for
from torch import nn

import pinnkit
from pinnkit.checks import run_checks


def test_reversed_domain_is_an_error_line_in_the_report(tmp_path):
    report = report_for(tmp_path, HEAT.replace("x: [0, 1]", "x: [1, 0]"))
    (f,) = report.findings
    assert (f.level, f.check, f.key, f.line) == ("error", "domain", "domain.x", 3)
    assert "bounds [1, 0] are empty or reversed" in f.message and f.fix == "write [0, 1]"
    assert json.loads(report.to_json())["findings"][0]["check"] == "domain"


def test_zero_points_is_an_error_line_in_the_report(tmp_path):
    report = report_for(tmp_path, HEAT, "training.points.domain=0")
    (f,) = report.findings
    assert (f.check, f.key, f.line) == ("points", "training.points.domain", 0)
    assert "found 0; expected a positive number" in f.message
    assert "(from --set)" in f.render()


def test_selector_matching_no_boundary_point_is_an_error(tmp_path):
    report = report_for(tmp_path, HEAT.replace("x == 0 or x == 1", "x == 2"))
    (f,) = only(report, "points")
    assert (f.level, f.key, f.line) == ("error", "conditions.walls.on", 8)
    # the problem compiler refuses it (a config error in the report) or, where it does not
    # check selectors, the points check does
    assert "'x == 2' matches no point of the boundary of Box(" in f.message


def test_output_scale_far_from_one_proposes_scaling(tmp_path):
    report = report_for(tmp_path, HEAT.replace("sin(pi*x)}", "3.0e4*sin(pi*x)}")
                        + "exact: 3.0e4*exp(-0.1*pi**2*t)*sin(pi*x)\n")
    (f,) = only(report, "output_scale")
    assert (f.level, f.key, f.line) == ("warning", "exact", 10)
    # max over 256 uniform points of 3e4*exp(-0.1 pi^2 t)*sin(pi x): within 5 % of 3e4
    assert re.search(r"the exact solution has max \|u\| = 2\.(8\d|9\d)e\+04", f.message)
    assert "substitute u = 1e+04*w" in f.fix
    small = report_for(tmp_path, HEAT.replace("sin(pi*x)}", "1.0e-4*sin(pi*x)}")
                       + "exact: 1.0e-4*exp(-0.1*pi**2*t)*sin(pi*x)\n")
    assert re.search(r"max \|u\| = 9\.\d\de-05", only(small, "output_scale")[0].message)
    assert "scale them by ~1e-04" in only(small, "output_scale")[0].message


def test_unnormalised_custom_model_on_a_wide_domain_warns(tmp_path):
    problem, cfg = compiled(tmp_path, HEAT.replace("x: [0, 1]", "x: [-50, 50]")
                            .replace("x == 0 or x == 1", "x == -50 or x == 50"))
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    (f,) = only(run_checks(problem, cfg, net), "input_scale")
    assert f.level == "warning" and "inputs span up to 50" in f.message
    mlp = pinnkit.MLP(2, 1, 8, 1, lower=[-50, 0], upper=[50, 1])
    assert only(run_checks(problem, cfg, mlp), "input_scale") == []  # the MLP normalises


def test_step_zero_report_lists_every_term(tmp_path):
    (f,) = only(report_for(tmp_path, HEAT), "loss_balance")
    assert f.level == "info" and f.key == "training.weights"
    assert "step-0 loss terms (weight x mean): heat " in f.message
    assert ", initial " in f.message and ", walls " in f.message and "; spread " in f.message


def test_wide_spread_at_step_zero_proposes_weights(tmp_path):
    report = report_for(tmp_path, HEAT.replace("u - sin(pi*x)", "u - 1000*sin(pi*x)"))
    found = only(report, "loss_balance")
    assert [f.level for f in found] == ["info", "warning"]
    warn = found[1]
    assert "at initialisation the loss terms differ by" in warn.message
    assert "'initial'" in warn.message
    assert warn.fix.startswith("set training.weights: {initial: 1e-07")  # to the median


def test_domain_check_reports_a_degenerate_shape(tmp_path):
    problem, cfg = compiled(tmp_path, HEAT)
    problem.shape.upper[0] = problem.shape.lower[0]  # Box refuses this when it is built
    (f,) = only(run_checks(problem, cfg, pinnkit.MLP(2, 1, 4, 1)), "domain")
    assert (f.level, f.key, f.line) == ("error", "domain.x", 3)
    assert "bounds [0, 0] are empty, reversed or not finite" in f.message


def test_non_finite_term_at_step_zero_is_an_error(tmp_path):
    report = report_for(tmp_path, HEAT.replace("u_t - 0.1*u_xx", "u_t - 0.1*u_xx - log(u - 10)"))
    (f,) = only(report, "loss_balance")
    assert (f.level, f.key) == ("error", "equations.heat")
    assert f.message == "loss term 'heat' is nan at initialisation"
