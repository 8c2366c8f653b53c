"""Potential: smooth at the cutoff (what molecular dynamics needs), per-species reference energies."""

import torch
from torch_geometric.data import Batch, Data

from equigen.nn import EGNN, Potential
from equigen.nn.potential import fit_reference_energies


def _pair(r, dtype=torch.float64):
    return Data(z=torch.tensor([29, 79]), pos=torch.tensor([[0.0, 0.0, 0.0], [r, 0.0, 0.0]], dtype=dtype))


def test_egnn_energy_is_smooth_at_the_cutoff():
    torch.manual_seed(0)
    model = Potential([29, 79], backbone="egnn", cutoff=3.0, hidden=8, num_layers=2, num_radial=4,
                      dtype=torch.float64)
    lone = model(_pair(3.5))
    inside, outside = model(_pair(3.0 - 1e-6)), model(_pair(3.0 + 1e-6))
    assert float(outside["energy"]) == float(lone["energy"])
    assert abs(float(inside["energy"] - outside["energy"])) < 1e-12
    assert float(inside["forces"].abs().max()) < 1e-9
    # well inside, the pair interacts
    assert abs(float(model(_pair(2.0))["energy"] - lone["energy"])) > 1e-6


def test_egnn_smooth_cutoff_needs_a_cutoff():
    import pytest

    with pytest.raises(ValueError, match="smooth_cutoff"):
        EGNN(1, 4, 4, smooth_cutoff=True)


def test_reference_energies_two_species():
    z = torch.tensor([29, 29, 79, 29, 79, 79, 79])
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    e0 = {29: -3.5, 79: -2.0}
    energy = torch.tensor([2 * e0[29] + e0[79], e0[29] + e0[79], 2 * e0[79]], dtype=torch.float64)
    fitted = fit_reference_energies(z, batch, energy, [29, 79])
    torch.testing.assert_close(fitted, torch.tensor([-3.5, -2.0], dtype=torch.float64))
    model = Potential([29, 79], hidden=4, num_layers=1, num_radial=2, dtype=torch.float64)
    data = Batch.from_data_list([Data(z=z[batch == g], pos=torch.randn(int((batch == g).sum()), 3,
                                                                          dtype=torch.float64),
                                      energy=energy[g:g + 1]) for g in range(3)])
    values = model.fit_normalization(data)
    assert abs(values["e0"][29] + 3.5) < 1e-12
    assert abs(values["e0"][79] + 2.0) < 1e-12 and abs(values["energy_shift"]) < 1e-12
