"""The bad-input corpus: every file in tests/corpus/ is an invalid config.

Through the real CLI entry point each one must exit 2, print no traceback, and say where
(key path and line), what was expected and how to fix it. A case's expected message
fragments sit in its first lines (``# expect: ...``; ``# args:`` adds CLI arguments,
``# command: train`` trains instead of checking), or in corpus/expected.yaml for files
that cannot hold a comment.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pinnkit.cli import main

CORPUS = Path(__file__).parent / "corpus"
NOT_CASES = {"README.md", "expected.yaml"}
PWNED = Path("/tmp/pinnkit_pwned")  # what unknown_function_import.yaml would create if run


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    expect: tuple[str, ...]
    args: tuple[str, ...] = ()
    command: str = "check"
    needs: tuple[str, ...] = ()  # optional packages the case's config needs (trimesh)


def _from_header(path: Path) -> Case:
    expect, args, command, needs = [], [], "check", []
    for line in path.read_bytes().decode("utf-8", "replace").splitlines():
        if not line.startswith("# "):
            break
        tag, _, value = line[2:].partition(":")
        if tag == "expect":
            expect.append(value.strip())
        elif tag == "args":
            args = shlex.split(value)
        elif tag == "command":
            command = value.strip()
        elif tag == "needs":
            needs.append(value.strip())
    return Case(path.stem, path, tuple(expect), tuple(args), command, tuple(needs))


def collect() -> list[Case]:
    index = yaml.safe_load((CORPUS / "expected.yaml").read_text())
    cases = []
    for path in sorted(CORPUS.iterdir()):
        if path.is_dir() or path.name in NOT_CASES:
            continue
        entry = index.get(path.name)
        cases.append(Case(path.name, path, tuple(entry["expect"])) if entry
                     else _from_header(path))
    cases += [Case(name, CORPUS / entry["path"], tuple(entry["expect"]))
              for name, entry in index.items() if "path" in entry]
    return cases


CASES = collect()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_a_clear_error_with_exit_code_2(case, capsys, tmp_path, reliability):
    for package in case.needs:
        pytest.importorskip(package, reason=f"the case needs {package} (pip install -e "
                            '".[mesh]")')
    PWNED.unlink(missing_ok=True)
    argv = [case.command, str(case.path), *case.args]
    if case.command == "train":
        argv += ["--out", str(tmp_path / "run")]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("pinnkit: error: ") and err.count("\n") == 1, err
    for fragment in case.expect:
        assert fragment in err, f"{case.name}: {fragment!r} not in {err!r}"
    assert "; expected " in err and ". Fix: " in err, err  # what was expected, and the fix
    assert not (tmp_path / "run").exists()  # an invalid config writes nothing
    assert not PWNED.exists()
    reliability["bad-input corpus cases passed"] = \
        reliability.get("bad-input corpus cases passed", 0) + 1


def test_corpus_is_large_and_every_case_says_what_it_expects(reliability):
    assert len(CASES) >= 60
    assert all(c.expect for c in CASES), [c.name for c in CASES if not c.expect]
    located = [c for c in CASES if any("(line " in f or "--set" in f for f in c.expect)]
    assert len(located) >= 0.8 * len(CASES)  # most fragments pin the key's line
    reliability["bad-input corpus cases"] = len(CASES)


HEAT = (Path(__file__).resolve().parents[1] / "configs" / "heat.yaml").read_text()


@pytest.mark.parametrize(
    "old, new",
    [
        ("walls:   {on: x == 0 or x == 1", "walls:   {on: x == 0 or x == L"),  # a constant
        ("weights: {initial: 10}", "weights: {initial: 0}"),  # 0 switches a term off
        ("seed: 0", "seed: 0\n  device: cpu"),
        ("resample_every: 100}", "resample_every: 0, chunk: 0}"),
        ("# 1-D heat", "\ufeff# 1-D heat"),  # a byte-order mark
        ("model: {width: 20", "model: {<<: {depth: 3}, width: 20"),  # a YAML merge key
        ("domain: {x: [0, 1], t: [0, 1]}", "domain: {x: &unit [0, 1], t: *unit}"),  # alias
        ("stages:\n", "stages: # the optimizer [[[[{{{{ stages\n"),
    ],
)
def test_valid_neighbours_of_corpus_cases_still_pass(tmp_path, capsys, old, new):
    """The guards above must not refuse what is merely unusual."""
    assert old in HEAT
    text = HEAT.replace(old, new).replace("constants: {alpha: 0.1}",
                                          "constants: {alpha: 0.1, L: 1}")
    path = tmp_path / "ok.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
