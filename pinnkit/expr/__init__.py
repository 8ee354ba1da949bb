"""Expressions: parse user text into a tree, analyse it, compile it to torch."""

from .analysis import differentiate, max_order, partials, render, symbols
from .compile import Compiled, compile_expr
from .names import Partial, parse_name
from .parse import BUILTIN_CONSTANTS, Namespace, parse

__all__ = [
    "BUILTIN_CONSTANTS", "Compiled", "Namespace", "Partial", "compile_expr", "differentiate",
    "max_order", "parse", "parse_name", "partials", "render", "symbols",
]
