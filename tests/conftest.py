"""Tests run in float64 so numerics are checked at round-off, deterministically, on CPU."""

import pytest
import torch

torch.set_default_dtype(torch.float64)
# torch's once-per-process warnings (TORCH_WARN_ONCE) would otherwise show only the first
# test that triggers one and hide every later site
torch.set_warn_always(True)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


TINY = """
name: tiny
inputs: [x, t]
outputs: [u]
domain: {x: [0, 1], t: [0, 1]}
constants: {alpha: 0.1}
equations:
  heat: u_t - alpha*u_xx
conditions:
  initial: {on: t == 0, residual: u - sin(pi*x)}
  walls: {on: x == 0 or x == 1, residual: u}
exact: exp(-alpha*pi**2*t)*sin(pi*x)
model: {width: 8, depth: 2, dtype: float64}
training:
  points: {domain: 64, boundary: 16, resample_every: 10}
  stages:
    - {optimizer: adam, lr: 1.0e-2, steps: 30}
    - {optimizer: lbfgs, steps: 10}
logging: {every: 10, checkpoint_every: 20}
"""


@pytest.fixture
def tiny_yaml(tmp_path):
    """A small heat problem that trains in about a second."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


# Counters the reliability tests fill in (bad-input corpus cases, fuzz examples run); the
# session prints them at the end so the README's numbers come from a real run.
RELIABILITY = pytest.StashKey[dict]()


def pytest_configure(config):
    config.stash[RELIABILITY] = {}


@pytest.fixture(scope="session")
def reliability(request):
    """A dict of name -> count, printed in the 'reliability' section of the summary."""
    return request.config.stash[RELIABILITY]


def pytest_terminal_summary(terminalreporter, config):
    stats = config.stash.get(RELIABILITY, {})
    if stats:
        terminalreporter.write_sep("-", "reliability")
        for name, count in stats.items():
            terminalreporter.write_line(f"{name}: {count}")
