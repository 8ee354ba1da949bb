"""Imports flow one way, in the order of the data (STYLE.md habit 2).

A module may import only from its own layer or lower ones. Layers, lowest first.
"""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "pinnkit"
LAYERS = [
    {"errors"},
    {"expr", "models", "reference"},
    {"engines", "geometry"},
    {"config"},
    {"data", "parameters"},  # observations and learnable scalars, read by the problem
    {"problem"},
    {"checks"},
    {"log"},
    {"training"},
    {"evaluate", "plot", "api"},
    {"cli", "__main__", "__init__"},
]


def layer_of(name: str) -> int:
    for i, names in enumerate(LAYERS):
        if name in names:
            return i
    raise AssertionError(f"module pinnkit.{name} is in no layer: add it to LAYERS")


def test_imports_flow_one_way():
    bad = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).with_suffix("").parts
        own = layer_of(rel[0])
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                depth = node.level - (len(rel) - 1)  # levels above the package root
                target = (node.module or "").split(".")[0] if depth >= 1 else rel[0]
                if depth >= 1 and target and layer_of(target) > own:
                    bad.append(f"{'/'.join(rel)} imports {target}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pinnkit."):
                target = node.module.split(".")[1]
                if layer_of(target) > own:
                    bad.append(f"{'/'.join(rel)} imports {target}")
    assert not bad, "imports against the data flow: " + "; ".join(bad)


def test_no_public_name_hides_a_subpackage():
    """``pinnkit.train`` and ``pinnkit.derivatives``, the functions, hid ``pinnkit/train/``
    and ``pinnkit/derivatives/``, so ``import pinnkit.train.trainer as t`` raised
    ImportError; the packages are pinnkit/training/ and pinnkit/engines/ now."""
    import importlib

    import pinnkit

    modules = {p.stem for p in PKG.glob("*.py")} | \
        {p.parent.name for p in PKG.glob("*/__init__.py")}
    clashes = {name for name in pinnkit.__all__ if name in modules and
               not isinstance(getattr(pinnkit, name), type(pinnkit))}
    assert not clashes, clashes
    autograd = importlib.import_module("pinnkit.engines.autograd")
    import pinnkit.engines.autograd as as_name  # the form that failed: IMPORT_FROM on pinnkit

    assert as_name is autograd and callable(pinnkit.derivatives)
    assert pinnkit.derivatives.__module__ == "pinnkit.engines"
    trainer = importlib.import_module("pinnkit.training.trainer")
    assert trainer.fit.__module__ == "pinnkit.training.trainer"
    assert callable(pinnkit.train) and pinnkit.train.__module__ == "pinnkit.api"
