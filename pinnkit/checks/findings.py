"""What a check returns (``Finding``), what it reads (``Context``) and the ``Report``.

A finding is one line of the report: its level, the check that made it, where (a YAML key
path and its line, or a layer of a module), what is wrong and how to fix it. Checks are
pure functions ``Context -> list[Finding]``; ``run_checks`` collects them into a Report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..config import Config
from ..errors import CheckError, line_of
from ..problem import CompiledProblem

LEVELS = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One result of one check. ``level`` is 'error', 'warning' or 'info'."""

    level: str
    check: str
    key: str  # YAML key path (``equations.heat``) or a module path; "" for the whole problem
    line: int | None
    message: str
    fix: str = ""
    source: str = ""  # the config file, named as config errors name it

    def location(self) -> str:
        where = self.key or "<problem>"
        if self.line == 0:
            return where + " (from --set)"
        if self.line:
            return where + f" (line {self.line}" + (f" of {self.source})" if self.source else ")")
        return where

    def render(self, level: bool = True) -> str:
        """``error   [smoothness] equations.heat (line 8 of heat.yaml): message. Fix: fix``"""
        text = f"[{self.check}] {self.location()}: {self.message}"
        text = f"{self.level:<7} {text}" if level else text
        return text + (f". Fix: {self.fix}" if self.fix else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Losses = Callable[[torch.nn.Module], dict[str, torch.Tensor]]


@dataclass
class Context:
    """Everything a check may read. Checks must not change any of it.

    ``losses`` evaluates every loss term for any module on one fixed small sample (the
    trainer's own loss code, handed in by the caller: checks sit below the trainer); the
    numeric checks need it and are skipped without it.
    """

    problem: CompiledProblem
    cfg: Config
    model: torch.nn.Module
    losses: Losses | None = None
    seed: int = 0

    def line(self, key: str) -> int | None:
        """The line of ``key`` in the YAML file, or of its closest enclosing key."""
        return line_of(self.cfg.lines, key)

    def finding(self, level: str, check: str, key: str, message: str, fix: str = "") -> Finding:
        source = self.cfg.source if self.cfg.source and not self.cfg.source.startswith("<") \
            else ""
        return Finding(level, check, key, self.line(key), message, fix, source)

    def total(self, losses: dict[str, torch.Tensor]) -> float:
        """The weighted sum the trainer minimises."""
        weights = {t.name: t.weight for t in self.problem.terms}
        return float(sum(weights[n] * float(v.detach()) for n, v in losses.items()))


@dataclass
class Report:
    """All findings for one config, in the order the checks ran."""

    source: str
    findings: list[Finding] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # names of the checks that ran
    summary_extra: str = ""  # e.g. the terms and their orders
    error: str = ""  # the full message when the config could not be read or compiled

    def of_level(self, level: str) -> list[Finding]:
        return [f for f in self.findings if f.level == level]

    @property
    def ok(self) -> bool:
        return not self.of_level("error")

    def summary(self) -> str:
        n_err, n_warn = len(self.of_level("error")), len(self.of_level("warning"))
        verdict = "ok" if self.ok else "refused"
        text = (f"{self.source or '<problem>'}: {verdict} — {n_err} error{_s(n_err)}, "
                f"{n_warn} warning{_s(n_warn)}, {len(self.checks)} checks run")
        return text + (f"; {self.summary_extra}" if self.summary_extra else "")

    def render(self, levels: Sequence[str] = LEVELS) -> str:
        lines = [f.render() for f in self.findings if f.level in levels]
        return "\n".join([*lines, self.summary()])

    def to_json(self) -> str:
        return json.dumps({
            "source": self.source, "ok": self.ok,
            "errors": len(self.of_level("error")), "warnings": len(self.of_level("warning")),
            "checks": self.checks, "findings": [f.to_dict() for f in self.findings],
        })

    def raise_for_errors(self) -> None:
        """CheckError (exit 2) listing the errors, when there are any."""
        errors = self.of_level("error")
        if errors:
            body = "\n".join("  " + f.render() for f in errors)
            raise CheckError(f"pre-training checks refused {self.source or 'the problem'}:\n"
                             f"{body}\n  (to train anyway, set checks: {{<check>: warn}} in the "
                             "config)", list(self.findings))


def times(k: int) -> str:
    """'once', 'twice', '3 times'."""
    return {1: "once", 2: "twice"}.get(k, f"{k} times")


def _s(n: int) -> str:
    return "" if n == 1 else "s"
