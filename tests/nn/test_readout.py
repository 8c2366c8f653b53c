import pytest
import torch

from equigen.geometry import radius_graph
from equigen.groups import E3, SO3, Permutations
from equigen.nn import (
    EGNN,
    EnergyModel,
    EnergyReadout,
    ForceField,
    TensorProductNet,
    VectorReadout,
    conservative_forces,
)
from equigen.nn.graph_baselines import FlatMLP, RawMessagePassing
from equigen.testing import EquivarianceError, assert_equivariant
from tests.nn.graph_helpers import batched, complete_graph, reinit, rotations_of

KINDS_IN = ("nodes", "positions", "edge_index", "batch")


def _egnn_ff(dtype):
    return ForceField(reinit(EnergyModel(EGNN(1, 16, 8, num_layers=2, num_radial=6, cutoff=3.0, dtype=dtype), 8,
                                         16, dtype=dtype)))


def _tp_ff(dtype):
    backbone = TensorProductNet("1x0e", "4x0e+2x1o+1x2e", "4x0e", num_layers=2, cutoff=3.0, num_neighbors=4.0,
                                dtype=dtype)
    return ForceField(reinit(EnergyModel(backbone, 4, 16, dtype=dtype)))


@pytest.mark.parametrize("make", [_egnn_ff, _tp_ff], ids=["egnn", "tensor_product"])
def test_energy_invariant_forces_equivariant_per_graph(make, dtype):
    ff = make(dtype)
    pos, batch, edge_index = batched([3, 1, 6], dtype=dtype, cutoff=3.0)
    h = torch.ones(pos.shape[0], 1, dtype=dtype)
    assert rotations_of(ff.symmetry.make_group()) == "improper"
    assert_equivariant(ff, (h, pos, edge_index, batch), E3() * Permutations(), KINDS_IN, ("scalars", "vectors"))
    assert_equivariant(ff, (h, pos, edge_index, batch), E3() * Permutations(), KINDS_IN, ("scalars", "vectors"),
                       per_graph=True)


def test_forces_are_minus_gradient_finite_differences():
    ff = _egnn_ff(torch.float64).eval()
    pos = torch.randn(5, 3, dtype=torch.float64)
    h, edge_index = torch.ones(5, 1, dtype=torch.float64), complete_graph(5)
    energy, forces = ff(h, pos, edge_index)
    eps = 1e-6
    for i, k in [(0, 0), (3, 2), (4, 1)]:
        dp = torch.zeros_like(pos)
        dp[i, k] = eps
        e_plus = ff.energy_model(h, pos + dp, edge_index)
        e_minus = ff.energy_model(h, pos - dp, edge_index)
        fd = -(e_plus - e_minus) / (2 * eps)
        assert abs(float(fd) - float(forces[i, k])) < 1e-6 * (1 + abs(float(fd)))


def test_forces_curl_free_symmetric_jacobian_and_sum_to_zero():
    ff = _tp_ff(torch.float64).eval()
    pos = torch.randn(4, 3, dtype=torch.float64)
    h, edge_index = torch.ones(4, 1, dtype=torch.float64), complete_graph(4)

    def f(p):
        return ff(h, p, edge_index)[1].reshape(-1)

    jac = torch.autograd.functional.jacobian(f, pos).reshape(12, 12)
    torch.testing.assert_close(jac, jac.T, atol=1e-10, rtol=0)  # dF_i/dx_j = dF_j/dx_i: no curl
    # translation invariance of E => total force 0
    assert float(ff(h, pos, edge_index)[1].sum(0).abs().max()) < 1e-10


def test_unconstrained_twin_forces_not_equivariant():
    pos, batch, edge_index = batched([5], cutoff=3.0)
    twin = ForceField(reinit(EnergyModel(RawMessagePassing(1, 16, 8, num_layers=2, dtype=torch.float64), 8, 16,
                                         dtype=torch.float64)))
    h = torch.ones(5, 1, dtype=torch.float64)
    assert twin.symmetry.make_group().__class__.__name__ == "Permutations"
    assert_equivariant(twin, (h, pos, edge_index, batch), Permutations(), KINDS_IN, ("scalars", "vectors"))
    with pytest.raises(EquivarianceError):
        assert_equivariant(twin, (h, pos, edge_index, batch), SO3(), KINDS_IN, ("scalars", "vectors"))
    flat = ForceField(EnergyModel(FlatMLP(5, 1, 16, 8, dtype=torch.float64), 8, 16, dtype=torch.float64))
    assert flat.symmetry is None
    energy, forces = flat(h, pos, edge_index, batch)
    assert energy.shape == (1,) and forces.shape == (5, 3)


def test_vector_readout_equivariant_and_pseudo(dtype):
    ro = reinit(VectorReadout("3x0e+2x1o+1x1e", num_vectors=2, dtype=dtype))
    x = torch.randn(4, ro.irreps_in.dim, dtype=dtype)
    out = ro(x)
    assert out.shape == (4, 2, 3)
    assert_equivariant(ro, (x,), E3() * Permutations(), (ro.irreps_in,), ("vectors",))
    pseudo = reinit(VectorReadout("3x0e+2x1o+1x1e", pseudo=True, dtype=dtype))
    assert_equivariant(pseudo, (x,), E3() * Permutations(), (pseudo.irreps_in,), ("pseudovectors",))
    with pytest.raises(ValueError, match="holds no 1o"):
        VectorReadout("4x0e")


def test_energy_readout_batches_and_empty_graphs():
    ro = EnergyReadout(2, 8, dtype=torch.float64)
    h = torch.randn(3, 2, dtype=torch.float64)
    e = ro(h, torch.tensor([0, 0, 2]), num_graphs=4)
    assert e.shape == (4,) and e[1] == 0 and e[3] == 0
    torch.testing.assert_close(e[0] + e[2], ro(h).sum())
    with pytest.raises(ValueError, match="batch must be a long tensor"):
        ro(h, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="num_graphs=2"):
        ro(h, torch.tensor([0, 0, 2]), num_graphs=2)


def test_conservative_forces_needs_grad():
    pos = torch.randn(3, 3)
    with pytest.raises(ValueError, match="requires_grad"):
        conservative_forces(pos.sum(), pos)
    pos.requires_grad_(True)
    torch.testing.assert_close(conservative_forces((pos**2).sum(), pos), -2 * pos)


def test_energy_model_pyg_batch_matches_graph_by_graph():
    ff = _egnn_ff(torch.float64).eval()
    pos, batch, edge_index = batched([4, 6], cutoff=3.0)
    h = torch.ones(10, 1, dtype=torch.float64)
    energy, forces = ff(h, pos, edge_index, batch)
    e1, f1 = ff(h[4:], pos[4:], radius_graph(pos[4:], 3.0))
    torch.testing.assert_close(energy[1:], e1)
    torch.testing.assert_close(forces[4:], f1)
