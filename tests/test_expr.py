import pytest
import torch

from pinnkit.errors import ExprError
from pinnkit.expr import Namespace, Partial, compile_expr, parse, parse_name, partials, render

NS = Namespace(("x", "t"), ("u",), ("alpha",))


def p(field, *orders):
    return Partial(field, tuple(orders))


@pytest.mark.parametrize(
    "text, needs",
    [
        ("u_t - alpha*u_xx", {p("u", 0, 1), p("u", 2, 0)}),
        ("u*u_x + sin(pi*x)", {p("u", 0, 0), p("u", 1, 0)}),
        ("u_xt + u_tx", {p("u", 1, 1)}),  # mixed partials commute
        ("d(u, x, x, t)", {p("u", 2, 1)}),
        ("u_xxxx", {p("u", 4, 0)}),
        ("-u**2 + 2.5e-3", {p("u", 0, 0)}),
    ],
)
def test_parse_finds_exactly_the_needed_derivatives(text, needs):
    assert partials(parse(text, NS)) == needs


def test_derivative_of_an_expression_uses_the_chain_rule():
    node = parse("d(u**2, x)", NS)
    assert render(node, NS.inputs) == "((2 * u) * u_x)"
    fn = compile_expr(node)
    env = {p("u", 0, 0): torch.tensor(3.0), p("u", 1, 0): torch.tensor(0.5)}
    assert float(fn(env)) == pytest.approx(3.0)


def test_long_input_names_use_d():
    ns = Namespace(("x1", "x2"), ("u",))
    node = parse("d(u, x1, x2) + d(u, x1, x1)", ns)
    assert partials(node) == {p("u", 1, 1), p("u", 2, 0)}
    assert p("u", 1, 1).name(ns.inputs) == "d(u, x1, x2)"


def test_compiled_expression_evaluates_closed_form():
    fn = compile_expr(parse("exp(-alpha*pi**2*t)*sin(pi*x)", NS))
    x, t = torch.tensor([0.5]), torch.tensor([1.0])
    got = fn({"x": x, "t": t, "alpha": 0.1})
    assert torch.allclose(got, torch.exp(torch.tensor(-0.1 * torch.pi**2)), atol=1e-15)


def test_names_round_trip():
    assert parse_name("u_xxt", ("x", "t"), ("u",)) == p("u", 2, 1)
    assert parse_name("u", ("x", "t"), ("u",)) == p("u", 0, 0)
    assert parse_name("v_x", ("x", "t"), ("u",)) is None
    assert p("u", 2, 1).name(("x", "t")) == "u_xxt"


@pytest.mark.parametrize(
    "text, message",
    [
        ("alpah*u_xx", "unknown name 'alpah' (did you mean 'alpha'?) at column 1"),
        ("u_z", "'u_z' differentiates 'u' with respect to 'z', which is not an input"),
        ("u^2", "Fix: write powers as '**', not '^'"),
        ("sin(x", "syntax error"),
        ("sinn(x)", "unknown function 'sinn' (did you mean 'sin'?)"),
        ("__import__('os').system('true')", "only plain function names may be called"),
        ("().__class__", "'().__class__' is not allowed (Attribute)"),
        ("lambda: 1", "not allowed (Lambda)"),
        ("[i for i in x]", "not allowed (ListComp)"),
        ("x if t else u", "not allowed (IfExp)"),
        ("'u'", "'u' is not a number"),
        ("sin(x, t)", "sin() takes exactly one argument, found 2"),
        ("d(u, y)", "'y' is not an input"),
        ("d(u)", "d() needs an expression and at least one input"),
        ("u == 1", "comparisons are only allowed in 'on:' selectors"),
        ("sin", "'sin' is a function"),
        ("", "empty expression"),
        ("u + (", "syntax error"),
    ],
)
def test_invalid_expressions_are_refused_with_a_message(text, message):
    with pytest.raises(ExprError) as info:
        parse(text, NS)
    assert message in str(info.value)


def test_column_is_reported():
    with pytest.raises(ExprError) as info:
        parse("u_t - alpah*u_xx", NS)
    assert info.value.column == 6
    assert "at column 7" in str(info.value)


def test_selectors_allow_comparisons_and_logic():
    node = parse("x == 0 or x == 1 and t > 0.5", Namespace(("x", "t")), selector=True)
    fn = compile_expr(node)
    got = fn({"x": torch.tensor([0.0, 1.0, 1.0, 0.5]), "t": torch.tensor([0.0, 0.2, 0.9, 0.9])})
    assert got.tolist() == [True, False, True, False]


def test_python_syntax_warnings_become_expression_errors():
    """'00or' makes Python warn (invalid decimal literal) before it fails: the user sees
    one ExprError, not the warning as well."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ExprError, match="invalid decimal literal"):
            parse("00or", Namespace(("x",), ("u",)))
    assert not caught, [str(w.message) for w in caught]


def test_a_function_of_numbers_keeps_float64():
    """sqrt(c) and sin(pi/3) read only numbers; they were computed in float32 (2.4e-8
    off in a float64 residual, which the exact_residual check showed on KdV's boundary
    data). Now float64 at round-off; a float32 residual stays float32."""
    ns = Namespace(("x",), (), ("c",))
    x64 = torch.ones(3, dtype=torch.float64)
    got = compile_expr(parse("sqrt(c)*x + sin(pi/3)", ns)).fn({"c": 2.0, "x": x64})
    assert got.dtype == torch.float64
    assert torch.allclose(got, torch.full_like(x64, 2**0.5 + 3**0.5 / 2), rtol=0, atol=1e-15)
    x32 = torch.ones(3, dtype=torch.float32)
    assert compile_expr(parse("sqrt(c)*x", ns)).fn({"c": 2.0, "x": x32}).dtype == torch.float32


def test_a_line_break_in_an_expression_says_what_yaml_kept():
    """YAML's >- keeps the line break before a more-indented line; Python then stops at
    it ('unexpected indent'). The fix names the cause; parentheses make the break legal."""
    ns = Namespace(("x", "t"), ("u",))
    with pytest.raises(ExprError) as info:
        parse("u_t - u_xx\n  - exp(-t)", ns)
    text = str(info.value)
    assert "syntax error (unexpected indent) on line 2 of the expression" in text
    assert r"in 'u_t - u_xx\n  - exp(-t)'" in text and "\n" not in text  # one line
    assert "YAML's > keeps the break before a line indented more than the first" in text
    assert "wrap it in parentheses" in text
    with pytest.raises(ExprError, match="a line break ends it"):
        parse("u_t - u_xx\n- exp(-t)", ns)  # YAML's |: every break kept
    assert parse("(u_t - u_xx\n  - exp(-t))", ns) == parse("u_t - u_xx - exp(-t)", ns)
    with pytest.raises(ExprError, match="unbalanced parentheses"):
        parse("(u_t - u_xx", ns)  # one line: the old hint
