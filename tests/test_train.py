"""The trainer on tiny problems: it learns, and it leaves the run folder of DESIGN §5."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from runhelpers import TinyHeat

import pinnkit
from pinnkit.config import read_yaml
from pinnkit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_training_reduces_error_and_writes_the_run_folder(tiny_yaml, tmp_path):
    run = pinnkit.train(tiny_yaml, run_dir=tmp_path / "run", progress=False)
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m == run.metrics
    assert m["steps"] == 40 and m["device"] == "cpu"
    assert set(m["loss"]) == {"heat", "initial", "walls"}
    first_l2 = run.history[0]["l2/u"]
    assert m["l2_relative_error"]["u"] < 0.5 * first_l2  # it learns
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["name"] == "tiny" and saved["model"]["width"] == 8
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=False)
    assert ckpt["step"] == 40 and ckpt["config"]["name"] == "tiny"
    assert list((tmp_path / "run").glob("events.out.tfevents.*"))
    assert not list((tmp_path / "run" / "checkpoints").glob("*.tmp"))


def test_same_seed_same_result(tiny_yaml):
    a = pinnkit.train(tiny_yaml, 15, run_dir=False, progress=False)
    b = pinnkit.train(tiny_yaml, 15, run_dir=False, progress=False)
    assert a.metrics["loss"] == b.metrics["loss"]


def load_problems():
    sys.path.insert(0, str(ROOT / "problems"))
    try:
        import heat
    finally:
        sys.path.pop(0)
    return heat


def test_python_problem_and_method_residual_agree():
    heat = load_problems()
    cfg = {"model": {"width": 8, "depth": 2, "dtype": "float64"},
           "training": {"points": {"domain": 64, "boundary": 16}}}
    a = pinnkit.train(heat.Heat(), 10, config=cfg, run_dir=False, progress=False)
    b = pinnkit.train(heat.HeatMethod(), 10, config=cfg, run_dir=False, progress=False)
    assert a.metrics["loss"]["heat"] == pytest.approx(b.metrics["loss"]["heat"], rel=1e-12)
    compiled = pinnkit.check(heat.HeatMethod(), config=cfg)
    needs = {p.name(("x", "t")) for p in compiled.terms[0].needs}
    assert needs == {"u_t", "u_xx"}  # found by recording what the method reads


def test_python_exact_matches_yaml_exact():
    heat = load_problems()
    compiled = pinnkit.check(heat.Heat())
    x = torch.rand(10, 2)
    want = torch.exp(-0.1 * torch.pi**2 * x[:, 1]) * torch.sin(torch.pi * x[:, 0])
    torch.testing.assert_close(compiled.exact(x)[:, 0], want)


def test_constants_override_in_constructor():
    heat = load_problems()
    assert heat.Heat(alpha=0.5).alpha == 0.5
    with pytest.raises(pinnkit.PinnkitError, match="Heat has no constant 'alfa' \\(did you mean"):
        heat.Heat(alfa=0.5)


def test_problem_file_with_yaml_overrides(tmp_path):
    text = f"""
problem: {ROOT / 'problems' / 'heat.py'}:Heat
constants: {{alpha: 0.2}}
model: {{width: 8, depth: 1}}
"""
    (tmp_path / "c.yaml").write_text(text)
    compiled = pinnkit.check(tmp_path / "c.yaml")
    assert compiled.constants["alpha"] == 0.2
    assert [t.name for t in compiled.terms] == ["heat", "initial", "walls"]


@pytest.mark.parametrize(
    "line, message",
    [
        ("problem: nothere.py:Heat", "problem (line 1 of"),
        ("problem: nothere.py:Heat", "file 'nothere.py' not found"),
        ("problem: heat.py", "expected FILE.py:ClassName"),
        ("problem: {root}/problems/heat.py:Haet", "'Haet' is not a Problem subclass"),
        ("problem: {bad}:Broken", "raised ZeroDivisionError: division by zero"),
    ],
)
def test_problem_loading_errors(tmp_path, line, message):
    bad = tmp_path / "broken.py"
    bad.write_text("x = 1 / 0\n")
    (tmp_path / "c.yaml").write_text(line.format(root=ROOT, bad=bad) + "\n")
    with pytest.raises(ConfigError) as info:
        pinnkit.check(tmp_path / "c.yaml")
    assert message in str(info.value)


@pytest.mark.parametrize(
    "patch, message",
    [
        ("equations: {heat: u_t - alpah*u_xx}",
         "equations.heat (line 1 of"),
        ("equations: {heat: u_t - alpah*u_xx}",
         "unknown name 'alpah' (did you mean 'alpha'?) (column 7) in 'u_t - alpah*u_xx'"),
        ("conditions: {initial: {on: t = 0, residual: u}}",
         "conditions.initial.on (line 1 of"),
        ("conditions: {initial: {on: t == 0}}", "conditions.initial.residual (line 1 of"),
        ("conditions: {initial: {on: t == 0}}", "is missing; expected an expression that"),
        ("training: {weights: {intial: 10}}",
         "no loss term is called 'intial' (did you mean 'initial'?)"),
        ("exact: sin(pi*x)*u", "unknown name 'u'"),
        ("outputs: [x]", "'x' is both an input and an output"),
        ("inputs: []", "inputs (line 1 of"),
    ],
)
def test_problem_errors_name_key_and_line(tmp_path, tiny_yaml, patch, message):
    data, _ = read_yaml(tiny_yaml.read_text())  # yaml.safe_load would read `on:` as True
    data.pop(patch.split(":")[0])
    path = tmp_path / "bad.yaml"
    path.write_text(patch + "\n" + yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        pinnkit.check(path)
    assert message in str(info.value)


def test_second_run_never_clobbers_the_first(tiny_yaml, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pinnkit.train(tiny_yaml, 2, progress=False)
    first = (tmp_path / "runs" / "tiny" / "metrics.json").read_text()
    run = pinnkit.train(tiny_yaml, 3, progress=False)
    assert run.run_dir == Path("runs") / "tiny-2"
    assert (tmp_path / "runs" / "tiny" / "metrics.json").read_text() == first


def test_metrics_and_run_carry_the_best_checkpoint(tiny_yaml, tmp_path):
    """A run that ends on an Adam spike still reports, and returns, its best network: the
    record with the lowest validation error, the same network best.pt holds."""
    from pinnkit.training.monitor import Monitor

    run = pinnkit.train(tiny_yaml, run_dir=tmp_path / "run", progress=False,
                        overrides=["training.stages.0.lr=0.2", "logging.every=5"])
    best = min(run.history, key=Monitor.validation)
    assert run.metrics["best"]["step"] == best["step"]
    assert run.metrics["best"]["l2_relative_error"] == {"u": best["l2/u"]}
    again = Monitor(run.problem, run.config).errors(run.best_model)
    assert again["l2/u"] == pytest.approx(best["l2/u"], rel=1e-9)
    saved = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=False)
    assert saved["step"] == best["step"]
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["best"] == run.metrics["best"]


class RecipeHeat(TinyHeat):
    recipe = {"model": {"width": 6, "depth": 2},
              "training": {"points": {"domain": 32, "boundary": 8},
                           "stages": [{"optimizer": "adam", "steps": 30},
                                      {"optimizer": "lbfgs", "steps": 10}]}}


def test_steps_keeps_the_recipes_stages_in_proportion():
    from pinnkit.api import scaled_stages
    from pinnkit.config import StageConfig

    stages = (StageConfig(optimizer="adam", steps=1000), StageConfig(optimizer="lm", steps=600))
    assert [s.steps for s in scaled_stages(stages, 400)] == [250, 150]
    assert [s.steps for s in scaled_stages(stages, 3)] == [2, 1]
    assert [(s.optimizer, s.steps) for s in scaled_stages(stages, 1)] == [("adam", 1)]
    odd = (StageConfig(steps=1), StageConfig(steps=1), StageConfig(steps=998))
    assert [s.steps for s in scaled_stages(odd, 10)] == [1, 1, 8]


def test_a_problem_class_carries_its_recipe(tmp_path):
    """The class's recipe is the training config; config= and overrides go on top of it,
    and steps= scales its stages instead of dropping the second one."""
    run = pinnkit.train(RecipeHeat(), steps=8, run_dir=False, progress=False,
                        config={"model": {"width": 5}})
    cfg = run.config
    assert (cfg.model.width, cfg.model.depth, cfg.training.points.domain) == (5, 2, 32)
    assert [(s.optimizer, s.steps) for s in cfg.training.stages] == [("adam", 6), ("lbfgs", 2)]
    assert run.metrics["steps"] == 8

    class Wrong(RecipeHeat):
        recipe = {"equations": {"heat": "u_t"}}

    with pytest.raises(pinnkit.PinnkitError, match="recipe has key 'equations': an attribute"):
        pinnkit.train(Wrong(), steps=2, run_dir=False, progress=False)


def test_a_yaml_problem_class_recipe_sits_under_the_files_keys(tmp_path):
    here = Path(__file__).resolve()
    path = tmp_path / "r.yaml"
    path.write_text(f"problem: {here}:RecipeHeat\nmodel: {{width: 7}}\n")
    from pinnkit.api import resolve

    problem, cfg = resolve(path)
    assert (cfg.model.width, cfg.model.depth) == (7, 2)
    assert [s.steps for s in cfg.training.stages] == [30, 10]


def test_train_takes_any_torch_module(tmp_path, capsys):
    """model=: the user's own module is checked, trained in place (taylor derivatives: an
    nn.Sequential of Linear and Tanh layers has a rule for each), and needed again to load
    or resume the run; the CLI says so instead of misloading."""
    from pinnkit.cli import main

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16),
                              torch.nn.Tanh(), torch.nn.Linear(16, 1))
    before = [p.detach().clone() for p in net.parameters()]
    run = pinnkit.train(RecipeHeat(), run_dir=tmp_path / "own", progress=False, model=net,
                        overrides=["training.stages=[{optimizer: adam, lr: 0.01, steps: 60}, "
                                   "{optimizer: lbfgs, steps: 40}]",
                                   "logging.every=10"])
    assert run.model is net and run.metrics["engine"] == "taylor"
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert run.history[-1]["loss/total"] < 0.5 * run.history[0]["loss/total"]
    with pytest.raises(pinnkit.PinnkitError, match="trained with a torch.nn.modules.container"
                       ".Sequential, not a pinnkit.models.mlp.MLP"):
        pinnkit.load(tmp_path / "own")
    again = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    trained = pinnkit.load(tmp_path / "own", model=again)
    x = np.array([[0.3, 0.7]])
    want = float(net(torch.tensor(x).float()).detach()[0, 0])
    assert trained.predict(x)[0, 0] == pytest.approx(want)
    assert main(["train", str(tmp_path / "own"), "--resume"]) == 2
    assert "pass the same module again" in capsys.readouterr().err

    relu = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    with pytest.raises(pinnkit.PinnkitError, match="smoothness"):
        pinnkit.train(RecipeHeat(), steps=2, run_dir=False, progress=False, model=relu)
    with pytest.raises(pinnkit.PinnkitError, match=r"maps \(2, 2\) to \(2, 3\)"):
        pinnkit.train(RecipeHeat(), steps=2, run_dir=False, progress=False,
                      model=torch.nn.Linear(2, 3))
    with pytest.raises(pinnkit.PinnkitError, match="model.transform is built into"):
        pinnkit.train(RecipeHeat(), steps=2, run_dir=tmp_path / "never", progress=False,
                      model=net, overrides=["model.transform=t*net"])
    assert not (tmp_path / "never").exists()  # refused before the folder is claimed


def test_python_api_mistakes_read_as_python():
    class OneArgExact(RecipeHeat):
        def exact(self, x):
            return x

    with pytest.raises(pinnkit.PinnkitError, match=r"got the class RecipeHeat, not a problem. "
                       r"Fix: pass an instance, RecipeHeat\(\)"):
        pinnkit.train(RecipeHeat, steps=2, run_dir=False, progress=False)
    with pytest.raises(pinnkit.PinnkitError, match=r"overrides='model.width=8'; expected a list"):
        pinnkit.train(RecipeHeat(), steps=2, run_dir=False, overrides="model.width=8")
    with pytest.raises(pinnkit.PinnkitError, match=r"steps=-3; expected a positive number"):
        pinnkit.train(RecipeHeat(), steps=-3, run_dir=False, progress=False)
    with pytest.raises(pinnkit.PinnkitError, match=r"OneArgExact.exact\(x\) cannot be called "
                       r"as exact\(x, t\).*Fix: def exact\(self, x, t\)"):
        pinnkit.check(OneArgExact())
    with pytest.raises(pinnkit.PinnkitError, match="got a dict; expected a YAML path"):
        pinnkit.check({"inputs": ["x"]})


def test_train_returns_what_load_returns(tiny_yaml, tmp_path):
    """pinnkit.train gives a TrainedModel too: predict and derivatives agree with the run
    folder's pinnkit.load at the same (last) step."""
    run = pinnkit.train(tiny_yaml, run_dir=tmp_path / "run", progress=False)
    assert isinstance(run, pinnkit.TrainedModel) and isinstance(run, pinnkit.Run)
    loaded = pinnkit.load(tmp_path / "run")
    x = np.array([[0.25, 0.5], [0.75, 0.1]])
    np.testing.assert_allclose(run.predict(x), loaded.predict(x), rtol=1e-12)
    ours, theirs = run.derivatives(x, ["u_xx", "heat"]), loaded.derivatives(x, ["u_xx", "heat"])
    for name in ("u_xx", "heat"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-10, atol=1e-12)
    assert run.step == loaded.step == run.metrics["steps"]


def test_the_network_does_not_depend_on_torchs_default_dtype(tiny_yaml):
    """One seed, one network: a Python user who set torch's default dtype to float64 gets
    the starting weights every other run of the config gets."""
    from pinnkit.api import resolve
    from pinnkit.training.setup import build_model

    problem, cfg = resolve(tiny_yaml)
    plain = [p.detach().clone() for p in build_model(problem, cfg).parameters()]
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        other = [p.detach().clone() for p in build_model(problem, cfg).parameters()]
    finally:
        torch.set_default_dtype(before)
    assert torch.get_default_dtype() == before
    for a, b in zip(plain, other, strict=True):
        torch.testing.assert_close(a.double(), b.double(), rtol=0, atol=0)
