"""equigen: equivariance-first scientific toolkit.

Layers with a symmetry or a law built in, generative models assembled from them, and a
property-testing kit (:mod:`equigen.testing`) that checks the claims.
"""

__version__ = "0.1.0"

from equigen import groups, kinds  # noqa: E402
from equigen.groups import E3, O3, SE3, SO3, Permutations  # noqa: E402

__all__ = ["__version__", "groups", "kinds", "SO3", "O3", "SE3", "E3", "Permutations"]
