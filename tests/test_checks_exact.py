"""The reference against the problem (exact_residual), enough initial data for the order
in time (initial_order), and an expression that YAML broke across lines."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from checks_helpers import HEAT, compiled, only, problems, report_for, write

import pinnkit
from pinnkit.api import check_report
from pinnkit.checks import reference
from pinnkit.checks.findings import Context
from pinnkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "configs").glob("*.yaml")) + \
    sorted((ROOT / "benchmarks" / "pinnacle").glob("*.yaml"))


def residuals_of(path: Path | str) -> dict[str, reference.Residual]:
    problem, cfg = pinnkit.api.resolve(path)
    found, _ = reference.residuals(Context(problem, cfg, torch.nn.Identity()))
    return {r.term.name: r for r in found}


# --- exact_residual -------------------------------------------------------------------

LINE = """
    inputs: [x]
    outputs: [u]
    domain: {x: [0, 1]}
    equations:
      slope: u_x - 1
    conditions:
      left: {on: x == 0, residual: u}
    exact: 2*x
    model: {width: 8, depth: 2}
    """


def test_a_wrong_reference_warns_with_its_residual_and_scale(tmp_path):
    """u = 2x in u_x - 1 = 0 leaves r = 1 at every point; the largest part it reads is
    u_x = 2 (|dr/du_x| = 1): relative 0.5, all exactly."""
    report = report_for(tmp_path, LINE)
    [f] = only(report, "exact_residual")
    assert f.level == "warning" and f.key == "equations.slope" and f.line == 5
    assert f.message == (
        "the reference does not satisfy equation 'slope': its residual there is 1 (90th "
        "percentile of |r| over 256 points; RMS 1), relative 0.5 to 2, the size of the "
        "largest part it reads (u_x); a reference that solves it leaves round-off, about "
        "1e-15")
    assert f.fix.startswith("check the equation and exact: against each other")
    assert report.ok  # a warning: training goes on


def test_a_right_reference_is_silent_and_at_round_off(tmp_path):
    report = report_for(tmp_path, LINE.replace("exact: 2*x", "exact: x"))
    assert only(report, "exact_residual") == []
    assert residuals_of(tmp_path / "case.yaml")["slope"].typical == 0.0


def test_the_residual_is_evaluated_in_float64_whatever_the_training_dtype(tmp_path):
    """sin(pi x) sin(pi y) in the Poisson equation: ~1e-16 of its scale 2 pi^2 with
    float32 training too (float32 would leave ~1e-7)."""
    text = """
        inputs: [x, y]
        outputs: [u]
        domain: {x: [0, 1], y: [0, 1]}
        equations:
          poisson: u_xx + u_yy + 2*pi**2*sin(pi*x)*sin(pi*y)
        conditions:
          walls: {on: boundary, residual: u}
        exact: sin(pi*x)*sin(pi*y)
        training: {stages: [{optimizer: adam, lr: 1.0e-3, steps: 5, dtype: float32}]}
        """
    path = write(tmp_path, text)
    r = residuals_of(path)
    assert r["poisson"].relative < 1e-14 and r["walls"].relative < 1e-14
    # the largest part: u_xx = -pi^2 u, RMS pi^2/2 over the square (256 random points)
    assert math.isclose(r["poisson"].scale, math.pi**2 / 2, rel_tol=0.1)
    assert only(check_report(path), "exact_residual") == []


NEUMANN = """
    inputs: [x, y]
    outputs: [u]
    domain: {x: [0, 1], y: [0, 1]}
    equations:
      poisson: u_xx + u_yy + 2*pi**2*sin(pi*x)*sin(pi*y)
    conditions:
      walls: {on: x == 0 or y == 0 or y == 1, residual: u}
      flux: {on: x == 1, residual: u_n + pi*sin(pi*y)}
    exact: sin(pi*x)*sin(pi*y)
    """


def test_a_neumann_condition_is_evaluated_at_the_reference(tmp_path):
    """u_n = u_x = -pi sin(pi y) on x = 1: right as written; with the sign of g flipped the
    residual is -2 pi sin(pi y), against u_x's size there, pi/sqrt(2)."""
    assert only(report_for(tmp_path, NEUMANN), "exact_residual") == []
    report = report_for(tmp_path, NEUMANN.replace("u_n + pi*sin", "u_n - pi*sin"))
    [f] = only(report, "exact_residual")
    assert f.key == "conditions.flux"
    assert "the reference does not satisfy condition 'flux'" in f.message
    assert "the size of the largest part it reads (u_x)" in f.message
    r = residuals_of(tmp_path / "case.yaml")["flux"]
    assert 0.8 * 2 * math.pi < r.typical <= 2 * math.pi  # 90th percentile of 2 pi |sin|
    # u_x's RMS on the face, pi/sqrt(2) (64 random points: within 20%)
    assert math.isclose(r.scale, math.pi / math.sqrt(2), rel_tol=0.2)


def test_the_verdict_reads_the_90th_percentile_not_the_maximum(tmp_path):
    """A reference off on 2% of the domain (a piece, a kink's neighbourhood) passes; off
    on 30% it warns."""
    text = LINE.replace("u_x - 1", "u - x").replace(
        "exact: 2*x", "exact: where(abs(x - 0.5) < A, x + 1, x)")
    assert only(report_for(tmp_path, text.replace("A", "0.01")), "exact_residual") == []
    [f] = only(report_for(tmp_path, text.replace("A", "0.15")), "exact_residual")
    assert f.key == "equations.slope"


def test_a_collapsed_laplacian_of_a_harmonic_reference_is_not_divided_by_zero(tmp_path):
    """u = x^2 - y^2: u_xx + u_yy is 0 (collapsed into one sum), its summands are 2."""
    text = NEUMANN.replace("+ 2*pi**2*sin(pi*x)*sin(pi*y)", "").replace(
        "exact: sin(pi*x)*sin(pi*y)", "exact: x**2 - y**2").replace(
        "u_n + pi*sin(pi*y)", "u_n - 2")
    r = residuals_of(write(tmp_path, text))
    assert r["poisson"].scale == pytest.approx(2.0) and r["poisson"].relative < 1e-14
    assert r["poisson"].part == "u_xx + u_yy"


def test_the_scale_follows_the_residual_multiplied_through(tmp_path):
    """1e8*(u_x - 1) is the same equation: same relative residual."""
    a = residuals_of(write(tmp_path, LINE))["slope"]
    b = residuals_of(write(tmp_path, LINE.replace("u_x - 1", "1e8*(u_x - 1)")))["slope"]
    assert b.typical == pytest.approx(1e8) and b.relative == pytest.approx(a.relative)


def test_terms_with_learnable_parameters_are_skipped_with_a_note():
    report = check_report(ROOT / "configs" / "heat_inverse.yaml")
    [f] = only(report, "exact_residual")
    assert f.level == "info" and f.key == "equations.heat"
    assert "reads the learnable parameter alpha: the reference satisfies it only at the " \
        "true value" in f.message


def test_table_and_numpy_references_are_not_differentiated():
    assert only(check_report(ROOT / "configs" / "burgers_table.yaml"), "exact_residual") == []
    [f] = only(check_report(ROOT / "configs" / "burgers.yaml"), "exact_residual")
    assert f.level == "info" and "not differentiable with torch" in f.message


def test_a_method_residual_and_exact_method_are_evaluated_too():
    from problems.heat import HeatMethod

    class Wrong(HeatMethod):
        def exact(self, x, t):
            return torch.exp(-torch.pi**2 * t) * torch.sin(torch.pi * x)  # alpha = 1

    assert only(check_report(HeatMethod()), "exact_residual") == []
    found = only(check_report(Wrong()), "exact_residual")
    assert [f.key for f in found] == ["equations.heat"]
    # r = -(1 - alpha) pi^2 u against its largest part u_t = -pi^2 u, on the same points
    r = reference.residuals(Context(*pinnkit.api.resolve(Wrong()), torch.nn.Identity()))[0]
    heat = next(x for x in r if x.term.name == "heat")
    assert heat.rms / heat.scale == pytest.approx(1 - 0.1, rel=1e-12) and heat.part == "u_t"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_shipped_reference_solves_its_problem(path):
    """Round-off (1e-14) for every closed form, 1e-5 where a cubic coefficient field is
    interpolated; Wave2d-MS carries PINNacle's reference, which is no solution."""
    found = residuals_of(path)
    for name, r in found.items():
        if path.stem == "wave2d_lt" and name == "wave":
            assert r.relative > 0.1
            continue
        assert r.relative < (1e-5 if r.reads_field else 1e-13), (name, r)


def test_pinnacle_poisson_inverse_with_pinnacles_source_warns(tmp_path):
    """PINNacle's PInv source has (2x + 1), (2y + 1) where -(1 - 2x), -(1 - 2y) belong
    (benchmarks/pinnacle/README.md): evaluating the equation at (u, a) says so."""
    text = (ROOT / "benchmarks" / "pinnacle" / "poisson_inverse.yaml").read_text()
    wrong = text.replace("(1 - 2*x)*cos", "(2*x + 1)*cos").replace("(1 - 2*y)*sin", "(2*y + 1)*sin")
    assert wrong != text
    (tmp_path / "tables").symlink_to(ROOT / "benchmarks" / "pinnacle" / "tables")
    path = tmp_path / "pinv_pinnacle.yaml"
    path.write_text(wrong)
    [f] = [f for f in only(check_report(path), "exact_residual") if f.level == "warning"]
    assert f.key == "equations.pde" and "does not satisfy equation 'pde'" in f.message


# --- initial_order --------------------------------------------------------------------

WAVE = """
    inputs: [x, t]
    outputs: [u]
    domain: {x: [0, 1], t: [0, 1]}
    constants: {c: 2}
    equations:
      wave: u_tt - c**2*u_xx
    conditions:
      initial:  {on: t == 0, residual: u - sin(pi*x) - 0.5*sin(4*pi*x)}
      velocity: {on: t == 0, residual: u_t}
      walls:    {on: x == 0 or x == 1, residual: u}
    exact: sin(pi*x)*cos(c*pi*t) + 0.5*sin(4*pi*x)*cos(4*c*pi*t)
    """
NO_VELOCITY = WAVE.replace("      velocity: {on: t == 0, residual: u_t}\n", "")


def test_shipped_wave_has_both_initial_conditions():
    assert problems(check_report(ROOT / "configs" / "wave.yaml")) == []


def test_wave_with_u_and_u_t_is_clean(tmp_path):
    assert problems(report_for(tmp_path, WAVE)) == []


def test_wave_without_u_t_warns_naming_what_is_missing(tmp_path):
    [f] = problems(report_for(tmp_path, NO_VELOCITY))
    assert f.check == "initial_order" and f.key == "equations.wave" and f.line == 6
    assert f.message == (
        "equation 'wave' has u_tt: order 2 in t, so it needs u and u_t at t == 0; given on "
        "t == 0: initial (u). Missing: u_t, so solutions starting with any u_t fit equally "
        "and training picks one")
    assert f.fix.startswith("add e.g. velocity: {on: t == 0, residual: u_t - <its initial "
                            "value>}")


def test_a_final_time_or_periodic_condition_in_time_silences_it(tmp_path):
    final = NO_VELOCITY.replace("walls:", "final: {on: t == 1, residual: u - sin(pi*x)*cos(2*pi)"
                                " - 0.5*sin(4*pi*x)*cos(8*pi)}\n      walls:")
    assert only(report_for(tmp_path, final), "initial_order") == []


def test_a_transform_counts_for_what_it_fixes(tmp_path):
    """t*net fixes u at t = 0 only; t**2*net fixes u and u_t (configs/wave.yaml's
    (1 - exp(-(t/0.1)^2))*net too)."""
    base = NO_VELOCITY.replace("      initial:  {on: t == 0, residual: u - sin(pi*x) - "
                               "0.5*sin(4*pi*x)}\n", "")
    t_net = base + "model: {transform: sin(pi*x) + 0.5*sin(4*pi*x) + t*net}\n"
    [f] = only(report_for(tmp_path, t_net), "initial_order")
    assert "given on t == 0: the transform (u). Missing: u_t" in f.message
    t2_net = t_net.replace("t*net", "t**2*net")
    assert only(report_for(tmp_path, t2_net), "initial_order") == []


def test_first_order_in_time_needs_one_condition_only(tmp_path):
    assert only(report_for(tmp_path, HEAT), "initial_order") == []


def test_a_first_order_system_is_counted_per_field(tmp_path):
    """u_t = v, v_t = 4 u_xx (the wave equation as a system): u and v need one each."""
    text = """
        inputs: [x, t]
        outputs: [u, v]
        domain: {x: [0, 1], t: [0, 1]}
        equations:
          position: u_t - v
          velocity: v_t - 4*u_xx
        conditions:
          initial_u: {on: t == 0, residual: u - sin(pi*x)}
          initial_v: {on: t == 0, residual: v}
          walls: {on: x == 0 or x == 1, residual: u}
        """
    assert only(report_for(tmp_path, text), "initial_order") == []
    problem, _ = compiled(tmp_path, text)
    assert max(p.orders[1] for t in problem.terms for p in t.partials) == 1


def test_the_pinnacle_wave_configs():
    """Wave2d-MS gives u only at t = 0 (as PINNacle does); Wave1d-C gives u and u_t."""
    port = ROOT / "benchmarks" / "pinnacle"
    [f] = only(check_report(port / "wave2d_lt.yaml"), "initial_order")
    assert "Missing: u_t" in f.message
    assert only(check_report(port / "wave1d.yaml"), "initial_order") == []


# --- an expression YAML broke across lines ----------------------------------------------

def test_a_folded_block_with_a_more_indented_line_says_so(tmp_path, capsys):
    path = write(tmp_path, HEAT.replace(
        "heat: u_t - 0.1*u_xx", "heat: >-\n        u_t\n          - 0.1*u_xx"))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "equations.heat (line 5 of" in err
    assert r"syntax error (unexpected indent) on line 2 of the expression in 'u_t\n  - 0.1*u_xx'" \
        in err
    assert "Fix: the expression spans lines, and a line break ends it: YAML's > keeps the " \
        "break before a line indented more than the first (| keeps every one); indent " \
        "continuation lines equally, or put the expression in quotes on one line, or wrap " \
        "it in parentheses" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    # equally indented, > folds the lines into one: no error
    same = write(tmp_path, HEAT.replace("heat: u_t - 0.1*u_xx",
                                        "heat: >-\n        u_t\n        - 0.1*u_xx"), "same.yaml")
    assert main(["check", str(same)]) == 0
