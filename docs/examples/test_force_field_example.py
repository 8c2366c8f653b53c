"""A learned force field for a small cluster: energy invariant, forces equivariant and conservative."""

import torch

from equigen.geometry import radius_graph
from equigen.groups import E3, Permutations
from equigen.nn import EGNN, EnergyModel, ForceField
from equigen.testing import assert_equivariant


def test_force_field_example():
    torch.manual_seed(0)
    pos = torch.randn(13, 3, dtype=torch.float64)  # 13 atoms, length unit sigma
    species = torch.ones(13, 1, dtype=torch.float64)  # one invariant feature per atom
    edge_index = radius_graph(pos, 3.0)  # (2, E) long, source -> target
    model = ForceField(EnergyModel(EGNN(1, 32, 32, num_layers=3, num_radial=8, cutoff=3.0, dtype=torch.float64),
                                   32, dtype=torch.float64))
    energy, forces = model(species, pos, edge_index)  # (1,), (13, 3); forces = -dE/dpos
    assert energy.shape == (1,) and forces.shape == (13, 3)
    assert float(forces.sum(0).abs().max()) < 1e-10  # translation invariance => no net force
    # rotate, reflect, translate and relabel: E unchanged, F rotates with the frame
    assert_equivariant(model, (species, pos, edge_index), E3() * Permutations(),
                       ("nodes", "positions", "edge_index"), ("scalars", "vectors"))
