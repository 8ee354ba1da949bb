"""Writes configs/meshes/cavity.stl: the cube [-1, 1]^3 with a spherical cavity of radius
0.4 at the origin, as a binary STL of 1292 triangles (12 for the cube, 1280 for the
sphere, a level-3 icosphere), with numpy alone. configs/laplace_mesh.yaml solves Laplace's
equation on it.

    python scripts/make_mesh.py            # rewrites configs/meshes/cavity.stl

The writers and shapes here are plain numpy, so tests use them to make meshes too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def box_surface(lower=(-1.0, -1.0, -1.0), upper=(1.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """The 8 corners and 12 outward triangles of an axis-aligned box."""
    lo, hi = np.asarray(lower, float), np.asarray(upper, float)
    corners = np.array([[(hi if (k >> i) & 1 else lo)[i] for i in range(3)] for k in range(8)])
    quads = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
    faces = [t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))]
    return corners, np.array(faces)


def icosphere(level: int = 2, radius: float = 1.0, center=(0.0, 0.0, 0.0)
              ) -> tuple[np.ndarray, np.ndarray]:
    """A sphere of 20 * 4**level outward triangles: an icosahedron, each triangle split in
    four ``level`` times, the new corners pushed onto the sphere."""
    g = (1 + 5**0.5) / 2
    v = [(-1, g, 0), (1, g, 0), (-1, -g, 0), (1, -g, 0), (0, -1, g), (0, 1, g), (0, -1, -g),
         (0, 1, -g), (g, 0, -1), (g, 0, 1), (-g, 0, -1), (-g, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
         (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
         (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    verts = [np.array(p, float) / np.linalg.norm(p) for p in v]
    faces = f
    mid: dict[tuple[int, int], int] = {}  # edge -> its midpoint's index (shared by 2 faces)

    def middle(a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in mid:
            m = verts[a] + verts[b]
            verts.append(m / np.linalg.norm(m))
            mid[key] = len(verts) - 1
        return mid[key]

    for _ in range(level):
        new = []
        for a, b, c in faces:
            ab, bc, ca = middle(a, b), middle(b, c), middle(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    return np.asarray(center, float) + radius * np.array(verts), np.array(faces)


def cavity(level: int = 3, radius: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """The cube [-1, 1]^3 minus a ball: the sphere's faces turned to point into the hole."""
    bv, bf = box_surface()
    sv, sf = icosphere(level, radius)
    return np.concatenate([bv, sv]), np.concatenate([bf, sf[:, ::-1] + len(bv)])


def write_stl(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Binary STL: an 80-byte header, the count, then per triangle its normal and corners
    as float32 and a 2-byte attribute."""
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
    data = np.zeros(len(faces), record)
    data["normal"], data["corners"] = n, tri
    with open(path, "wb") as fh:
        fh.write(b"pinnkit scripts/make_mesh.py".ljust(80, b" "))
        fh.write(np.uint32(len(faces)).tobytes())
        fh.write(data.tobytes())


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray,
              groups: dict[str, np.ndarray] | None = None) -> None:
    """Wavefront OBJ with one ``g`` block per group (face indices), or none."""
    lines = [f"v {x!r} {y!r} {z!r}" for x, y, z in vertices.tolist()]
    for name, idx in (groups or {"": np.arange(len(faces))}).items():
        if name:
            lines.append(f"g {name}")
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces[idx].tolist()]
    Path(path).write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "configs" / "meshes" / "cavity.stl")
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    v, f = cavity()
    write_stl(args.out, v, f)
    print(f"wrote {args.out} ({len(f)} triangles, {args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
