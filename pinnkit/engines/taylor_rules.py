"""Propagation rules of univariate Taylor jets through the layers of a pinnkit MLP.

A jet holds, at one layer, the value (N, W) and for every order k the k-th directional
derivatives of all directions that need order k, stacked as one (R_k, N, W) tensor
(or (R_k, 1, W) while they do not depend on the point, or None while they are zero),
plus the collapsed streams (C, N|1, W). Linear maps act on each block with one matmul
and no bias; pointwise activations use Faà di Bruno's formula

    D^k s(z) = sum over partitions p of k:  k! / (prod_i p_i! prod_m mult_m!)
               * s^(|p|)(z) * prod_i D^{p_i} z,

with the activation's derivatives s^(j) from its table, computed once per layer. The
formula is linear in the highest derivative D^k z (the partition {k}), which is why a
weighted sum over directions of order-k derivatives can travel as one stream: the sum of
the other terms only needs the lower orders of each direction.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.autograd.function import once_differentiable

Tensor = torch.Tensor


@dataclass
class Jet:
    """Value and derivatives of one layer's activations; see the module docstring."""

    value: Tensor
    orders: list[Tensor | None]  # orders[k - 1]: (R_k, N|1, W) or None
    collapsed: Tensor | None  # (C, N|1, W)


_PARTITIONS: dict[int, tuple[tuple[tuple[int, ...], float], ...]] = {}


def partitions(k: int) -> tuple[tuple[tuple[int, ...], float], ...]:
    """Partitions of k (parts non-increasing) with their Faà di Bruno multiplicities.

    Kept in a plain dict rather than an lru_cache so torch.compile reads the table as a
    constant; :class:`~.taylor.TaylorProgram` fills it before any tracing.
    """
    if k not in _PARTITIONS:
        _PARTITIONS[k] = _partitions(k)
    return _PARTITIONS[k]


def _partitions(k: int) -> tuple[tuple[tuple[int, ...], float], ...]:

    def parts(n: int, largest: int) -> list[tuple[int, ...]]:
        if n == 0:
            return [()]
        return [(p, *rest) for p in range(min(n, largest), 0, -1) for rest in parts(n - p, p)]

    out = []
    for p in parts(k, k):
        count = math.factorial(k)
        for part in p:
            count //= math.factorial(part)
        for mult in Counter(p).values():
            count //= math.factorial(mult)
        out.append((p, float(count)))
    return tuple(out)


def _products(jet_orders: list[Tensor | None], k: int, rows: int,
              memo: dict[tuple[tuple[int, ...], int], Tensor | None]
              ) -> dict[int, Tensor]:
    """sum over partitions of k with j parts (j >= 2) of count * prod D^{p_i} z,
    restricted to the first ``rows`` directions, keyed by j."""
    by_parts: dict[int, Tensor] = {}
    for p, count in partitions(k):
        if len(p) < 2:
            continue
        prod = _product(jet_orders, p, rows, memo)
        if prod is None:
            continue
        term = prod * count if count != 1.0 else prod
        j = len(p)
        by_parts[j] = term if j not in by_parts else by_parts[j] + term
    return by_parts


def _product(jet_orders: list[Tensor | None], p: tuple[int, ...], rows: int,
             memo: dict[tuple[tuple[int, ...], int], Tensor | None]) -> Tensor | None:
    """prod_i D^{p_i} z over the first ``rows`` directions; shared prefixes are memoised
    (z_1^2 feeds z_1^3, z_2 z_1 feeds z_2 z_1^2, ...)."""
    key = (p, rows)
    if key not in memo:
        factor = jet_orders[p[-1] - 1]
        if factor is None:
            memo[key] = None
        elif len(p) == 1:
            memo[key] = factor[:rows]
        else:
            head = _product(jet_orders, p[:-1], rows, memo)
            memo[key] = None if head is None else head * factor[:rows]
    return memo[key]


class _Derivatives(torch.autograd.Function):
    """s(z), s'(z), ..., s^(k)(z) from the activation table, with a one-line backward.

    Autograd through the table's formulas (Horner polynomials in tanh(z), Hermite
    recursions for gelu, ...) would replay every one of their elementwise ops backwards.
    But d s^(j)/dz = s^(j+1), so evaluating the table one order further in the forward
    pass gives the whole backward as ``sum_j grad_j * s^(j+1)``. Once differentiable:
    the weight gradients of a loss need no more.
    """

    generate_vmap_rule = True  # elementwise: torch.func's vmap (the lm stage's Jacobian)

    @staticmethod
    def forward(z: Tensor, k: int, table: Callable[[Tensor, int], list[Tensor]]
                ) -> tuple[Tensor, ...]:
        # orders 0..k+1; the last one is the backward's slope only (derivatives() drops it).
        # A table may repeat a tensor (sin: order 4 is order 0); every output must be its own
        # tensor, or autograd mixes up their gradients
        out, seen = [], set()
        for v in table(z, k + 1):
            out.append(v.clone() if id(v) in seen else v)
            seen.add(id(v))
        return tuple(out)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        ctx.save_for_backward(*output[1:])
        ctx.set_materialize_grads(False)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, *grads: Tensor | None) -> tuple[Tensor | None, None, None]:
        slopes = ctx.saved_tensors
        acc = None
        for g, slope in zip(grads, slopes, strict=False):  # the extra order gets no gradient
            if g is not None:
                acc = g * slope if acc is None else acc + g * slope
        return acc, None, None


def derivatives(z: Tensor, k: int, table: Callable[[Tensor, int], list[Tensor]]
                ) -> list[Tensor]:
    """[s(z), ..., s^(k)(z)] from ``table`` (an ``ActivationSpec.derivatives``)."""
    return list(_Derivatives.apply(z, k, table)[: k + 1])


def activate(z: Jet, derivs: list[Tensor], rows: list[int],
             collapsed: list[tuple[int, Tensor]]) -> Jet:
    """The jet of s(z) from the jet of z; ``derivs[j]`` = s^(j)(z.value).

    ``rows[k - 1]`` directions carry order k; collapsed stream c has order K_c and weights
    over the first rows[K_c - 2] directions.
    """
    memo: dict[tuple[tuple[int, ...], int], Tensor | None] = {}
    orders: list[Tensor | None] = []
    for k, r in enumerate(rows, start=1):
        top = z.orders[k - 1]
        acc = None if top is None else derivs[1] * top
        for j, prod in _products(z.orders, k, r, memo).items():
            term = derivs[j] * prod
            acc = term if acc is None else acc + term
        orders.append(acc)
    return Jet(derivs[0], orders, _activate_collapsed(z, derivs, collapsed, memo))


def _activate_collapsed(z: Jet, derivs: list[Tensor], collapsed: list[tuple[int, Tensor]],
                        memo: dict[tuple[tuple[int, ...], int], Tensor | None]
                        ) -> Tensor | None:
    if not collapsed:
        return None
    out = []
    for c, (k, weights) in enumerate(collapsed):
        acc = None if z.collapsed is None else derivs[1] * z.collapsed[c]
        for j, prod in _products(z.orders, k, weights.shape[0], memo).items():
            # weighted sum over directions first: one (N, W) multiply by s^(j) instead of R
            term = derivs[j] * torch.tensordot(weights, prod, dims=1)
            acc = term if acc is None else acc + term
        out.append(acc if acc is not None else torch.zeros_like(derivs[0]))
    return torch.stack(out)


def linear(h: Jet, weight: Tensor, bias: Tensor | None) -> Jet:
    """Affine map: the bias only moves the value; derivatives are multiplied by W^T."""
    wt = weight.t()
    value = torch.nn.functional.linear(h.value, weight, bias)
    orders = [None if t is None else torch.matmul(t, wt) for t in h.orders]
    collapsed = None if h.collapsed is None else torch.matmul(h.collapsed, wt)
    return Jet(value, orders, collapsed)


def fourier(h: Jet, b: Tensor, rows: list[int], collapsed: list[tuple[int, Tensor]]) -> Jet:
    """[x, sin(x B), cos(x B)] of an input jet whose only derivative is a constant first
    order a_v: along v, z = x B is linear in t, so D^k sin(z) = (a_v B)^k sin^(k)(z)."""
    z0 = h.value @ b
    sin, cos = torch.sin(z0), torch.cos(z0)
    value = torch.cat([h.value, sin, cos], dim=-1)
    if not rows:
        return Jet(value, [], None)
    cycle = [sin, cos, -sin, -cos]
    first = h.orders[0]
    assert first is not None
    slope = first @ b  # (R_1, 1, F)
    d = h.value.shape[-1]
    orders: list[Tensor | None] = []
    for k, r in enumerate(rows, start=1):
        ak = slope[:r] ** k
        head = first[:r] if k == 1 else torch.zeros_like(first[:r])
        orders.append(torch.cat([head.expand(r, z0.shape[0], d), ak * cycle[k % 4],
                                 ak * cycle[(k + 1) % 4]], dim=-1))
    cols = []
    for k, weights in collapsed:
        ak = torch.tensordot(weights, slope[: weights.shape[0]] ** k, dims=1)  # (1, F)
        cols.append(torch.cat([torch.zeros_like(h.value), ak * cycle[k % 4],
                               ak * cycle[(k + 1) % 4]], dim=-1))
    return Jet(value, orders, torch.stack(cols) if cols else None)


def _sines(z: Tensor, k: int) -> list[Tensor]:
    """sin and its derivatives: sin, cos, -sin, -cos, ..."""
    s, c = torch.sin(z), torch.cos(z)
    cycle = [s, c, -s, -c]
    return [cycle[i % 4] for i in range(k + 1)]


def select(h: Jet, columns: Tensor) -> Jet:
    """The jet of some columns of ``h``."""
    pick = lambda t: None if t is None else t.index_select(-1, columns)  # noqa: E731
    return Jet(h.value.index_select(-1, columns), [pick(t) for t in h.orders],
               pick(h.collapsed))


def concat(parts: list[Jet]) -> Jet:
    """Columns side by side; a zero (None) or point-independent block is filled out."""
    n = parts[0].value.shape[0]
    value = torch.cat([p.value for p in parts], dim=-1)

    def join(blocks: list[Tensor | None], widths: list[int]) -> Tensor | None:
        if all(b is None for b in blocks):
            return None
        lead = next(b for b in blocks if b is not None).shape[0]
        ref = value
        return torch.cat([ref.new_zeros(lead, n, w) if b is None else b.expand(lead, n, w)
                          for b, w in zip(blocks, widths, strict=True)], dim=-1)

    widths = [p.value.shape[-1] for p in parts]
    orders = [join([p.orders[k] for p in parts], widths) for k in range(len(parts[0].orders))]
    return Jet(value, orders, join([p.collapsed for p in parts], widths))


def sine_jet(z: Jet, top: int, rows: list[int], collapsed: list[tuple[int, Tensor]]) -> Jet:
    """The jet of sin(z), for any jet z (embeddings that are not the first layer)."""
    return activate(z, derivatives(z.value, top, _sines), rows, collapsed)


def shift(z: Jet, c: float | Tensor) -> Jet:
    """z + c for a constant c (per column): only the value moves."""
    return Jet(z.value + c, z.orders, z.collapsed)


def scale(z: Jet, w: Tensor) -> Jet:
    """z * w for a constant per-column w."""
    mul = lambda t: None if t is None else t * w  # noqa: E731
    return Jet(z.value * w, [mul(t) for t in z.orders], mul(z.collapsed))
