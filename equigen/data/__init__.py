"""Simulators and exact solvers the experiments train on."""

from equigen.data.lennard_jones import LJDataset, lj_energy, lj_forces, sample_lj_cluster  # noqa: F401
