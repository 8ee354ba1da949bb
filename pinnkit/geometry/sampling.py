"""Point samplers on the unit cube: Sobol, Halton, Latin hypercube (scrambled,
scipy.stats.qmc) or uniform.

Every sampler is a function ``(n, dim, seed) -> (n, dim)`` array in [0, 1)^dim, the same
points for the same arguments. scipy.stats takes about a second to import, so it is
imported only when quasi-random points are drawn (``pinnkit check`` draws uniform ones).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import ConfigError, did_you_mean, one_of


def sobol(n: int, dim: int, seed: int) -> np.ndarray:
    """The first n points of a scrambled Sobol sequence in [0, 1)^dim.

    Drawing a power of two and keeping the first n avoids scipy's balance warning while
    keeping the low-discrepancy prefix.
    """
    if dim == 0 or n == 0:
        return np.zeros((n, dim))
    from scipy.stats import qmc  # 1 s to import: only when Sobol points are drawn

    engine = qmc.Sobol(d=dim, scramble=True, seed=seed)
    return engine.random_base2(max(0, math.ceil(math.log2(n))))[:n]


def halton(n: int, dim: int, seed: int) -> np.ndarray:
    """The first n points of a scrambled Halton sequence in [0, 1)^dim.

    Unlike Sobol, any n keeps the balance, so no power of two is drawn.
    """
    if dim == 0 or n == 0:
        return np.zeros((n, dim))
    from scipy.stats import qmc  # only when Halton points are drawn

    return qmc.Halton(d=dim, scramble=True, seed=seed).random(n)


def lhs(n: int, dim: int, seed: int) -> np.ndarray:
    """A Latin hypercube of n points: each coordinate has exactly one point in each of its
    n equal slices, placed at random within the slice (scrambled)."""
    if dim == 0 or n == 0:
        return np.zeros((n, dim))
    from scipy.stats import qmc  # only when Latin hypercube points are drawn

    return qmc.LatinHypercube(d=dim, scramble=True, seed=seed).random(n)


def uniform(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, dim))


SAMPLERS: dict[str, Callable[[int, int, int], np.ndarray]] = {
    "sobol": sobol, "halton": halton, "lhs": lhs, "uniform": uniform}


def get_sampler(name: str, key: str = "training.points.sampler", line: int | None = None
                ) -> Callable[[int, int, int], np.ndarray]:
    if name not in SAMPLERS:
        raise ConfigError(key, f"unknown sampler '{name}'{did_you_mean(name, SAMPLERS)}",
                          one_of(SAMPLERS), "use 'sobol', 'halton' or 'lhs' (low discrepancy) or "
                          "'uniform' (independent random points)", line)
    return SAMPLERS[name]
