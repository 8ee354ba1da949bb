"""Imports flow one way, in the order of the data (STYLE.md habit 2).

A module may import only from its own layer or lower ones. Layers, lowest first.
"""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "pinnkit"
LAYERS = [
    {"errors", "_version", "usercode"},  # usercode: errors raised in the user's own code
    {"expr", "models", "reference"},
    {"engines", "geometry"},
    {"config"},
    # what the problem reads from files and specs: observations, learnable scalars,
    # coefficient fields, reference tables, conditions at given points
    {"data", "parameters", "fields", "exact", "conditions"},
    {"problem"},
    {"checks"},
    {"log"},
    {"training"},
    {"setup"},  # config + problem -> what checks, training and evaluation start from
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


def _import_graph() -> dict[str, set[str]]:
    """pinnkit's modules and the modules each imports, lazy (in-function) imports included
    and ``if TYPE_CHECKING:`` blocks left out (they never run)."""
    mods = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)

    def targets(mod: str, is_pkg: bool, node: ast.ImportFrom) -> list[str]:
        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
        if node.level:
            base = base[:len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
        if len(subs) == len(node.names):  # only submodules: the package is loading already
            return subs
        return subs + ([target] if target in mods else [])

    def type_checking(node: ast.AST) -> bool:
        return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)

    graph: dict[str, set[str]] = {}
    for mod, (path, is_pkg) in mods.items():
        deps: set[str] = set()
        todo = list(ast.iter_child_nodes(ast.parse(path.read_text())))
        while todo:
            node = todo.pop()
            if type_checking(node):
                continue
            if isinstance(node, ast.ImportFrom):
                deps.update(targets(mod, is_pkg, node))
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
            todo.extend(ast.iter_child_nodes(node))
        for dep in list(deps):  # importing a.b.c runs a/b/__init__ first, unless inside it
            parts = dep.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent in mods and not mod.startswith(parent + ".") and mod != parent:
                    deps.add(parent)
        graph[mod] = deps - {mod}
    return graph


def test_no_import_cycles():
    """No module imports, even lazily inside a function, one that imports it back: a
    cycle works only as long as the import order happens to suit it."""
    graph = _import_graph()
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = "done"

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, "import cycles: " + "; ".join(cycles)
    assert "pinnkit.geometry.csg" in graph["pinnkit.geometry"]  # the graph is read at all
