"""equigen's property-testing kit: check that a layer respects the symmetry it claims.

* :func:`assert_equivariant` / :func:`assert_invariant`: fixed inputs, the group's edge
  cases plus seeded Haar samples, or one given element (inside your own ``@given`` test).
* :func:`check_equivariant` / :func:`check_invariant`: hypothesis searches inputs and group
  elements and reports the shrunk minimal counterexample.
* :func:`equivariance_error`: the measured error as a number, for benchmarks.
* :func:`assert_conserves`: conservation laws of a time-stepper ("drift" or "bounded");
  :func:`check_conserves` searches initial states and rollout lengths for a violation.
* :func:`assert_symplectic` / :func:`symplecticity_error`: ``J^T Omega J = Omega`` for one step.
* :mod:`equigen.testing.strategies`: group elements, point clouds, graphs, fields, irreps.

The error measure and tolerances are defined once, in :mod:`equigen.testing.assertions`.
"""

from equigen.testing.assertions import (
    EquivarianceError,
    EquivarianceReport,
    assert_equivariant,
    assert_invariant,
    default_rtol,
    equivariance_error,
    measure_equivariance,
)
from equigen.testing.conservation import (
    ConservationError,
    ConservationReport,
    assert_conserves,
    check_conserves,
    measure_conservation,
)
from equigen.testing.plugin import register_profiles
from equigen.testing.search import check_equivariant, check_invariant
from equigen.testing.structure import (
    SymplecticityError,
    SymplecticityReport,
    assert_symplectic,
    measure_symplecticity,
    symplecticity_error,
)

register_profiles()

__all__ = [
    "assert_equivariant",
    "assert_invariant",
    "check_equivariant",
    "check_invariant",
    "equivariance_error",
    "measure_equivariance",
    "default_rtol",
    "EquivarianceError",
    "EquivarianceReport",
    "assert_conserves",
    "check_conserves",
    "measure_conservation",
    "ConservationError",
    "ConservationReport",
    "register_profiles",
    "assert_symplectic",
    "measure_symplecticity",
    "symplecticity_error",
    "SymplecticityError",
    "SymplecticityReport",
]
