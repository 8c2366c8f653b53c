"""radius_graph against brute force: plain, batched, periodic, truncated; bad input."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from equigen.geometry import edge_vectors, radius_graph
from equigen.groups import E3, Permutations
from equigen.testing import check_equivariant
from equigen.testing import strategies as gst


def _brute(pos, cutoff, batch=None, loop=False, box=None):
    d = pos[None, :, :] - pos[:, None, :]  # d[i, j] = pos[j] - pos[i]
    if box is not None:
        box = torch.as_tensor(box, dtype=pos.dtype)
        d = d - box * torch.round(d / box)
    close = d.norm(dim=-1) < cutoff
    if batch is not None:
        close &= batch[:, None] == batch[None, :]
    if not loop:
        close.fill_diagonal_(False)
    dst, src = torch.nonzero(close, as_tuple=True)
    return {(int(s), int(t)) for s, t in zip(src, dst)}


def _edges(ei):
    return {(int(s), int(t)) for s, t in ei.T}


@given(cloud=gst.point_clouds(max_points=40, with_batch=True, dtype=torch.float64, scale=1.0),
       cutoff=st.floats(0.1, 3.0), loop=st.booleans())
def test_matches_brute_force(cloud, cutoff, loop):
    pos, batch = cloud
    ei = radius_graph(pos, cutoff, batch=batch, loop=loop)
    assert ei.dtype == torch.long and ei.shape[0] == 2
    assert _edges(ei) == _brute(pos, cutoff, batch, loop)


@given(cloud=gst.point_clouds(min_points=2, max_points=40, dtype=torch.float64, scale=3.0))
def test_periodic_minimum_image(cloud):
    box = [10.0, 12.0, 14.0]
    ei, shifts = radius_graph(cloud, 4.0, box=box)
    assert _edges(ei) == _brute(cloud, 4.0, box=box)
    vec = edge_vectors(cloud, ei, shifts)
    assert (vec.norm(dim=1) < 4.0).all()
    # shifts are whole box lengths
    frac = shifts / torch.tensor(box, dtype=shifts.dtype)
    assert torch.allclose(frac, frac.round())


def test_max_neighbors_keeps_nearest_with_deterministic_ties():
    pos = torch.tensor([[0.0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 2, 0]], dtype=torch.float64)
    ei = radius_graph(pos, 5.0, max_neighbors=1)
    sources_of_0 = ei[0, ei[1] == 0].tolist()
    assert sources_of_0 == [1]  # nodes 1 and 2 tie at distance 1: the lower index wins
    assert torch.bincount(ei[1], minlength=4).max() == 1


def test_edges_sorted_and_empty_cases():
    ei = radius_graph(torch.zeros(0, 3), 1.0)
    assert ei.shape == (2, 0)
    ei = radius_graph(torch.zeros(1, 3), 1.0)
    assert ei.shape == (2, 0)
    ei = radius_graph(torch.zeros(1, 3), 1.0, loop=True)
    assert ei.tolist() == [[0], [0]]
    pos = torch.randn(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ei = radius_graph(pos, 1.0)
    key = ei[1] * 100 + ei[0]
    assert torch.equal(key, key.sort().values)


def test_equivariant_edge_set():
    check_equivariant(lambda p: radius_graph(p, 1.2), E3() * Permutations(), "positions", "edge_index",
                      gst.point_clouds(max_points=20, dtype=torch.float64, scale=1.0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(pos=torch.zeros(3), cutoff=1.0), r"\(N, n\)"),
    (dict(pos=torch.zeros(3, 3, dtype=torch.long), cutoff=1.0), "floating"),
    (dict(pos=torch.zeros(3, 3), cutoff=-1.0), "cutoff"),
    (dict(pos=torch.zeros(3, 3), cutoff=float("nan")), "cutoff"),
    (dict(pos=torch.full((3, 3), float("nan")), cutoff=1.0), "NaN"),
    (dict(pos=torch.zeros(3, 3), cutoff=1.0, batch=torch.zeros(2, dtype=torch.long)), "batch"),
    (dict(pos=torch.zeros(3, 3), cutoff=1.0, batch=torch.zeros(3)), "batch"),
    (dict(pos=torch.zeros(3, 3), cutoff=1.0, max_neighbors=0), "max_neighbors"),
    (dict(pos=torch.zeros(3, 3), cutoff=3.0, box=[4.0, 4.0, 4.0]), "half"),
    (dict(pos=torch.zeros(3, 3), cutoff=1.0, box=[4.0, 4.0]), "box"),
])
def test_bad_input(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        radius_graph(**kwargs)
