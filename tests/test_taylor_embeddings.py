"""The Taylor engine through periodic embeddings, Fourier features and output transforms
equals nested autograd (float64), including collapsed sums of a transformed field."""

from __future__ import annotations

import itertools

import pytest
import torch

from pinnkit.engines.autograd import AutogradEngine
from pinnkit.engines.taylor import TaylorEngine
from pinnkit.expr.collapse import Combo
from pinnkit.expr.names import Partial
from pinnkit.models.mlp import MLP
from pinnkit.models.transform import OutputTransform

KEYS = [Partial("u", (0, 0)), Partial("u", (1, 0)), Partial("u", (2, 0)), Partial("u", (1, 1)),
        Partial("v", (0, 1)), Partial("v", (3, 0)), Partial("u", (4, 0)),
        Combo.of("u", [((2, 0), 1.0), ((0, 2), 2.0)]),
        Combo.of("v", [((4, 0), 1.0), ((2, 2), 2.0), ((0, 4), 1.0)])]
TRANSFORM = {"u": "x*(1 - x)*net*exp(t) + sin(pi*x)", "v": "t*net**2"}


@pytest.mark.parametrize("periodic,fourier,transform", list(itertools.product(
    [None, {0: (-1.0, 1.0)}], [None, (3, 0.5)], [None, TRANSFORM])))
def test_taylor_equals_autograd_through_embeddings(periodic, fourier, transform):
    torch.manual_seed(0)
    tr = OutputTransform(transform, ("x", "t"), ("u", "v")) if transform else None
    model = MLP(2, 2, 8, 2, "tanh", [-1, 0], [1, 2], fourier, 0, periodic, tr).double()
    x = torch.rand(7, 2, dtype=torch.float64) * 2 - 0.5
    want = AutogradEngine()(model, x, KEYS, ("u", "v"))
    got = TaylorEngine()(model, x, KEYS, ("u", "v"))
    for key in KEYS:
        scale = float(want[key].detach().abs().max()) + 1.0
        assert float((got[key] - want[key]).detach().abs().max()) <= 1e-11 * scale, key


def test_transformed_laplacian_reads_one_collapsed_stream():
    """Δ(x(1-x) net) = x(1-x) Δnet + 2(1-2x) net_x - 2 net: the Laplacian of the raw
    network stays one collapsed stream, so the transform adds no second-order streams."""
    tr = OutputTransform("x*(1 - x)*net", ("x", "y"), ("u",))
    plain, hard = MLP(2, 1, 8, 2), MLP(2, 1, 8, 2, transform=tr)
    lap = Combo.of("u", [((2, 0), 1.0), ((0, 2), 1.0)])
    x = torch.rand(5, 2)
    engine = TaylorEngine()
    engine(plain, x, [lap], ("u",))
    streams_plain = engine.streams
    engine(hard, x, [lap], ("u",))
    assert engine.streams == streams_plain == 4  # value, u_x, u_y, collapsed Laplacian


def test_periodic_model_is_periodic_in_every_derivative():
    model = MLP(2, 1, 16, 3, "tanh", [-1, 0], [1, 1], periodic={0: (-1.0, 1.0)}).double()
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    left = torch.stack([torch.full_like(t, -1.0), t], 1)
    right = torch.stack([torch.full_like(t, 1.0), t], 1)
    keys = [Partial("u", (k, 0)) for k in range(4)]
    a, b = (TaylorEngine()(model, p, keys, ("u",)) for p in (left, right))
    for k in keys:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-12)
