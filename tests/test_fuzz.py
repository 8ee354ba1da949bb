"""Fuzzing: whatever a user types, the only exception that escapes is a PinnkitError
(and the only warning a CheckWarning).

Hypothesis feeds arbitrary strings and expression-like token soups to the expression and
selector parsers (and evaluates what they accept), arbitrary YAML-like trees and random
mutations of configs/heat.yaml (of its data, its text, and --set overrides) to the config
loader and problem compiler (``pinnkit.check``). Strings that would run code if they were
evaluated are refused without running: the side effect they aim for never happens.

Runs are derandomized so the suite is deterministic; set PINNKIT_FUZZ_RANDOM=1 (and
PINNKIT_FUZZ_SCALE=10 for ten times more examples) to explore new inputs.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pinnkit
from pinnkit.config import read_yaml
from pinnkit.errors import CheckWarning, ConfigError, ExprError, PinnkitError
from pinnkit.expr import Namespace, compile_expr, parse
from pinnkit.geometry import Box, get_sampler, parse_selector

ROOT = Path(__file__).resolve().parents[1]
HEAT_TEXT = (ROOT / "configs" / "heat.yaml").read_text()
HEAT, _ = read_yaml(HEAT_TEXT)
NS = Namespace(("x", "t"), ("u", "v"), ("alpha",))
BOX = Box(x=(0, 1), t=(0, 1))
SCALE = int(os.environ.get("PINNKIT_FUZZ_SCALE", "1"))


def fuzz(n: int) -> settings:
    return settings(max_examples=n * SCALE, deadline=None, database=None,
                    derandomize=not os.environ.get("PINNKIT_FUZZ_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


TOKENS = [
    "u", "v", "x", "t", "y", "u_x", "u_xx", "u_t", "u_y", "v_t", "w_x", "alpha", "pi", "e",
    "d", "sin", "exp", "log", "sqrt", "abs", "sign", "tanh", "boundary", "__import__", "os",
    "lambda", "for", "in", "if", "else", "not", "and", "or", "is", "None", "True", "0", "1",
    "2.5", "1e400", "1" + "0" * 400, "+", "-", "*", "/", "**", "^", "%", "//", "@", "(", ")",
    "[", "]", "{", "}", ",", ":", ":=", ".", "'", '"', "f'", "==", "=", "<", ">=", "!=", "\\",
    "#", ";", "\n", "\t", "\x00", "__class__", "__bases__", "...", "`", "$",
]
soup = st.lists(st.sampled_from(TOKENS), max_size=24)
strings = st.one_of(st.text(max_size=60), soup.map(" ".join), soup.map("".join))


def count(reliability: dict, name: str) -> None:
    reliability[name] = reliability.get(name, 0) + 1


def pinnkit_errors_only(fn, *args, **kwargs):
    """Call fn; a PinnkitError is a fine answer, any other exception fails the test.

    Likewise for warnings: a mutated config may well be ill-posed, and pinnkit's
    CheckWarning saying so is a fine answer; any other warning fails the test.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(*args, **kwargs)
        except PinnkitError:
            result = None
    others = [f"{w.category.__name__}: {w.message}" for w in caught
              if not issubclass(w.category, CheckWarning)]
    assert not others, others
    return result


def evaluate(text: str, selector: bool) -> None:
    node = parse(text, NS, selector=selector)
    compiled = compile_expr(node)
    env = {p: torch.rand(5) for p in compiled.needs}
    env.update({"x": torch.rand(5), "t": torch.rand(5), "alpha": 0.1})
    with np.errstate(all="ignore"):
        compiled.fn(env)


@fuzz(300)
@given(text=strings)
def test_expression_parser_raises_only_pinnkit_errors(text, reliability):
    count(reliability, "fuzz examples: expression parser")
    pinnkit_errors_only(evaluate, text, False)
    pinnkit_errors_only(evaluate, text, True)


def select(text: str) -> None:
    selector = parse_selector(text, BOX.names, {"alpha": 0.1}, BOX.part_names())
    with np.errstate(all="ignore"):
        BOX.sample_boundary(8, get_sampler("sobol"), 0, selector)


@fuzz(200)
@given(text=strings | soup.map(lambda ts: "x == 0 or " + " ".join(ts)))
def test_selector_parser_raises_only_pinnkit_errors(text, reliability):
    count(reliability, "fuzz examples: selector parser")
    pinnkit_errors_only(select, text)


CONFIG_KEYS = [
    "name", "inputs", "outputs", "domain", "constants", "equations", "conditions", "exact",
    "model", "training", "logging", "checks", "problem", "x", "t", "u", "alpha", "heat",
    "initial", "walls", "on", "residual", "weight", "width", "depth", "activation", "dtype",
    "engine", "fourier_features", "features", "sigma", "seed", "device", "points", "stages",
    "weights", "optimizer", "lr", "steps", "decay", "history", "sampler", "chunk", "every",
]
# lighter than `strings`: drawing recursive trees dominates these tests' time
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                    st.sampled_from([*TOKENS, "t == 0", "u_t - u_xx", "tanh", "adam", "x"]))
keys = st.sampled_from(CONFIG_KEYS) | st.text(max_size=8)
trees = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                     | st.dictionaries(keys, kids, max_size=4), max_leaves=10)

WORK = Path(tempfile.mkdtemp(prefix="pinnkit-fuzz-"))


def check_text(text: str, overrides: tuple[str, ...] = ()) -> None:
    path = WORK / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    pinnkit_errors_only(pinnkit.check, path, overrides=overrides)


def check_data(data) -> None:
    check_text(yaml.safe_dump(data, allow_unicode=True))


@fuzz(200)
@given(data=st.dictionaries(keys, trees, max_size=6) | trees)
def test_arbitrary_yaml_trees_raise_only_pinnkit_errors(data, reliability):
    count(reliability, "fuzz examples: arbitrary YAML trees")
    check_data(data)


def paths(tree, prefix=()):
    """Every (container path, key) in a tree, so a mutation can pick any node."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) \
        if isinstance(tree, list) else ()
    for k, v in items:
        yield prefix, k
        yield from paths(v, (*prefix, k))


@st.composite
def mutated_heat(draw):
    data = copy.deepcopy(HEAT)
    for _ in range(draw(st.integers(1, 3))):
        where = list(paths(data))
        prefix, key = draw(st.sampled_from(where))
        parent = data
        for k in prefix:
            parent = parent[k]
        op = draw(st.sampled_from(["replace", "delete", "rename", "wrap"]))
        if op == "replace":
            parent[key] = draw(trees)
        elif op == "delete":
            del parent[key]
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif isinstance(parent, dict):
            parent[draw(keys)] = parent.pop(key)
    return data


@fuzz(200)
@given(data=mutated_heat())
def test_mutations_of_the_heat_config_raise_only_pinnkit_errors(data, reliability):
    count(reliability, "fuzz examples: mutated heat.yaml data")
    check_data(data)


@st.composite
def edited_heat_text(draw):
    text = HEAT_TEXT
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 8))
        text = text[:at] + draw(st.sampled_from(TOKENS) | st.text(max_size=4)) + text[at + cut:]
    return text


@fuzz(200)
@given(text=edited_heat_text())
def test_text_edits_of_the_heat_config_raise_only_pinnkit_errors(text, reliability):
    count(reliability, "fuzz examples: edited heat.yaml text")
    check_text(text)


overrides = st.tuples(st.sampled_from(["model.width", "training.stages.0.lr", "domain.x",
                                       "equations.heat", "conditions.walls.on", "x"])
                      | st.text(max_size=12), strings).map("=".join) | strings


@fuzz(150)
@given(items=st.lists(overrides, min_size=1, max_size=3))
def test_set_overrides_raise_only_pinnkit_errors(items, reliability):
    count(reliability, "fuzz examples: --set overrides")
    check_text(HEAT_TEXT, tuple(items))


def evil(marker: Path) -> list[str]:
    """Strings that would create ``marker`` (or reach Python internals) if evaluated."""
    touch = f"__import__('os').system('touch {marker}')"
    return [
        touch,
        f"u + {touch}",
        "().__class__.__bases__[0].__subclasses__()",
        "u.__class__",
        f"(lambda: {touch})()",
        f"u - (lambda: {touch})",
        f"[{touch} for _ in (1,)]",
        f"sum({touch} for _ in (1,))",
        "(y := u_x) + y",
        f"(m := __import__('os')) and m.system('touch {marker}')",
        f"f\"{{{touch}}}\"",
        f"sin(*[{touch}])",
        f"sin(**{{'x': {touch}}})",
        f"open('{marker}', 'w')",
        f"exec(\"open('{marker}', 'w')\")",
        "eval('1 + 1')",
        "getattr(u, '__class__')",
        "globals()['__builtins__']",
        f"x if {touch} else 0",
        "u[0]",
        "{1, 2}",
        "u_x; import os",
        "breakpoint()",
        "9" * 5000,
    ]


@pytest.mark.parametrize("field", ["equation", "selector", "exact"])
def test_code_in_expressions_is_refused_and_never_runs(field, tmp_path, reliability):
    marker = tmp_path / "pwned"
    ns = Namespace(("x", "t"), ("u",), ("alpha",))
    for text in evil(marker):
        with pytest.raises(ExprError):
            parse(text, ns, selector=field == "selector")
        data = copy.deepcopy(HEAT)
        if field == "equation":
            data["equations"]["heat"] = text
        elif field == "selector":
            data["conditions"]["walls"]["on"] = text
        else:
            data["exact"] = text
        path = tmp_path / "evil.yaml"
        path.write_text(yaml.safe_dump(data))
        key = {"equation": "equations.heat", "selector": "conditions.walls.on"}.get(field, field)
        with pytest.raises(ConfigError, match=key.replace(".", r"\.") + r" \(line \d+"):
            pinnkit.check(path)
        assert not marker.exists(), text
        count(reliability, "code-injection strings refused")
