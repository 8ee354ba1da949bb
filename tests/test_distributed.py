"""torchrun data parallelism: 2 CPU processes (gloo) equal one process over the union."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY

import pinnkit
from pinnkit.training.distributed import Dist, average, shard

TIMEOUT = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args, tmp_path, nproc=2):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "pinnkit", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path,
                          env=env)


def test_shards_are_disjoint_and_cover_the_set():
    pts = np.arange(20.0).reshape(10, 2)
    parts = [shard(pts, Dist(r, 3)) for r in range(3)]
    rows = sorted(tuple(p) for part in parts for p in part)
    assert rows == sorted(tuple(p) for p in pts)
    assert shard(pts[:2], Dist(1, 3)).shape == (2, 2)  # too small to split: shared


def test_single_process_is_untouched():
    assert average({"a": 1.5}, Dist(), torch.device("cpu")) == {"a": 1.5}


# Every stage kind in one run: adam, lbfgs, then ssbroyden's line search and lm's
# Gauss-Newton system (J^T J and J^T R all-reduced).
STAGES = ("training.stages=[{optimizer: adam, lr: 1.0e-2, steps: 30}, "
          "{optimizer: lbfgs, steps: 10}, {optimizer: ssbroyden, steps: 10, dtype: float64}, "
          "{optimizer: lm, steps: 10}]")


@pytest.fixture(scope="module")
def ddp_and_one(tmp_path_factory):
    """One torchrun of two ranks and one plain process over the same config, shared by the
    tests that compare them: each pair costs ~10 s of interpreter and gloo start-ups."""
    tmp = tmp_path_factory.mktemp("ddp")
    (tmp / "tiny.yaml").write_text(TINY)
    x = np.linspace(0.05, 0.95, 7)  # a condition from a table and one at a point: every
    (tmp / "u0.csv").write_text("x,t,u0\n" + "".join(  # rank holds all of their points
        f"{float(a)!r},0.0,{float(np.sin(np.pi * a))!r}\n" for a in x))
    args = ["train", str(tmp / "tiny.yaml"), "--set", STAGES, "--quiet",
            "--set", "conditions.start={on: t == 0, file: u0.csv, residual: u - u0}",
            "--set", "conditions.pin={at: {x: 0.5, t: 0.5}, "
            "residual: u - exp(-alpha*pi**2*t)*sin(pi*x)}"]
    proc = torchrun([*args, "--out", str(tmp / "ddp")], tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = subprocess.run([sys.executable, "-m", "pinnkit", *args, "--out", str(tmp / "one")],
                            capture_output=True, text=True, timeout=TIMEOUT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert single.returncode == 0, single.stderr[-3000:]
    a = torch.load(tmp / "ddp" / "checkpoints" / "last.pt", weights_only=True)["state"]
    b = torch.load(tmp / "one" / "checkpoints" / "last.pt", weights_only=True)["state"]
    return tmp, proc, a, b


def test_two_ranks_equal_one_process_over_the_union(ddp_and_one):
    tmp, proc, a, b = ddp_and_one
    assert a["step"] == b["step"] == 60
    assert {"start", "pin"} <= set(json.loads((tmp / "ddp" / "metrics.json").read_text())["loss"])
    for key, value in b["model"].items():
        torch.testing.assert_close(a["model"][key], value, atol=1e-6, rtol=0)
    # rank 0 alone writes: one TensorBoard file, one "training ..." banner
    assert len(list((tmp / "ddp").rglob("events.out.tfevents.*"))) == 1
    assert not (tmp / "ddp-2").exists()  # rank 1 claimed no folder of its own
    assert proc.stdout.count("pinnkit: training") == 1


def test_second_order_stages_take_the_same_steps_on_every_rank(ddp_and_one):
    """ssbroyden's line search and lm's Gauss-Newton system give two ranks the model of
    one process over the union of the points, after first-order stages that do too."""
    _, _, a, b = ddp_and_one
    assert [s["optimizer"] for s in a["stops"]] == ["adam", "lbfgs", "ssbroyden", "lm"]
    assert [s["step"] for s in a["stops"]] == [s["step"] for s in b["stops"]]
    for key, value in b["model"].items():
        assert value.dtype == torch.float64
        torch.testing.assert_close(a["model"][key], value, atol=1e-6, rtol=0)


def test_a_failing_rank_is_one_clear_error_not_a_hang(tmp_path, tiny_yaml):
    bad = tmp_path / "rankbad.py"
    bad.write_text("import os\nif os.environ.get('RANK') == '1':\n"
                   "    raise FileNotFoundError('data/obs.csv')\n"
                   "from pinnkit import Problem\nclass P(Problem):\n    pass\n")
    text = tiny_yaml.read_text() + f"problem: {bad}:P\n"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    proc = torchrun(["train", str(cfg), "--out", str(tmp_path / "r"), "--quiet"], tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.count("raised FileNotFoundError: data/obs.csv") == 1
    assert "another rank failed" in proc.stderr
    # torchrun prints its own summary of failed workers; no frame of pinnkit's is in it
    frames = [ln for ln in proc.stderr.splitlines() if ln.strip().startswith("File ")]
    package = str(Path(pinnkit.__file__).resolve().parent)  # not a checkout named pinnkit
    assert not [f for f in frames if package in f]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_auto_device_is_the_local_gpu():
    from pinnkit.training.distributed import device_for

    assert device_for("auto", Dist(1, 2, 1)) == "cuda:1"
