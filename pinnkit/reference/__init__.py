"""Reference ("ground truth") solutions of benchmark PDEs, computed in numpy/scipy.

* :func:`burgers_cole_hopf`: viscous Burgers, exact (Cole-Hopf + Gauss-Hermite).
* :func:`allen_cahn_solution`, :func:`allen_cahn`: Allen-Cahn, Fourier + ETDRK4.
* :func:`kdv_soliton`: closed-form KdV soliton.
* :func:`kdv_spectral_solve`, :func:`kdv_raissi_solution`, :func:`kdv_raissi` —
  periodic KdV, Fourier + ETDRK4.
"""

from .allen_cahn import allen_cahn, allen_cahn_solution
from .burgers import burgers_cole_hopf
from .kdv import kdv_raissi, kdv_raissi_solution, kdv_soliton, kdv_spectral_solve

__all__ = [
    "allen_cahn",
    "allen_cahn_solution",
    "burgers_cole_hopf",
    "kdv_raissi",
    "kdv_raissi_solution",
    "kdv_soliton",
    "kdv_spectral_solve",
]
