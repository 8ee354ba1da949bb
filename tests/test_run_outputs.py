"""What a run leaves behind, read back the way users read it: a real TensorBoard server,
``pinnkit eval``, ``pinnkit plot`` and ``pinnkit.load``. One tiny run serves all tests."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from runhelpers import TinyHeat, write_config

import pinnkit
from pinnkit.cli import main

SCALARS = {"loss/total", "loss/heat", "loss/initial", "loss/walls", "weight/heat",
           "weight/initial", "weight/walls", "lr", "grad_norm", "stage",
           "l2/u", "linf/u", "time/step_ms", "time/points_per_s"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("outputs")
    run_dir = folder / "runs" / "tiny"
    argv = ["train", str(write_config(folder)), "--out", str(run_dir), "--quiet",
            "--set", "training.stages.1.steps=25"]
    assert main(argv) == 0
    return run_dir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, **query: str) -> object:
    url = f"http://127.0.0.1:{port}{path}" + (f"?{urllib.parse.urlencode(query)}" if query
                                               else "")
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_tensorboard_server_serves_scalars_and_images(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    port = _free_port()
    log = (run.parent / "tensorboard.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir",
                               str(run.parent), "--port", str(port), "--host", "127.0.0.1",
                               "--reload_interval", "1"], stdout=log, stderr=log)
    try:
        deadline, points = time.monotonic() + 35, []
        while time.monotonic() < deadline:  # wait until the server has read the whole run
            try:
                points = _get(port, "/data/plugin/scalars/scalars", run="tiny",
                              tag="l2/u")
            except (OSError, ValueError):
                points = []
            if points and points[-1][1] == metrics["steps"]:
                break
            time.sleep(0.5)
        assert points, f"TensorBoard did not answer in time; see {log.name}"
        tags = _get(port, "/data/plugin/scalars/tags")["tiny"]  # type: ignore[index]
        assert SCALARS <= set(tags)
        wall_time, step, value = points[-1]
        assert step == metrics["steps"] == 125
        # event files store float32: the served value is metrics.json's number, rounded so
        assert value == float(np.float32(metrics["l2_relative_error"]["u"]))
        images = _get(port, "/data/plugin/images/tags")["tiny"]  # type: ignore[index]
        assert {"field/u/prediction", "field/u/reference", "field/u/error"} <= set(images)
        text = _get(port, "/data/plugin/text/tags")
        assert "config/text_summary" in text["tiny"]  # type: ignore[index]
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_run_folder_layout(run: Path) -> None:
    names = {p.name for p in run.iterdir()}
    assert {"config.yaml", "checkpoints", "history.csv", "metrics.json"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"last.pt", "best.pt"}
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["version"] == pinnkit.__version__ and ckpt["config"]["name"] == "tiny"
    assert {"model", "optimizer", "scheduler", "points", "rng", "stage", "step", "weights",
            "params", "stateful", "history"} <= set(ckpt["state"])
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)["state"]
    errors = [r["l2/u"] for r in best["history"]]
    assert best["best"] == min(errors) == errors[-1]  # written when the error hit a new low


def _model_values(model: torch.nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    """u, u_x, u_t, u_xx by plain nested torch.autograd.grad (independent of pinnkit)."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    u = model(xt)[:, 0]
    (g,) = torch.autograd.grad(u.sum(), xt, create_graph=True)
    (gx,) = torch.autograd.grad(g[:, 0].sum(), xt)
    return {"u": u.detach().numpy(), "u_x": g[:, 0].detach().numpy(),
            "u_t": g[:, 1].detach().numpy(), "u_xx": gx[:, 0].numpy()}


def test_eval_prints_errors_on_a_fresh_grid(run: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "on 40000 grid points" in out and "rel L2" in out and "mean abs" in out
    row = next(line.split() for line in out.splitlines() if line.startswith("u "))
    trained = pinnkit.load(run)
    g = np.linspace(0, 1, 200)
    x = np.stack([a.ravel() for a in np.meshgrid(g, g, indexing="ij")], 1)
    exact = np.exp(-0.1 * np.pi**2 * x[:, 1]) * np.sin(np.pi * x[:, 0])
    err = trained.predict(x)[:, 0] - exact
    assert row[1] == f"{np.linalg.norm(err) / np.linalg.norm(exact):.3e}"
    assert row[2] == f"{np.abs(err).mean():.3e}"
    assert row[3] == f"{np.abs(err).max():.3e}"


def test_eval_writes_fields_derivatives_and_residuals(run: Path, tmp_path: Path) -> None:
    x = np.array([[0.1, 0.2], [0.5, 0.5], [0.9, 0.75]])
    (tmp_path / "pts.csv").write_text("t,x\n" + "".join(f"{t},{xx}\n" for xx, t in x))
    out = tmp_path / "values.csv"
    argv = ["eval", str(run), "--points", str(tmp_path / "pts.csv"), "--fields",
            "u,u_x,d(u, x, x),heat,u_t - 0.1*u_xx", "--out", str(out)]
    assert main(argv) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == 'x,t,u,u_x,"d(u, x, x)",heat,u_t - 0.1*u_xx'
    table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    ref = _model_values(pinnkit.load(run).model, x)
    np.testing.assert_array_equal(table[:, :2], x)
    for col, name in [(2, "u"), (3, "u_x"), (4, "u_xx")]:
        np.testing.assert_allclose(table[:, col], ref[name], rtol=1e-12, atol=1e-12)
    residual = ref["u_t"] - 0.1 * ref["u_xx"]
    np.testing.assert_allclose(table[:, 5], residual, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(table[:, 6], residual, rtol=1e-10, atol=1e-12)
    np.savez(tmp_path / "pts.npz", x=x[:, 0], t=x[:, 1])
    argv = ["eval", str(run), "--points", str(tmp_path / "pts.npz"), "--fields", "u_xx",
            "--out", str(tmp_path / "values.npz")]
    assert main(argv) == 0
    with np.load(tmp_path / "values.npz") as data:
        assert sorted(data.files) == ["t", "u_xx", "x"]
        np.testing.assert_allclose(data["u_xx"], ref["u_xx"], rtol=1e-12, atol=1e-12)


def test_eval_errors_name_the_fix(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
                                  ) -> None:
    (tmp_path / "p.csv").write_text("x,y\n0.5,0.5\n")
    cases = [
        (["--points", str(tmp_path / "p.csv")], "has no column 't' (its header: x,y)",
         "Fix: make the first line x,t"),
        (["--fields", "u"], "--fields and --out need --points", "Fix: add --points"),
        (["--points", str(tmp_path / "p.txt")], "file", "does not exist"),
    ]
    for extra, *expected in cases:
        assert main(["eval", str(run), *extra]) == 2
        err = capsys.readouterr().err
        assert all(e in err for e in expected) and "Traceback" not in err, err
    (tmp_path / "q.csv").write_text("x,t\n0.5,0.5\n")
    assert main(["eval", str(run), "--points", str(tmp_path / "q.csv"), "--fields", "u,w_x"]) == 2
    err = capsys.readouterr().err.replace('"', "'")
    assert "--fields: 'w_x' reads like a derivative of 'w', which is not an output" in err
    assert err.count("Fix:") == 1
    assert main(["eval", str(tmp_path)]) == 2
    assert "is not a run folder: it has no config.yaml" in capsys.readouterr().err


def test_load_predicts_and_differentiates(run: Path) -> None:
    trained = pinnkit.load(run)
    assert trained.step == 125 and trained.inputs == ("x", "t")
    assert trained.metrics["steps"] == 125
    x = np.array([[0.25, 0.5], [0.75, 0.1]])
    ref = _model_values(trained.model, x)
    pred = trained.predict(x)
    assert isinstance(pred, np.ndarray) and pred.shape == (2, 1)
    np.testing.assert_allclose(pred[:, 0], ref["u"], rtol=1e-14)
    as_tensor = trained.predict(torch.tensor(x))
    assert torch.is_tensor(as_tensor)
    d = trained.derivatives({"x": x[:, 0], "t": x[:, 1]}, "u_x, u_xx")
    np.testing.assert_allclose(d["u_x"], ref["u_x"], rtol=1e-12)
    np.testing.assert_allclose(d["u_xx"], ref["u_xx"], rtol=1e-12)
    best = pinnkit.load(run, checkpoint="best")
    assert best.step <= trained.step


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_writes_pngs_of_the_expected_size(run: Path, capsys: pytest.CaptureFixture
                                               ) -> None:
    pytest.importorskip("matplotlib")
    assert main(["plot", str(run)]) == 0
    assert "plots/u.png" in capsys.readouterr().out
    assert _png_size(run / "plots" / "u.png") == (1350, 400)  # prediction, reference, error
    assert _png_size(run / "plots" / "loss.png") == (900, 400)  # losses, errors


def test_plot_without_matplotlib_names_the_extra(run: Path, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # import now raises ImportError
    assert main(["plot", str(run)]) == 2
    err = capsys.readouterr().err
    assert 'needs matplotlib, which is the optional \'plot\' extra. Fix: pip install ' \
           '"pinnkit[plot]"' in err and "Traceback" not in err


def test_runs_of_importable_problems_name_their_class(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """A Problem class defined in a module file: config.yaml records ``problem:
    file.py:Class`` and the constants it was given, so the CLI evaluates and resumes it."""
    config = {"model": {"width": 4, "depth": 1},
              "training": {"points": {"domain": 16, "boundary": 4}}}
    run = pinnkit.train(TinyHeat(alpha=0.2), steps=4, config=config, run_dir=tmp_path / "py",
                        progress=False)
    saved = yaml.safe_load((tmp_path / "py" / "config.yaml").read_text())
    assert saved["problem"].endswith("runhelpers.py:TinyHeat")
    assert saved["constants"] == {"alpha": 0.2} and "inputs" not in saved
    trained = pinnkit.load(tmp_path / "py")
    x = np.array([[0.5, 0.5]])
    np.testing.assert_array_equal(trained.predict(x), run.model(torch.tensor(x).float())
                                  .detach().numpy())
    assert trained.problem.constants["alpha"] == pytest.approx(0.2)
    (tmp_path / "pts.csv").write_text("x,t\n0.5,0.5\n")
    assert main(["eval", str(tmp_path / "py"), "--points", str(tmp_path / "pts.csv")]) == 0
    assert main(["train", str(tmp_path / "py"), "--resume", "--quiet",
                 "--set", "training.stages.0.steps=6"]) == 0
    assert json.loads((tmp_path / "py" / "metrics.json").read_text())["steps"] == 6


def test_runs_of_python_problems_need_the_object_again(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    class TinyHeat(pinnkit.Problem):  # defined in a function: no file gives it back
        inputs = ("x", "t")
        outputs = ("u",)
        domain = pinnkit.Box(x=(0, 1), t=(0, 1))
        constants = {"alpha": 0.1}
        equations = {"heat": "u_t - alpha*u_xx"}
        conditions = {"initial": ("t == 0", "u - sin(pi*x)"),
                      "walls": ("x == 0 or x == 1", "u")}

    config = {"model": {"width": 4, "depth": 1},
              "training": {"points": {"domain": 16, "boundary": 4}}}
    run = pinnkit.train(TinyHeat(), steps=4, config=config, run_dir=tmp_path / "py",
                        progress=False)
    with pytest.raises(pinnkit.PinnkitError, match="was trained from a Python Problem object"):
        pinnkit.load(tmp_path / "py")
    assert main(["train", str(tmp_path / "py"), "--resume"]) == 2
    assert "Fix: pass the object again" in capsys.readouterr().err
    trained = pinnkit.load(tmp_path / "py", problem=TinyHeat())
    x = np.array([[0.5, 0.5]])
    np.testing.assert_array_equal(trained.predict(x), run.model(torch.tensor(x).float())
                                  .detach().numpy())
    with pytest.warns(UserWarning, match="differs from the checkpoint's in: training.stages"):
        again = pinnkit.train(TinyHeat(), steps=6, config=config, run_dir=tmp_path / "py",
                              progress=False, resume=True)
    assert again.metrics["steps"] == 6  # the last stage is extended from step 4


@pytest.mark.parametrize("config, path_of", [
    ("burgers.yaml", lambda saved: saved["problem"].rsplit(":", 1)[0]),  # problem: file
    ("heat_inverse.yaml", lambda saved: saved["data"]["obs"]["file"]),  # data file
    # a config that takes inputs, equations and conditions from its class: config.yaml
    # must not write them back empty (they would replace the class's)
    ("wave.yaml", lambda saved: saved["problem"].rsplit(":", 1)[0]),
])
def test_run_folder_paths_work_from_any_directory(tmp_path, monkeypatch, capsys, config,
                                                  path_of):
    """config.yaml in a run folder names the problem file and data files relative to the
    run folder, so eval and --resume work wherever they are started (they used to look
    for '../problems/...' relative to the run folder and fail)."""
    root = Path(__file__).resolve().parents[1]
    run = tmp_path / "deep" / "run"
    quick = ["--set", "training.stages=[{optimizer: adam, steps: 2}]", "--set",
             "training.points.domain=64", "--set", "model.width=8", "--quiet"]
    assert main(["train", str(root / "configs" / config), "--out", str(run), *quick]) == 0
    original = yaml.safe_load((root / "configs" / config).read_text())
    saved = yaml.safe_load((run / "config.yaml").read_text())
    written = Path(path_of(saved))
    assert not written.is_absolute()
    assert (run / written).resolve() == (root / "configs" / path_of(original)).resolve()
    if config == "wave.yaml":
        assert "inputs" not in saved and "equations" not in saved
    (tmp_path / "pts.csv").write_text("x,t\n0.5,0.5\n-0.5,0.25\n")
    monkeypatch.chdir(tmp_path)  # neither the repository nor the run folder
    capsys.readouterr()
    assert main(["eval", str(run), "--points", "pts.csv", "--fields", "u",
                 "--out", "u.csv"]) == 0, capsys.readouterr().err
    assert main(["train", str(run), "--resume", "--quiet",
                 "--set", "training.stages=[{optimizer: adam, steps: 4}]"]) == 0, \
        capsys.readouterr().err
    assert json.loads((run / "metrics.json").read_text())["steps"] == 4
