"""The setup stage: built once per training, and the same for check and train."""

import pytest
import torch

import pinnkit
from pinnkit.errors import ConfigError
from pinnkit.setup import resolve
from pinnkit.training import setup as setup_stage
from pinnkit.training.setup import build_setup

# config errors that only building the training objects finds (not the schema), each
# with the text train and check must both give
BUILT_ERRORS = [
    ("logging.slice={z: 0.5}", "logging.slice.z (from --set): 'z' is not an input"),
    ("training.causal={chunks: 4}", "training.causal"),
    ("training.stages=[{optimizer: adam, steps: 5, schedule: cosine, lr: 1.0e-3, "
     "lr_min: 1.0}]", "lr_min"),
    ("model.transform=u*net", "model.transform"),
    ("training.device=cuda:7", "training.device (from --set)"),
]


@pytest.mark.parametrize(("override", "text"), BUILT_ERRORS)
def test_check_refuses_what_train_refuses_with_the_same_words(tiny_yaml, override, text):
    if override.startswith("training.causal"):  # a time input the problem lacks
        tiny_yaml.write_text(tiny_yaml.read_text().replace("inputs: [x, t]", "inputs: [x, s]")
                             .replace("t: [0, 1]", "s: [0, 1]").replace("u_t", "u_s")
                             .replace("t == 0", "s == 0").replace("*t)", "*s)"))
    with pytest.raises(ConfigError) as trained:
        pinnkit.train(tiny_yaml, run_dir=False, progress=False, overrides=[override])
    report = pinnkit.check_report(tiny_yaml, overrides=[override])
    assert not report.ok and text in str(trained.value)
    assert report.error == str(trained.value)  # one setup: one error, word for word


def test_a_training_builds_its_network_once_and_trains_that_object(tiny_yaml, monkeypatch):
    built = []
    real = setup_stage.build_model

    def counting(problem, cfg):
        built.append(real(problem, cfg))
        return built[-1]

    monkeypatch.setattr(setup_stage, "build_model", counting)
    run = pinnkit.train(tiny_yaml, 5, run_dir=False, progress=False)
    assert len(built) == 1 and run.model is built[0]


def test_the_checks_read_a_copy_of_the_network_training_starts_from(tiny_yaml):
    problem, cfg = resolve(tiny_yaml)
    setup = build_setup(problem, cfg)
    before = [p.detach().clone() for p in setup.model.parameters()]
    copy = setup.check_model()
    assert copy is not setup.model
    for a, b in zip(before, copy.parameters(), strict=True):
        assert torch.equal(a, b)
    pinnkit.api.preflight(setup)
    for a, b in zip(before, setup.model.parameters(), strict=True):
        assert torch.equal(a, b) and b.grad is None  # the checks left it as built


def test_setup_resolves_the_engine_and_device_once(tiny_yaml):
    problem, cfg = resolve(tiny_yaml)
    setup = build_setup(problem, cfg)
    assert setup.engine_name == "taylor" and setup.device == torch.device("cpu")
    assert setup.engine() is not setup.engine()  # a fresh engine (and plan cache) per call
    problem, cfg = resolve(tiny_yaml, ["model.engine=autograd"])
    assert build_setup(problem, cfg).engine_name == "autograd"


def test_lm_with_the_autograd_engine_is_refused_before_training(tiny_yaml):
    """lm's Jacobian is torch.func's (vmap of jacrev), which nested autograd cannot run
    under: it crashed with a functorch traceback at the stage's first step."""
    overrides = ["model.engine=autograd",
                 "training.stages=[{optimizer: adam, steps: 2}, {optimizer: lm, steps: 2}]"]
    report = pinnkit.check_report(tiny_yaml, overrides=overrides)
    assert not report.ok and "training.stages.1.optimizer (from --set): lm, but model.engine " \
        "is autograd" in report.error and "Fix: use optimizer: ssbroyden" in report.error
    with pytest.raises(ConfigError, match="lm builds its Jacobian with torch.func"):
        pinnkit.train(tiny_yaml, run_dir=False, progress=False, overrides=overrides)
