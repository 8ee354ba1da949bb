"""Names of derivatives: ``u_xxy`` <-> ``Partial("u", (2, 1))`` for inputs (x, y).

Mixed partial derivatives of the smooth networks pinnkit trains commute, so a derivative
is identified by how many times each input is differentiated, not by the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Partial:
    """The partial derivative of output ``field``; ``orders[i]`` counts d/d(input i)."""

    field: str
    orders: tuple[int, ...]

    @property
    def order(self) -> int:
        return sum(self.orders)

    def name(self, inputs: Sequence[str]) -> str:
        if self.order == 0:
            return self.field
        wrt = [n for n, k in zip(inputs, self.orders, strict=True) for _ in range(k)]
        if all(len(n) == 1 for n in inputs):
            return f"{self.field}_{''.join(wrt)}"
        return f"d({self.field}, {', '.join(wrt)})"

    def raised(self, i: int) -> Partial:
        """This derivative differentiated once more by input ``i``."""
        orders = list(self.orders)
        orders[i] += 1
        return Partial(self.field, tuple(orders))


def value_of(field: str, n_inputs: int) -> Partial:
    return Partial(field, (0,) * n_inputs)


def parse_name(token: str, inputs: Sequence[str], outputs: Sequence[str]) -> Partial | None:
    """``u_xx`` -> Partial, or None if ``token`` does not name a field or derivative.

    Single-letter input names may be concatenated after the underscore. The longest output
    name that prefixes the token wins, so an output called ``u_x`` shadows ``u``'s derivative.
    """
    for field in sorted(outputs, key=len, reverse=True):
        if token == field:
            return value_of(field, len(inputs))
        if token.startswith(field + "_"):
            letters = token[len(field) + 1 :]
            if letters and all(c in inputs for c in letters):
                orders = [0] * len(inputs)
                for c in letters:
                    orders[list(inputs).index(c)] += 1
                return Partial(field, tuple(orders))
    return None


def derivative_prefix(token: str, outputs: Sequence[str]) -> str | None:
    """The output ``token`` looks like a derivative of (``v_q`` -> ``v``), else None."""
    for field in sorted(outputs, key=len, reverse=True):
        if token.startswith(field + "_") and len(token) > len(field) + 1:
            return field
    return None
