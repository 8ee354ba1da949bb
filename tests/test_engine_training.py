"""The derivative engines and torch.compile through the real trainer."""

import json
from pathlib import Path

import pytest
from shipped import SKIP_MESH, needs_trimesh

import pinnkit
from pinnkit.api import resolve
from pinnkit.cli import main
from pinnkit.config import load_config
from pinnkit.engines import make_engine
from pinnkit.training.losses import compiled_losses, term_losses
from pinnkit.training.setup import build_setup
from pinnkit.training.techniques import Techniques
from pinnkit.training.trainer import new_state

ROOT = Path(__file__).resolve().parents[1]


def losses(tiny_yaml, *overrides):
    run = pinnkit.train(tiny_yaml, overrides=["training.stages.1.steps=3", *overrides],
                        run_dir=False, progress=False)
    return run.metrics


def test_taylor_and_autograd_train_identically(tiny_yaml):
    a = losses(tiny_yaml, "model.engine=autograd")
    t = losses(tiny_yaml, "model.engine=taylor")
    assert (a["engine"], t["engine"]) == ("autograd", "taylor")
    for name, value in a["loss"].items():
        assert t["loss"][name] == pytest.approx(value, rel=1e-9)


def test_auto_engine_is_taylor_for_pinnkit_networks(tiny_yaml):
    assert losses(tiny_yaml)["engine"] == "taylor"


def test_collapsed_laplacian_is_one_stream():
    poisson = pinnkit.check("configs/poisson.yaml")
    (needs,) = [t.needs for t in poisson.terms if t.name == "poisson"]
    (combo,) = needs
    assert combo.order == 2 and len(combo.terms) == 2


def test_compile_auto_stays_eager_for_short_runs(tiny_yaml):
    info = losses(tiny_yaml)["compile"]
    assert info["enabled"] is False and info["reason"].startswith("auto:")


def test_compile_accepts_yaml_booleans(tmp_path, tiny_yaml):
    path = tmp_path / "c.yaml"
    path.write_text(tiny_yaml.read_text().replace("training:\n", "training:\n  compile: false\n"))
    assert load_config(path).training.compile == "false"


@pytest.mark.slow
def test_compiled_training_equals_eager(tiny_yaml):
    eager = losses(tiny_yaml, "training.compile=false")
    compiled = losses(tiny_yaml, "training.compile=true")
    assert compiled["compile"]["enabled"] is True
    for name, value in eager["loss"].items():
        assert compiled["loss"][name] == pytest.approx(value, rel=1e-9)


# heat and allen_cahn (causal weighting) in every run; the other shipped configs (about
# 45 s together) with -m slow
SHIPPED = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", [c if c in ("heat", "allen_cahn") else pytest.param(
    c, marks=[pytest.mark.slow, *([SKIP_MESH] if needs_trimesh(ROOT / "configs" / f"{c}.yaml")
                                  else [])]) for c in SHIPPED])
def test_compiled_step_is_one_graph(config):
    """What fit compiles traces to a single graph with no break, for every shipped config:
    the Taylor programs are built before compiling (heat had 4 breaks), and causal
    weighting counts points per time slice without bincount (whose output length depends
    on the data)."""
    import torch._dynamo as dynamo

    problem, cfg = resolve(ROOT / "configs" / f"{config}.yaml",
                           ["training.points.domain=128", "training.points.boundary=32"])
    state = new_state(build_setup(problem, cfg))
    engine = make_engine(cfg.model.engine, state.model)
    losses, info = compiled_losses(term_losses, engine, state.model, problem, state.points.sets,
                                   "false", 1)
    assert losses is term_losses and engine.name == "taylor"  # eager: explain traces it
    reduce = Techniques(problem, cfg, state, engine).reduce
    assert (reduce is not None) == (config == "allen_cahn")
    dynamo.reset()
    explained = dynamo.explain(term_losses)(state.model, engine, problem, state.points.sets,
                                            reduce)
    dynamo.reset()
    assert explained.break_reasons == [] and explained.graph_break_count == 0
    assert explained.graph_count == 1


@pytest.mark.slow
def test_heat_compiles_without_graph_breaks_through_the_cli(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(ROOT / "configs" / "heat.yaml"), "--quiet", "--out", str(out),
                 "--set", "training.compile=true",
                 "--set", "training.stages=[{optimizer: adam, steps: 3}]",
                 "--set", "training.points={domain: 256, boundary: 64}",
                 "--set", "logging.tensorboard=false"]) == 0
    err = capsys.readouterr().err
    assert "graph break" not in err and "running eagerly" not in err, err
    info = json.loads((out / "metrics.json").read_text())["compile"]
    assert info["enabled"] is True and info["fallback"] is None
