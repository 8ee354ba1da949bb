"""The errors pinnkit raises for user mistakes.

A user error names where it happened (YAML key path and line, or the column in an
expression), what was found, what was expected, and how to fix it. The CLI turns every
``PinnkitError`` into that message and exit code 2, without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


class PinnkitError(Exception):
    """Base class of every error caused by user input; the CLI exits 2 on it."""


class ConfigError(PinnkitError):
    """A config value is wrong. ``key`` is a dotted path such as ``training.stages.0.lr``."""

    def __init__(
        self,
        key: str,
        found: str,
        expected: str = "",
        fix: str = "",
        line: int | None = None,
        source: str | None = None,
    ) -> None:
        self.key, self.found, self.expected, self.fix = key, found, expected, fix
        self.line, self.source = line, source
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.key or "<top level>"
        if self.line == 0:
            where += " (from --set)"
        elif self.line is not None:
            where += f" (line {self.line}" + (f" of {self.source})" if self.source else ")")
        elif self.source:
            where += f" ({self.source})"
        msg = f"{where}: {self.found}"
        if self.expected:
            msg += f"; expected {self.expected}"
        if self.fix:
            msg += f". Fix: {self.fix}"
        return msg


class ExprError(PinnkitError):
    """An expression string cannot be parsed or refers to something unknown."""

    def __init__(self, text: str, message: str, column: int | None = None, fix: str = "") -> None:
        self.text, self.message, self.column, self.fix = text, message, column, fix
        where = f" at column {column + 1}" if column is not None else ""
        body = f"{message}{where} in '{text}'"
        if fix:
            body += f". Fix: {fix}"
        super().__init__(body)


class CheckError(PinnkitError):
    """A pre-training check failed; ``findings`` holds the report."""

    def __init__(self, message: str, findings: list | None = None) -> None:
        self.findings = findings or []
        super().__init__(message)


class CheckWarning(UserWarning):
    """A pre-training check's warning: training goes on, but the problem looks wrong."""


def line_of(lines: Mapping[str, int], key: str) -> int | None:
    """The line of ``key`` or of its nearest enclosing key that has one (0: from --set).

    A value given with ``--set a.b={c: 1}`` has a line for ``a.b`` only, so an error about
    ``a.b.c`` must find the enclosing key's mark to say where the value came from."""
    if not key:  # the document itself
        return lines.get(key)
    while key:
        if key in lines:
            return lines[key]
        key = key.rpartition(".")[0]
    return None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def one_of(choices: Iterable[str]) -> str:
    return "one of " + ", ".join(f"'{c}'" for c in sorted(choices))


class TrainingError(PinnkitError):
    """Training could not go on (non-finite loss); exit code 1, earlier checkpoints kept."""
