"""Model options: Fourier features, the periodic embedding and output transforms.

Each is checked against a closed form in float64 (conftest): exact periodicity of values
and derivatives, the transform's formula, the feature layer's formula.
"""

import math

import pytest
import torch
from checks_helpers import warns_checks

import pinnkit
from pinnkit.errors import ConfigError
from pinnkit.models.features import PeriodicEmbedding
from pinnkit.models.mlp import MLP, FourierFeatures
from pinnkit.models.transform import OutputTransform


def test_fourier_features_formula_and_scale():
    x = torch.rand(7, 2)
    ff = FourierFeatures(2, 5, sigma=1.0, seed=3)
    z = x @ ff.B
    torch.testing.assert_close(ff(x), torch.cat([x, torch.sin(z), torch.cos(z)], dim=1))
    assert ff.n_out == 2 + 10
    # same seed, twice the sigma: exactly twice the frequencies (the draws are shared)
    torch.testing.assert_close(FourierFeatures(2, 5, sigma=2.0, seed=3).B, 2 * ff.B)
    assert not torch.equal(FourierFeatures(2, 5, 1.0, seed=4).B, ff.B)


def test_fourier_features_config_builds_and_trains(tiny_yaml):
    # sigma 2 makes u_xx, so the heat residual, ~1e4 times the walls' term at the start
    with warns_checks("loss_balance"):
        run = pinnkit.train(tiny_yaml, 3, run_dir=False, progress=False,
                            overrides=["model.fourier_features={features: 6, sigma: 2.0}"])
    assert run.model.features.n_out == 2 + 12
    assert run.model.hidden[0].in_features == 14
    assert math.isfinite(run.metrics["loss"]["heat"])


def test_network_with_fourier_features_derivatives_match_finite_differences():
    model = MLP(2, 1, 8, 2, "tanh", [0, 0], [1, 2], fourier=(4, 1.5), seed=1)
    x = torch.tensor([[0.3, 0.7], [0.8, 1.9]])
    d = pinnkit.derivatives(model, x, ["u_x", "u_yy"], inputs=("x", "y"), outputs=("u",))
    f = lambda p: model(p)[:, 0]  # noqa: E731
    h = 1e-5  # truncation ~h^2 |u_xxx| / 6 ~ 1e-8, round-off ~1e-16 / h
    e = torch.tensor([[h, 0.0]])
    torch.testing.assert_close(d["u_x"], (f(x + e) - f(x - e)) / (2 * h), rtol=1e-6, atol=1e-7)
    h = 1e-4
    e = torch.tensor([[0.0, h]])
    torch.testing.assert_close(d["u_yy"], (f(x + e) - 2 * f(x) + f(x - e)) / h**2,
                               rtol=1e-4, atol=1e-5)


def test_periodic_embedding_formula():
    # domain x in [0, 4] normalised to [-1, 1]: scale 0.5, shift -1; period [0, 2]
    emb = PeriodicEmbedding(2, {0: (0.0, 2.0)}, scale=[0.5, 1.0], shift=[-1.0, 0.0])
    x = torch.tensor([[0.3, 5.0], [1.7, -2.0]])
    h = x * torch.tensor([0.5, 1.0]) + torch.tensor([-1.0, 0.0])
    theta = 2 * math.pi * x[:, 0] / 2.0
    want = torch.stack([h[:, 1], torch.cos(theta), torch.sin(theta)], dim=1)
    torch.testing.assert_close(emb(h), want)


@pytest.mark.parametrize("period", [(-1.0, 1.0), (0.0, 0.5)])
def test_periodic_network_values_and_derivatives_repeat(period):
    lo, hi = period
    model = MLP(2, 1, 16, 3, "tanh", [-1, 0], [1, 1], periodic={0: period}, seed=0)
    t = torch.linspace(0, 1, 9)
    a = torch.stack([torch.full_like(t, lo), t], 1)
    b = torch.stack([torch.full_like(t, hi), t], 1)
    names = ["u", "u_x", "u_xx", "u_xxx", "u_xt"]
    da = pinnkit.derivatives(model, a, names, ("x", "t"), ("u",))
    db = pinnkit.derivatives(model, b, names, ("x", "t"), ("u",))
    for n in names:
        torch.testing.assert_close(da[n], db[n], rtol=1e-10, atol=1e-12)
    assert float(da["u_x"].abs().max()) > 1e-3  # the check is not vacuous


def test_periodic_config_key_errors(tiny_yaml):
    with pytest.raises(ConfigError, match=r"model.periodic.z \(from --set\): 'z' is not an "
                       r"input; expected one of: x, t"):
        pinnkit.check(tiny_yaml, overrides=["model.periodic={z: [0, 1]}"])
    with pytest.raises(ConfigError, match=r"found \[1.0, 0.0\]; expected the period as "
                       r"\[low, high\] with low < high"):
        pinnkit.check(tiny_yaml, overrides=["model.periodic={x: [1, 0]}"])


def test_transform_formula_and_exact_boundary_values():
    tr = OutputTransform("x*(1 - x)*net + sin(pi*x)", ("x", "t"), ("u",))
    model = MLP(2, 1, 8, 2, "tanh", [0, 0], [1, 1], transform=tr)
    x = torch.rand(20, 2)
    x[:5, 0], x[5:10, 0] = 0.0, 1.0
    u = model(x)[:, 0]
    model.transform = None
    raw = model(x)[:, 0]
    torch.testing.assert_close(u, x[:, 0] * (1 - x[:, 0]) * raw + torch.sin(torch.pi * x[:, 0]))
    assert float(u[:10].detach().abs().max()) < 1e-15


def test_transform_mapping_leaves_other_fields_alone():
    tr = OutputTransform({"v": "y*net + c"}, ("x", "y"), ("u", "v"), {"c": 2.0})
    y = torch.rand(6, 2)
    x = torch.rand(6, 2)
    out = tr(x, y)
    torch.testing.assert_close(out[:, 0], y[:, 0])
    torch.testing.assert_close(out[:, 1], x[:, 1] * y[:, 1] + 2.0)


def test_transform_trains_with_hard_walls(tiny_yaml):
    run = pinnkit.train(tiny_yaml, 5, run_dir=False, progress=False,
                        overrides=["model.transform=x*(1 - x)*net"])
    assert run.metrics["loss"]["walls"] < 1e-28  # exactly zero up to round-off


@pytest.mark.parametrize(
    "value, message",
    [
        ("sin(pi*x)", r"model.transform \(from --set\): 'sin\(pi\*x\)' does not use net"),
        ("x*net_x", r"'x\*net_x' differentiates net"),
        ("x*nett", r"unknown name 'nett' \(did you mean 'net'\?\)"),
        ("{w: x*net}", r"model.transform.w \(from --set\): 'w' is not an output"),
        ("[1, 2]", r"found list \[1, 2\]; expected an expression of net"),
    ],
)
def test_transform_errors(tiny_yaml, value, message):
    with pytest.raises(ConfigError, match=message):
        pinnkit.check(tiny_yaml, overrides=[f"model.transform={value}"])


def test_transform_error_names_the_yaml_line(tmp_path, tiny_yaml):
    text = tiny_yaml.read_text().replace("model: {width: 8, depth: 2, dtype: float64}",
                                         "model:\n  width: 8\n  transform: t*netto")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        pinnkit.check(path)
    line = text.splitlines().index("  transform: t*netto") + 1
    assert f"model.transform (line {line} of {path})" in str(info.value)


def test_one_transform_for_several_outputs_is_an_error():
    with pytest.raises(ConfigError, match="one expression for 2 outputs; expected a mapping "
                       r"\{u: ..., v: ...\}"):
        OutputTransform("x*net", ("x",), ("u", "v"))


def test_every_engine_agrees_with_autograd_on_the_new_modules():
    """Guard for the Taylor engine: whatever 'auto' picks for a network with a periodic
    embedding, Fourier features and an output transform must match nested autograd."""
    tr = OutputTransform("x*(1 - x)*net + t*sin(pi*x)", ("x", "t"), ("u",))
    model = MLP(2, 1, 8, 2, "tanh", [0, 0], [1, 1], fourier=(3, 1.0), seed=2,
                periodic={0: (0.0, 1.0)}, transform=tr)
    x = torch.rand(16, 2)
    names = ["u", "u_x", "u_t", "u_xx", "u_xt", "u_xxx"]
    want = pinnkit.derivatives(model, x, names, ("x", "t"), ("u",), engine="autograd")
    got = pinnkit.derivatives(model, x, names, ("x", "t"), ("u",), engine="auto")
    for n in names:
        torch.testing.assert_close(got[n], want[n], rtol=1e-10, atol=1e-12)
