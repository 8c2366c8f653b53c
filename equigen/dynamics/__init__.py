"""Hamiltonian dynamics: integrators that declare their structure, systems, conserved quantities.

* :mod:`~equigen.dynamics.integrators`: ``integrate``, ``step``, ``stepper`` and the
  :class:`~equigen.dynamics.integrators.Method` table (order, symplectic, reversible).
* :mod:`~equigen.dynamics.systems`: ``NBodyGravity``, ``Kepler``, ``HarmonicOscillator``,
  ``Pendulum``, ``HenonHeiles``.
* :mod:`~equigen.dynamics.quantities`: energy, linear/angular momentum, centre of mass.
* :mod:`~equigen.dynamics.learned`: ``LinearDynamics``, ``HamiltonianNet``, ``PairPotentialNet``.
"""

from equigen.dynamics.integrators import METHODS, Method, get_method, integrate, methods, step, stepper
from equigen.dynamics.learned import HamiltonianNet, LinearDynamics, PairPotentialNet, train_one_step
from equigen.dynamics.quantities import angular_momentum, centre_of_mass, energy, linear_momentum, relative_drift
from equigen.dynamics.systems import (
    HamiltonianSystem,
    HarmonicOscillator,
    HenonHeiles,
    Kepler,
    NBodyGravity,
    Pendulum,
)

__all__ = [
    "METHODS", "Method", "methods", "get_method", "integrate", "step", "stepper",
    "energy", "linear_momentum", "angular_momentum", "centre_of_mass", "relative_drift",
    "LinearDynamics", "HamiltonianNet", "PairPotentialNet", "train_one_step",
    "HamiltonianSystem", "NBodyGravity", "Kepler", "HarmonicOscillator", "Pendulum", "HenonHeiles",
]
