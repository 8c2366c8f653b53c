"""Triclinic periodic neighbour lists against ASE's ``neighbor_list`` (the reference implementation)."""

import numpy as np
import pytest
import torch

from equigen.geometry import edge_vectors, radius_graph

ase = pytest.importorskip("ase")
from ase.build import bulk  # noqa: E402
from ase.neighborlist import neighbor_list  # noqa: E402


def _triples(i, j, shifts):
    return sorted(zip(np.asarray(i).tolist(), np.asarray(j).tolist(), map(tuple, np.round(shifts, 8).tolist())))


@pytest.mark.parametrize("cutoff", [3.1, 4.5, 6.0])
@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True)])
def test_triclinic_matches_ase(cutoff, pbc):
    atoms = bulk("Al", "fcc", a=4.05) * (2, 1, 1)  # primitive fcc cell: 60 degree angles (triclinic)
    atoms.rattle(0.15, seed=3)
    atoms.positions += [7.3, -4.1, 2.2]  # unwrapped positions
    atoms.pbc = pbc
    i, j, S = neighbor_list("ijS", atoms, cutoff)
    edge_index, shifts = radius_graph(torch.tensor(atoms.positions), cutoff, cell=torch.tensor(atoms.cell[:]),
                                      pbc=torch.tensor(pbc))
    assert _triples(i, j, S @ atoms.cell[:]) == _triples(edge_index[1], edge_index[0], shifts.numpy())
    d = edge_vectors(torch.tensor(atoms.positions), edge_index, shifts).norm(dim=1)
    assert len(i) > 0 and float(d.max()) < cutoff


def test_batched_cells_and_orthorhombic_agree():
    a = bulk("Cu", "fcc", a=3.6, cubic=True)
    a.rattle(0.1, seed=0)
    b = bulk("Cu", "fcc", a=3.7)
    b.rattle(0.1, seed=1)
    pos = torch.tensor(np.concatenate([a.positions, b.positions]))
    batch = torch.tensor([0] * len(a) + [1] * len(b))
    cells = torch.tensor(np.stack([a.cell[:], b.cell[:]]))
    edge_index, shifts = radius_graph(pos, 3.0, batch=batch, cell=cells)
    for g, atoms, offset in ((0, a, 0), (1, b, len(a))):
        i, j, S = neighbor_list("ijS", atoms, 3.0)
        sel = batch[edge_index[1]] == g
        got = _triples(edge_index[1][sel] - offset, edge_index[0][sel] - offset, shifts[sel].numpy())
        assert got == _triples(i, j, S @ atoms.cell[:])
    # a cubic cell through cell= gives the same edges as the orthorhombic box path
    p = torch.tensor(a.positions)
    e1, s1 = radius_graph(p, 1.7, cell=torch.tensor(a.cell[:]))
    e2, s2 = radius_graph(p, 1.7, box=torch.tensor(a.cell.lengths()))
    assert _triples(e1[1], e1[0], s1.numpy()) == _triples(e2[1], e2[0], s2.numpy())


def test_cell_errors():
    pos = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="cell must be"):
        radius_graph(pos, 1.0, cell=torch.eye(2))
    with pytest.raises(ValueError, match="singular"):
        radius_graph(pos, 1.0, cell=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="not both"):
        radius_graph(pos, 1.0, box=[3.0, 3.0, 3.0], cell=torch.eye(3) * 3)
    with pytest.raises(ValueError, match="pbc is used with cell"):
        radius_graph(pos, 1.0, pbc=[True] * 3)
