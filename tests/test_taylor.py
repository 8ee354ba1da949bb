"""The Taylor engine equals nested autograd: values and weight gradients, in float64."""

from __future__ import annotations

import itertools
import random
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pinnkit.engines import ENGINES, make_engine
from pinnkit.engines import compile as compile_module
from pinnkit.engines.autograd import AutogradEngine
from pinnkit.engines.compile import CompileInfo, maybe_compile
from pinnkit.engines.taylor import (
    Combo,
    ComboAutogradEngine,
    TaylorEngine,
    stream_count,
    supports,
)
from pinnkit.engines.taylor_plan import build_plan
from pinnkit.engines.taylor_rules import partitions
from pinnkit.expr import Namespace, compile_expr, parse
from pinnkit.expr import tree as t
from pinnkit.expr.collapse import collapse, combos
from pinnkit.expr.names import Partial
from pinnkit.models.activations import SMOOTH_NAMES
from pinnkit.models.mlp import MLP

TOL = 1e-10


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    scale = 1.0 + float(b.detach().abs().max())
    assert float((a - b).detach().abs().max()) <= TOL * scale, (a, b)


def _grads(loss: torch.Tensor, model: torch.nn.Module) -> list[torch.Tensor]:
    params = list(model.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)]


def _compare(model: MLP, x: torch.Tensor, keys: list, outputs: list[str]) -> None:
    ref = ComboAutogradEngine()(model, x, keys, outputs)
    got = TaylorEngine()(model, x, keys, outputs)
    assert set(got) == set(keys)
    for k in keys:
        assert got[k].shape == (x.shape[0],)
        _close(got[k], ref[k])
    # a loss mixing every key nonlinearly, so every stream's gradient path is checked
    weights = torch.linspace(0.5, 1.5, len(keys), dtype=x.dtype)
    pairs = list(zip(weights, keys, strict=True))
    loss_ref = sum(w * (ref[k] ** 2 + torch.sin(ref[k])).mean() for w, k in pairs)
    loss_got = sum(w * (got[k] ** 2 + torch.sin(got[k])).mean() for w, k in pairs)
    for g_got, g_ref in zip(_grads(loss_got, model), _grads(loss_ref, model), strict=True):
        _close(g_got, g_ref)


def _model(d: int, n_out: int, width: int, depth: int, act: str, fourier: bool,
           seed: int) -> MLP:
    torch.manual_seed(seed)
    model = MLP(d, n_out, width=width, depth=depth, activation=act, lower=[-1.5] * d,
                upper=[2.0] * d, fourier=(3, 0.7) if fourier else None, seed=seed).double()
    with torch.no_grad():  # non-zero biases, so no derivative vanishes by symmetry
        for layer in [*model.hidden, model.out]:
            layer.bias.normal_(0.0, 0.3)
    return model


def _random_keys(rng: random.Random, d: int, outputs: list[str], n: int) -> list:
    keys: set = set()
    while len(keys) < n:
        order = rng.randint(0, 4)
        orders = [0] * d
        for _ in range(order):
            orders[rng.randrange(d)] += 1
        keys.add(Partial(rng.choice(outputs), tuple(orders)))
    return sorted(keys)


@settings(max_examples=45, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(d=st.integers(1, 3), n_out=st.integers(1, 2), width=st.integers(1, 16),
       depth=st.integers(1, 3), act=st.sampled_from(SMOOTH_NAMES), fourier=st.booleans(),
       seed=st.integers(0, 10**6))
def test_partials_and_gradients_match_autograd(d: int, n_out: int, width: int, depth: int,
                                               act: str, fourier: bool, seed: int) -> None:
    outputs = ["u", "v"][:n_out]
    rng = random.Random(seed)
    keys = _random_keys(rng, d, outputs, rng.randint(1, 4))
    x = torch.rand(9, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    _compare(_model(d, n_out, width, depth, act, fourier, seed), x, keys, outputs)


@pytest.mark.parametrize("act", SMOOTH_NAMES)
@pytest.mark.parametrize("fourier", [False, True])
def test_every_order_four_multi_index_in_2d(act: str, fourier: bool) -> None:
    keys = [Partial("u", (a, k - a)) for k in range(5) for a in range(k + 1)]
    x = torch.rand(7, 2, dtype=torch.float64)
    _compare(_model(2, 1, 6, 2, act, fourier, 3), x, keys, ["u"])


def test_mixed_third_and_fourth_order_in_3d_two_outputs() -> None:
    keys = [Partial("u", (1, 1, 1)), Partial("v", (2, 1, 1)), Partial("u", (0, 2, 2)),
            Partial("v", (1, 0, 0)), Partial("u", (0, 0, 0))]
    _compare(_model(3, 2, 8, 3, "tanh", True, 5), torch.rand(6, 3, dtype=torch.float64),
             keys, ["u", "v"])


def test_fifth_and_sixth_order() -> None:
    keys = [Partial("u", (5,)), Partial("u", (6,)), Partial("u", (3,))]
    _compare(_model(1, 1, 5, 2, "sin", False, 1), torch.rand(5, 1, dtype=torch.float64),
             keys, ["u"])


LAPLACE_2D = Combo.of("u", [((2, 0), 1.0), ((0, 2), 1.0)])
BIHARMONIC = Combo.of("u", [((4, 0), 1.0), ((2, 2), 2.0), ((0, 4), 1.0)])


@pytest.mark.parametrize("combo", [
    LAPLACE_2D,
    BIHARMONIC,
    Combo.of("u", [((2, 0), 0.3), ((1, 1), -2.0), ((0, 2), 1.7)]),  # any sum c_ij d_ij u
    Combo.of("v", [((3, 0), 1.0), ((1, 2), 1.0), ((1, 0), -4.0), ((0, 0), 2.5)]),
    Combo.of("u", [((1, 0), 2.0), ((0, 1), -1.0)]),
])
@pytest.mark.parametrize("fourier", [False, True])
def test_combo_equals_sum_of_autograd_partials(combo: Combo, fourier: bool) -> None:
    model = _model(2, 2, 9, 3, "tanh", fourier, 11)
    x = torch.rand(8, 2, dtype=torch.float64)
    got = TaylorEngine()(model, x, [combo, Partial("u", (1, 0))], ["u", "v"])
    table = AutogradEngine()(model, x, combo.partials, ["u", "v"])
    expected = sum(c * table[Partial(combo.field, o)] for o, c in combo.terms)
    _close(got[combo], expected)
    _compare(model, x, [combo, Partial("u", (1, 0))], ["u", "v"])


def test_laplacian_in_ten_dimensions() -> None:
    lap = Combo.of("u", [(tuple(2 * (j == i) for j in range(10)), 1.0) for i in range(10)])
    model = _model(10, 1, 12, 2, "gelu", False, 2)
    _compare(model, torch.rand(5, 10, dtype=torch.float64), [lap], ["u"])
    assert stream_count([lap], 10) == 12


def _p(*orders: int) -> Partial:
    return Partial("u", orders)


@pytest.mark.parametrize(("keys", "d", "streams"), [
    ([_p(0, 0), _p(1, 0), _p(0, 1), _p(2, 0)], 2, 4),  # Burgers
    ([LAPLACE_2D], 2, 4),  # Poisson 2-D, collapsed
    ([_p(0, 0), _p(1, 0), _p(0, 1), _p(3, 0)], 2, 5),  # KdV
    ([_p(4)], 1, 5),  # beam
    ([BIHARMONIC], 2, 11),  # 3 directions 60 degrees apart: 1 + 3 * 3 + 1 (issue: <= 14)
    ([_p(1, 1)], 2, 5),  # u_xy from the two diagonals
])
def test_stream_counts(keys: list, d: int, streams: int) -> None:
    assert stream_count(keys, d) == streams
    engine = TaylorEngine()
    engine(_model(d, 1, 4, 2, "tanh", False, 0), torch.rand(3, d, dtype=torch.float64),
           keys, ["u"])
    assert engine.streams == streams


def test_plan_prefers_existing_axes_for_a_laplacian() -> None:
    plan = build_plan((_p(1, 0), _p(0, 1), LAPLACE_2D), 2, ("u",))
    assert plan.streams == 4 and plan.directions == ((1.0, 0.0), (0.0, 1.0))


def test_partition_counts_are_faa_di_bruno_coefficients() -> None:
    # sum of the counts of partitions of k is the Bell number B_k
    assert [sum(c for _, c in partitions(k)) for k in range(1, 7)] == [1, 2, 5, 15, 52, 203]


def test_create_graph_false_gives_plain_tensors() -> None:
    model = _model(2, 1, 5, 2, "tanh", False, 0)
    out = TaylorEngine()(model, torch.rand(4, 2, dtype=torch.float64), [_p(2, 0)], ["u"],
                         create_graph=False)
    assert not out[_p(2, 0)].requires_grad


def test_supports_and_registry() -> None:
    model = _model(2, 1, 5, 2, "tanh", False, 0)
    assert supports(model) and not supports(torch.nn.Linear(2, 1))
    assert ENGINES["taylor"] is TaylorEngine
    assert isinstance(make_engine("auto", model), TaylorEngine)
    with pytest.raises(TypeError):
        TaylorEngine()(torch.nn.Linear(2, 1), torch.rand(3, 2), [_p(1, 0)], ["u"])


def test_collapse_rewrites_a_laplacian_and_evaluates_the_same() -> None:
    ns = Namespace(("x", "y"), ("u",), constants=("k",))
    tree = parse("u_xx + u_yy - 2*u_xy + k*u_x - sin(x)", ns)
    folded = collapse(tree)
    assert combos(folded) == {Combo.of("u", [((2, 0), 1.0), ((0, 2), 1.0), ((1, 1), -2.0)])}
    model = _model(2, 1, 7, 2, "tanh", False, 4)
    x = torch.rand(6, 2, dtype=torch.float64)
    env_common = {"x": x[:, 0], "y": x[:, 1], "k": 0.5}
    plain, fast = compile_expr(tree), compile_expr(folded)
    ref = AutogradEngine()(model, x, plain.needs, ["u"])
    got = TaylorEngine()(model, x, fast.needs | combos(folded), ["u"])
    _close(fast({**got, **env_common}), plain({**ref, **env_common}))


def test_collapse_keeps_partials_used_elsewhere() -> None:
    ns = Namespace(("x", "y"), ("u",))
    tree = parse("u_xx + u_yy + u*u_xx", ns)
    assert collapse(tree) == tree
    single = parse("u_xx + u_x", ns)
    assert collapse(single) == single
    assert not any(isinstance(n, t.ComboField) for n in [collapse(single)])


def test_maybe_compile_modes() -> None:
    fn = lambda: 1  # noqa: E731
    for mode in ("false", False):
        assert maybe_compile(fn, mode, 10**6)[0] is fn
    out, info = maybe_compile(fn, "auto", steps=10)
    assert out is fn and not info.enabled and isinstance(info, CompileInfo)
    with pytest.raises(ValueError):
        maybe_compile(fn, "sometimes")


def test_maybe_compile_falls_back_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fn, **kwargs):  # noqa: ANN001, ANN003, ANN202
        def run(*a, **k):  # noqa: ANN002, ANN003, ANN202
            raise RuntimeError("backend exploded")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(compile_module, "compile_available", lambda: (True, ""))
    fn, info = maybe_compile(lambda a: a + 1, "true")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fn(1) == 2 and fn(2) == 3
    assert info.fallback and "backend exploded" in info.fallback and not info.compiled
    assert any("running eagerly" in str(w.message) for w in caught)


def test_maybe_compile_raises_the_recompile_limit_for_its_own_calls_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import torch._dynamo.config as dynamo_config

    # patch(), not monkeypatch: monkeypatch.undo deletes a torch config entry, and every
    # later torch.compile in the process then fails on the missing recompile_limit
    with dynamo_config.patch(recompile_limit=8):  # torch's default
        seen = []

        def spy(fn, **kwargs):  # noqa: ANN001, ANN003, ANN202
            def run(*a):  # noqa: ANN002, ANN202
                seen.append(dynamo_config.recompile_limit)
                return fn(*a)
            return run

        monkeypatch.setattr(torch, "compile", spy)
        monkeypatch.setattr(compile_module, "compile_available", lambda: (True, ""))
        fn, info = maybe_compile(lambda a: a + 1, "true")
        assert dynamo_config.recompile_limit == 8  # the user's setting, not pinnkit's
        with pytest.warns(RuntimeWarning, match="dynamo captured no graph"):  # the spy traces none
            assert fn(1) == 2
        assert fn(2) == 3
        assert seen == [compile_module.RECOMPILE_LIMIT] * 2 and dynamo_config.recompile_limit == 8


def test_plan_is_exact_for_every_mixed_index_up_to_order_four_in_3d() -> None:
    model = _model(3, 1, 6, 2, "sigmoid", False, 8)
    x = torch.rand(4, 3, dtype=torch.float64)
    keys = [Partial("u", o) for o in itertools.product(range(3), repeat=3)
            if 2 <= sum(o) <= 4 and sum(v > 0 for v in o) >= 2]
    _compare(model, x, keys, ["u"])
