"""Imports flow one way, in the order of the data (STYLE.md habit 2).

A module may import only from its own layer or lower ones. Layers, lowest first.
"""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "pinnkit"
LAYERS = [
    {"errors", "usercode"},  # usercode: errors raised in the user's own code
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


def _modules_loaded_by(code: str) -> set[str]:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print('\\n'.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


HEAVY = ("torch", "torch._dynamo", "scipy.stats", "scipy.special", "tensorboard",
         "torch.utils.tensorboard", "matplotlib", "sympy")


def test_cli_and_package_root_import_nothing_heavy():
    """``pinnkit --help`` and a config typo must answer at once: the package root and the
    CLI module load torch, the compiler and scipy only when a command needs them."""
    loaded = _modules_loaded_by("import pinnkit, pinnkit.cli\n"
                                "pinnkit.ConfigError, pinnkit.__version__")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_training_imports_no_compiler_until_it_compiles():
    """The Taylor engine used to import torch._dynamo (1.7 s) through
    ``torch.compiler.disable``; its untraced methods are now marked lazily."""
    loaded = _modules_loaded_by("import pinnkit\npinnkit.train, pinnkit.load, pinnkit.check\n"
                                "import pinnkit.training.trainer, pinnkit.engines.taylor")
    assert "torch" in loaded
    assert not loaded & {"torch._dynamo", "scipy.stats", "matplotlib"}, \
        sorted(loaded & {"torch._dynamo", "scipy.stats", "matplotlib"})


def test_untraced_methods_are_disabled_once_compiling_starts():
    """Run in a fresh interpreter: once anything compiles, the methods stay wrapped."""
    import subprocess
    import sys

    code = """
from pinnkit.engines import compile as c
from pinnkit.engines.taylor import TaylorEngine
plain = TaylorEngine._build
assert not hasattr(plain, "_torchdynamo_disable")
c.maybe_compile(lambda x: x + 1, mode="false")
assert TaylorEngine._build is plain, "not compiling: nothing wrapped"
c.maybe_compile(lambda x: x + 1, mode="true")
wrapped = TaylorEngine._build
assert wrapped._torchdynamo_disable and wrapped._torchdynamo_orig_callable is plain
assert TaylorEngine.transformed._torchdynamo_disable
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
