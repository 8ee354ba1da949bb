"""Outputs over subsets of the inputs: one network per group of inputs, side by side.

``outputs: [u, {a: [x, y]}]`` with inputs x, y, t makes ``u`` the output of a network of
(x, y, t) and ``a`` the output of its own network of (x, y) alone, so that a(x, y) cannot
depend on t, whatever the weights. Outputs that read the same inputs share one network
(all the full-input outputs share the first); every network is an ``MLP`` of the same
width, depth and activation, normalising its own inputs. The outputs come back in the
declared order, then go through the output transform like an MLP's.

The Taylor engine reads it with one rule (``engines.taylor_layers``): select each
network's input columns, apply the MLP's rule, concatenate, reorder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .mlp import MLP
from .transform import OutputTransform


class Composite(nn.Module):
    """``nets[g]`` maps the input columns ``groups[g]`` (None: all) to its outputs; the
    concatenated outputs are permuted into the declared order: declared output j is block
    column ``order[j]``. A ``transform`` must not read, for an output, an input that
    output's network does not (``training.architecture`` refuses that config)."""

    order: torch.Tensor  # buffers, declared for the type checker

    def __init__(self, nets: Sequence[nn.Module], groups: Sequence[Sequence[int] | None],
                 order: Sequence[int], transform: OutputTransform | None = None) -> None:
        super().__init__()
        if len(nets) != len(groups):
            raise ValueError(f"{len(nets)} networks for {len(groups)} input groups")
        self.nets = nn.ModuleList(nets)
        self.groups = [None if g is None else tuple(g) for g in groups]
        for i, g in enumerate(self.groups):  # follow the module to its device, not saved
            if g is not None:
                self.register_buffer(f"columns{i}", torch.tensor(g, dtype=torch.long),
                                     persistent=False)
        self.permuted = list(order) != sorted(order)
        # per declared output: the input columns its network reads (None: all). Derivatives
        # along the others are exactly zero; the Taylor engine returns them as zeros
        block = [g for g, net in zip(self.groups, nets, strict=True)
                 for _ in range(_width(net))]
        self.reads = tuple(block[k] for k in order)
        self.register_buffer("order", torch.tensor(list(order), dtype=torch.long),
                             persistent=False)
        self.transform = transform

    def parts(self) -> list[tuple[nn.Module, torch.Tensor | None]]:
        """(network, its input columns or None for all), in output-block order."""
        return [(net, None if g is None else getattr(self, f"columns{i}"))
                for i, (net, g) in enumerate(zip(self.nets, self.groups, strict=True))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.raw(x)
        return self.transform(x, y) if self.transform is not None else y

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The outputs before the output transform, in the declared order."""
        y = torch.cat([net(x if cols is None else x.index_select(-1, cols))
                       for net, cols in self.parts()], dim=-1)
        return y.index_select(-1, self.order) if self.permuted else y

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


def _width(net: nn.Module) -> int:
    """Output columns of a network: the last Linear's."""
    last = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise ValueError(f"cannot tell how many outputs {type(net).__name__} has: no Linear")
    return last[-1].out_features


def build_network(n_in: int, outputs: Sequence[str], depends: Mapping[str, Sequence[int]],
                  width: int = 64, depth: int = 4, activation: str = "tanh",
                  lower: Sequence[float] | None = None, upper: Sequence[float] | None = None,
                  fourier: tuple[int, float] | None = None, seed: int = 0,
                  periodic: dict[int, tuple[float, float]] | None = None,
                  transform: OutputTransform | None = None) -> nn.Module:
    """pinnkit's MLP when every output reads every input (``depends`` empty), else a
    ``Composite``: one MLP for the full-input outputs, one per other group of inputs
    (``depends``: restricted output -> the input positions it reads)."""
    if not depends:
        return MLP(n_in, len(outputs), width, depth, activation, lower, upper, fourier, seed,
                   periodic, transform)
    lo = list(lower) if lower is not None else [-1.0] * n_in
    hi = list(upper) if upper is not None else [1.0] * n_in
    full = tuple(range(n_in))
    groups: dict[tuple[int, ...], list[int]] = {}  # first the full group, then as declared
    for j, name in enumerate(outputs):
        cols = tuple(sorted(depends.get(name, full)))
        if cols == full:
            groups.setdefault(full, []).append(j)
    for j, name in enumerate(outputs):
        cols = tuple(sorted(depends.get(name, full)))
        if cols != full:
            groups.setdefault(cols, []).append(j)
    nets, columns, order = [], [], []
    for cols, outs in groups.items():
        local = {cols.index(c): p for c, p in (periodic or {}).items() if c in cols}
        nets.append(MLP(len(cols), len(outs), width, depth, activation,
                        [lo[c] for c in cols], [hi[c] for c in cols], fourier, seed,
                        local or None))
        columns.append(None if cols == full else cols)
        order += outs
    # order[k] = the declared output in block position k; index_select needs the inverse
    position = [order.index(j) for j in range(len(outputs))]
    return Composite(nets, columns, position, transform)


__all__ = ["Composite", "build_network"]
