"""The shipped configs as pytest parameters: a config on a mesh file is skipped, saying
why, where the optional trimesh is not installed (``pip install -e ".[mesh]"``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_TRIMESH = importlib.util.find_spec("trimesh") is None
SKIP_MESH = pytest.mark.skipif(NO_TRIMESH, reason='a mesh domain needs trimesh: '
                               'pip install -e ".[mesh]"')


def needs_trimesh(path: Path) -> bool:
    return "mesh:" in path.read_text()


def shipped(paths=None, marks=()) -> list:
    """``pytest.param(path)`` for each config (all of configs/ by default), a mesh config
    with the trimesh skip mark added to ``marks``."""
    paths = sorted((ROOT / "configs").glob("*.yaml")) if paths is None else paths
    return [pytest.param(p, id=p.stem, marks=[*marks, SKIP_MESH] if needs_trimesh(p)
                         else list(marks)) for p in paths]
