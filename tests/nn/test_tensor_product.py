import pytest
import torch
from e3nn import o3
from e3nn.util.test import assert_equivariant as e3nn_assert_equivariant

from equigen.geometry import radius_graph
from equigen.groups import E3, O3, SE3, SO3, Permutations
from equigen.nn import TensorProductConv, TensorProductNet
from equigen.testing import EquivarianceError, assert_equivariant, assert_invariant
from tests.nn.graph_helpers import batched, complete_graph, reinit, rotations_of

IRREPS = o3.Irreps("3x0e+2x1o+1x2e")
IRREPS_OUT = o3.Irreps("2x0e+2x1o+1x1e+1x2e+1x2o")  # every parity reachable from IRREPS


def _conv(dtype, **kw):
    return reinit(TensorProductConv(IRREPS, IRREPS_OUT, cutoff=3.0, num_neighbors=4.0, dtype=dtype, **kw), scale=2.0)


def _kinds(conv):
    return (conv.irreps_in, "positions", "edge_index"), (conv.irreps_out,)


def test_conv_e3_equivariant_mixed_parities(dtype):
    conv = _conv(dtype)
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(8, 3, generator=gen, dtype=dtype)
    x = torch.randn(8, IRREPS.dim, generator=gen, dtype=dtype)
    assert_equivariant(conv, (x, pos, radius_graph(pos, 3.0)), E3() * Permutations(), *_kinds(conv))
    assert rotations_of(conv.symmetry.make_group()) == "improper"


def test_e3nn_own_assert_equivariant(dtype):
    """e3nn's checker builds its Wigner matrices in the *default* dtype: run it under that dtype
    (float32 default dtype limits e3nn's own D matrices to ~1e-8 even on float64 data)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        conv = _conv(dtype)
        gen = torch.Generator().manual_seed(1)
        pos = torch.randn(8, 3, generator=gen, dtype=dtype)
        x = torch.randn(8, IRREPS.dim, generator=gen, dtype=dtype)
        edge_index = radius_graph(pos, 3.0)
        errors = e3nn_assert_equivariant(lambda x, p: conv(x, p, edge_index), args_in=[x, pos], ntrials=3,
                                         irreps_in=[conv.irreps_in, "cartesian_points"],
                                         irreps_out=[conv.irreps_out])
        scale = float(conv(x, pos, edge_index).abs().max())
    finally:
        torch.set_default_dtype(old)
    worst = max(float(e.max()) for e in errors.values())  # absolute error, over parity and translation
    assert worst < (1e-10 if dtype == torch.float64 else 1e-5) * scale


def _tetrahedron(dtype):
    return torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 1.2, 0], [0.3, 0.2, 0.9]], dtype=dtype)


def _unit_init(module, seed):
    """N(0, 1) parameters: e3nn's Linear and FullyConnectedNet normalise by fan-in themselves."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def _chiral_energy(dtype, chiral):
    net = _unit_init(TensorProductNet("1x0e", "4x0e+2x1o+2x1e+1x2e", "1x0e", num_layers=3, cutoff=4.0,
                                      num_neighbors=3.0, chiral=chiral, dtype=dtype), seed=3)

    def energy(pos):
        n = pos.shape[0]
        return net(torch.ones(n, 1, dtype=pos.dtype), pos, complete_graph(n)).sum(0)

    return net, energy


def test_chiral_option_is_se3_but_fails_reflections_on_non_coplanar_points(dtype):
    """A chiral invariant needs a triple product, i.e. 3 tensor-product layers and 4 points: the
    mirror-image energies differ by ~1e-3 relative here (measured: 1.3e-3 float64, 5.7e-4 float32)."""
    net, energy = _chiral_energy(dtype, chiral=True)
    assert rotations_of(net.symmetry.make_group()) == "proper"
    pos = _tetrahedron(dtype)
    assert_invariant(energy, (pos,), SE3(), ("positions",))
    with pytest.raises(EquivarianceError, match="reflection|inversion|improper"):
        assert_invariant(energy, (pos,), O3(), ("positions",))
    mirror = pos * torch.tensor([-1.0, 1, 1], dtype=dtype)
    e, e_mirror = float(energy(pos)), float(energy(mirror))
    assert abs(e - e_mirror) > 20 * (1e-10 if dtype == torch.float64 else 1e-5) * abs(e)


@pytest.mark.parametrize("n", [2, 3])
def test_chiral_model_cannot_tell_coplanar_structures_from_their_mirror(n):
    _, energy = _chiral_energy(torch.float64, chiral=True)
    pos = _tetrahedron(torch.float64)[:n]  # 2 or 3 points are always coplanar
    assert_invariant(energy, (pos,), O3(), ("positions",))


def test_e3_model_same_energy_for_mirror_images():
    _, energy = _chiral_energy(torch.float64, chiral=False)
    assert_invariant(energy, (_tetrahedron(torch.float64),), O3(), ("positions",))


def test_edge_cases_single_node_no_edges_coincident_far(dtype):
    conv = _conv(dtype)
    group = E3() * Permutations()
    gen = torch.Generator().manual_seed(2)
    # one node, no edges: only the self-connection acts
    x1, p1 = torch.randn(1, IRREPS.dim, generator=gen, dtype=dtype), torch.randn(1, 3, generator=gen, dtype=dtype)
    none = torch.zeros(2, 0, dtype=torch.long)
    assert_equivariant(conv, (x1, p1, none), group, *_kinds(conv))
    # coincident points: finite values and gradients
    pos = torch.tensor([[0.5, 0.5, 0.5]] * 3 + [[1.5, 0.0, 0.2]], dtype=dtype, requires_grad=True)
    x = torch.randn(4, IRREPS.dim, generator=gen, dtype=dtype)
    out = conv(x, pos, complete_graph(4))
    out.square().sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(pos.grad).all()
    assert_equivariant(conv, (x, pos.detach(), complete_graph(4)), group, *_kinds(conv))
    # points 1e4 apart with explicit edges: beyond the cutoff, messages vanish smoothly
    far = torch.tensor([[0.0, 0, 0], [1e4, 0, 0], [0, 1e4, 0], [0, 0, 1e4]], dtype=dtype)
    out_far = conv(x, far, complete_graph(4))
    torch.testing.assert_close(out_far, conv(x, far, none))
    assert_equivariant(conv, (x, far, complete_graph(4)), group, *_kinds(conv))


def test_batch_of_graphs_of_different_sizes(dtype):
    conv = _conv(dtype)
    pos, batch, edge_index = batched([1, 4, 7, 2], dtype=dtype)
    x = torch.randn(pos.shape[0], IRREPS.dim, dtype=dtype)

    def fn(x, pos, edge_index, batch):
        return conv(x, pos, edge_index)

    assert_equivariant(fn, (x, pos, edge_index, batch), E3() * Permutations(),
                       (conv.irreps_in, "positions", "edge_index", "batch"), (conv.irreps_out,), per_graph=True)


def test_periodic_shifts_end_to_end():
    conv = _conv(torch.float64)
    box = torch.tensor([7.0, 7.0, 7.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(5)
    pos = torch.rand(16, 3, generator=gen, dtype=torch.float64) * box
    x = torch.randn(16, IRREPS.dim, generator=gen, dtype=torch.float64)
    scalars = torch.cat([torch.arange(0, 3)])  # the 0e block of x_out is translation/wrap invariant

    def fn(pos):
        wrapped = torch.remainder(pos, box)
        edge_index, shifts = radius_graph(wrapped, 3.0, box=box)
        return conv(x, wrapped, edge_index, shifts=shifts)

    from equigen.groups import Translations

    assert_equivariant(fn, (pos,), Translations(3), ("positions",), ("scalars",))
    assert scalars.numel() == 3


def test_irreps_attributes_and_gate_off():
    conv = TensorProductConv("2x0e", "1x0e+1x1o", cutoff=2.0, gate=False)
    assert conv.irreps_in == o3.Irreps("2x0e") and conv.irreps_out == o3.Irreps("1x0e+1x1o")
    pos = torch.randn(5, 3)
    assert conv(torch.randn(5, 2), pos, radius_graph(pos, 2.0)).shape == (5, 4)
    assert TensorProductNet("1x0e", "4x0e+2x1o", "3x0e", num_layers=2).irreps_out == o3.Irreps("3x0e")


def test_output_order_follows_irreps_out():
    """Gate output (scalars first) is reordered to the user's irreps_out order: check by rotation."""
    conv = reinit(TensorProductConv("2x0e+1x1o", "1x1o+2x0e", cutoff=3.0, dtype=torch.float64))
    pos = torch.randn(6, 3, dtype=torch.float64)
    x = torch.randn(6, 5, dtype=torch.float64)
    assert_equivariant(conv, (x, pos, radius_graph(pos, 3.0)), SO3(), *_kinds(conv))


@pytest.mark.parametrize("call, match", [
    (lambda c: c(torch.randn(5, 4), torch.randn(5, 3), torch.zeros(2, 0, dtype=torch.long)), r"x must have shape"),
    (lambda c: c(torch.randn(5, 14), torch.randn(5, 2), torch.zeros(2, 0, dtype=torch.long)), r"\(N, 3\)"),
    (lambda c: c(torch.randn(5, 14), torch.randn(5, 3), torch.zeros(2, 1)), "torch.long"),
    (lambda c: c(torch.randn(5, 14), torch.randn(5, 3), torch.tensor([[0], [5]])), "5 nodes"),
])
def test_bad_inputs(call, match):
    conv = TensorProductConv(IRREPS, IRREPS_OUT, cutoff=3.0)
    assert IRREPS.dim == 14
    with pytest.raises((ValueError, TypeError), match=match):
        call(conv)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="cutoff=-2"):
        TensorProductConv("1x0e", "1x0e", cutoff=-2.0)
    with pytest.raises(ValueError, match="irreps_in='nonsense'"):
        TensorProductConv("nonsense", "1x0e")
    with pytest.raises(ValueError, match="no tensor-product path"):
        TensorProductConv("1x0e", "1x3o", irreps_sh="0e+1o")
    with pytest.warns(UserWarning, match="0o cannot be reached"):
        TensorProductConv("1x0e", "1x0e+1x0o", irreps_sh="0e+1o")


def test_hidden_layers_of_a_net_do_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TensorProductNet("1x0e", "4x0e+2x1o+2x1e", "2x0e", num_layers=2)  # layer 1 cannot make 1e: expected
