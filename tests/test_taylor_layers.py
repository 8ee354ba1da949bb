"""The Taylor engine's table of rules: a user's own nn.Sequential gets the taylor engine and
the same derivatives as nested autograd (float64, relative 1e-12); a module with a layer
the table lacks falls back to autograd with one note naming the layer."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch import nn

import pinnkit
from pinnkit.engines import make_engine
from pinnkit.engines.autograd import AutogradEngine
from pinnkit.engines.taylor import TaylorEngine, supports, unsupported
from pinnkit.errors import CheckWarning, ConfigError, PinnkitError
from pinnkit.expr.collapse import Combo
from pinnkit.expr.names import Partial
from pinnkit.models.mlp import MLP
from pinnkit.models.transform import OutputTransform

TOL = 1e-12


def _p(field: str, *orders: int) -> Partial:
    return Partial(field, tuple(orders))


LAPLACIAN = Combo.of("u", [((2, 0, 0), 1.0), ((0, 2, 0), 1.0), ((0, 0, 2), 1.0)])
BIHARMONIC_XY = Combo.of("v", [((4, 0, 0), 1.0), ((2, 2, 0), 2.0), ((0, 4, 0), 1.0)])
KEYS = [_p("u", 0, 0, 0), _p("u", 1, 0, 0), _p("u", 0, 0, 1), _p("u", 2, 0, 0),
        _p("u", 1, 1, 0), _p("u", 1, 1, 1), _p("u", 0, 0, 3), _p("u", 4, 0, 0),
        _p("u", 2, 1, 1), _p("v", 0, 1, 0), _p("v", 0, 2, 2), LAPLACIAN, BIHARMONIC_XY]


def _close(got: torch.Tensor, want: torch.Tensor, what: object) -> None:
    scale = 1.0 + float(want.detach().abs().max())
    err = float((got - want).detach().abs().max())
    assert err <= TOL * scale, (what, err)


def _user_net() -> nn.Sequential:
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 12), nn.Tanh(), nn.Linear(12, 10), nn.SiLU(),
                        nn.Linear(10, 9), nn.Softplus(), nn.Linear(9, 8), nn.GELU(),
                        nn.Linear(8, 7), nn.Sigmoid(), nn.Identity(), nn.Linear(7, 2)).double()
    with torch.no_grad():  # non-zero biases, so no derivative vanishes by symmetry
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.bias.normal_(0.0, 0.3)
    return net


def _compare(net: nn.Module, x: torch.Tensor, keys: list, outputs: tuple[str, ...]) -> None:
    want = AutogradEngine()(net, x, keys, outputs)
    got = TaylorEngine()(net, x, keys, outputs)
    assert set(got) == set(keys)
    for key in keys:
        assert got[key].shape == (x.shape[0],)
        _close(got[key], want[key], key)
    # weight gradients of a loss that mixes every key nonlinearly
    params = list(net.parameters())

    def grads(table: dict) -> list[torch.Tensor]:
        loss = sum((table[k] ** 2 + torch.sin(table[k])).mean() for k in keys)
        return list(torch.autograd.grad(loss, params))

    for g_got, g_want in zip(grads(got), grads(want), strict=True):
        _close(g_got, g_want, "weight gradient")


def test_user_sequential_matches_autograd_to_round_off():
    net = _user_net()
    x = torch.rand(9, 3, dtype=torch.float64) * 2 - 1
    assert supports(net) and unsupported(net) is None
    _compare(net, x, KEYS, ("u", "v"))


@pytest.mark.parametrize("act", [nn.Tanh(), nn.Sigmoid(), nn.SiLU(), nn.Softplus(), nn.GELU(),
                                 nn.ReLU(), nn.LeakyReLU(), nn.ELU()],
                         ids=lambda m: type(m).__name__)
def test_each_torch_activation_has_the_rule_of_its_table(act):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 6), act, nn.Linear(6, 5), act, nn.Linear(5, 1)).double()
    # away from 0, where the piecewise ones have their kink
    x = torch.rand(11, 2, dtype=torch.float64) * 2 - 1
    keys = [_p("u", 0, 0), _p("u", 1, 0), _p("u", 1, 1), _p("u", 0, 3),
            Combo.of("u", [((2, 0), 1.0), ((0, 2), 1.0)])]
    _compare(net, x, keys, ("u",))


def test_pinnkit_layers_compose_inside_a_sequential():
    """pinnkit's MLP (with periodic and Fourier embeddings) as one layer of a user's
    Sequential: the rules nest."""
    torch.manual_seed(1)
    inner = MLP(3, 4, 8, 2, "sin", [-1, -1, 0], [1, 1, 2], (3, 0.5), 0, {0: (-1.0, 1.0)})
    net = nn.Sequential(inner, nn.Tanh(), nn.Linear(4, 2)).double()
    x = torch.rand(6, 3, dtype=torch.float64)
    _compare(net, x, KEYS, ("u", "v"))


def test_affine_network_reads_one_value_per_point():
    """A network without activations has point-independent derivative blocks; every key
    still comes back with one value per point."""
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)).double()
    x = torch.rand(5, 2, dtype=torch.float64)
    _compare(net, x, [_p("u", 0, 0), _p("u", 1, 0), _p("u", 0, 2)], ("u",))


def test_auto_picks_taylor_for_a_user_sequential_and_derivatives_agree():
    net = _user_net()
    assert isinstance(make_engine("auto", net), TaylorEngine)
    x = torch.rand(8, 3, dtype=torch.float64)
    names = ["u", "u_x", "u_xxxx", "u_xx + u_yy + u_tt", "v_yytt"]
    kw = {"inputs": ("x", "y", "t"), "outputs": ("u", "v")}
    got = pinnkit.derivatives(net, x, names, **kw)
    want = pinnkit.derivatives(net, x, names, engine="autograd", **kw)
    for name in names:
        _close(got[name], want[name], name)


class Scaled(nn.Module):
    """A layer of the user's own: the rule table cannot know what its forward does."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return 2.0 * h


@pytest.mark.parametrize("net, where", [
    (nn.Sequential(nn.Linear(2, 4), Scaled(), nn.Tanh(), nn.Linear(4, 1)),
     "layer '1' (Scaled) has no Taylor rule"),
    (nn.Sequential(nn.Linear(2, 4), nn.Sequential(nn.Tanh(), nn.Softplus(beta=2.0)),
                   nn.Linear(4, 1)),
     "layer '1.1' (Softplus) has a Taylor rule only for other settings: beta=2"),
    (nn.Sequential(nn.Linear(2, 4), nn.GELU(approximate="tanh"), nn.Linear(4, 1)),
     "layer '1' (GELU) has a Taylor rule only for other settings: approximate='tanh'"),
    (nn.Sequential(MLP(2, 1, 4, 1, transform=OutputTransform("x*net", ("x", "t"), ("u",))),
                   nn.Linear(1, 1)),
     "layer '0' (MLP) has an output transform"),
    (nn.Linear(2, 1), "the module is a single Linear layer, not a network"),
], ids=["own-layer", "softplus-beta", "gelu-tanh", "nested-transform", "lone-layer"])
def test_a_layer_without_a_rule_is_named(net, where):
    assert where in str(unsupported(net))
    assert isinstance(make_engine("auto", net), AutogradEngine)
    with pytest.raises(ConfigError, match="model.engine: engine 'taylor' cannot read this "
                       "network: " + re.escape(where)):
        make_engine("taylor", net)


def test_derivatives_engine_taylor_on_an_unknown_layer_is_a_python_error():
    net = nn.Sequential(nn.Linear(1, 4), Scaled(), nn.Linear(4, 1)).double()
    with pytest.raises(PinnkitError, match=r"engine='taylor': engine 'taylor' cannot read this "
                       r"network: layer '1' \(Scaled\) has no Taylor rule"):
        pinnkit.derivatives(net, torch.rand(3, 1), ["u_x"], inputs=("x",), outputs=("u",),
                            engine="taylor")


def test_mlp_state_dict_keys_are_unchanged():
    """Old checkpoints load: the layer order is a method, not new submodules."""
    model = MLP(2, 1, 4, 2, "tanh", [0, 0], [1, 1], (3, 1.0), 0, {0: (0.0, 1.0)})
    assert list(model.state_dict()) == [
        "normalize.scale", "normalize.shift", "periodic.periodic", "periodic.other",
        "periodic.omega", "periodic.phase", "features.B", "hidden.0.weight", "hidden.0.bias",
        "hidden.1.weight", "hidden.1.bias", "out.weight", "out.bias"]
    assert [p for p, _ in model.named_layers()] == [
        "normalize", "periodic", "features", "hidden.0", "activation", "hidden.1",
        "activation", "out"]


HEAT = """
inputs: [x, t]
outputs: [u]
domain: {x: [0, 1], t: [0, 1]}
equations: {heat: u_t - 0.1*u_xx}
conditions:
  initial: {on: t == 0, residual: u - sin(pi*x)}
  walls: {on: x == 0 or x == 1, residual: u}
model: {dtype: float64}
training:
  points: {domain: 64, boundary: 16}
  stages: [{optimizer: adam, lr: 0.01, steps: 20}]
"""


def _train(path, net: nn.Module, *overrides: str) -> tuple[dict, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = pinnkit.train(path, run_dir=False, progress=False, model=net,
                            overrides=list(overrides))
    return run.metrics, [str(w.message) for w in caught if w.category is CheckWarning]


@pytest.fixture
def heat(tmp_path):
    path = tmp_path / "heat.yaml"
    path.write_text(HEAT)
    return path


def test_training_a_user_sequential_uses_taylor(heat):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 8), nn.SiLU(),
                        nn.Linear(8, 1)).double()
    metrics, notes = _train(heat, net)
    assert metrics["engine"] == "taylor" and not [n for n in notes if "[engine]" in n]


def test_training_a_module_without_rules_falls_back_with_one_note(heat):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), Scaled(), nn.Linear(8, 1)).double()
    metrics, notes = _train(heat, net)
    assert metrics["engine"] == "autograd"
    (note,) = [n for n in notes if "[engine]" in n]
    assert note.startswith("[engine] model.engine (line 9 of ")
    assert "heat.yaml): 'auto' uses the autograd engine for this network: layer '2' " \
        "(Scaled) has no Taylor rule (autograd" in note
    assert "Fix: build the network as an nn.Sequential of layers with a rule" in note
    metrics, notes = _train(heat, net, "model.engine=autograd")  # chosen: nothing to say
    assert metrics["engine"] == "autograd" and not [n for n in notes if "[engine]" in n]
    with pytest.raises(ConfigError, match=r"model.engine \(from --set\): engine 'taylor' "
                       r"cannot read this network: layer '2' \(Scaled\) has no Taylor rule; "
                       r"expected a module built of layers with a Taylor rule: nn.Linear, "):
        _train(heat, net, "model.engine=taylor")
