"""Names of derivatives: ``u_xxy`` <-> ``Partial("u", (2, 1))`` for inputs (x, y).

Mixed partial derivatives of the smooth networks pinnkit trains commute, so a derivative
is identified by how many times each input is differentiated, not by the order.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

#: Functions an expression may call, and how many arguments each takes: (fewest, most),
#: None for no limit (``min(a, b, c)``). ``where``'s first argument is a condition.
ARITY: dict[str, tuple[int, int | None]] = {
    **{f: (1, 1) for f in ("sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh",
                           "abs", "sign", "heaviside", "atan", "asin", "acos", "erf")},
    "atan2": (2, 2), "min": (2, None), "max": (2, None), "clip": (3, 3), "where": (3, 3),
}
FUNCTIONS = tuple(ARITY)
#: how many times each non-smooth function can be differentiated before a derivative
#: misses a delta: a kink (abs, min, max, clip) once, a jump (sign, heaviside, where)
#: never. The others are smooth where they are defined (log, sqrt, asin at +-1 and atan2
#: at the origin and across its branch cut, the negative x axis, excepted).
SMOOTHNESS = {"abs": 1, "min": 1, "max": 1, "clip": 1, "sign": 0, "heaviside": 0, "where": 0}
#: how each function is called, for messages
SIGNATURES = {"atan2": "atan2(y, x)", "min": "min(a, b)", "max": "max(a, b)",
              "clip": "clip(a, lo, hi)", "where": "where(cond, a, b)"}
BUILTIN_CONSTANTS = {"pi": math.pi, "e": math.e}

#: names an input, output, constant or parameter may not take: the derivative call, the
#: built-in constants and the functions
RESERVED = ("d", *BUILTIN_CONSTANTS, *FUNCTIONS)


def unusable(name: object) -> str:
    """Why ``name`` cannot name an input, output, constant or parameter, or "" when it can.

    Python reads identifiers in NFKC form (PEP 3131), so a fullwidth ``ｔ`` in an expression
    is the input ``t``: a name that NFKC changes is refused rather than folded, because the
    folded name may be another declared one and a warning is easily missed."""
    if not isinstance(name, str) or not name.isidentifier():
        return "letters, digits and _ only, not starting with a digit"
    folded = unicodedata.normalize("NFKC", name)
    if folded != name:
        return f"Unicode compatibility characters that expressions read as '{folded}'"
    if name in RESERVED:
        return "the derivative call d(...)" if name == "d" else \
            "a built-in constant" if name in ("pi", "e") else "a function"
    return ""


def folded_character(text: str) -> tuple[int, str, str] | None:
    """(column, character, what Python reads) for the first character of ``text`` that
    NFKC changes, or None."""
    if unicodedata.normalize("NFKC", text) == text:
        return None
    for i, c in enumerate(text):
        folded = unicodedata.normalize("NFKC", c)
        if folded != c:
            return i, c, folded
    for i in range(1, len(text)):  # a combining mark that composes with the one before it
        pair = text[i - 1:i + 1]
        if unicodedata.normalize("NFKC", pair) != pair:
            return i, text[i], unicodedata.normalize("NFKC", pair)
    return 0, text[:1], unicodedata.normalize("NFKC", text)[:1]


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
