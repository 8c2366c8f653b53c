"""Experiments: each compares a physics-built-in model with its unconstrained twin.

Importing this package registers every experiment module listed below.
"""

from equigen.experiments import (  # noqa: F401  (each import registers its experiment)
    data_efficiency,
    equivariant_generation,
    fick,
    lorenz,
    nbody,
    poisson,
    sequences,
    symmetry_kit,
)
from equigen.experiments.base import Claim, Experiment, ExperimentConfig, Result, Run, partial_result
from equigen.experiments.registry import experiments, get, names, register

__all__ = ["Claim", "Experiment", "ExperimentConfig", "Result", "Run", "partial_result", "register", "get", "names",
           "experiments"]
