"""Particle systems in one place: pair potentials, systems, and Metropolis samplers.

* :mod:`~equigen.data.particles.potentials`: Lennard-Jones (one convention, exact energies and
  forces), the DW4 double well, pair distances and centre-of-mass removal;
* :mod:`~equigen.data.particles.systems`: :class:`ParticleSystem` with DW4, LJ13, LJ55, and the
  :class:`LJDataset` of labelled configurations;
* :mod:`~equigen.data.particles.metropolis`: :func:`sample_reference` (checked reference samples),
  :func:`sample_with_budget` (the time-budget baseline), :func:`sample_lj_cluster` (LJ cluster data).

Mixing diagnostics (:func:`split_rhat`, :func:`integrated_autocorrelation_time`) live in
:mod:`equigen.data.mcmc` and are re-exported here.
"""

from equigen.data.mcmc import integrated_autocorrelation_time, split_rhat
from equigen.data.particles.metropolis import (
    ReferenceSamples,
    com_free_metropolis_step,
    sample_lj_cluster,
    sample_reference,
    sample_with_budget,
)
from equigen.data.particles.potentials import (
    double_well,
    lj_energy,
    lj_forces,
    lj_pair_energy,
    lj_particle_energy,
    pair_distances,
    remove_com,
)
from equigen.data.particles.systems import DW4, LJ13, LJ55, LJDataset, ParticleSystem

__all__ = ["ParticleSystem", "DW4", "LJ13", "LJ55", "LJDataset", "ReferenceSamples", "sample_reference",
           "sample_with_budget", "sample_lj_cluster", "com_free_metropolis_step", "remove_com", "pair_distances",
           "lj_energy", "lj_forces", "lj_particle_energy", "double_well", "lj_pair_energy",
           "integrated_autocorrelation_time", "split_rhat"]
