"""Reading STL and OBJ files through trimesh, the optional extra ``pinnkit[mesh]``.

trimesh only reads the file here: merging, checking and orienting the faces, membership,
distances and sampling are pinnkit's own numpy (surface.py), so nothing needs trimesh's
optional ray or tree libraries. Groups become named parts: an OBJ file's ``g``/``o``
groups and an ASCII STL file's ``solid NAME`` blocks (a binary STL has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .shapes import ShapeError

FORMATS = (".stl", ".obj")
INSTALL = 'pip install "pinnkit[mesh]"'


@dataclass(frozen=True)
class MeshData:
    vertices: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3)
    groups: dict[str, np.ndarray]  # group name -> indices of its faces (several groups only)


def read_mesh(path: Path, kind: str = "Mesh") -> MeshData:
    """Vertices, triangles and groups of an STL or OBJ file (scene transforms applied)."""
    if path.suffix.lower() not in FORMATS:
        raise ShapeError(kind, "file", f"'{path.name}' is not an STL or OBJ file",
                         "a .stl or .obj file", "export the surface as STL or OBJ")
    if not path.is_file():
        raise ShapeError(kind, "file", f"'{path}' does not exist", "a mesh file",
                         "check the path")
    try:
        import trimesh
    except ImportError:
        raise ShapeError(kind, "file", "reading a mesh file needs the trimesh package, "
                         "which is not installed", "the optional extra pinnkit[mesh]",
                         f"run {INSTALL}") from None
    options: dict[str, Any] = {"split_groups": True, "split_objects": True} \
        if path.suffix.lower() == ".obj" else {}
    try:
        scene: Any = trimesh.load(str(path), force="scene", process=False, **options)
    except Exception as exc:  # trimesh raises many kinds for a broken file
        raise ShapeError(kind, "file", f"'{path.name}' could not be read: "
                         f"{type(exc).__name__}: {exc}", "a valid STL or OBJ file",
                         "re-export it from the CAD tool") from None
    vertices, faces, names = [], [], []
    offset = 0
    for node in scene.graph.nodes_geometry:
        transform, geometry = scene.graph[node]
        mesh = scene.geometry[geometry]
        if not hasattr(mesh, "faces") or len(mesh.faces) == 0:
            continue  # a point cloud or a path in the scene: no surface
        v = np.asarray(mesh.vertices, dtype=np.float64)
        v = v @ np.asarray(transform)[:3, :3].T + np.asarray(transform)[:3, 3]
        vertices.append(v)
        faces.append(np.asarray(mesh.faces, dtype=np.int64) + offset)
        names.append(str(geometry))
        offset += len(v)
    if not faces:
        raise ShapeError(kind, "file", f"'{path.name}' holds no triangles", "a triangle "
                         "surface", "export the solid's surface as STL or OBJ")
    groups: dict[str, np.ndarray] = {}
    if len(faces) > 1:
        start = 0
        for name, f in zip(names, faces, strict=True):
            groups[name] = np.concatenate([groups.get(name, np.zeros(0, np.int64)),
                                           np.arange(start, start + len(f))])
            start += len(f)
    return MeshData(np.concatenate(vertices), np.concatenate(faces), groups)
