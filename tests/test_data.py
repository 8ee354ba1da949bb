"""Data terms: reading CSV/NPZ observation files, their error messages, and the residuals."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from pinnkit import Box, ConfigError, PinnkitError, Problem
from pinnkit.api import resolve
from pinnkit.config import config_from_data, read_yaml
from pinnkit.engines import make_engine
from pinnkit.problem import compile_problem, problem_from_config
from pinnkit.training.losses import Collocation, term_losses

BASE = """
inputs: [x, t]
outputs: [u]
domain: {x: [0, 1], t: [0, 1]}
equations:
  heat: u_t - 0.1*u_xx
data:
  obs: {file: obs.csv}
"""


def compile_yaml(tmp_path: Path, text: str = BASE, name: str = "cfg.yaml"):
    path = tmp_path / name
    path.write_text(text)
    data, lines = read_yaml(text, str(path))
    cfg = config_from_data(data, lines, str(path))
    return compile_problem(problem_from_config(cfg), cfg)


def write(tmp_path: Path, body: str, name: str = "obs.csv") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


def error_text(tmp_path: Path, csv: str, text: str = BASE) -> str:
    write(tmp_path, csv)
    with pytest.raises(ConfigError) as info:
        compile_yaml(tmp_path, text)
    return str(info.value)


def test_csv_columns_become_terms_with_weights_and_sigma(tmp_path: Path) -> None:
    write(tmp_path, "# a comment line\nx,t,u,u_x\n0.1,0.2,1.0,2.0\n0.3,0.4,3.0,4.0\n")
    text = BASE.replace("{file: obs.csv}", "{file: obs.csv, weight: 2.0, weights: {u_x: 0.5}, "
                        "sigma: {u: 0.1}}")
    problem = compile_yaml(tmp_path, text)
    data_terms = {t.name: t for t in problem.terms if t.kind == "data"}
    assert set(data_terms) == {"obs.u", "obs.u_x"}
    assert data_terms["obs.u"].weight == pytest.approx(2.0 / 0.1**2)  # weight / sigma^2
    assert data_terms["obs.u_x"].weight == pytest.approx(0.5)
    (obs,) = problem.data
    np.testing.assert_array_equal(obs.x, [[0.1, 0.2], [0.3, 0.4]])


def test_training_weights_name_data_terms(tmp_path: Path) -> None:
    write(tmp_path, "x,t,u\n0.1,0.2,1.0\n")
    problem = compile_yaml(tmp_path, BASE + "training: {weights: {obs.u: 7}}\n")
    assert next(t for t in problem.terms if t.name == "obs.u").weight == 7.0


def test_nan_skips_that_target_only_and_is_counted(tmp_path: Path) -> None:
    write(tmp_path, "x,t,u,u_x\n0.1,0.1,1,nan\n0.2,0.2,,2\n0.3,0.3,3,3\n0.4,0.4,4,\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problem = compile_yaml(tmp_path)
    assert [str(w.message) for w in caught] == [
        "data.obs: 1 of 4 rows have no value (nan) in column 'u'; term obs.u uses the other 3",
        "data.obs: 2 of 4 rows have no value (nan) in column 'u_x'; term obs.u_x uses the "
        "other 2"]
    (obs,) = problem.data
    by_col = {t.column: t for t in obs.targets}
    np.testing.assert_array_equal(by_col["u"].rows, [0, 2, 3])
    np.testing.assert_array_equal(by_col["u_x"].values, [2.0, 3.0])
    assert by_col["u"].missing == 1 and by_col["u_x"].missing == 2
    assert "obs.u_x 2 rows (2 NaN skipped)" in obs.summary()


def test_npz_and_python_table_give_the_same_terms(tmp_path: Path) -> None:
    x, t = np.array([0.1, 0.5]), np.array([0.2, 0.7])
    np.savez(tmp_path / "obs.npz", x=x, t=t, u=np.sin(x))
    a = compile_yaml(tmp_path, BASE.replace("obs.csv", "obs.npz")).data[0]

    class P(Problem):
        inputs, outputs = ("x", "t"), ("u",)
        domain = Box(x=(0, 1), t=(0, 1))
        equations = {"heat": "u_t - u_xx"}
        data = {"obs": {"table": {"x": x, "t": t, "u": np.sin(x)}}}

    b = compile_problem(P()).data[0]
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.targets[0].values, b.targets[0].values)


class Sine(torch.nn.Module):
    """u(x, t) = sin(x) + t exactly, so data residuals are known in closed form."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.sin(x[:, 0]) + x[:, 1]).unsqueeze(-1)


def test_data_residuals_match_closed_form_float64(tmp_path: Path) -> None:
    x = np.linspace(0, 1, 7)
    t = np.linspace(0, 1, 7)[::-1]
    shift = 0.25
    u = np.sin(x) + t + shift  # off by a constant: loss = shift^2
    ux = np.cos(x)
    ux[3] = np.nan  # skipped row must not count
    np.savez(tmp_path / "obs.npz", x=x, t=t, u=u, u_x=ux, u_xt=np.zeros_like(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem = compile_yaml(tmp_path, BASE.replace("obs.csv", "obs.npz"))
    cfg = config_from_data({"training": {"points": {"domain": 8}}})
    points = Collocation(problem, cfg.training.points, 0, torch.device("cpu"), torch.float64)
    losses = term_losses(Sine(), make_engine("autograd", Sine()), problem, points.sets)
    assert losses["obs.u"].item() == pytest.approx(shift**2, rel=1e-12)
    assert losses["obs.u_x"].item() < 1e-28
    assert losses["obs.u_xt"].item() < 1e-28


def test_paths_are_relative_to_the_config_folder_first(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "configs").mkdir()
    write(tmp_path / "configs", "x,t,u\n0.5,0.5,1\n")  # beside the config
    write(tmp_path, "x,t,u\n0.5,0.5,2\n0.5,0.5,2\n")  # in the working directory
    monkeypatch.chdir(tmp_path)
    problem = compile_yaml(tmp_path / "configs")
    assert len(problem.data[0].x) == 1
    (tmp_path / "configs" / "obs.csv").unlink()
    problem = compile_yaml(tmp_path / "configs")  # falls back to the working directory
    assert len(problem.data[0].x) == 2


def test_data_only_problem_needs_no_equations(tmp_path: Path) -> None:
    write(tmp_path, "x,u\n0.1,1\n")
    problem = compile_yaml(tmp_path, "inputs: [x]\noutputs: [u]\ndomain: {x: [0, 1]}\n"
                           "data: {obs: {file: obs.csv}}\n")
    assert [t.name for t in problem.terms] == ["obs.u"]


# --- error messages: file, row, column, and the YAML key with its line -------------------------

def test_text_in_a_numeric_column(tmp_path: Path) -> None:
    msg = error_text(tmp_path, "x,t,u\n0.1,0.2,1\n\n0.3,0.4,abc\n")
    assert msg.startswith("data.obs.file (line 8 of ")
    assert "obs.csv, line 4 (row 2), column 'u': found the text 'abc'; expected a number" in msg


def test_missing_input_column(tmp_path: Path) -> None:
    msg = error_text(tmp_path, "x,time,u\n0.1,0.2,1\n")
    assert "obs.csv has no column 't' (columns: x, time, u); expected one column per " \
           "input: x, t. Fix: add a column 't'" in msg


def test_non_finite_input_coordinate(tmp_path: Path) -> None:
    msg = error_text(tmp_path, "x,t,u\n0.1,0.2,1\n0.1,nan,1\n")
    assert "obs.csv, line 3 (row 2), column 't': the coordinate is nan; expected a finite " \
           "number in every input column" in msg


def test_data_outside_the_domain(tmp_path: Path) -> None:
    msg = error_text(tmp_path, "x,t,u\n0.1,0.2,1\n1.5,0.2,1\n2,0.2,1\n")
    assert "obs.csv, line 3 (row 2), column 'x': x = 1.5 lies outside the domain (2 such " \
           "rows); expected x in [0, 1]. Fix: drop those rows or widen the domain" in msg


def test_file_that_does_not_parse(tmp_path: Path) -> None:
    msg = error_text(tmp_path, "x,t,u\n0.1,0.2\n")
    assert "obs.csv, line 2: 2 values, but the header (line 1) names 3 columns" in msg
    (tmp_path / "bad.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ConfigError, match=r"data.obs.file \(line 8 of .*\): bad.npz does not "
                       r"parse as NPZ"):
        compile_yaml(tmp_path, BASE.replace("obs.csv", "bad.npz"))


def test_unknown_column_and_missing_file_and_suffix(tmp_path: Path) -> None:
    msg = error_text(tmp_path, "x,t,uu\n0.1,0.2,1\n")
    assert "column 'uu' of obs.csv is not a field or derivative: unknown name 'uu' (did you " \
           "mean 'u'?)" in msg and "list the columns to fit in data.obs.targets" in msg
    with pytest.raises(ConfigError, match=r"file 'obsx.csv' not found \(did you mean 'obs.csv'"
                       r"\?\)"):
        compile_yaml(tmp_path, BASE.replace("obs.csv", "obsx.csv"))
    write(tmp_path, "x t u", "obs.txt")
    with pytest.raises(ConfigError, match=r"'obs.txt' is neither .csv nor .npz"):
        compile_yaml(tmp_path, BASE.replace("obs.csv", "obs.txt"))


def test_npz_text_column_names_its_row(tmp_path: Path) -> None:
    np.savez(tmp_path / "obs.npz", x=np.array([0.1, 0.2]), t=np.array([0.1, 0.2]),
             u=np.array(["1.0", "oops"]))
    with pytest.raises(ConfigError, match=r"obs.npz, row 2, column 'u': found np.str_\('oops'\)"
                       r"|obs.npz, row 2, column 'u': found 'oops'"):
        compile_yaml(tmp_path, BASE.replace("obs.csv", "obs.npz"))


def test_bad_options_name_their_key(tmp_path: Path) -> None:
    write(tmp_path, "x,t,u\n0.1,0.2,1\n")
    with pytest.raises(ConfigError, match=r"data.obs.sigma.uu \(line 8 of .*\): 'uu' is not a "
                       r"fitted column \(did you mean 'u'\?\); expected one of: u"):
        compile_yaml(tmp_path, BASE.replace("{file: obs.csv}", "{file: obs.csv, sigma: {uu: 1}}"))
    with pytest.raises(ConfigError, match=r"data.obs.sigma.u .*: found 0.0; expected a positive"):
        compile_yaml(tmp_path, BASE.replace("{file: obs.csv}", "{file: obs.csv, sigma: {u: 0}}"))
    with pytest.raises(ConfigError, match=r"data.obs.fle \(line 8 of .*\): unknown key 'fle' "
                       r"\(did you mean 'file'\?\)"):
        compile_yaml(tmp_path, BASE.replace("{file: obs.csv}", "{fle: obs.csv}"))


def test_cli_exits_2_with_the_message(tmp_path: Path, capsys) -> None:
    from pinnkit.cli import main

    write(tmp_path, "x,t,u\n0.1,0.2,zzz\n")
    (tmp_path / "cfg.yaml").write_text(BASE)
    assert main(["check", str(tmp_path / "cfg.yaml")]) == 2
    err = capsys.readouterr().err
    assert "found the text 'zzz'" in err and "Traceback" not in err


def test_python_config_keys_for_data_belong_on_the_problem() -> None:
    class P(Problem):
        inputs, outputs = ("x",), ("u",)
        domain = Box(x=(0, 1))
        equations = {"pde": "u_xx"}

    with pytest.raises(PinnkitError, match="config key 'data' belongs on the Problem"):
        resolve(P(), config={"data": {"obs": {"file": "x.csv"}}})
