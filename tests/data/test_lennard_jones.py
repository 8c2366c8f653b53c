"""LJ cluster data: exact energies/forces and the MCMC sampler."""

import math

import pytest
import torch

from equigen.data import LJDataset, lj_energy, lj_forces, sample_lj_cluster
from equigen.groups import E3, Permutations
from equigen.testing import assert_equivariant


def test_pair_energy_minimum_and_forces_are_minus_gradient():
    r_min = 2 ** (1 / 6)
    pos = torch.tensor([[0.0, 0, 0], [r_min, 0, 0]], dtype=torch.float64)
    assert abs(float(lj_energy(pos)) + 1.0) < 1e-14
    assert float(lj_forces(pos).abs().max()) < 1e-13
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(4, 13, 3, generator=gen, dtype=torch.float64) * 1.5
    p = pos.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(lj_energy(p).sum(), p)
    torch.testing.assert_close(lj_forces(pos), -grad, rtol=1e-12, atol=1e-12)
    assert float(lj_forces(pos).sum(-2).abs().max()) < 1e-9 * float(lj_forces(pos).abs().max())


def test_energy_invariant_forces_equivariant():
    pos = torch.randn(7, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 1.2
    assert_equivariant(lambda p: (lj_energy(p), lj_forces(p)), (pos,), E3() * Permutations(), ("positions",),
                       ("scalars", "vectors"))


def test_sampler_reproducible_bounded_and_boltzmann_like():
    data = sample_lj_cluster(300, temperature=0.3, num_chains=32, burn_in_sweeps=60, thin_sweeps=3, seed=4)
    again = sample_lj_cluster(300, temperature=0.3, num_chains=32, burn_in_sweeps=60, thin_sweeps=3, seed=4)
    assert isinstance(data, LJDataset) and len(data) == 300
    assert torch.equal(data.pos, again.pos)
    assert data.pos.shape == (300, 13, 3) and data.pos.dtype == torch.float64
    torch.testing.assert_close(data.energy, lj_energy(data.pos))
    torch.testing.assert_close(data.forces, lj_forces(data.pos))
    # centred, inside the wall, no overlaps, bound (LJ13 ground state: -44.33; gas: ~0)
    assert float(data.pos.mean(1).abs().max()) < 1e-12
    assert float(data.pos.norm(dim=-1).max()) <= 2.0 + 1e-9
    r = torch.cdist(data.pos, data.pos) + 10 * torch.eye(13, dtype=torch.float64)
    assert float(r.min()) > 0.8
    assert -44.4 < float(data.energy.min()) and float(data.energy.max()) < -15
    assert 0.2 < data.info["acceptance"] < 0.7
    # colder clusters sit lower in energy
    cold = sample_lj_cluster(300, temperature=0.1, num_chains=32, burn_in_sweeps=60, thin_sweeps=3, seed=4)
    assert float(cold.energy.mean()) < float(data.energy.mean()) - 2
    # orientations are random: the mean of the principal axis' direction is not biased
    assert float(data.pos[:, 0].mean(0).norm()) < 0.3


def test_dataset_split_index_and_bad_input():
    data = sample_lj_cluster(20, num_chains=4, burn_in_sweeps=5, thin_sweeps=1, seed=0)
    a, b = data.split(15)
    assert len(a) == 15 and len(b) == 5 and data.to(torch.float32).pos.dtype == torch.float32
    with pytest.raises(ValueError, match="first=30"):
        data.split(30)
    with pytest.raises(ValueError, match="temperature"):
        sample_lj_cluster(10, temperature=-1.0)
    with pytest.raises(ValueError, match="num_samples"):
        sample_lj_cluster(0)
    with pytest.raises(ValueError, match="wall_radius"):
        sample_lj_cluster(10, wall_radius=0.5)
    with pytest.raises(ValueError, match=r"\(\.\.\., N, 3\)"):
        lj_energy(torch.zeros(5, 2))
    assert math.isinf(float(lj_energy(torch.zeros(2, 3))))
