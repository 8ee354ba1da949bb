"""scripts/accuracy.py end to end in its --quick mode (a few steps per config)."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("accuracy", ROOT / "scripts" / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_table_and_json(tmp_path, capsys):
    accuracy = _script()
    out, js = tmp_path / "table.md", tmp_path / "r.json"
    code = accuracy.main(["--quick", "--only", "heat,poisson_nd", "--runs", str(tmp_path / "runs"),
                          "--out", str(out), "--json", str(js)])
    assert code == 0
    table = out.read_text()
    assert "| heat | u " in table and "| 1.00e-06 |" in table
    assert "| 2.80e-08 (ENGD) |" in table and "PINNacle PNd: — / 4.67e-04" in table
    data = json.loads(js.read_text())
    assert data["quick"] and [r["name"] for r in data["results"]] == ["heat", "poisson_nd"]
    assert all(r["steps"] == 20 for r in data["results"])
    assert (tmp_path / "runs" / "heat" / "metrics.json").exists()
    assert table in capsys.readouterr().out


def test_unknown_name_exits_2(capsys):
    assert _script().main(["--quick", "--only", "haet"]) == 2
    assert "no config named haet" in capsys.readouterr().err


def test_collect_tabulates_finished_runs_without_training(tmp_path, capsys):
    accuracy = _script()
    runs = tmp_path / "runs"
    assert accuracy.main(["--quick", "--only", "heat", "--runs", str(runs)]) == 0
    trained = json.loads((runs / "heat" / "metrics.json").read_text())["l2_relative_error"]
    capsys.readouterr()
    # a library problem without a run folder is listed as failed, so the exit code is 1
    assert accuracy.main(["--collect", "--only", "heat,wave", "--runs", str(runs)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Collected from run folders")
    assert f"| heat | u {trained['u']:.2e} |" in out
    assert "| wave | failed: no finished run" in out


def test_sweep_folder_table(tmp_path, capsys):
    """--sweep tabulates a pinnkit sweep folder: the spread of the relative L2 error across
    the seeds, beside the library's target."""
    import pinnkit

    done = pinnkit.sweep(ROOT / "configs" / "heat.yaml", seeds=2,
                         overrides=["training.stages=[{optimizer: adam, steps: 5}]",
                                    "training.points.domain=32", "training.points.boundary=8",
                                    "logging.tensorboard=false"],
                         out=tmp_path / "sw", progress=False)
    assert _script().main(["--sweep", str(done.folder), "--out", str(tmp_path / "t.md")]) == 0
    text = (tmp_path / "t.md").read_text()
    assert f"{done.folder}: heat, 2 runs" in text
    assert "| field | seeds | mean | median | std | min | max | target | reached |" in text
    values = sorted(r["l2/u"] for r in done.rows)
    assert f"| u | 2 | {sum(values) / 2:.2e} |" in text and "| 1.00e-06 | 0/2 |" in text
    assert text in capsys.readouterr().out
