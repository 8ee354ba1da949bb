"""Names for the outward normal in boundary expressions: ``nx``, ``ny`` and ``u_n``.

On boundary points, conditions may read the outward unit normal's components, named 'n'
plus the input's name (``nx``, ``ny``, ``nt``), and a field's normal derivative ``u_n``,
which stands for ``nx*u_x + ny*u_y + ...`` and is substituted while parsing, so the
derivative engine sees ordinary partial derivatives. ``u_n`` reads the components under
keys no user name can take (``n(x)``), so a constant called ``nx`` cannot change it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..expr import Namespace, Partial, parse_name
from ..expr import tree as t


def normal_key(name: str) -> str:
    """The env key of the normal's component along input ``name``; not a valid user name."""
    return f"n({name})"


def normal_names(inputs: Sequence[str], taken: Sequence[str] = ()) -> dict[str, int]:
    """``{"nx": 0, "ny": 1}``: the name of each normal component ('n' + input name).

    A name already used by an input or by ``taken`` (a constant called ``nx``) keeps its
    meaning, and that normal component has no user name.
    """
    return {f"n{name}": i for i, name in enumerate(inputs)
            if f"n{name}" not in inputs and f"n{name}" not in taken}


def normal_env(inputs: Sequence[str], taken: Sequence[str], normals: Any) -> dict[str, Any]:
    """The env entries for boundary points with ``normals`` (N, d), a tensor or array."""
    env = {normal_key(name): normals[:, i] for i, name in enumerate(inputs)}
    env.update({n: normals[:, i] for n, i in normal_names(inputs, taken).items()})
    return env


def normal_derivative(field: str, inputs: Sequence[str]) -> t.Node:
    """``n(x)*u_x + n(y)*u_y + ...``: the derivative along the outward normal."""
    node: t.Node = t.Num(0.0)
    for i, name in enumerate(inputs):
        orders = tuple(1 if j == i else 0 for j in range(len(inputs)))
        node = t.add(node, t.mul(t.Sym(normal_key(name)), t.Field(Partial(field, orders))))
    return node


def boundary_namespace(ns: Namespace) -> Namespace:
    """``ns`` plus the normal's components and each field's ``<field>_n``."""
    taken = (*ns.outputs, *ns.constants, *ns.parameters, *ns.symbols, *ns.fields)
    named = tuple(normal_names(ns.inputs, taken))
    internal = tuple(normal_key(name) for name in ns.inputs)
    expansions = tuple((f"{f}_n", normal_derivative(f, ns.inputs)) for f in ns.outputs
                       if parse_name(f"{f}_n", ns.inputs, ns.outputs) is None
                       and f"{f}_n" not in taken)
    return dataclasses.replace(ns, symbols=(*ns.symbols, *named, *internal),
                               expansions=(*ns.expansions, *expansions))
