"""Hostile files and faults around a run (issue 16): nothing lost, nothing run, no traceback.

Each family: damaged or foreign checkpoints, damaged metrics.json/history.csv, bad
``pinnkit eval`` arguments and point files, a device this machine lacks, a user Problem
whose code raises, Ctrl-C during start-up, and the NaN guard's compounding back-off.
Every failure must be one ``pinnkit: error:`` line on stderr, exit 2, never a traceback.
"""

from __future__ import annotations

import io
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import pinnkit
from pinnkit.cli import main
from pinnkit.training import checkpoint

TINY = """\
name: tiny
inputs: [x, t]
outputs: [u]
domain: {x: [0, 1], t: [0, 1]}
constants: {alpha: 0.1}
equations:
  heat: u_t - alpha*u_xx
conditions:
  initial: {on: t == 0, residual: u - sin(pi*x)}
  walls: {on: x == 0 or x == 1, residual: u}
exact: exp(-alpha*pi**2*t)*sin(pi*x)
model: {width: 8, depth: 2, dtype: float64}
training:
  points: {domain: 32, boundary: 8}
  stages:
    - {optimizer: adam, lr: 1.0e-2, steps: 10}
logging: {every: 5, checkpoint_every: 5, grid: 16}
"""


def one_error_line(err: str) -> str:
    """The stderr of a refused command: one error line (warnings aside), no traceback."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if not ln.startswith("pinnkit: warning:")]
    assert len(lines) == 1 and lines[0].startswith("pinnkit: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    (folder / "tiny.yaml").write_text(TINY)
    assert main(["train", str(folder / "tiny.yaml"), "--out", str(folder / "run"),
                 "--quiet"]) == 0
    return folder / "run"


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    """A fresh copy of the trained run folder, free to damage."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


# --- checkpoints ------------------------------------------------------------------------

def test_a_checkpoint_is_still_a_torch_file_and_carries_its_checksum(run: Path) -> None:
    data = (run / "checkpoints" / "last.pt").read_bytes()
    assert data[-79:].startswith(checkpoint.MARKER)
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"] == 10


def _corrupt(data: bytes, rng: random.Random) -> bytes:
    n = len(data)
    kind = rng.choice(["flip", "byte", "cut", "drop", "insert", "zeros", "append", "swap"])
    i = rng.randrange(n)
    if kind == "flip":
        return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]
    if kind == "byte":
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]
    if kind == "cut":
        return data[:i]
    if kind == "drop":
        return data[:i] + data[i + rng.randrange(1, 200):]
    if kind == "insert":
        return data[:i] + rng.randbytes(rng.randrange(1, 50)) + data[i:]
    if kind == "zeros":
        return data[:i] + bytes(min(64, n - i)) + data[i + 64:]
    if kind == "append":
        return data + rng.randbytes(rng.randrange(1, 100))
    j = rng.randrange(n)  # swap two bytes
    b = bytearray(data)
    b[i], b[j] = b[j], b[i]
    return bytes(b)


def test_fifty_random_corruptions_are_refused_in_one_line_or_unchanged(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every corruption of a real last.pt is refused (one line naming the file, exit 2)
    unless the bytes came out unchanged, and only then does it load."""
    path = run / "checkpoints" / "last.pt"
    original = path.read_bytes()
    rng = random.Random(16)
    refused = 0
    for _ in range(50):
        damaged = _corrupt(original, rng)
        path.write_bytes(damaged)
        code = main(["eval", str(run), "--grid", "64"])
        out = capsys.readouterr()
        if damaged == original:
            assert code == 0, out.err
            continue
        assert code == 2, f"a corrupted checkpoint loaded: {out.out}"
        assert str(path) in one_error_line(out.err)
        assert "weights_only" not in out.err and "allow_pickle" not in out.err
        refused += 1
    assert refused >= 45


@pytest.mark.parametrize("content, expect", [
    ({"weight": torch.ones(2)}, "holds a plain state_dict (names -> tensors), not a checkpoint "
                                "written by pinnkit train"),
    ([1, 2, 3], "holds a list, not a checkpoint written by pinnkit train"),
    (b"step: 10\n", "is not a pinnkit checkpoint: it is text ('step: 10'...)"),
    (b"", "is not a pinnkit checkpoint: the file is empty"),
    (b"\x80\x02garbage", "it carries no pinnkit checksum and is damaged or not a PyTorch file"),
])
def test_a_foreign_file_as_last_pt_is_one_line_naming_it(
        run: Path, capsys: pytest.CaptureFixture[str], content: object, expect: str) -> None:
    path = run / "checkpoints" / "last.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    for argv in (["eval", str(run)], ["train", str(run), "--resume", "--quiet"]):
        assert main(argv) == 2
        line = one_error_line(capsys.readouterr().err)
        assert str(path) in line and expect in line and "Fix: use the run's other" in line


def test_a_bit_flip_in_the_tensors_is_refused_where_torch_would_load_it(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = run / "checkpoints" / "last.pt"
    data = bytearray(path.read_bytes())
    i = data.index(b"data/0") + 200  # inside the first tensor's bytes
    data[i] ^= 0x10
    path.write_bytes(bytes(data))
    torch.load(path, weights_only=True)  # torch reads it without a word
    assert main(["train", str(run), "--resume", "--quiet"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "is damaged: its bytes do not match the checksum pinnkit wrote into it" in line


def test_a_checkpoint_from_before_checksums_loads_with_a_warning(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = run / "checkpoints" / "last.pt"
    old = torch.load(path, weights_only=True)
    old["format"] = 1
    torch.save(old, path)  # no checksum, as pinnkit wrote them before
    assert main(["eval", str(run), "--grid", "64"]) == 0
    assert "has no checksum (written by pinnkit" in capsys.readouterr().err
    buffer = io.BytesIO()
    torch.save({**old, "format": 2}, buffer)  # a current checkpoint that lost its checksum
    path.write_bytes(buffer.getvalue())
    assert main(["eval", str(run)]) == 2
    assert "is damaged: its checksum is missing" in one_error_line(capsys.readouterr().err)


# --- metrics.json and history.csv ---------------------------------------------------------

def test_damaged_metrics_and_history_are_warnings_and_eval_and_plot_go_on(
        run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (run / "metrics.json").write_text('{"l2_relative_error": ')
    with (run / "history.csv").open("a") as f:
        f.write("12,abc\nnot,a,row,at,all,,,,,,,,,,,,\n")
    assert main(["eval", str(run), "--grid", "64"]) == 0
    err = capsys.readouterr().err
    assert f"{run / 'metrics.json'} is damaged (not JSON" in err and "Traceback" not in err
    pytest.importorskip("matplotlib")
    assert main(["plot", str(run)]) == 0
    out, err = capsys.readouterr()
    assert f"{run / 'history.csv'} is damaged: 2 of 4 rows cannot be read (first at line 4)" \
        in err
    assert "loss.png" in out and "Traceback" not in err
    (run / "history.csv").write_bytes(b"\xff\xfe\x00\x01")
    (run / "metrics.json").write_text("[1, 2]")
    assert main(["plot", str(run)]) == 0
    out, err = capsys.readouterr()
    assert "history.csv is damaged (UnicodeDecodeError); no loss.png" in err
    assert "metrics.json is damaged (a JSON list, not an object)" in err
    assert "u.png" in out and "loss.png" not in out


# --- pinnkit eval's arguments ---------------------------------------------------------------

@pytest.mark.parametrize("grid", ["0", "-5"])
def test_eval_grid_below_one_is_refused(run: Path, capsys: pytest.CaptureFixture[str],
                                        grid: str) -> None:
    assert main(["eval", str(run), "--grid", grid]) == 2
    assert f"--grid {grid}: expected a positive number of points" in \
        one_error_line(capsys.readouterr().err)
    with pytest.raises(pinnkit.PinnkitError, match=f"--grid {grid}: expected a positive"):
        pinnkit.load(run).grid_errors(int(grid))  # the same check from Python


def test_eval_reads_a_bom_csv_and_warns_about_points_outside_the_domain(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    points = tmp_path / "pts.csv"
    points.write_text("x,t\n0.5,0.5\n2,0.1\n-1,0\n", encoding="utf-8-sig")  # Excel's BOM
    assert main(["eval", str(run), "--points", str(points)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "x,t,u" and len(out.splitlines()) == 4
    assert "pinnkit: warning: --points: 2 of 3 points lie outside the domain " \
        "Box(x=(0, 1), t=(0, 1))" in err


@pytest.mark.parametrize("name, content, expect", [
    ("latin1.csv", "x,t\n0.5,0.5\n0.2,0.\xe9\n".encode("latin-1"),
     "line 3 of {path} is not UTF-8 text (byte 0xe9); expected a UTF-8 CSV file"),
    ("random.npz", bytes(random.Random(1).randbytes(300)),
     "{path} is not a NumPy .npz archive (not a zip file)"),
    ("objects.npz", None, "cannot read {path}: it holds Python objects"),
])
def test_eval_refuses_unreadable_point_files_in_one_line(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
        content: bytes | None, expect: str) -> None:
    path = tmp_path / name
    if content is None:
        np.savez(path, x=np.array([object(), 1.0], dtype=object), t=np.zeros(2))
    else:
        path.write_bytes(content)
    assert main(["eval", str(run), "--points", str(path)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert expect.format(path=path) in line and "allow_pickle" not in line


def test_eval_out_in_a_missing_folder_is_refused_before_any_work(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    points = tmp_path / "pts.csv"
    points.write_text("x,t\n0.5,0.5\n")
    out = tmp_path / "missing" / "values.csv"
    assert main(["eval", str(run), "--points", str(points), "--out", str(out)]) == 2
    assert f"--out: the folder '{out.parent}' does not exist" in \
        one_error_line(capsys.readouterr().err)


# --- devices --------------------------------------------------------------------------------

@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has mps")
def test_a_device_this_machine_lacks_is_refused_at_check_time(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY)
    out = tmp_path / "r"
    assert main(["train", str(tmp_path / "tiny.yaml"), "--device", "mps", "--out", str(out),
                 "--quiet"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "training.device (from --set): 'mps', but Apple's mps backend is not available" \
        in line
    assert not (out / "checkpoints").exists()


# --- the user's own code --------------------------------------------------------------------

PROBLEMS = '''\
import torch
from pinnkit import Box, Problem


class Base(Problem):
    inputs = ("x", "t")
    outputs = ("u",)
    domain = Box(x=(0, 1), t=(0, 1))
    constants = {"alpha": 0.1}
    equations = {"heat": "u_t - alpha*u_xx"}
    conditions = {"initial": ("t == 0", "u - sin(pi*x)"), "walls": ("x == 0 or x == 1", "u")}


class RaisingResidual(Base):
    def heat(self, d):
        raise ValueError("my residual is broken")

    equations = {"heat": heat}


class LateResidual(Base):
    def heat(self, d):
        if d.u.shape[0] > 4:  # fine on the probe's batch of 4
            return d.u_t + torch.zeros(3)
        return d.u_t

    equations = {"heat": heat}


class RaisingExact(Base):
    def exact(self, x, t):
        return 1 / 0


class WrongShapeExact(Base):
    def exact(self, x, t):
        return torch.stack([x, t, x], 1)


class ExactThatBreaksLater(Base):
    def exact(self, x, t):
        import os
        if os.environ.get("BREAK_EXACT"):
            raise KeyError("no such table")
        return torch.exp(-0.1 * torch.pi**2 * t) * torch.sin(torch.pi * x)
'''

RECIPE = """\
problem: problems_{tag}.py:{cls}
model: {{width: 8, depth: 2, dtype: float64}}
training:
  points: {{domain: 32, boundary: 8}}
  stages:
    - {{optimizer: adam, lr: 1.0e-2, steps: {steps}}}
logging: {{every: 5, checkpoint_every: 5, grid: 16}}
"""


def _user_config(tmp_path: Path, cls: str, steps: int = 10) -> Path:
    tag = abs(hash(str(tmp_path)))  # a module of its own per test
    (tmp_path / f"problems_{tag}.py").write_text(PROBLEMS)
    path = tmp_path / f"{cls}.yaml"
    path.write_text(RECIPE.format(tag=tag, cls=cls, steps=steps))
    return path


@pytest.mark.parametrize("cls, expect", [
    ("RaisingResidual", [", line 16, in heat (`raise ValueError(\"my residual is broken\")`): "
                         "the residual equations.heat raised ValueError: my residual is "
                         "broken. Fix: correct heat in "]),
    ("LateResidual", [", line 24, in heat (`return d.u_t + torch.zeros(3)`): raised "
                      "RuntimeError: The size of tensor a"]),
    ("RaisingExact", [", line 32, in exact (`return 1 / 0`): exact() raised "
                      "ZeroDivisionError: division by zero"]),
    ("WrongShapeExact", [", line 36: exact() returned a column of shape (", ", 3) for ",
                         "expected 1 column of "]),
])
def test_user_code_that_raises_is_the_users_error_at_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], cls: str, expect: list[str]
) -> None:
    config = _user_config(tmp_path, cls)
    for argv in (["check", str(config)], ["train", str(config), "--out", str(tmp_path / "r")]):
        assert main(argv) == 2
        line = one_error_line(capsys.readouterr().err)
        assert "problems_" in line and all(e in line for e in expect), line


def test_user_code_that_raises_mid_run_keeps_the_checkpoints(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = _user_config(tmp_path, "ExactThatBreaksLater")
    out = tmp_path / "r"
    assert main(["train", str(config), "--out", str(out), "--quiet"]) == 0
    before = (out / "checkpoints" / "last.pt").read_bytes()
    monkeypatch.setenv("BREAK_EXACT", "1")  # resuming skips the checks: the first log meets it
    assert main(["train", str(config), "--out", str(out), "--resume", "--set",
                 "training.stages.0.steps=20", "--quiet"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "in exact (`raise KeyError(\"no such table\")`): exact() raised KeyError: " \
           "'no such table'" in line
    assert (out / "checkpoints" / "last.pt").read_bytes() == before


# --- Ctrl-C ---------------------------------------------------------------------------------

def test_ctrl_c_inside_an_extension_import_is_exit_130_in_one_line(
        tiny_yaml: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import pinnkit.api

    def interrupted_import(*args: object, **kwargs: object) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:  # what CPython makes of a Ctrl-C in an extension
            raise ImportError("initialization failed") from exc

    monkeypatch.setattr(pinnkit.api, "check_report", interrupted_import)
    assert main(["check", str(tiny_yaml)]) == 130
    assert capsys.readouterr().err == "pinnkit: interrupted\n"


# --- the NaN guard --------------------------------------------------------------------------

WALL = """\
name: wall
inputs: [x]
outputs: [u]
domain: {x: [0, 1]}
parameters: {k: {init: 0}}
equations:
  fit: u_x - 1
  wall: k - 0.01 + exp(100000*(k - 0.035))   # overflows for k above 0.042
conditions:
  left: {on: x == 0, residual: u}
model: {width: 8, depth: 2, dtype: float64}
checks: {parameters: off, loss_balance: off}
training:
  points: {domain: 16, boundary: 2}
  stages:
    - {optimizer: adam, lr: 0.1, steps: 30}
logging: {every: 10, checkpoint_every: 10, grid: 16}
"""


def test_the_guard_cuts_the_rate_again_on_each_rollback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Adam's first step moves k by the learning rate: at 0.1 and 0.05 the next loss
    overflows, at a quarter (0.025) it trains. The old guard retried 0.05 five times, from
    weights whose loss it had never seen finite, and stopped with exit 1."""
    (tmp_path / "wall.yaml").write_text(WALL)
    assert main(["train", str(tmp_path / "wall.yaml"), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert ("pinnkit: step 2: non-finite wall; every term is finite at the last good weights "
            "(step 0): the step from there diverged; rolled back to step 0 with lr 0.05 "
            "(rollback 1 of 5)") in out
    assert "rolled back to step 0 with lr 0.025 (rollback 2 of 5)" in out
    assert "rollback 3 of 5" not in out


def test_a_guard_that_gives_up_says_whether_any_checkpoint_was_written(
        tmp_path: Path) -> None:
    (tmp_path / "wall.yaml").write_text(WALL.replace("lr: 0.1", "lr: 100"))
    with pytest.raises(pinnkit.errors.TrainingError) as info:
        pinnkit.train(tmp_path / "wall.yaml", run_dir=tmp_path / "r", progress=False,
                      overrides=["logging.checkpoint_every=1000"])
    message = str(info.value)
    assert "stopped after 5 rollbacks" in message
    assert f"No checkpoint was written to {tmp_path / 'r'} before this, so no state is kept" \
        in message
    assert "hold the last good state" not in message and "holds" not in message
