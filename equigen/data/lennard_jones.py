"""Lennard-Jones clusters (compatibility path): the names now live in :mod:`equigen.data.particles`."""

from equigen.data.particles import LJDataset, lj_energy, lj_forces, sample_lj_cluster

__all__ = ["lj_energy", "lj_forces", "LJDataset", "sample_lj_cluster"]
