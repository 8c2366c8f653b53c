"""Simulators and exact solvers the experiments train on."""

from equigen.data.lorenz import LorenzData, lorenz_attractor, lorenz_dataset, lorenz_vector_field  # noqa: F401
from equigen.data.ode import integrate, integrate_reference, rk4_step, sample_attractor  # noqa: F401
from equigen.data.particles import LJDataset, lj_energy, lj_forces, sample_lj_cluster  # noqa: F401
