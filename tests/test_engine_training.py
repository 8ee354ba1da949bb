"""The derivative engines and torch.compile through the real trainer."""

import pytest

import pinnkit
from pinnkit.config import load_config


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
