"""Hard constraints: the network's raw output passed through an expression per field.

``model.transform: "x*(1 - x)*net + sin(pi*x)"`` makes ``u`` equal ``sin(pi*x)`` at
x = 0 and 1 whatever the weights are, so the boundary condition needs no loss term.
``net`` is the raw network output of the field being transformed; the expression may use
the inputs (raw, not normalised), the problem's constants, pi and e. With several outputs
the transform is a mapping ``{u: ..., v: ...}``; fields left out pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, ExprError, did_you_mean
from ..expr import Compiled, Namespace, Partial, compile_expr, parse, render

NET = "net"


def compile_transform(spec: Any, inputs: Sequence[str], outputs: Sequence[str],
                      constants: Sequence[str], key: str = "model.transform"
                      ) -> dict[str, Compiled]:
    """{field: compiled expression of ``net``}; errors name ``key`` and the field."""
    if isinstance(spec, str):
        if len(outputs) > 1:
            raise ConfigError(key, f"one expression for {len(outputs)} outputs",
                              "a mapping {" + ", ".join(f"{o}: ..." for o in outputs) + "}",
                              "give the transform of each constrained field")
        spec = {outputs[0]: spec}
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(key, f"found {type(spec).__name__} {spec!r}",
                          "an expression of net, or a mapping {field: expression}",
                          "write e.g. transform: 'x*(1 - x)*net'")
    if NET in inputs:
        raise ConfigError(key, "an input is called 'net', the name of the raw network output",
                          "inputs other than 'net'", "rename that input")
    ns = Namespace(tuple(inputs), (NET,), tuple(constants))
    zero = Partial(NET, (0,) * len(inputs))
    out: dict[str, Compiled] = {}
    for field, text in spec.items():
        sub = f"{key}.{field}" if len(outputs) > 1 or field not in outputs else key
        if field not in outputs:
            raise ConfigError(sub, f"'{field}' is not an output{did_you_mean(field, outputs)}",
                              "one of: " + ", ".join(outputs), "use an output name")
        try:
            compiled = compile_expr(parse(str(text), ns))
        except ExprError as exc:
            raise ConfigError(sub, exc.message + (f" (column {exc.column + 1})"
                                                  if exc.column is not None else "")
                              + f" in '{exc.text}'", "an expression of net (the raw network "
                              "output), the inputs and constants", exc.fix) from None
        if any(p.order > 0 for p in compiled.needs):
            raise ConfigError(sub, f"'{text}' differentiates net",
                              "an expression of net itself, the inputs and constants",
                              "write the constraint without derivatives of net")
        if zero not in compiled.needs:
            raise ConfigError(sub, f"'{text}' does not use net, so the field would ignore "
                              "the network", "an expression of net such as 'x*(1 - x)*net'",
                              "multiply net by a function that vanishes where the value "
                              "is imposed, and add that value")
        out[str(field)] = compiled
    return out


class OutputTransform(nn.Module):
    """y -> transformed y, one compiled expression per constrained output column.

    The expressions are plain tensor arithmetic, so ``autograd`` differentiates through
    them like through any module. ``compiled[field].tree`` is the expression tree, which
    the Taylor engine can differentiate symbolically (``expr.differentiate``).
    """

    def __init__(self, spec: Any, inputs: Sequence[str], outputs: Sequence[str],
                 constants: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.inputs, self.outputs = tuple(inputs), tuple(outputs)
        self.constants = {k: float(v) for k, v in dict(constants or {}).items()}
        self.compiled = compile_transform(spec, self.inputs, self.outputs,
                                          tuple(self.constants))
        self.columns = {f: self.outputs.index(f) for f in self.compiled}
        # identifies the transform in caches (a plain string: torch.compile guards on it)
        self.signature = repr((sorted((f, render(c.tree, self.inputs))
                                      for f, c in self.compiled.items()),
                               self.inputs, self.outputs, sorted(self.constants.items())))
        self._net = Partial(NET, (0,) * len(self.inputs))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        env: dict[Any, Any] = dict(self.constants)
        env.update({name: x[:, i] for i, name in enumerate(self.inputs)})
        cols = list(y.unbind(dim=-1))
        for field, compiled in self.compiled.items():
            j = self.columns[field]
            env[self._net] = cols[j]
            value = torch.as_tensor(compiled(env), dtype=y.dtype, device=y.device)
            cols[j] = value.expand(y.shape[0]) if value.ndim == 0 else value
        return torch.stack(cols, dim=-1)

    def extra_repr(self) -> str:
        return ", ".join(f"{f} = {render(c.tree, self.inputs)}"
                         for f, c in self.compiled.items())
