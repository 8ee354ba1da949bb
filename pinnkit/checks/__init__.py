"""Pre-training checks: refuse untrainable problems before any compute is spent.

``run_checks(problem, cfg, model)`` runs every check in ``CHECKS`` (cheap static checks
first; the numeric ones only when nothing is wrong so far) and returns a ``Report``.
``checks: {name: warn|error|off}`` in the config changes one check's level or turns it off.
``pinnkit check`` prints the report; ``train`` raises ``CheckError`` (exit 2) on errors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from ..config import Config
from ..errors import ConfigError, PinnkitError, did_you_mean, line_of, one_of
from ..problem import CompiledProblem
from ..usercode import calling_user, user_files
from .boundedness import check_bounded, check_probe
from .dependence import check_dependence
from .engine import check_engine
from .fields import check_field_range
from .findings import Context, Finding, Losses, Report
from .initial import check_initial_order
from .reference import check_exact_residual
from .scaling import (
    check_data,
    check_domain,
    check_input_scale,
    check_loss_balance,
    check_output_scale,
    check_points,
)
from .smoothness import check_output_range, check_smoothness
from .wellposed import (
    check_boundary_coverage,
    check_constant_offset,
    check_final_time,
    check_initial_condition,
    check_parameters,
    check_trivial_solution,
)

Check = Callable[[Context], list[Finding]]
#: every check by name, in the order they run
CHECKS: dict[str, Check] = {
    "domain": check_domain,                      # finite, non-empty bounds
    "points": check_points,                      # every selector picks boundary points
    "smoothness": check_smoothness,              # activation vs derivative order
    "dependence": check_dependence,              # a term zero because a field lacks an input
    "output_range": check_output_range,          # clamping last layer
    "engine": check_engine,                      # auto falls back to autograd (no Taylor rule)
    "bounded": check_bounded,                    # objective terms bounded below (symbolic)
    "initial_condition": check_initial_condition,  # a time input needs a lower-face condition
    "initial_order": check_initial_order,        # u_tt needs u and u_t at t = 0
    "final_time": check_final_time,              # a condition on t = T (on: boundary)
    "boundary_coverage": check_boundary_coverage,  # faces no condition touches
    "trivial_solution": check_trivial_solution,  # zero solves everything
    "constant_offset": check_constant_offset,    # a field seen through derivatives only
    "parameters": check_parameters,              # learnable parameters without data (hook)
    "input_scale": check_input_scale,            # unnormalised inputs far from [-1, 1]
    "output_scale": check_output_scale,          # exact far from size 1
    "exact_residual": check_exact_residual,      # a closed-form exact solves the equations
    "data": check_data,                          # data files (hook)
    "field_range": check_field_range,            # coefficient tables that miss the domain
    "bounded_probe": check_probe,                # objective terms bounded below (numeric)
    "loss_balance": check_loss_balance,          # step-0 loss terms and their spread
}
#: checks that evaluate the network; skipped when a cheaper check already found an error
NUMERIC = ("trivial_solution", "bounded_probe", "loss_balance")
LEVEL_CHOICES = ("warn", "error", "off")


def check_levels(cfg: Config) -> dict[str, str]:
    """``checks:`` from the config, validated: known names and levels, with did-you-mean."""
    levels = {}
    for name, level in cfg.checks.items():
        key = f"checks.{name}"
        level = "off" if level is False else level  # YAML 1.1 reads a bare off as false
        if name not in CHECKS:
            raise ConfigError(key, f"unknown check '{name}'{did_you_mean(name, CHECKS)}",
                              one_of(CHECKS), "use a check name from the report",
                              line_of(cfg.lines, key), cfg.source)
        if level not in LEVEL_CHOICES:
            raise ConfigError(key, f"level {level!r} is not allowed"
                              f"{did_you_mean(str(level), LEVEL_CHOICES)}",
                              one_of(LEVEL_CHOICES), f"write {name}: warn", line_of(cfg.lines, key),
                              cfg.source)
        levels[name] = level
    return levels


def _relevel(finding: Finding, level: str | None) -> Finding:
    if level == "warn" and finding.level == "error":
        return dataclasses.replace(finding, level="warning")
    if level == "error" and finding.level == "warning":
        return dataclasses.replace(finding, level="error")
    return finding


def run_checks(problem: CompiledProblem, cfg: Config | None, model: torch.nn.Module,
               losses: Losses | None = None) -> Report:
    """Run every check on ``problem`` with ``model``, the network that will be trained.

    ``losses(module) -> {term: loss}`` evaluates the loss terms on a small fixed sample
    (the api passes the trainer's ``SampleLosses``); without it the numeric checks, which
    evaluate the network, are skipped.
    """
    cfg = cfg if cfg is not None else Config()
    levels = check_levels(cfg)
    ctx = Context(problem, cfg, model, losses, cfg.training.seed)
    files = user_files(problem.problem)
    n = len(problem.terms)
    report = Report(cfg.source, summary_extra=f"{n} term{'' if n == 1 else 's'}: " + ", ".join(
        f"{t.name} (order {t.order})" for t in problem.terms))
    for name, check in CHECKS.items():
        numeric_skipped = name in NUMERIC and (losses is None or not report.ok)
        if levels.get(name) == "off" or numeric_skipped:
            continue
        report.checks.append(name)
        with calling_user(files=files):  # a residual or exact() of the user's raised
            found = check(ctx)
        report.findings += [_relevel(f, levels.get(name)) for f in found]
        if name == "domain" and not report.ok:
            break  # every later check samples the domain
    return report


def report_from_error(exc: PinnkitError, source: str = "") -> Report:
    """A config or problem error as a one-line report, so ``pinnkit check`` lists it too."""
    if isinstance(exc, ConfigError):
        prefix = exc.key.split(".")[0]
        check = {"domain": "domain", "checks": "checks"}.get(prefix, "config")
        if exc.key.startswith("training.points") or exc.key.endswith(".on"):
            check = "points"
        message = exc.found + (f"; expected {exc.expected}" if exc.expected else "")
        finding = Finding("error", check, exc.key, exc.line, message, exc.fix, exc.source or "")
        source = exc.source or source
    else:
        finding = Finding("error", "config", "", None, str(exc))
    return Report(source, [finding], error=str(exc))


__all__ = ["CHECKS", "Context", "Finding", "Losses", "Report", "check_levels",
           "report_from_error", "run_checks"]
