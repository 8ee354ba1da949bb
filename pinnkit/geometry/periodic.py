"""Paired points on the two faces of a box, for periodic conditions."""

from __future__ import annotations

import numpy as np

from .shapes import Sampler, Shape


def paired_faces(shape: Shape, axis: int, n: int, sampler: Sampler, seed: int) -> np.ndarray:
    """(2n, d) points: n on the face ``axis = low``, then the same n with ``axis = high``.

    Row i and row n + i differ only in coordinate ``axis``, so a residual can compare the
    two halves point by point. The other coordinates are spread over the face by
    ``sampler``; a 1-D box gives the two end points once (n is ignored there).
    """
    lo, hi = shape.bounds()
    d = len(lo)
    others = [j for j in range(d) if j != axis]
    count = n if others else 1
    u = sampler(count, len(others), seed)
    face = np.empty((count, d))
    for k, j in enumerate(others):
        face[:, j] = lo[j] + u[:, k] * (hi[j] - lo[j])
    low, high = face.copy(), face
    low[:, axis], high[:, axis] = lo[axis], hi[axis]
    return np.concatenate([low, high])
