"""equigen.data.particles: the Lennard-Jones kernels agree, systems use them, old import paths still work."""

import numpy as np
import pytest
import torch

import equigen.data.lennard_jones as old_lj
from equigen.data import particles
from equigen.data.particles.potentials import double_well, lj_energy, lj_pair_energy, pair_distances
from equigen.data.particles.systems import DW4, LJ13


def _configs(n, seed, scale=1.3):
    return torch.randn(6, n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


@pytest.mark.parametrize("epsilon,sigma", [(1.0, 1.0), (0.7, 1.3)])
def test_pair_and_matrix_kernels_agree(epsilon, sigma):
    x = _configs(9, 0)
    by_pairs = lj_pair_energy(pair_distances(x), epsilon=epsilon, r_min=2 ** (1 / 6) * sigma).sum(-1)
    torch.testing.assert_close(by_pairs, lj_energy(x, epsilon=epsilon, sigma=sigma), rtol=1e-12, atol=0)


def test_pair_energy_minimum_is_minus_epsilon_at_r_min():
    d = torch.tensor([1.7], dtype=torch.float64)
    assert float(lj_pair_energy(d, epsilon=2.5, r_min=1.7)) == pytest.approx(-2.5, rel=1e-15)


def test_particle_kernel_is_the_part_of_the_energy_a_move_changes():
    x = _configs(7, 1)
    total = lj_energy(x, epsilon=0.7, sigma=1.3).numpy()
    xn = x.numpy()
    one = particles.lj_particle_energy
    per = np.stack([one(xn, np.full(6, k), xn[:, k], epsilon=0.7, sigma=1.3) for k in range(7)])
    np.testing.assert_allclose(per.sum(0) / 2, total, rtol=1e-12)
    moved = xn.copy()
    moved[:, 2] += 0.1
    k = np.full(6, 2)
    delta = particles.lj_particle_energy(xn, k, moved[:, 2]) - particles.lj_particle_energy(xn, k, xn[:, 2])
    np.testing.assert_allclose(delta, lj_energy(torch.from_numpy(moved)).numpy() - lj_energy(x).numpy(),
                               rtol=1e-9, atol=1e-9)


def test_lj13_system_is_the_shared_potential_plus_the_tether():
    x = _configs(13, 2, scale=1.0)
    system = LJ13()
    expected = lj_energy(x, sigma=2 ** (-1 / 6)) + 0.5 * particles.remove_com(x).pow(2).sum((-2, -1))
    torch.testing.assert_close(system.energy(x), expected, rtol=1e-12, atol=0)
    p = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(lj_energy(p, sigma=2 ** (-1 / 6)).sum(), p)
    torch.testing.assert_close(system.forces(x), -g - particles.remove_com(x), rtol=1e-10, atol=1e-10)
    # lj_forces is the exact gradient in the same convention
    torch.testing.assert_close(particles.lj_forces(x, sigma=2 ** (-1 / 6)), -g, rtol=1e-10, atol=1e-10)


def test_dw4_system_is_the_double_well():
    x = torch.randn(5, 4, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 3
    torch.testing.assert_close(DW4().energy(x), double_well(pair_distances(x), a=0.9, b=-4.0, d0=4.0).sum(-1),
                               rtol=0, atol=0)


def test_old_import_paths_are_the_same_objects():
    for name in old_lj.__all__:
        assert getattr(old_lj, name) is getattr(particles, name)
    from equigen.data import LJDataset, sample_lj_cluster
    from equigen.data.mcmc import mcmc_diagnostics as shared
    from equigen.data.potts import mcmc_diagnostics

    assert LJDataset is particles.LJDataset and sample_lj_cluster is particles.sample_lj_cluster
    assert mcmc_diagnostics is shared
