"""Dependence: outputs declared over some inputs only, and the derivatives that vanish.

``outputs: [u, {a: [x]}]`` makes a(x) its own network of x, so ``a_t`` is identically
zero; the compiled residuals read it as 0 (``Term.zero``). A term that is then left with
no field at all is the same number whatever the network does (``frozen: a_t``, an
equation that used to keep a constant in t): it cannot be trained, and says so here
instead of adding a zero to the loss. Zero derivatives inside a term that still reads the
network are noted; a group that lists every input is an ordinary output, also noted.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..expr.analysis import partials
from .findings import Context, Finding


def check_dependence(ctx: Context) -> list[Finding]:
    """Error for a term identically zero by dependence; notes for the rest."""
    problem = ctx.problem
    out = _full_groups(ctx)
    for term in problem.terms:
        if not term.zero:
            continue
        names = sorted(p.name(problem.inputs) for p in term.zero)
        fields = sorted({p.field for p in term.zero})
        why = "; ".join(f"{f} depends on {', '.join(problem.depends[f])} only" for f in fields)
        listed = " and ".join(names[:3])
        because = f"because {why}"
        what = "objective term" if not term.squared else term.kind
        left = partials(term.tree) if term.tree is not None else set(term.needs)
        if not left:
            out.append(ctx.finding(
                "error", "dependence", term.key,
                f"{what} '{term.name}' ({term.text}) is identically zero: {listed} "
                f"{'is' if len(names) == 1 else 'are'} zero {because}, so the term does not "
                "depend on the network and cannot be trained",
                f"remove the term (a field declared over some inputs needs no equation to keep "
                f"it constant in the others), or list the inputs {fields[0]} should depend on "
                "in outputs"))
        else:
            out.append(ctx.finding("info", "dependence", term.key,
                                   f"{what} '{term.name}' reads {listed}, identically zero "
                                   f"{because}: read as 0, not computed"))
    return out


def _full_groups(ctx: Context) -> list[Finding]:
    """A note for each ``{a: [...]}`` entry that lists every input."""
    declared = ctx.problem.problem.outputs
    entries = declared if isinstance(declared, (tuple, list)) else [declared]
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            continue
        for name in entry:
            if name not in ctx.problem.depends:
                out.append(ctx.finding(
                    "info", "dependence", f"outputs.{i}.{name}",
                    f"{name} is declared over every input "
                    f"({', '.join(ctx.problem.inputs)}), so it is an ordinary output of the "
                    "main network", f"write {name} as a plain name"))
    return out


__all__ = ["check_dependence"]
