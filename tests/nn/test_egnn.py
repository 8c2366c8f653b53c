import math

import pytest
import torch

from equigen.geometry import radius_graph
from equigen.groups import E3, SE3, E, Permutations, Translations
from equigen.nn import EGNN, EGNNLayer
from equigen.testing import assert_equivariant, check_equivariant
from equigen.testing.strategies import graphs
from tests.nn.graph_helpers import batched, complete_graph, reinit

KINDS_IN = ("nodes", "positions", "edge_index")
KINDS_OUT = ("nodes", "positions")


def _net(dtype, in_features=3, **kw):
    return reinit(EGNN(in_features, 16, 4, num_layers=3, dtype=dtype, **kw))


@pytest.mark.parametrize("dim", [2, 3, 4])
def test_egnn_equivariant_in_any_dimension(dtype, dim):
    net = _net(dtype)
    gen = torch.Generator().manual_seed(dim)
    pos = torch.randn(7, dim, generator=gen, dtype=dtype)
    h = torch.randn(7, 3, generator=gen, dtype=dtype)
    assert_equivariant(net, (h, pos, radius_graph(pos, 2.5)), E(dim) * Permutations(), KINDS_IN, KINDS_OUT)


def test_egnn_with_velocity(dtype):
    net = _net(dtype)
    gen = torch.Generator().manual_seed(1)
    pos, vel, h = (torch.randn(6, 3, generator=gen, dtype=dtype) for _ in range(3))
    edge_index = radius_graph(pos, 3.0)

    def fn(h, pos, edge_index, vel):
        return net(h, pos, edge_index, vel=vel)

    out = fn(h, pos, edge_index, vel)
    assert len(out) == 3
    assert_equivariant(fn, (h, pos, edge_index, vel), E3() * Permutations(), KINDS_IN + ("vectors",),
                       KINDS_OUT + ("vectors",))


def test_single_node_and_no_edges(dtype):
    net = _net(dtype)
    for n in (1, 4):
        pos = torch.randn(n, 3, dtype=dtype)
        edge_index = torch.zeros(2, 0, dtype=torch.long)
        h_out, pos_out = net(torch.randn(n, 3, dtype=dtype), pos, edge_index)
        assert h_out.shape == (n, 4) and torch.equal(pos_out, pos)  # no neighbours: positions unchanged
        assert_equivariant(net, (torch.randn(n, 3, dtype=dtype), pos, edge_index), E3() * Permutations(),
                           KINDS_IN, KINDS_OUT)


def test_coincident_points_finite_and_equivariant(dtype):
    net = _net(dtype)
    pos = torch.tensor([[0.3, -0.2, 1.0]] * 4 + [[1.0, 0.0, 0.0]], dtype=dtype)
    edge_index = complete_graph(5)
    h = torch.randn(5, 3, dtype=dtype)
    pos.requires_grad_(True)
    h_out, pos_out = net(h, pos, edge_index)
    (h_out.sum() + pos_out.square().sum()).backward()
    assert torch.isfinite(h_out).all() and torch.isfinite(pos_out).all() and torch.isfinite(pos.grad).all()
    assert_equivariant(net, (h, pos.detach(), edge_index), E3() * Permutations(), KINDS_IN, KINDS_OUT)


def test_points_1e4_apart_finite_and_equivariant(dtype):
    net = _net(dtype)
    pos = torch.tensor([[0.0, 0, 0], [1e4, 0, 0], [0, 1e4, 0], [3e3, -7e3, 1e4]], dtype=dtype)
    edge_index = complete_graph(4)
    h = torch.randn(4, 3, dtype=dtype)
    h_out, pos_out = net(h, pos, edge_index)
    assert torch.isfinite(h_out).all() and torch.isfinite(pos_out).all()
    # normalised, bounded updates: each layer moves a node by at most coords_range
    assert float((pos_out - pos).detach().norm(dim=1).max()) <= 3 * 1.0 + 1e-3
    assert_equivariant(net, (h, pos, edge_index), SE3() * Permutations(), KINDS_IN, KINDS_OUT)


def test_batch_of_graphs_of_different_sizes_per_graph_elements(dtype):
    net = _net(dtype)
    pos, batch, edge_index = batched([1, 3, 6, 2], dtype=dtype)
    h = torch.randn(pos.shape[0], 3, dtype=dtype)

    def fn(h, pos, edge_index, batch):
        return net(h, pos, edge_index)

    assert_equivariant(fn, (h, pos, edge_index, batch), E3() * Permutations(), KINDS_IN + ("batch",), KINDS_OUT,
                       per_graph=True)


def test_matches_graph_by_graph():
    net = _net(torch.float64)
    pos, batch, edge_index = batched([2, 5], dtype=torch.float64)
    h = torch.randn(7, 3, dtype=torch.float64)
    h_all, pos_all = net(h, pos, edge_index)
    h_b, pos_b = net(h[2:], pos[2:], radius_graph(pos[2:], 2.5))
    torch.testing.assert_close(h_all[2:], h_b)
    torch.testing.assert_close(pos_all[2:], pos_b)


def test_pyg_data_and_batch():
    from torch_geometric.data import Batch, Data

    net = _net(torch.float64)
    datas = []
    for n in (3, 5):
        pos = torch.randn(n, 3, dtype=torch.float64)
        datas.append(Data(x=torch.randn(n, 3, dtype=torch.float64), pos=pos, edge_index=radius_graph(pos, 2.5)))
    h0, p0 = net(datas[0])
    torch.testing.assert_close(h0, net(datas[0].x, datas[0].pos, datas[0].edge_index)[0])
    b = Batch.from_data_list(datas)
    hb, pb = net(b)
    torch.testing.assert_close(hb[:3], h0)
    torch.testing.assert_close(pb[:3], p0)
    with pytest.raises(ValueError, match="not both"):
        net(datas[0], datas[0].pos)


def test_periodic_box_shifts_translation_invariant():
    """A periodic system: shifts from radius_graph(box=...) make the layer see images; translating
    (and re-wrapping) the configuration leaves features and displacements unchanged."""
    net = _net(torch.float64)
    box = torch.tensor([6.0, 6.0, 6.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    pos = torch.rand(20, 3, generator=gen, dtype=torch.float64) * box
    h = torch.randn(20, 3, generator=gen, dtype=torch.float64)

    def fn(pos):
        wrapped = torch.remainder(pos, box)
        edge_index, shifts = radius_graph(wrapped, 2.5, box=box)
        h_out, pos_out = net(h, wrapped, edge_index, shifts=shifts)
        return h_out, pos_out - wrapped

    assert_equivariant(fn, (pos,), Translations(3), ("positions",), ("scalars", "scalars"))
    edge_index, shifts = radius_graph(pos, 2.5, box=box)
    assert shifts.abs().sum() > 0  # the test does cross the boundary
    h_plain, _ = net(h, pos, edge_index)  # ignoring shifts gives a different answer
    assert not torch.allclose(h_plain, net(h, pos, edge_index, shifts=shifts)[0])


def test_hypothesis_search_finds_no_counterexample():
    """Hypothesis draws graphs (coincident, collinear, planar, clustered layouts; 1-12 nodes) and elements."""
    net = _net(torch.float64)
    check_equivariant(net, E3() * Permutations(), KINDS_IN, KINDS_OUT,
                      inputs=graphs(num_features=3, dtype=torch.float64, max_points=12))


def test_layer_widths_and_residual():
    layer = EGNNLayer(4, 8, 6)
    pos = torch.randn(5, 3)
    h_out, pos_out = layer(torch.randn(5, 4), pos, radius_graph(pos, 3.0))
    assert h_out.shape == (5, 6) and pos_out.shape == (5, 3)
    frozen = EGNNLayer(4, 8, update_pos=False)
    assert torch.equal(frozen(torch.randn(5, 4), pos, radius_graph(pos, 3.0))[1], pos)
    assert not math.isnan(float(h_out.sum()))


@pytest.mark.parametrize("call, match", [
    (lambda n: n(torch.randn(5, 3), torch.randn(5), torch.zeros(2, 0, dtype=torch.long)), "pos must have shape"),
    (lambda n: n(torch.randn(5, 3), torch.randn(5, 3), torch.zeros(2, 3)), "torch.long"),
    (lambda n: n(torch.randn(5, 3), torch.randn(5, 3), torch.tensor([[0, 7], [1, 2]])), r"\[0, 7\].*5 nodes"),
    (lambda n: n(torch.randn(5, 3), torch.randn(5, 3), torch.tensor([0, 1])), r"\(2, E\)"),
    (lambda n: n(torch.randn(4, 3), torch.randn(5, 3), torch.zeros(2, 0, dtype=torch.long)), r"h must have shape"),
    (lambda n: n(torch.randn(5, 2), torch.randn(5, 3), torch.zeros(2, 0, dtype=torch.long)), r"\(5, 3\)"),
    (lambda n: n(torch.randn(5, 3), torch.randn(5, 3), torch.tensor([[0], [1]]), shifts=torch.zeros(2, 3)),
     "shifts must"),
    (lambda n: n(torch.randn(5, 3), torch.randn(5, 3), torch.zeros(2, 0, dtype=torch.long), vel=torch.zeros(5, 2)),
     "vel must"),
])
def test_bad_inputs_name_the_argument(call, match):
    net = EGNN(3, 8, 2, num_layers=1)
    with pytest.raises((ValueError, TypeError), match=match):
        call(net)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="hidden_features"):
        EGNN(3, 0, 2)
    with pytest.raises(ValueError, match="cutoff"):
        EGNN(3, 8, 2, num_radial=4)
    with pytest.raises(ValueError, match="cutoff=-1"):
        EGNN(3, 8, 2, num_radial=4, cutoff=-1.0)
    with pytest.raises(ValueError, match="coords_range"):
        EGNNLayer(3, 8, coords_range=0)
