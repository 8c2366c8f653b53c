"""Worked example: property-test your own layer with equigen.testing (runs as a test)."""

import pytest
import torch
from hypothesis import given

from equigen.groups import E3, Permutations
from equigen.testing import EquivarianceError, assert_equivariant, check_equivariant
from equigen.testing import strategies as gst


class PairNet(torch.nn.Module):
    """A tiny message-passing layer: invariant messages from distances, vector updates
    along relative positions. Claimed E(3) x permutation equivariant."""

    def __init__(self, features: int):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(features, features, generator=gen) / features**0.5)

    def forward(self, h, pos, edge_index):
        src, dst = edge_index
        rel = pos[dst] - pos[src]                        # translation-invariant
        weight = torch.exp(-(rel**2).sum(-1, keepdim=True))  # rotation-invariant
        msg = weight * torch.tanh(h[src] @ self.w.to(h.dtype))
        h_out = h + torch.zeros_like(h).index_add_(0, dst, msg)
        pos_out = pos + torch.zeros_like(pos).index_add_(0, dst, 0.1 * rel * msg[:, :1])
        return h_out, pos_out


layer = PairNet(features=4)
group = E3() * Permutations()
in_kinds = ("nodes", "positions", "edge_index")
out_kinds = ("nodes", "positions")


def test_search_inputs_and_elements():
    # hypothesis draws graphs *and* group elements; a failure is shrunk to the simplest element
    check_equivariant(layer, group, in_kinds, out_kinds, inputs=gst.graphs(num_features=4))


@given(graph=gst.graphs(num_features=4), g=gst.elements(group))
def test_inside_your_own_given(graph, g):
    # inside your own @given test, pass the drawn element explicitly
    assert_equivariant(layer, graph, None, in_kinds, out_kinds, element=g)


def test_a_broken_layer_is_caught():
    def broken(h, pos, edge_index):
        h_out, pos_out = layer(h, pos, edge_index)
        return h_out + pos[:, :1], pos_out               # absolute x coordinate leaks in

    with pytest.raises(EquivarianceError) as info:
        check_equivariant(broken, group, in_kinds, out_kinds, inputs=gst.graphs(num_features=4))
    print(info.value)                                    # names the minimal element, error, tolerance
