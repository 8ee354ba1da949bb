import pytest

from pinnkit.config import config_from_data, load_config, read_yaml, to_data
from pinnkit.errors import ConfigError


def load_text(tmp_path, text, overrides=()):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path, overrides)


def test_defaults_and_name_from_file_stem(tiny_yaml):
    cfg = load_config(tiny_yaml)
    assert cfg.name == "tiny"
    assert cfg.model.width == 8 and cfg.model.activation == "tanh"
    assert [s.optimizer for s in cfg.training.stages] == ["adam", "lbfgs"]
    assert cfg.conditions["initial"].on == "t == 0"  # YAML 1.1 would read `on` as True


def test_unknown_key_names_path_line_and_closest_match(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, "inputs: [x]\nmodel:\n  widht: 3\n")
    msg = str(info.value)
    assert "model.widht (line 3 of" in msg
    assert "unknown key 'widht' (did you mean 'width'?)" in msg
    assert "Fix: fix the spelling or remove the key" in msg


@pytest.mark.parametrize(
    "text, message",
    [
        ("model: {width: -3}", "model.width (line 1 of"),
        ("model: {width: -3}", "found -3; expected a positive number"),
        ("model: {width: 3.5}", "expected a whole number. Fix: write 4"),
        ("model: {width: wide}", "found the text 'wide'; expected a number (int)"),
        ("model: {dtype: float16}", "'float16' is not allowed (did you mean 'float"),
        ("training: {stages: [{optimizer: adamw}]}",
         "training.stages.0.optimizer (line 1 of"),
        ("training: {stages: [{optimizer: adamw}]}",
         "'adamw' is not allowed (did you mean 'adam'?)"),
        ("training: {stages: {optimizer: adam}}", "expected a list"),
        ("model: [1, 2]", "model (line 1 of"),
        ("[1, 2]", "the file holds list, not a mapping"),
        ("model: {width: 3\n", "not valid YAML"),
        ("logging: {tensorboard: maybe}", "found 'maybe'; expected true or false"),
        ("model: {width: 3}\nmodel: {width: 4}", "model (line 2 of"),
    ],
)
def test_bad_values_are_clear_errors(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    assert message in str(info.value)


def test_scientific_notation_without_dot_is_a_number(tmp_path):
    cfg = load_text(tmp_path, "training: {stages: [{lr: 1e-3}]}")
    assert cfg.training.stages[0].lr == pytest.approx(1e-3)


def test_set_overrides_nested_and_list_paths(tiny_yaml):
    cfg = load_config(tiny_yaml, ["training.stages.0.steps=5", "model.width=32",
                                  "training.stages.1={optimizer: adam, steps: 2}"])
    assert cfg.training.stages[0].steps == 5 and cfg.model.width == 32
    assert cfg.training.stages[1].optimizer == "adam"


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.widht=3", "model.widht (from --set): unknown key 'widht' (did you mean 'width'?)"),
        ("training.stages.7.lr=1", "'7' is not an index of training.stages (it has 2 entries)"),
        ("model.width", "--set needs KEY=VALUE"),
        ("model.width.x=3", "'model.width' holds the value 8, so 'x' cannot go inside it"),
    ],
)
def test_bad_set_paths(tiny_yaml, override, message):
    with pytest.raises(ConfigError) as info:
        load_config(tiny_yaml, [override])
    assert message in str(info.value)


def test_missing_file_suggests_a_near_name(tmp_path):
    (tmp_path / "heat.yaml").write_text("name: heat\n")
    with pytest.raises(ConfigError,
                       match=r"'.*haet.yaml' does not exist \(did you mean 'heat.yaml'\?\)"):
        load_config(tmp_path / "haet.yaml")


def test_lines_are_recorded_for_nested_keys():
    data, lines = read_yaml("a:\n  b:\n    - {c: 1}\n")
    assert data == {"a": {"b": [{"c": 1}]}}
    assert lines["a.b.0.c"] == 3 and lines["a"] == 1


def test_resolved_config_round_trips(tiny_yaml):
    cfg = load_config(tiny_yaml)
    again = config_from_data(to_data(cfg), source="<again>")
    assert again == cfg
