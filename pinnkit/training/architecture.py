"""Model options that depend on the problem: periodic inputs and the output transform.

Both are validated here against the problem's inputs, outputs and constants; a typo in
``model.periodic`` or ``model.transform`` is a ``ConfigError`` naming the key, which
``build_model`` locates in the YAML (so ``pinnkit check`` reports it before training).
"""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError, did_you_mean
from ..expr.analysis import symbols
from ..models.transform import OutputTransform
from ..problem import CompiledProblem


def periodic_columns(problem: CompiledProblem, cfg: Config
                     ) -> dict[int, tuple[float, float]] | None:
    """``model.periodic: {x: [a, b]}`` -> {column of x: (a, b)}, or None."""
    spec = cfg.model.periodic
    if not spec:
        return None
    out: dict[int, tuple[float, float]] = {}
    for name, bounds in spec.items():
        key = f"model.periodic.{name}"
        if name not in problem.inputs:
            raise ConfigError(key, f"'{name}' is not an input"
                              f"{did_you_mean(name, problem.inputs)}",
                              "one of: " + ", ".join(problem.inputs), "use an input name")
        if len(bounds) != 2 or not bounds[1] > bounds[0]:
            raise ConfigError(key, f"found {list(bounds)}", "the period as [low, high] with "
                              "low < high", f"write {name}: [-1, 1]")
        out[problem.inputs.index(name)] = (float(bounds[0]), float(bounds[1]))
    return out


def output_transform(problem: CompiledProblem, cfg: Config) -> OutputTransform | None:
    """``model.transform`` compiled against the problem, or None."""
    spec = cfg.model.transform
    if spec is None:
        return None
    transform = OutputTransform(spec, problem.inputs, problem.outputs, problem.constants)
    for field, own in problem.depends.items():  # a(x, y) stays a function of x, y
        compiled = transform.compiled.get(field)
        other = [n for n in problem.inputs if n not in own and
                 compiled is not None and n in symbols(compiled.tree)]
        if other:
            key = f"model.transform.{field}" if isinstance(spec, dict) else "model.transform"
            raise ConfigError(key, f"the transform of {field} reads {other[0]}, but outputs "
                              f"declares {field} over {', '.join(own)} only",
                              f"an expression of net and {', '.join(own)}",
                              f"drop {other[0]} from the transform, or add it to {field}'s "
                              "inputs in outputs")
    return transform

