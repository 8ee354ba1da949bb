"""The config as frozen dataclasses: every field has a default and a one-line comment.

``build(Config, data, lines)`` validates plain YAML data against these classes: unknown
keys, wrong types and bad choices are ``ConfigError``s naming the key path and its line.
Expressions stay strings here; the problem layer parses them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, cast

from ..errors import ConfigError, did_you_mean, line_of, one_of

Lines = dict[str, int]


#: upper bounds of the counts that size an allocation or a loop, with what real use looks
#: like (for the message): far above real use, far below what exhausts memory or time
#: first. ``pinnkit.training.sizes`` then estimates the memory of them together.
_STEPS = (10**9, "a billion steps would run for years")
_POINTS = (100_000_000, "PINNs use 1e3 to 1e6; lower it, or set training.points.chunk")
LIMITS: dict[str, tuple[int, str]] = {
    "FourierConfig.features": (65_536, "embeddings use 16 to 1024"),
    "ModelConfig.width": (16_384, "PINNs use 20 to 512"),
    "ModelConfig.depth": (1_000, "PINNs use 2 to 10"),
    "AdaptivePointsConfig.candidates": (1_000, "RAD uses 2 to 100"),
    "PointsConfig.domain": _POINTS, "PointsConfig.boundary": _POINTS,
    "PointsConfig.chunk": _POINTS, "PointsConfig.resample_every": _STEPS,
    "StageConfig.steps": _STEPS, "StageConfig.decay_every": _STEPS,
    "StageConfig.resample_every": _STEPS, "StageConfig.patience": _STEPS,
    "StageConfig.history": (10_000, "L-BFGS uses 10 to 100"),
    "BalanceConfig.every": _STEPS,
    "CausalConfig.chunks": (100_000, "causal weighting uses 8 to 100"),
    "TrainingConfig.seed": (2**32 - 1, "a 32-bit number"),
    "LoggingConfig.every": _STEPS, "LoggingConfig.checkpoint_every": _STEPS,
    "LoggingConfig.images_every": _STEPS,
    "LoggingConfig.grid": (4_096, "pictures use 64 to 512 per axis"),
    "ConditionConfig.order": (16, "an equation of order k needs k - 1"),
    "ConditionConfig.at": (10_000, "a point condition pins a few points; a table takes more"),
    # the rows of a reference table (exact: {file: ...}) or a condition's table (file:):
    # the network is evaluated at every row, at each logging step or each training step
    "table.rows": (2_000_000, "reference and condition tables hold 1e3 to 1e6 rows"),
}


def _f(default: Any = dataclasses.MISSING, *, choices: tuple[str, ...] = (), positive: bool = False,
       factory: Any = None, nonnegative: bool = False, nonempty: bool = False) -> Any:
    meta = {"choices": choices, "positive": positive, "nonnegative": nonnegative,
            "nonempty": nonempty}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class FourierConfig:
    features: int = _f(64, positive=True)   # random frequencies; the layer adds sin and cos of each
    sigma: float = _f(1.0, positive=True)   # scale of the frequencies (inputs are in [-1, 1])


@dataclass(frozen=True)
class ModelConfig:
    width: int = _f(32, positive=True)      # neurons per hidden layer
    depth: int = _f(3, positive=True)       # hidden layers
    activation: str = "tanh"                # smooth activations: tanh, sin, silu, gelu, softplus
    dtype: str = _f("float32", choices=("float32", "float64"))  # float64 for high accuracy
    engine: str = _f("auto", choices=("auto", "autograd", "taylor"))  # derivative engine
    precision: str = _f("ieee", choices=("ieee", "tf32"))  # float32 matmuls on CUDA: ieee, or
    #                                    tf32 (faster on Ampere+, ~1e-3 relative error)
    fourier_features: FourierConfig | None = None  # random Fourier embedding of the inputs
    periodic: dict[str, tuple[float, ...]] | None = None  # {x: [-1, 1]}: exactly periodic in x
    transform: Any = None  # hard constraints: "x*(1 - x)*net + sin(pi*x)", or {u: ..., v: ...}


@dataclass(frozen=True)
class AdaptivePointsConfig:
    scheme: str = _f("rad", choices=("rad", "r3"))  # rad: draw where residuals are large; r3:
    #                                    keep points with above-mean residual, redraw the rest
    candidates: int = _f(4, positive=True)  # rad: candidate points drawn per point kept
    k: float = _f(1.0, positive=True)   # rad: density ~ |r|^k / mean(|r|^k) + c
    c: float = _f(1.0, nonnegative=True)  # rad: uniform part of the density (0: residual only)


@dataclass(frozen=True)
class PointsConfig:
    domain: int = _f(2048, positive=True)   # interior collocation points
    boundary: int = _f(256, positive=True)  # points per boundary condition
    sampler: str = "sobol"                  # sobol, halton, lhs (scipy.stats.qmc) or uniform
    resample_every: int = _f(100, nonnegative=True)  # draw fresh points every N steps; 0 keeps them
    chunk: int = _f(0, nonnegative=True)    # residuals on N points at a time (less memory); 0: all
    adaptive: AdaptivePointsConfig | None = None  # residual-based resampling of interior points


@dataclass(frozen=True)
class StageConfig:
    optimizer: str = _f("adam", choices=("adam", "lbfgs", "ssbfgs", "ssbroyden", "lm"))  # adam,
    #   then a second-order stage: lbfgs, ssbfgs/ssbroyden (dense self-scaled quasi-Newton) or
    #   lm (Levenberg-Marquardt on the stacked residuals); these three want dtype: float64
    steps: int = _f(1000, positive=True)    # optimizer steps (iterations) in this stage
    lr: float | None = _f(None, positive=True)  # default 1e-3 for adam, 1.0 for the others
    decay: float = _f(1.0, positive=True)   # multiply lr by this every decay_every steps
    decay_every: int = _f(1000, positive=True)  # steps between lr decays
    history: int = _f(50, positive=True)    # lbfgs: history size
    schedule: str = _f("step", choices=("step", "cosine"))  # step: lr *= decay every
    #                                    decay_every steps; cosine: lr -> lr_min over the stage
    lr_min: float = _f(0.0, nonnegative=True)  # cosine: the learning rate at the stage's end
    dtype: str | None = _f(None, choices=("float32", "float64"))  # promote model, points and
    #                                    parameters to this at the stage's start; default: keep
    resample_every: int = _f(0, nonnegative=True)  # lbfgs/ssbfgs/ssbroyden/lm: fresh points
    #                  every N steps, the curvature approximation restarted; 0: fixed points
    patience: int = _f(0, nonnegative=True)  # end the stage when the loss has not decreased
    #                  for N steps; 0: 200 for lbfgs/ssbfgs/ssbroyden/lm, never for adam
    damping: float = _f(1.0e-3, positive=True)  # lm: start damping, times the largest
    #                                    diagonal entry of J^T J (adapted every step)


@dataclass(frozen=True)
class BalanceConfig:
    scheme: str = _f("gradnorm", choices=("gradnorm", "annealing"))  # gradnorm: every term's
    #           weighted gradient gets the same norm; annealing: max/mean rule of Wang et al.
    every: int = _f(100, positive=True)     # Adam steps between weight updates
    momentum: float = _f(0.9, nonnegative=True)  # new = momentum*old + (1 - momentum)*measured


@dataclass(frozen=True)
class CausalConfig:
    chunks: int = _f(16, positive=True)     # time slices; later ones wait for earlier ones
    epsilon: float = _f(1.0, positive=True)  # slice weight exp(-epsilon * earlier slices' loss)
    time: str = "t"                         # the input that is time


@dataclass(frozen=True)
class TrainingConfig:
    seed: int = _f(0, nonnegative=True)     # seeds the network and the samplers
    device: str = "auto"                    # auto: cuda when available, else cpu
    points: PointsConfig = _f(factory=PointsConfig)  # collocation points
    stages: tuple[StageConfig, ...] = _f(factory=lambda: (StageConfig(),),
                                         nonempty=True)  # run in order
    weights: dict[str, float] = _f(factory=dict)  # weight per loss term name; default 1
    compile: str = _f("auto", choices=("auto", "true", "false", "graph"))  # torch.compile the
    # loss, and on CUDA the whole Adam step as a CUDA graph; auto: runs of >= 2000 steps
    # only (compile time repaid); graph: the whole-step path on the CPU too, eagerly (tests)
    balance: BalanceConfig | None = None    # adaptive weights; `weights` are the start values
    causal: CausalConfig | None = None      # causal weighting of the equations in time


@dataclass(frozen=True)
class LoggingConfig:
    dir: str | None = None                  # run folder; default runs/<name>
    every: int = _f(100, positive=True)     # steps between progress lines and scalars
    checkpoint_every: int = _f(1000, positive=True)  # steps between last.pt writes
    tensorboard: bool = True                # write TensorBoard event files
    images_every: int = _f(1000, positive=True)  # steps between TensorBoard field images
    grid: int = _f(128, positive=True)      # points per axis of image and plot grids
    slice: dict[str, float] = _f(factory=dict)  # 3+ inputs: values of the inputs held fixed


@dataclass(frozen=True)
class ConditionConfig:
    on: str = ""                            # selector: x == 0, t == 0, boundary, ...
    residual: str = ""                      # expression that must vanish there
    weight: float | None = None             # overrides training.weights for this term
    periodic: str | None = None             # instead of on/residual: an input whose two faces
    #                                         must agree in the fields and their derivatives
    order: int | None = _f(None, nonnegative=True)  # periodic: derivatives matched up to
    #                                         this order; default: the equations' order - 1
    at: Any = None                          # instead of on: a point {x: 0, y: 0}, or a list of
    #                                         points, where the residual must vanish
    file: str = ""                          # with on: a CSV/NPZ whose rows are the points; its
    #                                         other columns are names the residual reads


@dataclass(frozen=True)
class ObjectiveConfig:
    integrand: str = ""                     # averaged over interior points, used as written
    weight: float | None = None             # overrides training.weights for this term


@dataclass(frozen=True)
class ParameterConfig:
    init: float | None = None               # start value; default: middle of bounds, else 1
    bounds: tuple[float, ...] | None = None  # [low, high]: value = low + (high-low)*sigmoid(raw)
    log: bool = False                       # value = exp(raw): positive, learns its magnitude
    lr: float | None = _f(None, positive=True)  # own Adam learning rate; default: the stage's


@dataclass(frozen=True)
class DataConfig:
    file: str = ""                          # CSV or NPZ; relative to this file's folder, then cwd
    targets: tuple[str, ...] = ()           # columns to fit; default: all that are not inputs
    weight: float = _f(1.0, positive=True)  # weight of each target's term (<name>.u, <name>.u_x)
    weights: dict[str, float] = _f(factory=dict)  # per target column, e.g. {u_x: 0.1}
    sigma: dict[str, float] = _f(factory=dict)    # noise std per column: weight times 1/sigma^2


@dataclass(frozen=True)
class FieldConfig:
    file: str = ""                          # CSV or NPZ: columns of inputs and the field's own
    interpolate: str = _f("linear", choices=("nearest", "linear", "cubic"))  # cubic: grids only


@dataclass(frozen=True)
class Config:
    name: str = ""                          # run name; default: the file's stem
    inputs: tuple[str, ...] = ()            # coordinates, in network-input order
    outputs: tuple[Any, ...] = ()           # fields, in network-output order; {a: [x, y]}:
                                            # a field of those inputs only (own network)
    domain: Any = None                      # {x: [0, 1], t: [0, 1]}
    constants: dict[str, float] = _f(factory=dict)  # named numbers used in expressions
    parameters: dict[str, ParameterConfig] = _f(factory=dict)  # learnable scalars (inverse)
    equations: dict[str, str] = _f(factory=dict)    # residuals on interior points
    conditions: dict[str, ConditionConfig] = _f(factory=dict)  # residuals on boundary parts
    data: dict[str, DataConfig] = _f(factory=dict)  # observations: columns x, t, u, u_x, ...
    fields: dict[str, FieldConfig] = _f(factory=dict)  # coefficient tables, read like constants
    exact: Any = None                       # reference: expression, {u: ..}, or {file: ..}
    objective: dict[str, ObjectiveConfig] = _f(factory=dict)  # terms not squared (Deep Ritz)
    model: ModelConfig = _f(factory=ModelConfig)
    training: TrainingConfig = _f(factory=TrainingConfig)
    logging: LoggingConfig = _f(factory=LoggingConfig)
    checks: dict[str, Any] = _f(factory=dict)  # per check: error, warn or off (checked there)
    problem: str | None = None              # file.py:Class, a Python Problem to start from
    # Where each key came from; not a YAML key.
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False,
                                  metadata={"internal": True})
    source: str = field(default="", compare=False, repr=False, metadata={"internal": True})
    given: frozenset[str] = field(default=frozenset(), compare=False, repr=False,
                                  metadata={"internal": True})


def build(cls: type, data: Any, lines: Lines, path: str = "", source: str = "") -> Any:
    """Validate ``data`` against dataclass ``cls``; errors name the key and line."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"found {_kind(data)} {_short(data)}", "a mapping of keys",
                          _example(cls), line_of(lines, path), source)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs = {}
    for key, value in data.items():
        sub = f"{path}.{key}" if path else key
        if key not in fields:
            raise ConfigError(sub, f"unknown key '{key}'{did_you_mean(key, fields)}",
                              one_of(fields), _unknown_key_fix(key), line_of(lines, sub), source)
        f = fields[key]
        meta = {**f.metadata, "most": LIMITS.get(f"{cls.__name__}.{key}")}
        kwargs[key] = _value(hints[key], value, sub, lines, source, meta)
    return cls(**kwargs)


def _value(tp: Any, value: Any, path: str, lines: Lines, source: str,
           meta: typing.Mapping[str, Any]) -> Any:
    line = line_of(lines, path)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _value(inner[0], value, path, lines, source, meta)
    if dataclasses.is_dataclass(tp):
        return build(cast(type, tp), value, lines, path, source)
    if origin is tuple:
        if isinstance(value, (str, int, float)) and args[0] in (str, Any):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(path, f"found {_kind(value)} {_short(value)}", "a list",
                              "write it as [a, b, ...]", line, source)
        if meta.get("nonempty") and not value:
            raise ConfigError(path, "is an empty list", "at least one entry",
                              _example_entry(args[0], path), line, source)
        return tuple(_value(args[0], v, f"{path}.{i}", lines, source, {})
                     for i, v in enumerate(value))
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(path, f"found {_kind(value)} {_short(value)}",
                              "a mapping of names to values", "write it as {name: value}",
                              line, source)
        return {k: _value(args[1], v, f"{path}.{k}", lines, source, {}) for k, v in value.items()}
    return _scalar(tp, value, path, line, source, meta)


def _scalar(tp: type, value: Any, path: str, line: int | None, source: str,
            meta: typing.Mapping[str, Any]) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"found {_short(value)}", "true or false",
                              "write true or false", line, source)
        return value
    if tp in (int, float):
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(path, f"found the text {value!r}", f"a number ({tp.__name__})",
                                  "write a number such as 1.0e-3", line, source) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"found {_kind(value)} {_short(value)}",
                              f"a number ({tp.__name__})", "write a plain number", line, source)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(path, f"found {value}", "a finite number",
                              "write a finite number such as 1.0", line, source)
        if tp is int:
            if float(value) != int(value):
                raise ConfigError(path, f"found {value}", "a whole number",
                                  f"write {round(value)}", line, source)
            value = int(value)
        if meta.get("positive") and value <= 0:
            raise ConfigError(path, f"found {value}", "a positive number",
                              "use a value greater than 0", line, source)
        if meta.get("nonnegative") and value < 0:
            raise ConfigError(path, f"found {value}", "a number >= 0",
                              "use 0 or a positive value", line, source)
        most = meta.get("most")
        if most is not None and value > most[0]:
            raise ConfigError(path, f"found {value:,.0f}", f"at most {most[0]:,} ({most[1]})",
                              f"use a value up to {most[0]:,}", line, source)
        return tp(value)
    if tp is str:
        if isinstance(value, bool) and {"true", "false"} <= set(meta.get("choices") or ()):
            value = "true" if value else "false"  # `compile: true` reads as a YAML boolean
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(path, f"found {_kind(value)} {_short(value)}", "a string",
                              "quote it", line, source)
        value = str(value)
        choices = meta.get("choices") or ()
        if choices and value not in choices:
            raise ConfigError(path, f"'{value}' is not allowed{did_you_mean(value, choices)}",
                              one_of(choices), f"use one of {', '.join(choices)}", line, source)
        return value
    raise TypeError(f"unsupported config type {tp}")


def _kind(v: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean",
            type(None): "nothing"}.get(type(v), type(v).__name__)


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _unknown_key_fix(key: str) -> str:
    # `{on: t == 0, residual: u - f(x, t)}`: YAML splits the expression at the comma, so
    # the user sees a "key" such as `t)`; the real fix is quoting, not spelling
    if any(c in key for c in "()*+/") or " " in key.strip():
        return ("an expression with a comma inside {...} must be quoted, e.g. "
                "residual: 'u - sin(pi*x)'")
    return "fix the spelling or remove the key"


def _example_entry(tp: Any, path: str) -> str:
    if dataclasses.is_dataclass(tp):
        return f"add one, e.g. {path}: [{_fields_example(cast(type, tp))}]"
    return f"add an entry to {path}"


def _example(cls: type) -> str:
    return "write it as " + _fields_example(cls)


def _fields_example(cls: type) -> str:
    names = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("internal")][:2]
    return "{" + ", ".join(f"{n}: ..." for n in names) + "}"
