"""Group laws, actions by kind, Haar sampling, bad input."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from equigen.groups import (
    E3,
    O3,
    SE3,
    SO,
    SO3,
    Dilations,
    E,
    Element,
    EuclideanPart,
    GridPart,
    GridReflections,
    GridShifts,
    O,
    PermutationPart,
    Permutations,
    ProductGroup,
    Translations,
    haar_orthogonal,
)
from equigen.testing import strategies as gst

GROUPS = [SO3(), O3(), SE3(), E3(), SO(2), E(2), O(4), Translations(3), Dilations(),
          Permutations(), GridShifts(2), GridReflections(2), GridShifts(1) * GridReflections(1),
          E3() * Permutations(), SE3() * Dilations()]


def _inputs(group):
    """A tensor of every kind the group acts on (float64), with a consistent node count."""
    gen = torch.Generator().manual_seed(0)
    n = 5
    dim = getattr(group, "dim", 3)
    for f in getattr(group, "factors", ()):
        dim = getattr(f, "dim", dim)
    t = (torch.randn(n, dim, generator=gen, dtype=torch.float64),
         torch.randn(n, dim, generator=gen, dtype=torch.float64),
         torch.randn(n, 4, generator=gen, dtype=torch.float64),
         torch.randn(2, 3, 7, 6, generator=gen, dtype=torch.float64),
         torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]))
    kinds = ("positions", "vectors", "nodes", "field", "edge_index")
    if dim == 3:
        t += (torch.randn(n, 4, generator=gen, dtype=torch.float64),)
        kinds += ("1x0e+1x1o",)
    return t, kinds


def _close(a, b):
    return all(torch.allclose(x.double(), y.double(), atol=1e-9, rtol=1e-9) if x.is_floating_point()
               else torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
@given(data=st.data())
def test_group_laws(group, data):
    g = data.draw(gst.elements(group))
    h = data.draw(gst.elements(group))
    k = data.draw(gst.elements(group))
    x, kinds = _inputs(group)
    act = lambda e, t: e.act_all(t, kinds)  # noqa: E731
    # composition is the action of one after the other (closure)
    assert _close(act(g @ h, x), act(g, act(h, x)))
    # associativity of the action
    assert _close(act((g @ h) @ k, x), act(g @ (h @ k), x))
    # inverse and identity
    assert _close(act(g.inverse(), act(g, x)), x)
    assert _close(act(group.identity(), x), x)
    assert group.identity().is_identity()


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_sampling_and_edge_cases_are_elements(group):
    gen = torch.Generator().manual_seed(1)
    elements = group.edge_cases() + [group.sample(generator=gen) for _ in range(3)]
    x, kinds = _inputs(group)
    for e in elements:
        assert isinstance(e, Element)
        out = e.act_all(x, kinds)
        assert all(o.shape == i.shape for o, i in zip(out, x))
        assert repr(e)


def test_rotations_are_orthogonal_with_right_determinant():
    gen = torch.Generator().manual_seed(0)
    for group, det in ((SO3(), 1.0), (SO(2), 1.0), (SO(5), 1.0)):
        for _ in range(10):
            r = group.sample(generator=gen).part(EuclideanPart).rotation
            assert torch.allclose(r @ r.T, torch.eye(r.shape[0], dtype=r.dtype), atol=1e-12)
            assert math.isclose(float(torch.linalg.det(r)), det, abs_tol=1e-12)
    dets = [float(torch.linalg.det(O3().sample(generator=gen).part(EuclideanPart).rotation)) for _ in range(400)]
    assert 150 < sum(d < 0 for d in dets) < 250  # about half improper


def test_haar_uniform_rotation_angle_distribution():
    # Haar on SO(3): the rotation angle has density (1 - cos t)/pi, CDF (t - sin t)/pi
    r = haar_orthogonal(3, proper=True, size=(20000,), generator=torch.Generator().manual_seed(0))
    angle = torch.arccos(((torch.diagonal(r, dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)).numpy()
    assert stats.kstest(angle, lambda t: (t - np.sin(t)) / np.pi).pvalue > 1e-3
    # and the image of e_z is uniform on the sphere: z uniform on [-1, 1]
    assert stats.kstest(r[:, 2, 2].numpy(), "uniform", args=(-1, 2)).pvalue > 1e-3


def test_haar_test_detects_a_non_uniform_sampler():
    # uniform Euler angles are NOT Haar: the same statistic must reject them
    gen = torch.Generator().manual_seed(0)
    a, b, c = (torch.rand(3, 20000, generator=gen, dtype=torch.float64) * torch.tensor([[2 * math.pi], [math.pi],
                                                                                         [2 * math.pi]]))
    from e3nn import o3
    r = o3.angles_to_matrix(a, b, c)
    assert stats.kstest(r[:, 2, 2].numpy(), "uniform", args=(-1, 2)).pvalue < 1e-6


def test_kinds_actions():
    gen = torch.Generator().manual_seed(0)
    g = O3().sample(generator=gen)
    r = g.part(EuclideanPart).rotation
    v = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    assert torch.allclose(g.act(v, "vectors"), v @ r.T)
    assert torch.allclose(g.act(v, "pseudovectors"), torch.linalg.det(r) * v @ r.T)
    assert torch.equal(g.act(v, "scalars"), v)
    t = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    shift = Element(EuclideanPart(translation=t))
    assert torch.allclose(shift.act(v, "positions"), v + t)
    assert torch.equal(shift.act(v, "vectors"), v)
    s = Element(EuclideanPart(scale=2.0, dim=3))
    assert torch.allclose(s.act(v, "positions"), 2 * v) and torch.allclose(s.act(v, "vectors"), 2 * v)
    # irreps: l=1 odd block is the rotation matrix (in e3nn's y, z, x basis) times parity
    inv = Element(EuclideanPart(-torch.eye(3, dtype=torch.float64)))
    x = torch.randn(2, 7, dtype=torch.float64, generator=gen)
    out = inv.act(x, "1x0e+1x1o+1x1e")
    assert torch.allclose(out, torch.cat([x[:, :1], -x[:, 1:4], x[:, 4:]], 1))


def test_permutation_relabels_edges_and_stays_within_graphs():
    batch = torch.tensor([0, 0, 0, 1, 1])
    x = torch.arange(5.0, dtype=torch.float64)[:, None]
    e = torch.tensor([[0, 1, 3], [1, 2, 4]])
    g = Element(PermutationPart("reverse"))
    xs, es, bs = g.act_all((x, e, batch), ("nodes", "edge_index", "batch"))
    assert xs.flatten().tolist() == [2, 1, 0, 4, 3]
    assert torch.equal(bs, batch)
    # the edge (0 -> 1) between nodes valued 0 and 1 connects the same values after relabelling
    assert sorted(zip(xs[es[0]].flatten().tolist(), xs[es[1]].flatten().tolist())) == [(0, 1), (1, 2), (3, 4)]


def test_grid_reflection_fixes_the_origin():
    u = torch.arange(5.0).reshape(1, 1, 5)
    r = Element(GridPart([-1], [0]))
    assert r.act(u, "field").flatten().tolist() == [0, 4, 3, 2, 1]
    s = Element(GridPart([1], [1]))
    assert s.act(u, "field").flatten().tolist() == [4, 0, 1, 2, 3]


def test_per_graph_elements():
    gen = torch.Generator().manual_seed(0)
    g = SE3().sample(generator=gen, num_graphs=2)
    pos = torch.randn(5, 3, dtype=torch.float64, generator=gen)
    batch = torch.tensor([0, 0, 1, 1, 1])
    out = g.act(pos, "positions", batch=batch)
    part = g.part(EuclideanPart)
    for b in range(2):
        ref = pos[batch == b] @ part.rotation[b].T + part.translation[b]
        assert torch.allclose(out[batch == b], ref)
    with pytest.raises(ValueError, match="batch"):
        g.act(pos, "positions")


def test_float32_and_device_cast():
    g = SE3().sample(generator=torch.Generator().manual_seed(0))
    x = torch.randn(3, 3)
    assert g.act(x, "positions").dtype == torch.float32


@pytest.mark.parametrize("call, match", [
    (lambda: SO3().sample().act(torch.randn(4, 2), "vectors"), r"\(\.\.\., 3\)"),
    (lambda: SO3().sample().act(torch.randn(4, 3), "velocity"), "not a kind"),
    (lambda: SO3().sample().act(torch.ones(4, 3, dtype=torch.long), "vectors"), "floating"),
    (lambda: GridShifts(2).sample().act(torch.randn(5), "field"), "spatial"),
    (lambda: Permutations().sample().act(torch.tensor([[0], [1]]).float(), "edge_index"), "long"),
    (lambda: SO(0), "dim"),
    (lambda: Dilations(2.0, 1.0), "min_scale"),
    (lambda: ProductGroup(SO3()), "two or more"),
    (lambda: PermutationPart("explicit", perm=[0, 0, 1]), "not a permutation"),
    (lambda: SO2_in_irreps(), "3-D"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def SO2_in_irreps():
    return SO(2).sample().act(torch.randn(2, 3), "1x1o")
