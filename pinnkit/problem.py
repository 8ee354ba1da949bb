"""``Problem``: the one class users subclass. Declarative: class attributes + optional methods.

A problem names its inputs and outputs, its domain, constants, the residuals that must
vanish inside (``equations``) and on parts of the boundary (``conditions``), and optionally
an exact solution. ``compile_problem`` turns it, with a config, into ``CompiledProblem``:
terms that know exactly which derivatives they need.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import inspect
import sys
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .conditions import FixedPoints, point_condition, table_condition
from .config import Config
from .data import Observations, file_bases, load_observations
from .errors import ConfigError, ExprError, PinnkitError, did_you_mean, line_of
from .exact import ReferenceTable, is_table_spec, load_reference
from .expr import BUILTIN_CONSTANTS, Namespace, Partial, compile_expr, parse, parse_name
from .expr.collapse import Combo, collapse
from .expr.compile import FIELDS_KEY
from .expr.depends import Depends, drop_independent, independent
from .expr.names import RESERVED, unusable
from .expr.tree import Coef, Node
from .fields import FieldSet, load_fields
from .geometry import (
    Box,
    Selector,
    Shape,
    boundary_namespace,
    normal_env,
    parse_selector,
    require_selected,
    shape_from_config,
)
from .parameters import Parameters, parameter_spec, parameters_from
from .usercode import calling_user, shown_path

Env = Mapping[Any, Any]
#: config keys that describe the problem itself (a Problem object brings its own)


class Problem:
    """Subclass and set the attributes below; see configs/heat.yaml for the YAML twin.

    ``equations`` and ``conditions`` values are expression strings, or functions
    ``def heat(self, d): return d.u_t - self.alpha * d.u_xx`` that receive the derivative
    accessor. A condition is ``(on, residual)`` or ``{"on": ..., "residual": ...}``.
    ``parameters`` are learnable scalars (``{"k": 0.5}`` or ``{"k": {"init": 0.5, "bounds":
    (0, 2)}}``); in a method residual ``self.k`` is their current tensor value. ``data`` maps
    names to observation files (``{"obs": "data/obs.csv"}`` or ``{"obs": {"file": ...,
    "weight": ...}}``, or ``{"obs": {"table": {"x": xs, "u": us}}}`` with arrays).
    ``fields`` maps names to coefficient tables (``{"kappa": "kappa.csv"}``, ``{"kappa":
    {"file": ..., "interpolate": "cubic"}}`` or ``{"kappa": {"table": {"x": xs, "kappa":
    ks}}}``): expressions read them like constants that vary with the inputs, ``kappa_x``
    their derivatives; a method residual reads ``d.kappa``, ``d.kappa_x`` (pinnkit.fields).
    An ``outputs`` entry ``{"a": ("x", "y")}`` is a field of those inputs only (its own
    network; its derivatives along the other inputs are exactly zero).
    """

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    domain: Shape | Mapping[str, Any] | None = None
    constants: Mapping[str, float] = {}
    equations: Mapping[str, Any] = {}
    conditions: Mapping[str, Any] = {}
    parameters: Mapping[str, Any] = {}
    data: Mapping[str, Any] = {}
    fields: Mapping[str, Any] = {}  # coefficient fields: tables interpolated over the inputs
    exact: Any = None  # a method exact(self, x, t) -> tensor(s), an expression, or a mapping
    # terms minimised as written (mean over interior points, not squared), e.g. the Deep Ritz
    # energy {"energy": "0.5*u_x**2 - f*u"} or {"energy": {"integrand": ..., "weight": 1}}
    objective: Mapping[str, Any] = {}

    def __init__(self, **constants: float) -> None:
        unknown = [k for k in constants if k not in type(self).constants]
        if unknown:
            raise PinnkitError(f"{type(self).__name__} has no constant '{unknown[0]}'"
                               f"{did_you_mean(unknown[0], type(self).constants)}")
        self.constants = {**type(self).constants, **constants}

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: expose constants as self.alpha
        consts = self.__dict__.get("constants", type(self).constants)
        if name in consts:
            return consts[name]
        if name in BUILTIN_CONSTANTS:
            return BUILTIN_CONSTANTS[name]
        params = self.__dict__.get("parameters", type(self).parameters)
        if name in params:  # compiled: the live tensor; before that, the start value
            bound = self.__dict__.get("_bound_parameters")
            return bound.value(name) if bound is not None and name in bound.specs \
                else parameter_spec(name, params[name]).init
        raise AttributeError(f"{type(self).__name__} has no attribute or constant '{name}'")


class Fields:
    """The derivative accessor a method residual receives: ``d.u``, ``d.u_xx``, ``d.x``."""

    def __init__(self, env: Env, ns: Namespace) -> None:
        self._env, self._ns = env, ns

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        partial = parse_name(name, self._ns.inputs, self._ns.outputs)
        key: Any = partial if partial is not None else name
        if key in self._env:
            return self._env[key]
        coef = parse_name(name, self._ns.inputs, self._ns.fields)
        if coef is not None:  # a coefficient field, computed on the env's points
            return compile_expr(Coef(coef)).fn(self._env)
        expansion = dict(self._ns.expansions).get(name)
        if expansion is not None:  # u_n on boundary points
            return compile_expr(expansion).fn(self._env)
        known = [*self._ns.inputs, *self._ns.outputs, *self._ns.constants]
        raise AttributeError(f"'{name}' is not a field, derivative or input"
                             f"{did_you_mean(name, known)}")

    def __call__(self, field: str, *wrt: str) -> Any:
        """``d("u", "x", "x")``: the derivative for inputs with long names."""
        orders = [0] * len(self._ns.inputs)
        for w in wrt:
            orders[self._ns.inputs.index(w)] += 1
        if field in self._ns.fields:
            return compile_expr(Coef(Partial(field, tuple(orders)))).fn(self._env)
        return self._env[Partial(field, tuple(orders))]


class _Recorder(dict):
    """An env that hands out ones and records which derivatives were read."""

    def __init__(self, ns: Namespace, consts: Mapping[str, float | torch.Tensor]) -> None:
        super().__init__(consts)
        self.ns = ns
        self.seen: set[Partial] = set()

    def __contains__(self, key: object) -> bool:
        return isinstance(key, Partial) or key in self.ns.inputs or key in self.ns.symbols \
            or dict.__contains__(self, key)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, Partial):
            self.seen.add(key)
            return torch.ones(4, dtype=torch.float64)
        if key in self.ns.symbols:  # normal components
            return torch.full((4,), 0.5, dtype=torch.float64)
        if key in self.ns.inputs:
            return torch.linspace(0.1, 0.9, 4, dtype=torch.float64)
        return dict.__getitem__(self, key)


@dataclass(frozen=True)
class Term:
    """One loss term: where its points come from and what it needs.

    Equations and conditions are squared residuals; ``objective`` terms are used as written
    (``squared=False``), so they must be bounded below (see pinnkit.checks.boundedness).
    """

    name: str
    kind: str  # "equation", "condition" or "objective"
    key: str  # YAML key path, for messages
    residual: Callable[[Env], Any]
    needs: frozenset[Partial | Combo]  # Combo: a collapsed sum (one Taylor stream)
    selector: Selector | None = None  # boundary part; None = interior points
    weight: float = 1.0
    text: str = ""  # the expression, or the method's name
    squared: bool = True  # False: the loss is the mean of the value itself (objective terms)
    data: str | None = None  # kind "data": the data entry whose points it is evaluated on
    periodic: int | None = None  # a periodic condition: the input whose two faces it pairs
    # what an expression residual was compiled from, so that checks and evaluation read
    # the parsed tree (before collapsing) instead of parsing the user's text again; None
    # for a method residual. ``namespace`` is what it may read: for conditions the normal's
    # components and u_n, and the problem's learnable parameters
    tree: Node | None = None
    namespace: Namespace | None = None
    # derivatives the residual reads that are identically zero (an output that does not
    # depend on that input, see ``CompiledProblem.depends``): read as 0, never computed
    zero: frozenset[Partial] = frozenset()
    # a condition at given points (at:, or a table's rows with file:): never sampled
    points: FixedPoints | None = None

    @property
    def order(self) -> int:
        return max((p.order for p in self.needs), default=0)

    @property
    def partials(self) -> frozenset[Partial]:
        """Every partial derivative the term reads, collapsed sums taken apart."""
        out: set[Partial] = set()
        for key in self.needs:
            out.update(key.partials if isinstance(key, Combo) else (key,))
        return frozenset(out)


@dataclass(frozen=True)
class CompiledProblem:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    shape: Shape
    constants: dict[str, float]
    terms: tuple[Term, ...]
    exact: Callable[[torch.Tensor], torch.Tensor] | None
    problem: Problem
    parameters: Parameters = dataclasses.field(default_factory=Parameters)  # learnable scalars
    data: tuple[Observations, ...] = ()  # observation sets of the "data" terms
    # exact: {file: ...}: the table errors are measured at (``exact`` interpolates it)
    reference: ReferenceTable | None = None
    fields: FieldSet = dataclasses.field(default_factory=FieldSet)  # coefficient fields
    # outputs declared over some inputs only ({a: [x, y]}): field -> those inputs, in order
    depends: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @property
    def depend_columns(self) -> dict[str, tuple[int, ...]]:
        """``depends`` as input positions (what the model and the analysis read)."""
        return {f: tuple(self.inputs.index(n) for n in names)
                for f, names in self.depends.items()}

    @property
    def namespace(self) -> Namespace:
        return Namespace(self.inputs, self.outputs, tuple(self.constants), self.parameters.names,
                         fields=self.fields.names)

    def env(self, x: torch.Tensor, table: Mapping[Partial | Combo, torch.Tensor],
            normals: torch.Tensor | None = None) -> dict[Any, Any]:
        """What residuals read: constants, inputs, derivatives, and on boundary points the
        outward normal's components (nx, ny, ...)."""
        env: dict[Any, Any] = dict(self.constants)
        env.update(self.parameters.values())
        env.update({name: x[:, i] for i, name in enumerate(self.inputs)})
        env.update(table)
        if normals is not None:
            env.update(normal_env(self.inputs, (*self.outputs, *self.constants), normals))
        if self.fields:  # computed where an expression reads them
            env[FIELDS_KEY] = self.fields
        return env


def find_problem_file(file: str, base_dir: Path | None = None) -> Path | None:
    """The Python file ``problem: FILE.py:Class`` names: absolute, or beside the config
    (``base_dir``), then in the working folder; None when there is none."""
    candidates = [Path(file)] if Path(file).is_absolute() else \
        [*([base_dir / file] if base_dir else []), Path.cwd() / file]
    return next((p for p in candidates if p.is_file()), None)


def load_problem_class(spec: str, base_dir: Path | None = None, line: int | None = None
                       ) -> type[Problem]:
    """``problems/heat.py:Heat`` -> the class; the path is tried next to the config first."""
    if ":" not in spec:
        raise ConfigError("problem", f"found '{spec}'", "FILE.py:ClassName",
                          "write e.g. problem: problems/heat.py:Heat", line)
    file, cls_name = spec.rsplit(":", 1)
    path = find_problem_file(file, base_dir)
    if path is None:
        raise ConfigError("problem", f"file '{file}' not found",
                          "a Python file, relative to the config or the working directory",
                          "check the path", line)
    mod_name = f"pinnkit_user_problem_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    if module_spec is None or module_spec.loader is None:  # not a .py file
        raise ConfigError("problem", f"'{path}' is not a Python file", "FILE.py:ClassName",
                          "point problem: at a .py file", line)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # the user's file may raise anything; report it as theirs
        raise ConfigError("problem", f"importing '{path}' raised {type(exc).__name__}: {exc}",
                          "a file that imports cleanly", "run it with python to see the "
                          "full error", line) from None
    cls = getattr(module, cls_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, Problem)):
        names = [n for n, v in vars(module).items() if inspect.isclass(v) and
                 issubclass(v, Problem) and v is not Problem]
        raise ConfigError("problem", f"'{cls_name}' is not a Problem subclass in '{path}'"
                          f"{did_you_mean(cls_name, names)}",
                          "one of: " + (", ".join(names) or "(none found)"),
                          "name a class defined as `class Name(pinnkit.Problem):` in that file",
                          line)
    return cls


def _instantiate(cls: type[Problem], line: int | None) -> Problem:
    """``cls()``; a constructor that needs arguments or raises is reported as the user's."""
    try:
        return cls()
    except Exception as exc:  # the user's constructor may raise anything; report it as theirs
        raise ConfigError("problem", f"{cls.__name__}() raised {type(exc).__name__}: {exc}",
                          "a Problem class that can be created without arguments",
                          "give every constructor argument a default, or set values with "
                          "constants: in the YAML", line) from None


def problem_from_config(cfg: Config) -> Problem:
    """The config's Problem: its ``problem:`` class (or an empty one) with YAML keys on top."""
    base = Path(cfg.source).parent if cfg.source and not cfg.source.startswith("<") else None
    line = cfg.lines.get("problem")
    problem = _instantiate(load_problem_class(cfg.problem, base, line), line) \
        if cfg.problem else Problem()
    for key in ("inputs", "outputs", "domain", "exact"):
        if key in cfg.given:
            setattr(problem, key, getattr(cfg, key))
    for key in ("constants", "parameters", "equations", "conditions", "objective", "data",
                "fields"):
        if key in cfg.given:  # merge: YAML entries replace the class's ones of the same name
            setattr(problem, key, {**getattr(problem, key), **getattr(cfg, key)})
    return problem


def _cfg_line(cfg: Config | None, key: str) -> int | None:
    return line_of(cfg.lines, key) if cfg is not None else None


def _expr_error(exc: ExprError, key: str, cfg: Config | None) -> ConfigError:
    where = f" (column {exc.column + 1})" if exc.column is not None else ""
    if key.endswith(".on"):
        expected = "a selector: comparisons of inputs joined by and/or, or 'boundary'"
    elif key.startswith("exact"):
        expected = "an expression of the inputs and constants"
    else:
        expected = "an expression of inputs, fields, their derivatives and constants"
    return ConfigError(key, f"{exc.message}{where} in '{exc.text}'", expected, exc.fix,
                       _cfg_line(cfg, key), cfg.source if cfg else None)


def _names(value: Any, key: str, cfg: Config | None) -> tuple[str, ...]:
    if not isinstance(value, (str, tuple, list)) and value is not None:
        raise ConfigError(key, f"found {type(value).__name__} {value!r}",
                          "a list of names such as ('x', 't')", f"write {key} = ('x', 't')",
                          _cfg_line(cfg, key))
    names = (value,) if isinstance(value, str) else tuple(value or ())
    if not names:
        raise ConfigError(key, "is empty", "a list of names such as [x, t]",
                          f"add {key}: [...]", _cfg_line(cfg, key))
    for n in names:
        why = unusable(n)
        if why:
            raise ConfigError(key, f"'{n}' is not a usable name ({why})", "names made of "
                              "letters, digits and _, other than " + ", ".join(RESERVED),
                              "rename it (plain letters, e.g. x, t, u)", _cfg_line(cfg, key))
    if len(set(names)) != len(names):
        raise ConfigError(key, "has a repeated name", "distinct names", "remove the repeat",
                          _cfg_line(cfg, key))
    return names


def _outputs(value: Any, inputs: tuple[str, ...], cfg: Config | None
             ) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """``outputs``: names, or ``{a: [x, y]}`` for a field of some inputs only -> (names in
    order, {restricted field: its inputs in input order}). A group of every input is an
    ordinary output."""
    entries = [value] if isinstance(value, (str, Mapping)) else value
    if not isinstance(entries, (tuple, list)):
        return _names(entries, "outputs", cfg), {}  # its error
    names: list[Any] = []
    depends: dict[str, tuple[str, ...]] = {}
    for i, entry in enumerate(entries):
        key = f"outputs.{i}"
        if not isinstance(entry, Mapping):
            names.append(str(entry) if isinstance(entry, (int, float)) and
                         not isinstance(entry, bool) else entry)
            continue
        if not entry:
            raise ConfigError(key, "is an empty mapping", "an output and the inputs it depends "
                              "on, e.g. {a: [" + ", ".join(inputs[:2]) + "]}",
                              "name the output, or remove the entry", _cfg_line(cfg, key))
        for name, over in entry.items():
            sub = f"{key}.{name}"
            group = [over] if isinstance(over, str) else over
            fix = f"write {{{name}: [{', '.join(inputs[:-1] or inputs)}]}}"
            if not isinstance(group, (list, tuple)) or \
                    not all(isinstance(g, str) for g in group):
                raise ConfigError(sub, f"found {type(over).__name__} {over!r}", "a list of the "
                                  "inputs the output depends on", fix, _cfg_line(cfg, sub))
            if not group:
                raise ConfigError(sub, "lists no inputs", "at least one of: " +
                                  ", ".join(inputs), fix + " (a value that depends on no input "
                                  "is a learnable parameter: parameters: {" + f"{name}: " +
                                  "{init: 1.0}})", _cfg_line(cfg, sub))
            for g in group:
                if g not in inputs:
                    raise ConfigError(sub, f"'{g}' is not an input{did_you_mean(g, inputs)}",
                                      "inputs from: " + ", ".join(inputs), "list inputs only, "
                                      f"e.g. {{{name}: [{inputs[0]}]}}", _cfg_line(cfg, sub))
            if len(set(group)) != len(group):
                twice = next(g for g in group if group.count(g) > 1)
                raise ConfigError(sub, f"lists '{twice}' twice", "each input once",
                                  "remove the repeat", _cfg_line(cfg, sub))
            names.append(name)
            if set(group) != set(inputs):  # every input: an ordinary output
                depends[str(name)] = tuple(n for n in inputs if n in group)
    return _names(tuple(names), "outputs", cfg), depends


def _residual(value: Any, key: str, ns: Namespace, problem: Problem, cfg: Config | None,
              depends: Depends | None = None
              ) -> tuple[Callable[[Env], Any], frozenset[Partial | Combo], str, Node | None,
                         frozenset[Partial]]:
    """(function of env, derivatives it needs, text, parsed tree or None for a method, the
    derivatives it reads that are identically zero) for a string or a method residual."""
    depends = depends or {}
    if callable(value):
        fn = value.__get__(problem) if hasattr(value, "__get__") and not inspect.ismethod(value) \
            else value
        fields = problem.__dict__.get("_bound_fields")
        recorder = _Recorder(ns, {**problem.constants, **_bound(problem).values(),
                                  **({FIELDS_KEY: fields} if fields else {})})
        with calling_user(f"the residual {key}"):  # on a batch of ones
            try:
                fn(Fields(recorder, ns))
            except AttributeError as exc:
                raise ConfigError(key, f"the method reads an unknown name: {exc}", "", "use "
                                  "d.<field or derivative>, d.<input> and self.<constant>",
                                  _cfg_line(cfg, key)) from None
        zero = frozenset(p for p in recorder.seen if independent(p, depends))
        return _zero_filled(fn, ns, zero), frozenset(recorder.seen - zero), \
            getattr(value, "__name__", "method"), None, zero
    if not isinstance(value, str) or isinstance(value, bool):
        raise ConfigError(key, f"found {type(value).__name__} {value!r}", "an expression string",
                          "quote it, e.g. 'u_t - u_xx'", _cfg_line(cfg, key))
    try:
        tree, zero = drop_independent(parse(value, ns), depends)  # a_t of a(x) is 0
        # sums such as u_xx + u_yy become one collapsed stream for the Taylor engine
        compiled = compile_expr(collapse(tree))
    except ExprError as exc:
        raise _expr_error(exc, key, cfg) from None
    return compiled.fn, compiled.needs, value, tree, zero


def _zero_filled(fn: Callable[[Any], Any], ns: Namespace, zero: frozenset[Partial]
                 ) -> Callable[[Env], Any]:
    """A method residual that reads the identically-zero derivatives ``zero`` as zeros."""
    if not zero:
        return lambda env: fn(Fields(env, ns))

    def call(env: Env) -> Any:
        zeros = torch.zeros_like(env[ns.inputs[0]])
        return fn(Fields({**env, **dict.fromkeys(zero, zeros)}, ns))

    return call


def _objective_terms(problem: Problem, ns: Namespace, weights: Mapping[str, float],
                     cfg: Config | None, depends: Depends) -> list[Term]:
    """``objective`` entries as unsquared interior terms."""
    terms = []
    for name, value in problem.objective.items():
        key = f"objective.{name}"
        integrand, weight = integrand_of(value), None
        if not isinstance(value, str) and not callable(value):
            weight = value.get("weight") if isinstance(value, Mapping) else \
                getattr(value, "weight", None)
            if not integrand:
                raise ConfigError(f"{key}.integrand", "is missing", "an expression averaged "
                                  "over the domain", "add integrand: <expression>, e.g. "
                                  "0.5*u_x**2 - f*u", _cfg_line(cfg, key))
            key += ".integrand"
        fn, needs, text, tree, zero = _residual(integrand, key, ns, problem, cfg, depends)
        w = weight if weight is not None else weights.get(name, 1.0)
        terms.append(Term(name, "objective", f"objective.{name}", fn, needs, None, float(w),
                          text, squared=False, tree=tree, namespace=ns, zero=zero))
    return terms


def integrand_of(value: Any) -> Any:
    """The integrand of an objective entry: a string, a method, or ``{integrand: ...}``."""
    if isinstance(value, str) or callable(value):
        return value
    if isinstance(value, Mapping):
        return value.get("integrand", "")
    return getattr(value, "integrand", "")


def _condition_parts(value: Any, key: str, cfg: Config | None) -> tuple[Any, Any, float | None]:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1], None
    on, residual = _field(value, "on") or "", _field(value, "residual") or ""
    at, file = _field(value, "at"), _field(value, "file")
    if at is not None and (on or file):
        other = "on" if on else "file"
        raise ConfigError(f"{key}.{other}", "is given beside at:", "either at: (given "
                          "points) or on: (a part of the boundary, with file: its table)",
                          f"remove {other}, or at:", _cfg_line(cfg, f"{key}.{other}") or
                          _cfg_line(cfg, key))
    if _field(value, "order") is not None:
        raise ConfigError(f"{key}.order", "is set on a condition that is not periodic",
                          "order only with periodic: <input>",
                          "remove order, or write periodic: <input> instead of on/residual",
                          _cfg_line(cfg, f"{key}.order") or _cfg_line(cfg, key))
    if not on and at is None:
        raise ConfigError(f"{key}.on", "is missing", "a selector such as 'x == 0' or "
                          "'boundary' (or at: a point such as {x: 0, y: 0})",
                          "add on: <selector>", _cfg_line(cfg, key))
    if not residual:
        raise ConfigError(f"{key}.residual", "is missing", "an expression that vanishes there",
                          "add residual: <expression>, e.g. u - 1", _cfg_line(cfg, key))
    return on, residual, _field(value, "weight")


def _field(value: Any, name: str) -> Any:
    """``value[name]`` for a mapping, ``value.name`` for a config object, else None."""
    if isinstance(value, Mapping):
        return value.get(name)
    return None if isinstance(value, (tuple, list, str)) else getattr(value, name, None)


def _periodic_term(name: str, value: Any, key: str, ns: Namespace, shape: Shape,
                   equations: list[Term], static_weight: float, cfg: Config | None,
                   depends: Depends) -> Term:
    """``{periodic: x, order: k}``: every field and its x-derivatives up to order k agree
    at the two faces x = a and x = b (points paired by their other coordinates)."""
    var, order = _field(value, "periodic"), _field(value, "order")
    if not isinstance(var, str) or var not in ns.inputs:
        raise ConfigError(f"{key}.periodic", f"'{var}' is not an input"
                          f"{did_you_mean(str(var), ns.inputs)}",
                          "one of: " + ", ".join(ns.inputs), "name the periodic input",
                          _cfg_line(cfg, f"{key}.periodic"))
    if _field(value, "on") or _field(value, "residual"):
        raise ConfigError(key, "has both periodic and on/residual", "either periodic: <input> "
                          "or on: + residual:", "split it into two conditions",
                          _cfg_line(cfg, key))
    if not isinstance(shape, Box):
        raise ConfigError(key, f"periodic conditions need a box domain, found {shape!r}",
                          "a box such as {x: [-1, 1], t: [0, 1]}", "use a box domain",
                          _cfg_line(cfg, key))
    axis = ns.inputs.index(var)
    if order is None:  # what the equations need: a k-th order equation pins k - 1 derivatives
        order = max(1, *(p.orders[axis] for t in equations for p in t.partials)) - 1
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ConfigError(f"{key}.order", f"found {order!r}", "a whole number >= 0",
                          "write e.g. order: 1 (values and first derivatives)",
                          _cfg_line(cfg, f"{key}.order"))
    d = len(ns.inputs)
    # a field that does not depend on var matches across its faces by construction
    fields = [f for f in ns.outputs if axis in depends.get(f, range(d))]
    if not fields:
        raise ConfigError(f"{key}.periodic", f"no output depends on {var}",
                          f"an input that some output depends on (outputs list {var} for "
                          "none)", "remove the condition: every output is constant in "
                          f"{var}", _cfg_line(cfg, f"{key}.periodic"))
    needs = tuple(Partial(f, tuple(k if i == axis else 0 for i in range(d)))
                  for f in fields for k in range(order + 1))

    def residual(env: Env) -> torch.Tensor:
        half = env[needs[0]].shape[0] // 2  # first half on x = a, second half on x = b
        return torch.cat([env[p][:half] - env[p][half:] for p in needs])

    weight = _field(value, "weight")
    w = float(weight if weight is not None else static_weight)
    _check_weight(w, f"{key}.weight" if weight is not None else f"training.weights.{name}", cfg)
    return Term(name, "condition", key, residual, frozenset(needs), None, w,
                f"periodic in {var} up to order {order}", periodic=axis)


def compile_problem(problem: Problem, cfg: Config | None = None) -> CompiledProblem:
    """Validate and compile ``problem``; errors name the YAML key and line when known.

    The compiled problem works on its own shallow copy of ``problem``: the learnable
    parameters that its methods read as ``self.k`` are bound to that copy, so nothing is
    written onto the user's object and two compilations of one object do not share them."""
    problem = copy.copy(problem)
    inputs = _names(problem.inputs, "inputs", cfg)
    outputs, depends_on = _outputs(problem.outputs, inputs, cfg)
    depends = {f: tuple(inputs.index(n) for n in names) for f, names in depends_on.items()}
    clash = set(inputs) & set(outputs)
    if clash:
        raise ConfigError("outputs", f"'{clash.pop()}' is both an input and an output",
                          "distinct names", "rename one of them", _cfg_line(cfg, "outputs"))
    _derivative_like(outputs, inputs, cfg)
    constants = _constants(problem.constants, (*inputs, *outputs), cfg)
    if problem.domain is None:
        raise ConfigError("domain", "is missing", "bounds for each input",
                          "add e.g. domain: {" + ", ".join(f"{n}: [0, 1]" for n in inputs) + "}")
    if isinstance(problem.domain, Shape):
        if set(problem.domain.names) != set(inputs):
            raise ConfigError("domain", f"covers {problem.domain.names}, inputs are {inputs}",
                              "one coordinate per input", "make them match")
        shape = problem.domain.reordered(inputs)
    else:
        shape = shape_from_config(problem.domain, inputs, "domain", cfg.lines if cfg else None,
                                  _bases(problem, cfg))  # a mesh file is found as data are
    params = _parameters(problem, (*inputs, *outputs, *constants), cfg)
    fields = _fields(problem, inputs, outputs, (*constants, *params.names), shape, cfg)
    ns = Namespace(inputs, outputs, tuple(constants), params.names, fields=fields.names)
    boundary_ns = boundary_namespace(ns)  # conditions may read nx, ny, u_n
    weights = dict(cfg.training.weights) if cfg else {}
    terms: list[Term] = []
    if not problem.equations and not problem.objective and not problem.data:
        raise ConfigError("equations", "is empty", "at least one residual (or an objective "
                          "term, or data to fit)",
                          "add equations: {pde: <expression>}", _cfg_line(cfg, "equations"))
    _mapping(problem.equations, "equations", cfg)
    _mapping(problem.conditions, "conditions", cfg)
    for name, value in problem.equations.items():
        key = f"equations.{name}"
        fn, needs, text, tree, zero = _residual(value, key, ns, problem, cfg, depends)
        terms.append(Term(name, "equation", key, fn, needs, None, weights.get(name, 1.0), text,
                          tree=tree, namespace=ns, zero=zero))
    equations = list(terms)
    for name, value in problem.conditions.items():
        key = f"conditions.{name}"
        if _field(value, "periodic"):
            terms.append(_periodic_term(name, value, key, ns, shape, equations,
                                        weights.get(name, 1.0), cfg, depends))
            continue
        on, residual, weight = _condition_parts(value, key, cfg)
        selector, points, term_ns = None, None, ns  # at: interior names, no normal
        where = (cfg.lines, cfg.source) if cfg else (None, None)
        if _field(value, "at") is not None:  # given points (see pinnkit.conditions)
            points = point_condition(_field(value, "at"), key, inputs, constants, shape, *where)
        else:
            try:
                selector = parse_selector(on, inputs, constants, shape.part_names())
            except ExprError as exc:
                raise _expr_error(exc, f"{key}.on", cfg) from None
            require_selected(shape, selector, f"{key}.on", _cfg_line(cfg, f"{key}.on") or
                             _cfg_line(cfg, key), cfg.source if cfg else None)
            term_ns = boundary_ns
            if _field(value, "file"):  # a table's rows, its columns read by name
                points, term_ns = table_condition(_field(value, "file"), key, selector,
                                                  boundary_ns, shape, _bases(problem, cfg),
                                                  *where)
        fn, needs, text, tree, zero = _residual(residual, f"{key}.residual", term_ns,
                                                problem, cfg, depends)
        w = weight if weight is not None else weights.get(name, 1.0)
        _check_weight(w, f"{key}.weight" if weight is not None else f"training.weights.{name}",
                      cfg)
        terms.append(Term(name, "condition", key, fn, needs, selector, float(w), text,
                          tree=tree, namespace=term_ns, zero=zero, points=points))
    terms += _objective_terms(problem, ns, weights, cfg, depends)
    observations = _data_terms(problem, ns, shape, weights, cfg, terms)
    names = [t.name for t in terms]
    for wname in weights:
        _check_weight(weights[wname], f"training.weights.{wname}", cfg)
        if wname not in names:
            raise ConfigError(f"training.weights.{wname}", f"no loss term is called '{wname}'"
                              f"{did_you_mean(wname, names)}", "one of: " + ", ".join(names),
                              "use a name from equations, conditions or data",
                              _cfg_line(cfg, f"training.weights.{wname}"))
    exact, reference = _compile_exact(problem, inputs, outputs, constants, shape, cfg)
    name = cfg.name if cfg else type(problem).__name__.lower()
    return CompiledProblem(name, inputs, outputs, shape, constants, tuple(terms), exact, problem,
                           params, observations, reference, fields, depends=depends_on)


def _fields(problem: Problem, inputs: tuple[str, ...], outputs: tuple[str, ...],
            others: tuple[str, ...], shape: Shape, cfg: Config | None) -> FieldSet:
    """The problem's coefficient fields, bound to it so that method residuals read them."""
    fields = load_fields(problem.fields, inputs, outputs, others, shape, _bases(problem, cfg),
                         cfg.lines if cfg else None, cfg.source if cfg else None) \
        if problem.fields else FieldSet(inputs)
    problem._bound_fields = fields  # type: ignore[attr-defined]
    return fields


def _bound(problem: Problem) -> Parameters:
    return problem.__dict__.get("_bound_parameters") or Parameters()


def _parameters(problem: Problem, taken: tuple[str, ...], cfg: Config | None) -> Parameters:
    """The problem's learnable scalars, bound to it so that ``self.k`` reads their value."""
    for n in problem.parameters:
        if n in taken or unusable(n):
            raise ConfigError(f"parameters.{n}", f"'{n}' is already an input, output or "
                              "constant, or not a usable name", "a new name",
                              "rename the parameter", _cfg_line(cfg, f"parameters.{n}"),
                              cfg.source if cfg else None)
    params = parameters_from(problem.parameters, cfg.lines if cfg else None,
                             cfg.source if cfg else None)
    problem._bound_parameters = params  # type: ignore[attr-defined]
    return params


def _data_terms(problem: Problem, ns: Namespace, shape: Shape, weights: Mapping[str, float],
                cfg: Config | None, terms: list[Term]) -> tuple[Observations, ...]:
    """Load every data entry and append one squared-error term per fitted column."""
    bases = _bases(problem, cfg)
    observations = []
    for name, value in problem.data.items():
        obs = load_observations(name, value, ns, shape, weights, bases,
                                cfg.lines if cfg else None, cfg.source if cfg else None)
        observations.append(obs)
        terms.extend(Term(t.name, "data", f"data.{name}", t.residual, t.expr.needs, None,
                          t.weight, t.column, data=name) for t in obs.targets)
    return tuple(observations)


def _bases(problem: Problem, cfg: Config | None) -> list[Path]:
    """Where the problem's relative file names (data, exact, conditions) are looked for."""
    return file_bases(cfg.source if cfg else None,
                      type(problem) if type(problem) is not Problem else None)


def _plain(name: object) -> str:
    """A usable name near ``name``, for a fix: NFKC-folded, else with _0 appended."""
    text = unicodedata.normalize("NFKC", str(name))
    return text if text != name and not unusable(text) else \
        (f"{text}_0" if text.isidentifier() else "c1")


def _derivative_like(outputs: tuple[str, ...], inputs: tuple[str, ...], cfg: Config | None
                     ) -> None:
    """An output ``u_t`` beside ``u`` and ``t`` would make ``u_t`` mean the field, not the
    derivative (the longest output name wins), so it is refused."""
    for out in outputs:
        partial = parse_name(out, inputs, [o for o in outputs if o != out])
        if partial is not None:
            raise ConfigError("outputs", f"'{out}' is also how the derivative of "
                              f"'{partial.field}' is written", "output names that do not read "
                              "as <output>_<inputs>", f"rename it, e.g. {out.replace('_', '')}",
                              _cfg_line(cfg, "outputs"))


def _constants(value: Any, taken: tuple[str, ...], cfg: Config | None) -> dict[str, float]:
    _mapping(value, "constants", cfg)
    out = {}
    for k, v in dict(value).items():
        why = unusable(k) or ("already an input or output" if k in taken else "")
        if why:  # pi: 3 would silently change pi everywhere
            raise ConfigError(f"constants.{k}", f"'{k}' is not a usable name ({why})",
                              "a new name made of letters, digits and _",
                              f"rename it, e.g. {_plain(k)}: {v}",
                              _cfg_line(cfg, f"constants.{k}"))
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"constants.{k}", f"found {type(v).__name__} {v!r}", "a number",
                              f"write {k}: 1.0", _cfg_line(cfg, f"constants.{k}")) from None
    return out


def _mapping(value: Any, key: str, cfg: Config | None) -> None:
    """A Problem class may set anything; its equations, conditions, constants must be dicts."""
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"found {type(value).__name__} {value!r}",
                          "a mapping of names to values", f"write {key} = {{'name': ...}}",
                          _cfg_line(cfg, key))


def _check_weight(weight: float, key: str, cfg: Config | None) -> None:
    # a negative weight rewards a large residual: the loss has no minimum
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
        raise ConfigError(key, f"found {weight!r}", "a weight >= 0",
                          "use a positive weight (0 switches the term off)", _cfg_line(cfg, key))


def _reference_columns(out: Any, x: torch.Tensor, outputs: tuple[str, ...], method: Any
                       ) -> torch.Tensor:
    """What an ``exact()`` method returned, as (N, len(outputs)): one value per point (or a
    constant) per output, as a tensor (N, outputs), a sequence or a mapping of columns."""
    n = x.shape[0]

    def wrong(found: str) -> PinnkitError:
        try:
            where = f"{shown_path(inspect.getsourcefile(method) or '?')}, line "\
                f"{inspect.getsourcelines(method)[1]}"
        except (OSError, TypeError):
            where = getattr(method, "__qualname__", "exact")
        return PinnkitError(f"{where}: exact() returned {found} for {n} points; expected "
                            f"{len(outputs)} column{'s' if len(outputs) > 1 else ''} of {n} "
                            f"values ({', '.join(outputs)}). Fix: return a tensor of shape "
                            f"({n},)" + (f" or ({n}, {len(outputs)}), or a tuple of "
                                         f"{len(outputs)} such tensors"
                                         if len(outputs) > 1 else ""))

    if isinstance(out, Mapping):
        missing = [f for f in outputs if f not in out]
        if missing:
            raise wrong(f"a mapping without '{missing[0]}'")
        out = [out[f] for f in outputs]
    if isinstance(out, np.ndarray):
        out = torch.as_tensor(out)
    if torch.is_tensor(out) and out.ndim == 2 and out.shape == (n, len(outputs)):
        out = list(out.unbind(1))
    cols = list(out) if isinstance(out, (tuple, list)) else [out]
    if len(cols) != len(outputs):
        shape = f"shape {tuple(out.shape)}" if torch.is_tensor(out) else f"{len(cols)} columns"
        raise wrong(shape)
    tensors = []
    for c in cols:
        try:
            t = torch.as_tensor(np.asarray(c) if not torch.is_tensor(c) else c,
                                dtype=x.dtype, device=x.device)
        except (TypeError, ValueError, RuntimeError):
            raise wrong(f"a {type(c).__name__}") from None
        if t.numel() not in (1, n):
            raise wrong(f"a column of shape {tuple(t.shape)}")
        tensors.append(t.reshape(-1).expand(n))
    return torch.stack(tensors, 1)


def _check_signature(method: Callable[..., Any], inputs: tuple[str, ...]) -> None:
    """``exact`` is called with one tensor per input, in order: say so before any call."""
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):  # a builtin or C function: nothing to read
        return
    try:
        signature.bind(*inputs)
    except TypeError:
        name = getattr(method, "__qualname__", "exact")
        raise PinnkitError(f"{name}{signature} cannot be called as exact({', '.join(inputs)}): "
                           "it receives one tensor per input, in the order of inputs. Fix: "
                           f"def exact(self, {', '.join(inputs)})") from None


def _compile_exact(problem: Problem, inputs: tuple[str, ...], outputs: tuple[str, ...],
                   constants: dict[str, float], shape: Shape, cfg: Config | None
                   ) -> tuple[Callable[[torch.Tensor], torch.Tensor] | None,
                              ReferenceTable | None]:
    """The reference solution as a function (N, d) -> (N, len(outputs)), or None; and the
    table it comes from, for ``exact: {file: ...}`` (the function then interpolates it)."""
    spec = problem.exact
    if spec is None:
        return None, None
    if is_table_spec(spec, outputs):
        table = load_reference(spec, inputs, outputs, shape, _bases(problem, cfg),
                               cfg.lines if cfg else None, cfg.source if cfg else None)
        return table, table
    if callable(spec):
        _check_signature(spec, inputs)

        def from_method(x: torch.Tensor) -> torch.Tensor:
            with calling_user("exact()"):
                out = spec(*[x[:, i] for i in range(len(inputs))])
            return _reference_columns(out, x, outputs, spec)

        return from_method, None
    exprs = spec if isinstance(spec, Mapping) else {outputs[0]: spec}
    if len(outputs) > 1 and not isinstance(spec, Mapping):
        raise ConfigError("exact", "one expression for several outputs",
                          "a mapping {" + ", ".join(f"{o}: ..." for o in outputs) + "}",
                          "give one expression per output", _cfg_line(cfg, "exact"))
    for extra in (k for k in exprs if k not in outputs):  # a typo would go unchecked
        raise ConfigError(f"exact.{extra}", f"'{extra}' is not an output"
                          f"{did_you_mean(str(extra), outputs)}",
                          "one expression per output: " + ", ".join(outputs),
                          f"remove {extra}, or add it to outputs",
                          _cfg_line(cfg, f"exact.{extra}") or _cfg_line(cfg, "exact"))
    ns = Namespace(inputs, (), tuple(constants))
    compiled = []
    for field in outputs:
        if field not in exprs:
            raise ConfigError("exact", f"no expression for output '{field}'",
                              "one expression per output", f"add {field}: <expression>",
                              _cfg_line(cfg, "exact"))
        key = f"exact.{field}" if isinstance(spec, Mapping) else "exact"
        try:
            compiled.append(compile_expr(parse(str(exprs[field]), ns)))
        except ExprError as exc:
            raise _expr_error(exc, key, cfg) from None

    def from_expr(x: torch.Tensor) -> torch.Tensor:
        env: dict[Any, Any] = {**constants, **{n: x[:, i] for i, n in enumerate(inputs)}}
        cols = [torch.as_tensor(c.fn(env), dtype=x.dtype, device=x.device) for c in compiled]
        return torch.stack([c.expand(x.shape[0]) for c in cols], 1)

    return from_expr, None
