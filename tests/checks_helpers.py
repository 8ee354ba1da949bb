"""Shared helpers for the pre-training check tests: YAML text -> Report."""

from __future__ import annotations

import contextlib
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnkit.api import check_report, resolve
from pinnkit.checks import Finding, Report
from pinnkit.errors import CheckWarning


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def report_for(tmp_path: Path, text: str, *overrides: str) -> Report:
    """The check report of a YAML config given as text."""
    return check_report(write(tmp_path, text), overrides=list(overrides))


def compiled(tmp_path: Path, text: str):
    """(CompiledProblem, Config) of a YAML config given as text."""
    return resolve(write(tmp_path, text))


@contextlib.contextmanager
def warns_checks(*names: str) -> Iterator[list]:
    """Expect exactly the checks ``names`` (e.g. "boundary_coverage") to warn in the block.

    For tests whose problem is ill-posed on purpose (a piece under test, not a solvable
    problem): the warnings are asserted instead of printed, and a check that stops firing,
    or a new one that starts, fails the test. Any other kind of warning escapes as usual.
    """
    with pytest.warns(CheckWarning) as caught:
        yield caught
    fired = {re.match(r"\[(\w+)\]", str(w.message)).group(1) for w in caught
             if issubclass(w.category, CheckWarning)}
    assert fired == set(names), f"checks that warned: {sorted(fired)}; expected {sorted(names)}"


def only(report: Report, check: str) -> list[Finding]:
    return [f for f in report.findings if f.check == check]


def problems(report: Report) -> list[Finding]:
    """Errors and warnings (not the informational lines)."""
    return [f for f in report.findings if f.level != "info"]


HEAT = """
    inputs: [x, t]
    outputs: [u]
    domain: {x: [0, 1], t: [0, 1]}
    equations:
      heat: u_t - 0.1*u_xx
    conditions:
      initial: {on: t == 0, residual: u - sin(pi*x)}
      walls: {on: x == 0 or x == 1, residual: u}
    model: {width: 16, depth: 2, activation: tanh}
    """

DEEP_RITZ = """
    inputs: [x, y]
    outputs: [u]
    domain: {x: [0, 1], y: [0, 1]}
    objective:
      energy: {integrand: "0.5*(u_x**2 + u_y**2) - 2*pi**2*sin(pi*x)*sin(pi*y)*u", weight: 1}
    conditions:
      walls: {on: boundary, residual: u}
    exact: sin(pi*x)*sin(pi*y)
    model: {width: 16, depth: 2}
    """
