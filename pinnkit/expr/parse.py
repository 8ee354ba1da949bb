"""Parse a user's expression string into a tree, never evaluating it.

``ast.parse(mode="eval")`` gives Python's syntax tree; a whitelist turns the few node
kinds an expression may use into :mod:`pinnkit.expr.tree` nodes, and everything else
(attribute access, subscripts, lambdas, comprehensions, keyword arguments, strings) is an
``ExprError`` with its column.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field

from ..errors import ExprError, did_you_mean
from . import tree as t
from .analysis import differentiate, tree_size
from .names import (
    ARITY,
    BUILTIN_CONSTANTS,
    SIGNATURES,
    derivative_prefix,
    folded_character,
    parse_name,
)

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
MAX_LENGTH = 10_000
#: nodes an expression may reach by d(...): the chain and product rules multiply a tree by
#: ~6 per order (a 40-character expression: 14k nodes at order 4, 92k at 5, 3e8 at 10), and
#: every node is walked, compiled and evaluated on every step. Residuals written with
#: field derivatives (u_xxxx) stay small whatever their order.
MAX_TREE = 50_000


@dataclass(frozen=True)
class Namespace:
    """The names an expression may use. ``symbols`` are extra plain names (``nx``)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...] = ()
    constants: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    parts: tuple[str, ...] = field(default=())  # named boundary parts, selectors only
    # names that stand for an expression (u_n -> nx*u_x + ny*u_y), substituted while parsing
    # so that d() differentiates what they stand for
    expansions: tuple[tuple[str, t.Node], ...] = field(default=())
    # coefficient fields (pinnkit.fields): functions of the inputs, differentiated like
    # outputs (kappa_x, d(kappa, x)) but read from their tables, not the network
    fields: tuple[str, ...] = field(default=())

    def known(self) -> list[str]:
        return [*self.inputs, *self.outputs, *self.constants, *self.parameters, *self.symbols,
                *self.fields, *(name for name, _ in self.expansions), *BUILTIN_CONSTANTS]


def parse(text: str, ns: Namespace, *, selector: bool = False) -> t.Node:
    """Parse ``text``; with ``selector`` the result is a condition such as ``x == 0 or t == 0``."""
    if not isinstance(text, str):
        raise ExprError(str(text), f"expected an expression string, found {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(text[:40] + "...", f"expression longer than {MAX_LENGTH} characters",
                        fix="name repeated parts as constants, or split the residual")
    source = text.strip()
    if not source:
        raise ExprError(text, "empty expression", fix="write an expression such as 'u_t - u_xx'")
    folded = folded_character(source)
    if folded is not None:  # Python would read it as the plain character (NFKC), unsaid
        col, char, plain = folded
        raise ExprError(source, f"'{char}' (U+{ord(char):04X}) would be read as '{plain}'",
                        col, f"type '{plain}' as plain text (or rename so the names match)")
    try:
        with warnings.catch_warnings():  # Python's SyntaxWarning ('invalid decimal literal')
            warnings.simplefilter("error", SyntaxWarning)  # becomes the SyntaxError below
            root = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        at = (exc.offset - 1) if exc.offset else None
        if "\n" in source and (exc.lineno or 1) > 1:  # a line break Python stops at
            raise ExprError(source.replace("\n", "\\n"), f"syntax error ({exc.msg}) on "
                            f"line {exc.lineno} of the expression", None,
                            _LINE_BREAK_HINT) from None
        hint = "check for unbalanced parentheses or a missing operator"
        if "^" in source:
            hint = "write powers as '**', not '^'"
        elif re.search(r"(?<![=!<>])=(?!=)", source):
            hint = "compare with '==', not '='" if selector else \
                "write a residual that vanishes, e.g. 'u - 1' rather than 'u = 1'"
        raise ExprError(source, f"syntax error ({exc.msg})", at, hint) from None
    except (ValueError, RecursionError, MemoryError):
        raise ExprError(source, "cannot be parsed (nested too deeply or holds a NUL "
                        "character)", None, "write a plain expression") from None
    try:
        return _Converter(source, ns, selector).convert(root.body)
    except RecursionError:
        raise ExprError(source, "expression nested too deeply") from None


#: the fix for a line break inside an expression: in YAML, '>' folds lines into one only
#: where they are indented equally, keeping the break before a line indented more (and
#: '|' keeps every break), and Python reads a break outside parentheses as the end
_LINE_BREAK_HINT = (
    "the expression spans lines, and a line break ends it: YAML's > keeps the break before "
    "a line indented more than the first (| keeps every one); indent continuation lines "
    "equally, or put the expression in quotes on one line, or wrap it in parentheses")


class _Converter:
    def __init__(self, text: str, ns: Namespace, selector: bool) -> None:
        self.text, self.ns, self.selector = text, ns, selector

    def fail(self, node: ast.AST, message: str, fix: str = "") -> ExprError:
        return ExprError(self.text, message, getattr(node, "col_offset", None), fix)

    def convert(self, node: ast.AST) -> t.Node:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"'{ast.unparse(node)}' is not allowed "
                                  f"({type(node).__name__})", _allowed(self.selector))
        return method(node)

    def _Constant(self, node: ast.Constant) -> t.Node:
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise self.fail(node, f"{node.value!r} is not a number", _allowed(self.selector))
        try:
            return t.Num(float(node.value))
        except OverflowError:  # an integer literal past 1.8e308
            raise self.fail(node, "number too large for a float",
                            "write it in scientific notation within 1e308") from None

    def _Name(self, node: ast.Name) -> t.Node:
        name, ns = node.id, self.ns
        user_names = (*ns.inputs, *ns.outputs, *ns.constants, *ns.parameters, *ns.symbols)
        if name in BUILTIN_CONSTANTS and name not in user_names:
            return t.Num(BUILTIN_CONSTANTS[name])
        partial = parse_name(name, ns.inputs, ns.outputs)
        if partial is not None:
            return t.Field(partial)
        coef = parse_name(name, ns.inputs, ns.fields) if ns.fields else None
        if coef is not None:
            return t.Coef(coef)
        expansion = dict(ns.expansions).get(name)
        if expansion is not None and name not in user_names:
            return expansion
        if name in user_names:
            return t.Sym(name)
        if self.selector and name in ns.parts:
            return t.Sym(name)
        field = derivative_prefix(name, (*ns.outputs, *ns.fields))
        if field is not None:
            bad = [c for c in name[len(field) + 1 :] if c not in ns.inputs]
            raise self.fail(node, f"'{name}' differentiates '{field}' with respect to "
                                  f"'{''.join(bad)}', which is not an input",
                            f"inputs are {', '.join(ns.inputs)}; write e.g. "
                            f"'{field}_{ns.inputs[0]}', or d({field}, <input>) for long names")
        if name in t.FUNCTIONS:
            raise self.fail(node, f"'{name}' is a function", f"call it: {name}(...)")
        known = ns.known() + (list(ns.parts) if self.selector else [])
        head, _, tail = name.partition("_")
        if ns.outputs and tail and all(c in ns.inputs for c in tail):
            raise self.fail(node, f"'{name}' reads like a derivative of '{head}', which is not "
                                  f"an output{did_you_mean(head, ns.outputs)}",
                            "outputs are " + ", ".join(ns.outputs))
        raise self.fail(node, f"unknown name '{name}'{did_you_mean(name, known)}",
                        _known_names(ns, self.selector))

    def _UnaryOp(self, node: ast.UnaryOp) -> t.Node:
        if isinstance(node.op, ast.USub):
            return t.neg(self.convert(node.operand))
        if isinstance(node.op, ast.UAdd):
            return self.convert(node.operand)
        if isinstance(node.op, ast.Not) and self.selector:
            return t.Logic("not", (self.convert(node.operand),))
        raise self.fail(node, "unsupported unary operator", _allowed(self.selector))

    def _BinOp(self, node: ast.BinOp) -> t.Node:
        op = _BINOPS.get(type(node.op))
        if op is None:
            fix = "write powers as '**', not '^'" if isinstance(node.op, ast.BitXor) else \
                _allowed(self.selector)
            raise self.fail(node, f"operator '{type(node.op).__name__}' is not allowed", fix)
        return t.Bin(op, self.convert(node.left), self.convert(node.right))

    def _Call(self, node: ast.Call) -> t.Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only plain function names may be called",
                            "use one of " + ", ".join(t.FUNCTIONS) + " or d(...)")
        name = node.func.id
        if node.keywords:
            raise self.fail(node, f"{name}() takes no keyword arguments",
                            f"pass the argument by position: {name}(...)")
        if name == "d":
            return self._derivative(node)
        if name not in t.FUNCTIONS:
            raise self.fail(node, f"unknown function '{name}'"
                                  f"{did_you_mean(name, [*t.FUNCTIONS, 'd'])}",
                            "use one of " + ", ".join(t.FUNCTIONS) + " or d(...)")
        fewest, most = ARITY[name]
        n = len(node.args)
        if n < fewest or (most is not None and n > most):
            raise self.fail(node, f"{name}() takes {_arity(fewest, most)}, found {n}",
                            _call_fix(name))
        if name == "where":
            cond = self._condition(node.args[0], name)
            return t.Call(name, cond, (self.convert(node.args[1]), self.convert(node.args[2])))
        args = [self.convert(a) for a in node.args]
        if name in ("min", "max") and len(args) > 2:  # min(a, b, c) = min(min(a, b), c)
            out = t.Call(name, args[0], (args[1],))
            for a in args[2:]:
                out = t.Call(name, out, (a,))
            return out
        return t.Call(name, args[0], tuple(args[1:]))

    def _condition(self, node: ast.AST, func: str) -> t.Node:
        """``where``'s first argument: comparisons joined by and/or/not."""
        if isinstance(node, ast.Compare):
            return self._comparison(node)
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            return t.Logic(op, tuple(self._condition(v, func) for v in node.values))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return t.Logic("not", (self._condition(node.operand, func),))
        raise self.fail(node, f"{func}()'s first argument must be a condition, found "
                              f"'{ast.unparse(node)}'",
                        "compare with < <= > >= == !=, joined by and/or/not, e.g. "
                        "where(x < 0.5, 1, 10)")

    def _derivative(self, node: ast.Call) -> t.Node:
        if len(node.args) < 2:
            raise self.fail(node, "d() needs an expression and at least one input",
                            "write d(u, x) or d(u, x, x)")
        body = self.convert(node.args[0])
        for arg in node.args[1:]:
            if not isinstance(arg, ast.Name) or arg.id not in self.ns.inputs:
                shown = arg.id if isinstance(arg, ast.Name) else ast.unparse(arg)
                near = did_you_mean(shown, self.ns.inputs)
                raise self.fail(arg, f"d() differentiates with respect to inputs only; "
                                     f"'{shown}' is not an input{near}",
                                "inputs are " + ", ".join(self.ns.inputs))
            body = differentiate(body, self.ns.inputs.index(arg.id), self.ns.inputs)
            size = tree_size(body)
            if size > MAX_TREE:
                order = node.args.index(arg)
                raise self.fail(node, f"d() of order {len(node.args) - 1} grows the "
                                      f"expression to {size:,} nodes by order {order}, more "
                                      f"than {MAX_TREE:,} (the chain and product rules "
                                      "multiply it at every order)",
                                "differentiate by hand and simplify, write the derivative "
                                "with field names such as u_xxxx, or lower the order")
        return body

    def _Compare(self, node: ast.Compare) -> t.Node:
        if not self.selector:
            raise self.fail(node, "comparisons are only allowed in 'on:' selectors and as "
                                  "where()'s condition",
                            "write a residual that vanishes, e.g. 'u - 1' rather than "
                            "'u == 1'; a piecewise value is where(x < 0.5, 1, 10)")
        return self._comparison(node)

    def _comparison(self, node: ast.Compare) -> t.Node:
        parts, left = [], self.convert(node.left)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self.convert(comp)
            parts.append(t.Compare(_CMPOPS[type(op)] if type(op) in _CMPOPS else "?", left, right))
            if parts[-1].op == "?":
                raise self.fail(node, "unsupported comparison", "use == != < <= > >=")
            left = right
        return parts[0] if len(parts) == 1 else t.Logic("and", tuple(parts))

    def _BoolOp(self, node: ast.BoolOp) -> t.Node:
        if not self.selector:
            raise self.fail(node, "'and'/'or' are only allowed in 'on:' selectors and in "
                                  "where()'s condition",
                            "write e.g. where(x > 0.2 and x < 0.4, 1, 0)")
        op = "and" if isinstance(node.op, ast.And) else "or"
        return t.Logic(op, tuple(self.convert(v) for v in node.values))


def _known_names(ns: Namespace, selector: bool) -> str:
    """'use an input (x, t), a field (u) or a constant (alpha)', leaving out empty kinds."""
    kinds = [("an input", ns.inputs), ("a field", ns.outputs), ("a constant", ns.constants),
             ("a parameter", ns.parameters), ("a coefficient field", ns.fields),
             ("a boundary part", ns.parts if selector else ())]
    shown = [f"{k} ({', '.join(v)})" for k, v in kinds if v]
    if len(shown) > 1:
        return "use " + ", ".join(shown[:-1]) + " or " + shown[-1]
    return "use " + (shown[0] if shown else "numbers")


def _allowed(selector: bool) -> str:
    base = "use numbers, names, + - * / **, parentheses and " + ", ".join(t.FUNCTIONS)
    return base + (", comparisons, and/or/not" if selector else "")



def _arity(fewest: int, most: int | None) -> str:
    words = {1: "one argument", 2: "two arguments", 3: "three arguments"}
    if most == fewest:
        return "exactly " + words[fewest]
    return f"at least {words[fewest]}"


def _call_fix(name: str) -> str:
    if name == "where":
        return ("write where(condition, value where it holds, value elsewhere), e.g. "
                "where(x < 0.5, 1, 10)")
    if name == "atan2":
        return "write atan2(y, x): the angle of the point (x, y), in (-pi, pi]"
    if name in SIGNATURES:
        return f"write {SIGNATURES[name]}, e.g. " + {
            "min": "min(u, 1)", "max": "max(u, 0)", "clip": "clip(u, 0, 1)"}[name]
    return f"write e.g. {name}(pi*x); combine several inputs inside it"
