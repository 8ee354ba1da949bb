"""Issue 16, config side: what the bad-input corpus cannot hold (inputs that must now work,
warnings, timings). The refusals themselves are corpus cases (tests/corpus/)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from pinnkit.api import check_report, resolve
from pinnkit.cli import main
from pinnkit.config import config_from_data, read_yaml
from pinnkit.config.load import apply_overrides
from pinnkit.errors import ConfigError, ExprError
from pinnkit.expr import Namespace, parse
from pinnkit.expr.analysis import tree_size
from pinnkit.training import sizes
from pinnkit.training.metrics import reference_errors

HEAT = "configs/heat.yaml"
SMALL = ["model.width=8", "model.depth=2", "training.points.domain=64",
         "training.points.boundary=16"]


def _findings(report, check):
    return [f for f in report.findings if f.check == check]


# --set values: the file loader, with its keys-as-text rule and its limits


def test_set_value_keys_are_text_like_in_files():
    # YAML 1.1 reads `on` as True; the file loader keeps keys as text, --set must too
    data, lines = read_yaml("a: 1\n")
    apply_overrides(data, lines, ["conditions.extra={on: x == 0, residual: u_x}"])
    assert data["conditions"]["extra"] == {"on": "x == 0", "residual": "u_x"}
    assert lines["conditions.extra"] == 0


def test_set_condition_with_on_checks_through_the_cli(capsys):
    code = main(["check", HEAT, *[f"--set={s}" for s in SMALL],
                 "--set", "conditions.extra={on: x == 0, residual: u_x}"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "extra (order 1)" in out.out


def test_set_alias_bomb_is_refused_under_its_key():
    bomb = "[&a [1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], " \
        "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c], " \
        "&e [*d,*d,*d,*d,*d,*d,*d,*d,*d]]"
    with pytest.raises(ConfigError, match=r"expands to more than 20000 values") as info:
        apply_overrides({}, {}, [f"exact={bomb}"])
    assert info.value.key.startswith("exact") and info.value.line == 0


def test_set_text_that_is_not_yaml_stays_text():
    data: dict = {}
    apply_overrides(data, {}, ["name=a: b: c"])
    assert data["name"] == "a: b: c"


# numbers written 1e3 (YAML 1.1 wants a dot)


@pytest.mark.parametrize("text, value", [("1e3", 1000.0), ("-2E-5", -2e-5), ("+1e1", 10.0)])
def test_exponent_without_dot_is_a_number(text, value):
    data, _ = read_yaml(f"a: [0, {text}]\nb: '1e3'\n")
    assert data["a"][1] == value and isinstance(data["a"][1], float)
    assert data["b"] == "1e3"  # quoted stays text


def test_domain_and_box_accept_1e3(tmp_path):
    base = open(HEAT).read()
    for domain in ("domain: {x: [0, 1e1], t: [0, 1]}",
                   "domain: {box: {x: [0, 1e1], t: [0, 1]}}"):
        path = tmp_path / "c.yaml"
        path.write_text(base.replace("domain: {x: [0, 1], t: [0, 1]}", domain))
        problem, _ = resolve(path, SMALL)
        assert problem.shape.bounds()[1][0] == 10.0


# sizes: bounds in the schema, one memory estimate before anything is built


def test_every_size_key_has_a_bound():
    for key, value in [("model.width", 10**11), ("model.depth", 10**7),
                       ("training.points.domain", 10**10), ("logging.grid", 10**6),
                       ("training.causal.chunks", 10**9)]:
        data: dict = {"inputs": ["x"], "outputs": ["u"]}
        apply_overrides(data, {}, [f"{key}={value}"])
        with pytest.raises(ConfigError, match="at most") as info:
            config_from_data(data)
        assert info.value.key == key


def test_memory_estimate_names_the_largest_part(monkeypatch):
    problem, cfg = resolve(HEAT, ["training.points.domain=1000000", "model.width=512"])
    monkeypatch.setattr(sizes, "available_memory", lambda device: 2 * sizes.GiB)
    with pytest.raises(ConfigError, match=r"GiB free") as info:
        sizes.check_sizes(problem, cfg, torch.device("cpu"))
    assert info.value.key == "training.points.domain"
    assert "or set training.points.chunk" in info.value.fix
    # the shipped config fits in the same 2 GiB
    problem, cfg = resolve(HEAT)
    sizes.check_sizes(problem, cfg, torch.device("cpu"))


def test_parameter_count_matches_the_built_network():
    from pinnkit.training.setup import build_model
    for extra in ([], ["model.fourier_features={features: 7}"]):
        problem, cfg = resolve(HEAT, ["model.width=13", "model.depth=3", *extra])
        built = sum(p.numel() for p in build_model(problem, cfg).parameters())
        assert sizes.parameter_count(problem, cfg) == built


# symbolic derivatives: a size cap instead of a hang


def test_order_10_derivative_is_refused_in_seconds():
    ns = Namespace(("x", "t"), ("u",), ("alpha",))
    body = "exp(-alpha*x)*sin(x*u)/(1 + x**2*tanh(u))"
    start = time.perf_counter()
    with pytest.raises(ExprError, match=r"d\(\) of order 10 grows the expression"):
        parse(f"d({body}, {', '.join(['x'] * 10)})", ns)
    assert time.perf_counter() - start < 5


def test_small_derivatives_of_expressions_still_work():
    ns = Namespace(("x", "t"), ("u",), ("alpha",))
    node = parse("d(exp(-alpha*pi**2*t)*sin(pi*x), x, x, x, x)", ns)
    assert tree_size(node) < 100


# names


def test_fullwidth_letter_in_expression_is_refused_not_folded():
    ns = Namespace(("x", "t"), ("u",))
    with pytest.raises(ExprError, match=r"'ｔ' \(U\+FF54\) would be read as 't'"):
        parse("u_ｔ - u_xx", ns)
    assert parse("α*u", Namespace(("x",), ("u",), ("α",))) is not None  # NFKC-plain Unicode


# exact: zero and non-finite references


def test_zero_reference_warns_and_reports_an_absolute_error():
    report = check_report(HEAT, overrides=[*SMALL, "exact=0"])
    found = _findings(report, "output_scale")
    assert found and "root-mean-square" in found[0].message
    problem, _ = resolve(HEAT, [*SMALL, "exact=0"])
    model = torch.nn.Sequential(torch.nn.Linear(2, 1))
    torch.nn.init.zeros_(model[0].weight)
    torch.nn.init.constant_(model[0].bias, 0.5)
    x = np.random.default_rng(0).random((100, 2))
    assert reference_errors(model, problem, x)["l2_relative"]["u"] == pytest.approx(0.5)


# the step-0 loss


def test_infinite_step_zero_loss_is_an_error():
    report = check_report(HEAT, overrides=[*SMALL, "training.weights.initial=1e308"])
    errors = [f for f in _findings(report, "loss_balance") if f.level == "error"]
    assert errors and errors[0].key == "training.weights.initial"
    assert "infinite loss" in errors[0].message
    assert not report.ok


# a condition on the final time


def test_condition_on_the_final_time_warns():
    report = check_report(HEAT, overrides=[*SMALL, "conditions.walls={on: boundary, "
                                                   "residual: u}"])
    found = _findings(report, "final_time")
    assert len(found) == 1 and found[0].level == "warning"
    assert found[0].key == "conditions.walls.on"
    assert "on: x == 0 or x == 1" in found[0].fix
    assert not _findings(check_report(HEAT, overrides=SMALL), "final_time")
