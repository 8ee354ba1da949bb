"""Run folders, trust and I/O under hostile conditions (issue 16): nothing lost, no code run
without asking, no traceback.

Each test names the defect it guards against; every one failed on the code before the
fix. The runs are the tiny heat problem with a handful of Adam steps.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from runhelpers import TINY, write_config

import pinnkit
from pinnkit.api import resolve, run_folder
from pinnkit.cli import main
from pinnkit.errors import PinnkitError
from pinnkit.training import files
from pinnkit.training.checkpoint import load as load_checkpoint
from pinnkit.training.folders import MARKER

QUICK = ["--set", "training.stages=[{optimizer: adam, steps: 4}]", "--quiet"]


def one_line(err: str) -> str:
    """The one error line (after any warnings), without a traceback."""
    assert "Traceback" not in err, err
    err = "".join(ln for ln in err.splitlines(keepends=True)
                  if not ln.startswith("pinnkit: warning: "))
    assert err.startswith("pinnkit: error: ") and err.count("\n") == 1, err
    return err


def train(config: Path, *args: str) -> int:
    return main(["train", str(config), *QUICK, *args])


# --- exclusive creation ---------------------------------------------------------------

def test_runs_started_together_never_share_a_folder(tmp_path: Path) -> None:
    """Two trainings of one config started together both wrote runs/NAME: the folder was
    claimed only at the first checkpoint. Now the claim (mkdir + an O_EXCL marker) comes
    before training, so each of eight simultaneous starts gets a folder of its own."""
    _, cfg = resolve(write_config(tmp_path), [f"logging.dir={tmp_path / 'runs' / 'tiny'}"])
    start, got = threading.Barrier(8), []

    def claim() -> None:
        start.wait()
        got.append(run_folder(cfg))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 8, got
    assert {p.name for p in got} == {"tiny", *(f"tiny-{k}" for k in range(2, 9))}
    assert all((p / MARKER).is_file() for p in got)
    assert run_folder(cfg) == tmp_path / "runs" / "tiny-9"  # claimed, though still empty


def test_the_cli_claims_the_folder_before_training(tmp_path: Path, monkeypatch) -> None:
    from pinnkit.training import trainer

    seen = []

    def fit(setup, folder, **kw):  # what a second start sees while the first trains
        seen.append(folder)
        assert (folder / MARKER).is_file()
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "fit", fit)
    config = write_config(tmp_path)
    out = str(tmp_path / "run")
    assert train(config, "--out", out) == 130
    assert train(config, "--out", out) == 130
    assert seen == [tmp_path / "run", tmp_path / "run-2"]


# --- names and --out --------------------------------------------------------------------

def test_out_into_a_folder_that_is_not_a_run_is_refused(tmp_path: Path, capsys) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.yaml").write_text("mine: true\n")
    (project / "notes.txt").write_text("keep me\n")
    (project / "checkpoints").mkdir()  # another tool's: its config.yaml is not pinnkit's
    (project / "checkpoints" / "last.pt").write_bytes(b"theirs")
    for extra in ([], ["--overwrite"]):
        assert train(write_config(tmp_path), "--out", str(project), *extra) == 2
        err = one_line(capsys.readouterr().err)
        assert f"{project} exists and is not a pinnkit run folder (it holds 3 entries: " \
               "checkpoints, config.yaml, notes.txt); pinnkit does not write into it" in err
        assert "Fix: give a new or empty folder with --out DIR" in err
    assert sorted(p.name for p in project.iterdir()) == ["checkpoints", "config.yaml",
                                                         "notes.txt"]
    assert (project / "config.yaml").read_text() == "mine: true\n"
    assert (project / "checkpoints" / "last.pt").read_bytes() == b"theirs"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train(write_config(tmp_path), "--out", str(empty)) == 0  # an empty one is fine
    assert (empty / "checkpoints" / "last.pt").is_file()


def test_name_dotdot_writes_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    """name: '..' made the working folder the run folder and overwrote its config.yaml."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text("mine: true\n")
    config = write_config(work, TINY.replace("name: tiny", "name: '..'"))
    monkeypatch.chdir(work / "..")
    assert main(["train", str(config), *QUICK]) == 2
    assert "name (line 1 of" in one_line(capsys.readouterr().err)
    assert (work / "config.yaml").read_text() == "mine: true\n"
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "runs").exists()


# --- --overwrite clears first -----------------------------------------------------------

def test_overwrite_removes_the_old_run_before_training(tmp_path: Path, monkeypatch,
                                                       capsys) -> None:
    """--overwrite left last.pt, metrics.json and the event files until the new run's first
    checkpoint: a new run killed early presented the old model, and --resume continued it."""
    from pinnkit.training import trainer

    config, run = write_config(tmp_path), tmp_path / "run"
    assert train(config, "--out", str(run)) == 0
    assert train(config, "--out", str(run), "--set", "model.width=5") == 0  # -> run-2
    (run / "plots").mkdir()
    (run / "plots" / "u.png").write_bytes(b"old picture")
    (run / "my-notes.txt").write_text("mine\n")
    real_fit = trainer.fit

    def killed_at_start(setup, folder, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "fit", killed_at_start)
    assert train(config, "--out", str(run), "--overwrite") == 130
    capsys.readouterr()
    left = sorted(p.name for p in run.iterdir())
    assert left == [MARKER, "my-notes.txt"], left  # not ours: kept
    assert (tmp_path / "run-2" / "checkpoints" / "last.pt").is_file()  # another run: kept
    monkeypatch.setattr(trainer, "fit", real_fit)
    assert main(["train", str(run), "--resume", "--quiet"]) == 2
    assert "nothing to resume" in one_line(capsys.readouterr().err)


def test_overwrite_does_not_follow_a_planted_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "last.pt").write_bytes(b"precious")
    (elsewhere / "u.png").write_bytes(b"precious")
    config, run = write_config(tmp_path), tmp_path / "run"
    assert train(config, "--out", str(run)) == 0
    shutil.rmtree(run / "checkpoints")
    (run / "checkpoints").symlink_to(elsewhere)
    (run / "plots").symlink_to(elsewhere)
    assert train(config, "--out", str(run), "--overwrite") == 0
    assert sorted(p.name for p in elsewhere.iterdir()) == ["last.pt", "u.png"]
    assert not (run / "checkpoints").is_symlink() and (run / "checkpoints" / "last.pt").is_file()


# --- architecture keys frozen on resume ------------------------------------------------

@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("frozen")
    run = folder / "run"
    assert main(["train", str(write_config(folder)), "--out", str(run), "--quiet", "--set",
                 "training.stages=[{optimizer: adam, steps: 40}]", "--set",
                 "logging.checkpoint_every=20"]) == 0
    return run


@pytest.mark.parametrize("setting, trained", [
    ("model.activation=sin", "'tanh'"),
    ("model.dtype=float32", "'float64'"),
    ("model.engine=autograd", "'auto'"),
    ("model.fourier_features={features: 4}", "nothing"),
    ("model.periodic={x: [0, 1]}", "nothing"),
    ("model.transform=x*(1 - x)*net", "nothing"),
    ("model.width=7", "6"),
    ("domain={x: [0, 2], t: [0, 1]}", "[0, 1]"),  # named as domain.x
])
def test_resume_refuses_keys_the_weights_depend_on(stopped_run: Path, capsys, setting: str,
                                                   trained: str) -> None:
    """--resume --set model.activation=sin warned, rewrote config.yaml over tanh-trained
    weights, and every later eval was wrong."""
    before = (stopped_run / "config.yaml").read_bytes()
    ckpt = (stopped_run / "checkpoints" / "last.pt").read_bytes()
    assert main(["train", str(stopped_run), "--resume", "--quiet", "--set", setting]) == 2
    err = one_line(capsys.readouterr().err)
    key = setting.split("=")[0].replace("domain", "domain.x")
    assert f"{key} (from --set): " in err and f"was trained with {trained}" in err, err
    assert "Fix: start a new run with the new value" in err
    assert (stopped_run / "config.yaml").read_bytes() == before
    assert (stopped_run / "checkpoints" / "last.pt").read_bytes() == ckpt


def test_resume_still_takes_training_keys(stopped_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "copy"
    shutil.copytree(stopped_run, run)
    assert main(["train", str(run), "--resume", "--quiet", "--trust", "--set",
                 "training.stages=[{optimizer: adam, steps: 44, lr: 1.0e-3}]"]) == 0
    assert json.loads((run / "metrics.json").read_text())["steps"] == 44


# --- atomic, link-safe writes -------------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("finished")
    run = folder / "run"
    assert main(["train", str(write_config(folder)), "--out", str(run), *QUICK]) == 0
    return run


def test_plot_never_writes_through_a_link(finished_run: Path, tmp_path: Path, capsys) -> None:
    """pinnkit plot wrote through symlinks inside RUN/plots/ (and not atomically)."""
    pytest.importorskip("matplotlib")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    plots = finished_run / "plots"
    shutil.rmtree(plots, ignore_errors=True)
    plots.mkdir()
    (plots / "u.png").symlink_to(victim)
    (plots / "loss.png").symlink_to(tmp_path / "not-yet.txt")
    assert main(["plot", str(finished_run)]) == 0, capsys.readouterr().err
    assert victim.read_text() == "precious\n" and not (tmp_path / "not-yet.txt").exists()
    for name in ("u.png", "loss.png"):
        assert not (plots / name).is_symlink()
        assert (plots / name).read_bytes().startswith(b"\x89PNG")
    shutil.rmtree(plots)
    target = tmp_path / "target"
    target.mkdir()
    plots.symlink_to(target)  # the whole folder a link: refused, nothing written there
    assert main(["plot", str(finished_run)]) == 2
    err = one_line(capsys.readouterr().err)
    assert f"{plots} is a symbolic link (to {target}); pinnkit does not write through " \
           "links inside a run folder" in err
    assert list(target.iterdir()) == []
    plots.unlink()


def test_run_files_replace_a_planted_link_instead_of_following_it(tmp_path: Path) -> None:
    config, run = write_config(tmp_path), tmp_path / "run"
    assert train(config, "--out", str(run)) == 0
    victims = {}
    for name in ("config.yaml", "metrics.json", "history.csv", "checkpoints/last.pt"):
        victim = tmp_path / f"victim-{name.replace('/', '-')}"
        victim.write_text("precious\n")
        (run / name).unlink()
        (run / name).symlink_to(victim)
        victims[name] = victim
    assert main(["train", str(run), "--resume", "--quiet", "--set",
                 "training.stages=[{optimizer: adam, steps: 6}]"]) == 2  # last.pt is a link
    for name, victim in victims.items():
        assert victim.read_text() == "precious\n", name
    (run / "checkpoints" / "last.pt").unlink()
    assert train(config, "--out", str(run), "--overwrite") == 0
    for name, victim in victims.items():
        assert victim.read_text() == "precious\n", name
        assert not (run / name).is_symlink(), name
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 4


def test_one_helper_writes_every_run_file(tmp_path: Path, monkeypatch) -> None:
    """config.yaml, the marker, checkpoints, history.csv, metrics.json and the PNGs all go
    through files.write_atomic."""
    pytest.importorskip("matplotlib")
    written = []
    real = files.write_atomic

    def spy(path, data, root=None, durable=True):
        written.append(Path(path).name)
        return real(path, data, root, durable)

    import pinnkit.plot
    import pinnkit.training.checkpoint
    import pinnkit.training.folders
    import pinnkit.training.runfolder
    for module in (files, pinnkit.training.checkpoint, pinnkit.training.folders, pinnkit.plot,
                   pinnkit.training.runfolder):
        monkeypatch.setattr(module, "write_atomic", spy)
    run = tmp_path / "run"
    assert train(write_config(tmp_path), "--out", str(run)) == 0
    assert main(["plot", str(run)]) == 0
    assert {"config.yaml", MARKER, "last.pt", "best.pt", "history.csv", "metrics.json",
            "u.png", "loss.png"} <= set(written)


# --- which Python a run may import --------------------------------------------------------

PROBLEM = '''\
from pathlib import Path

import pinnkit

with Path(__file__).with_suffix(".imported").open("a") as f:  # counts the imports
    f.write("x")


class Tiny(pinnkit.Problem):
    inputs = ("x", "t")
    outputs = ("u",)
    domain = pinnkit.Box(x=(0, 1), t=(0, 1))
    constants = {"alpha": 0.1}
    equations = {"heat": "u_t - alpha*u_xx"}
    conditions = {"initial": ("t == 0", "u - sin(pi*x)"), "walls": ("x == 0 or x == 1", "u")}
'''

PROBLEM_CONFIG = """\
name: tiny
problem: probs/tiny.py:Tiny
model: {width: 6, depth: 2, dtype: float64}
training:
  points: {domain: 32, boundary: 8}
logging: {every: 2}
"""


@pytest.fixture()
def problem_run(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "probs").mkdir()
    source = tmp_path / "probs" / "tiny.py"
    source.write_text(PROBLEM)
    run = tmp_path / "run"
    assert train(write_config(tmp_path, PROBLEM_CONFIG), "--out", str(run)) == 0
    return run, source


def imports(source: Path) -> int:
    return len(source.with_suffix(".imported").read_text())


def test_a_run_trained_here_evaluates_without_a_flag(problem_run, capsys) -> None:
    run, source = problem_run
    record = json.loads((run / MARKER).read_text())
    assert record["problem"]["file"] == os.path.realpath(source)
    assert record["folder"] == os.path.realpath(run)
    before = imports(source)
    assert main(["eval", str(run), "--grid", "100"]) == 2  # no exact: but past the import
    assert "has no reference solution" in capsys.readouterr().err
    assert imports(source) == before + 1
    assert pinnkit.load(run).step == 4


def test_a_changed_problem_file_is_not_imported_without_trust(problem_run, capsys) -> None:
    """eval, plot, load and --resume imported the problem: file a run's config.yaml names,
    silently, whoever wrote the folder."""
    run, source = problem_run
    source.write_text(PROBLEM + "\n# changed after training\n")
    before = imports(source)
    for argv in (["eval", str(run)], ["plot", str(run)],
                 ["train", str(run), "--resume", "--quiet"]):
        assert main(argv) == 2
        err = one_line(capsys.readouterr().err)
        assert f"names the Python file {source} (problem: " in err, err
        assert "the file changed since the run was trained (its SHA-256 differs)" in err
        assert "Fix: read that file, then pass --trust (Python: trust=True)" in err
    with pytest.raises(PinnkitError, match="pass --trust"):
        pinnkit.load(run)
    assert imports(source) == before  # nothing ran
    assert pinnkit.load(run, trust=True).step == 4
    assert main(["eval", str(run), "--trust", "--grid", "100"]) == 2
    assert "has no reference solution" in capsys.readouterr().err
    assert imports(source) == before + 2


def test_a_run_folder_from_elsewhere_runs_none_of_its_code(problem_run, tmp_path: Path,
                                                           capsys) -> None:
    run, source = problem_run
    moved = tmp_path / "copied"  # at the same depth: ../probs/tiny.py is the same file
    shutil.copytree(run, moved)
    before = imports(source)
    assert main(["eval", str(moved)]) == 2
    assert "the run was trained in " in one_line(capsys.readouterr().err)
    # a folder made by hand: its config.yaml names a file shipped inside it
    evil = moved / "evil.py"
    evil.write_text(PROBLEM.replace('with_suffix(".imported")', 'with_name("pwned")'))
    config = (moved / "config.yaml").read_text()
    (moved / "config.yaml").write_text(
        "\n".join("problem: evil.py:Tiny" if ln.startswith("problem:") else ln
                  for ln in config.splitlines()) + "\n")
    (moved / MARKER).unlink()
    for argv in (["eval", str(moved)], ["plot", str(moved)],
                 ["train", str(moved), "--resume", "--quiet"]):
        assert main(argv) == 2
        err = one_line(capsys.readouterr().err)
        assert f"names the Python file {evil}" in err and "--trust" in err
    assert not (moved / "pwned").exists() and imports(source) == before


def test_no_message_advises_unpickling(tmp_path: Path, capsys) -> None:
    """Relayed numpy text advised allow_pickle=True for an object array in a data file."""
    import numpy as np

    np.savez(tmp_path / "obs.npz", x=np.array([0.5, None], dtype=object),
             t=np.array([0.1, 0.2]), u=np.array([1.0, 2.0]))
    config = write_config(tmp_path, TINY + "data:\n  obs: {file: obs.npz}\n")
    assert main(["check", str(config)]) == 2
    err = one_line(capsys.readouterr().err)
    assert "holds Python objects" in err and "pickle=" not in err.replace("unpickles", "")


# --- one I/O error path ------------------------------------------------------------------

def _full_disk(monkeypatch) -> None:
    real = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(files.os, "fdopen", lambda fd, *a, **k: Full(real(fd, *a, **k)))


def test_a_full_disk_is_one_line_and_keeps_the_earlier_results(finished_run: Path,
                                                               tmp_path: Path, monkeypatch,
                                                               capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / MARKER).unlink()  # a copy: re-marked by the resume below (--trust)
    kept = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    _full_disk(monkeypatch)
    for argv in (["train", str(run), "--resume", "--trust", "--quiet", "--set",
                  "training.stages=[{optimizer: adam, steps: 8}]"],
                 ["train", str(write_config(tmp_path)), "--out", str(tmp_path / "new"), *QUICK],
                 ["plot", str(finished_run), "--out", str(tmp_path / "pictures")]):
        if argv[0] == "plot" and pytest.importorskip("matplotlib") is None:
            continue
        assert main(argv) == 2
        err = one_line(capsys.readouterr().err)
        assert ": No space left on device (ENOSPC). Fix: free space on that disk" in err, err
    monkeypatch.undo()
    for path, data in kept.items():
        assert path.read_bytes() == data, path
    assert not [p for p in run.rglob(".*.tmp")]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 4


@pytest.mark.parametrize("where, said", [
    ("/dev/null", "/dev/null is a file, not a run folder"),
    ("{tmp}/file", "{tmp}/file is a file, not a run folder"),
    ("{tmp}/file/run", "cannot create the folder {tmp}/file: "),
    ("/proc/pinnkit-run", "cannot create the run folder /proc/pinnkit-run: "),
])
def test_logging_dir_that_cannot_be_a_folder(tmp_path: Path, capsys, where: str,
                                             said: str) -> None:
    (tmp_path / "file").write_text("a file\n")
    where, said = where.format(tmp=tmp_path), said.format(tmp=tmp_path)
    assert train(write_config(tmp_path), "--set", f"logging.dir={where}") == 2
    err = one_line(capsys.readouterr().err)
    assert said in err and ". Fix: " in err, err
    assert (tmp_path / "file").read_text() == "a file\n"


def test_a_read_only_run_folder(finished_run: Path, tmp_path: Path, monkeypatch,
                                capsys) -> None:
    """Resume and plot of a folder that cannot be written (simulated: the tests run as
    root, whom chmod does not stop)."""
    def refuse(*args, **kw):
        raise OSError(errno.EROFS, "Read-only file system")

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    kept = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    argvs = [["train", str(run), "--resume", "--trust", "--quiet", "--set",
              "training.stages=[{optimizer: adam, steps: 8}]"]]
    try:
        import matplotlib  # noqa: F401
        argvs.append(["plot", str(run)])
    except ImportError:
        pass
    for argv in argvs:
        assert main(argv) == 2
        err = one_line(capsys.readouterr().err)
        assert f"cannot write {run}/" in err and "Read-only file system (EROFS)" in err, err
        assert "Fix: the file system is read-only: write elsewhere with --out DIR" in err
    monkeypatch.undo()
    for path, data in kept.items():
        assert path.read_bytes() == data, path


def test_an_os_error_anywhere_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    """The backstop: an OSError from a writer pinnkit does not own (TensorBoard's thread)
    is one line and exit 2 as well."""
    from pinnkit.training import trainer

    def fit(*args, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "events"))

    monkeypatch.setattr(trainer, "fit", fit)
    assert train(write_config(tmp_path), "--out", str(tmp_path / "run")) == 2
    err = one_line(capsys.readouterr().err)
    assert f"cannot read or write {tmp_path / 'events'}: No space left on device (ENOSPC)" \
        in err


def test_python_train_claims_its_folder_too(tmp_path: Path) -> None:
    config, path = write_config(tmp_path), tmp_path / "py"
    first = pinnkit.train(config, steps=2, run_dir=path, progress=False)
    second = pinnkit.train(config, steps=2, run_dir=path, progress=False)
    assert (first.run_dir, second.run_dir) == (path, tmp_path / "py-2")
    again = pinnkit.train(config, steps=3, run_dir=path, progress=False, overwrite=True)
    assert again.run_dir == path and load_checkpoint(path / "checkpoints" / "last.pt")["step"] == 3
    with pytest.raises(PinnkitError, match="is not a pinnkit run folder"):
        pinnkit.train(config, steps=2, run_dir=tmp_path, progress=False)  # holds tiny.yaml
