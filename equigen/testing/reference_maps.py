"""A zoo of reference maps: correct ones the kit must pass, subtly broken ones it must catch.

Each :class:`ReferenceMap` states its claimed symmetry (group, input and output kinds),
a hypothesis strategy for its inputs and a fixed example. The broken maps reproduce real
bug patterns whose failure shows only on edge cases (a half turn, an odd grid size, a
single node, a reflection). They serve equigen's own tests, the ``symmetry-kit``
experiment, and users who want to see what the kit reports.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from e3nn import o3
from hypothesis import strategies as st

from equigen.geometry import radius_graph
from equigen.groups import (
    E3,
    O3,
    SO3,
    GridReflections,
    GridShifts,
    Group,
    Permutations,
)
from equigen.testing import strategies as gst

__all__ = ["ReferenceMap", "REFERENCE_MAPS", "correct_maps", "broken_maps", "get"]


@dataclass(frozen=True)
class ReferenceMap:
    """A map with a claimed symmetry, a strategy for its inputs and a fixed example."""

    name: str
    fn: Callable
    group: Callable[[], Group]
    in_kinds: tuple
    out_kinds: tuple | None
    inputs: Callable[[], st.SearchStrategy]
    example: Callable[[torch.dtype], tuple]
    correct: bool
    note: str


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _cloud(n=7, dtype=torch.float64, seed=0):
    return torch.randn(n, 3, generator=_gen(seed), dtype=torch.float64).to(dtype)


# ---------------------------------------------------------------- correct maps


def pairwise_distances(pos):
    """``(N, 3) -> (N, N)`` distances: E(3)-invariant.

    ``torch.cdist``'s default switches to a matrix-product formula above 25 points, whose
    rounding (``|x|^2 + |y|^2 - 2 x.y``) is not translation-invariant; the direct formula is.
    """
    return torch.cdist(pos, pos, compute_mode="donot_use_mm_for_euclid_dist")


def centroid_relative(pos):
    """Positions relative to their centroid: E(3) x permutation equivariant (vectors)."""
    return pos - pos.mean(0, keepdim=True)


def sum_over_nodes(h):
    """Sum of node features: permutation-invariant readout."""
    return h.sum(0)


@functools.cache
def _tensor_product(dtype: torch.dtype):
    tp = o3.FullyConnectedTensorProduct("2x0e+1x1o", "1x0e+1x1o", "2x0e+1x1o+1x1e")
    with torch.no_grad():
        tp.weight.copy_(torch.randn(tp.weight_numel, generator=_gen(1), dtype=torch.float64))
    return tp.to(dtype)


def tensor_product(x, y):
    """e3nn fully connected tensor product 2x0e+1x1o (x) 1x0e+1x1o -> 2x0e+1x1o+1x1e: O(3)."""
    return _tensor_product(x.dtype)(x, y)


def symmetric_circular_convolution(u):
    """Circular convolution with an even kernel on every spatial axis: dihedral-equivariant."""
    out = 0.5 * u
    for axis in range(2, u.dim()):
        out = out + 0.2 * (u.roll(1, axis) + u.roll(-1, axis)) - 0.05 * (u.roll(2, axis) + u.roll(-2, axis))
    return out


def cross_product(a, b):
    """Cross product of node vectors: a pseudovector under O(3)."""
    return torch.linalg.cross(a, b, dim=-1)


def _harmonic_energy(pos):
    diff = pos[:, None, :] - pos[None, :, :]
    return 0.5 * (diff**2).sum()


def harmonic_forces(pos):
    """Forces ``-dE/dpos`` of unit harmonic springs between all pairs: E(3) x permutations."""
    with torch.enable_grad():
        x = pos.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(_harmonic_energy(x), x)
    return -grad


def _phi(d2):
    return torch.exp(-d2) + 0.5 / (1.0 + d2)


def message_passing(h, pos, edge_index):
    """One EGNN-style layer with fixed weights: invariant messages, relative-vector updates."""
    src, dst = edge_index
    rel = pos[dst] - pos[src]
    w = _phi((rel**2).sum(-1, keepdim=True))
    h_out = h.clone().index_add_(0, dst, w * h[src])
    pos_out = pos.clone().index_add_(0, dst, 0.1 * rel * torch.tanh(h[src, :1] * w))
    return h_out, pos_out


def _harmonic_pair_forces(q):
    return -(q.shape[0] * q - q.sum(0, keepdim=True))


def leapfrog_harmonic(q, p, dt=0.05):
    """A kick-drift-kick step of unit harmonic pair springs (unit masses): E(3) x permutation
    equivariant, conserves linear and angular momentum."""
    p = p + 0.5 * dt * _harmonic_pair_forces(q)
    q = q + dt * p
    p = p + 0.5 * dt * _harmonic_pair_forces(q)
    return q, p


def radius_graph_edges(pos):
    """The cutoff-1.5 radius graph of a point cloud: its edge set is E(3) x permutation equivariant."""
    return radius_graph(pos, 1.5)


# ---------------------------------------------------------------- broken maps


def _frame_to_z(d):
    """Minimal rotation taking unit ``d`` onto +z, with a wrong fallback at d = -z."""
    d = d / d.norm()
    z = torch.zeros_like(d)
    z[2] = 1.0
    v = torch.linalg.cross(d, z, dim=-1)
    c = d @ z
    if float(c) < -1 + 1e-6:  # BUG: the antiparallel case needs a half turn, not the identity
        return torch.eye(3, dtype=d.dtype)
    vx = torch.zeros(3, 3, dtype=d.dtype)
    vx[0, 1], vx[0, 2], vx[1, 2] = -v[2], v[1], -v[0]
    vx = vx - vx.T
    return torch.eye(3, dtype=d.dtype) + vx + vx @ vx / (1 + c)


def frame_antiparallel_fallback(x, d):
    """Anisotropic map along a direction ``d``, computed in a frame where d is +z.

    Correct for every rotation except those turning ``d`` onto -z (half turns of an
    axis-aligned input): the frame's fallback at antiparallel vectors is wrong.
    """
    r = _frame_to_z(d)
    y = x @ r.T
    y = y + 0.5 * (y[:, 2:3] ** 2) * torch.tensor([0.0, 0.0, 1.0], dtype=x.dtype)
    return y @ r


def smoothing_double_fftshift(u):
    """Gaussian smoothing written on a centred spectrum with ``fftshift`` used twice.

    Right for even sizes (``fftshift`` is then its own inverse); on odd sizes the spectrum
    is rolled by one bin, a modulation in space that breaks shift equivariance.
    """
    dims = tuple(range(2, u.dim()))
    spec = torch.fft.fftshift(torch.fft.fftn(u, dim=dims), dim=dims)
    kernel = torch.ones(u.shape[2:], dtype=u.dtype)
    for k, n in enumerate(u.shape[2:]):
        freq = torch.fft.fftshift(torch.fft.fftfreq(n, dtype=u.dtype))
        shape = [1] * len(dims)
        shape[k] = n
        kernel = kernel * torch.exp(-8 * freq**2).reshape(shape)
    out = torch.fft.fftshift(spec * kernel, dim=dims)  # BUG: should be ifftshift
    return torch.fft.ifftn(out, dim=dims).real


def centroid_relative_squeeze(pos):
    """Centroid-relative positions with a ``squeeze()``: wrong only for a single node."""
    x = pos.squeeze()  # BUG: (1, 3) becomes (3,), and the mean runs over coordinates
    return x - x.mean(0, keepdim=x.dim() > 1)


def cross_product_as_vector(a, b):
    """The cross product declared a vector (it is a pseudovector): fails on reflections."""
    return torch.linalg.cross(a, b, dim=-1)


def reflection_off_by_one(u):
    """``u + flip(u)``, claimed reflection-equivariant: ``flip`` reflects about (N-1)/2,
    not about the grid origin, so it is off by a one-cell shift."""
    return u + torch.flip(u, dims=(u.dim() - 1,))


def zero_padded_convolution(u):
    """A 3-point convolution with zero padding, claimed periodic: wrong at the boundary."""
    kernel = torch.tensor([[[0.25, 0.5, 0.25]]], dtype=u.dtype)
    flat = u.reshape(-1, 1, u.shape[-1])
    return torch.nn.functional.conv1d(flat, kernel, padding=1).reshape(u.shape)


def anisotropic_z(x):
    """``x + 0.5 x_z^2 e_z``: equivariant only under rotations about the z axis."""
    return x + 0.5 * (x[..., 2:3] ** 2) * torch.tensor([0.0, 0.0, 1.0], dtype=x.dtype)


def first_node_readout(h):
    """Readout from node 0 only: depends on the node order."""
    return h[0]


def leapfrog_one_sided(q, p, dt=0.05):
    """A harmonic step whose pair forces act on one partner only (j > i): breaks
    Newton's third law, hence momentum conservation and permutation equivariance."""

    def forces(q):
        diff = q[:, None, :] - q[None, :, :]
        upper = torch.triu(torch.ones(q.shape[0], q.shape[0], dtype=q.dtype), diagonal=1)
        return -(upper[..., None] * diff).sum(1)

    p = p + 0.5 * dt * forces(q)
    q = q + dt * p
    p = p + 0.5 * dt * forces(q)
    return q, p


def energy_with_absolute_positions(pos):
    """A 'pair energy' plus a term in absolute positions: not translation-invariant."""
    d = torch.cdist(pos, pos)
    return (torch.exp(-d).sum() + 1e-3 * (pos**2).sum()).reshape(1)


# ---------------------------------------------------------------- strategies and examples

_EZ = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)


def _clouds(**kw):
    return gst.point_clouds(max_points=12, **kw)


def _directions():
    axes = [_EZ, -_EZ, torch.tensor([1.0, 0, 0], dtype=torch.float64)]
    return st.one_of(st.sampled_from(axes), st.integers(0, 2**32 - 1).map(
        lambda s: torch.randn(3, generator=_gen(s), dtype=torch.float64)))


@st.composite
def _cloud_and_direction(draw):
    x = draw(_clouds(dtype=torch.float64, scale=1.0))
    return x, draw(_directions()).to(x.dtype)


@st.composite
def _vector_pairs(draw):
    a = draw(_clouds(scale=1.0))
    b = torch.randn(a.shape, generator=gst._generator(draw(st.integers(0, 2**32 - 1)), "features"),
                    dtype=torch.float64)
    return a, b.to(a.dtype)


@st.composite
def _irreps_pair(draw):
    x = draw(gst.irreps_features("2x0e+1x1o", max_nodes=6))
    y = torch.randn(x.shape[0], 4, generator=gst._generator(draw(st.integers(0, 2**32 - 1)), "features"),
                    dtype=torch.float64)
    return x, y.to(x.dtype)


@st.composite
def _phase_space(draw):
    q = draw(_clouds(scale=1.0, min_points=2))
    p = torch.randn(q.shape, generator=gst._generator(draw(st.integers(0, 2**32 - 1)), "features"),
                    dtype=torch.float64)
    return q, p.to(q.dtype)


def _node_features(dtype=st.sampled_from(gst.DTYPES)):
    return st.tuples(st.integers(1, 10), st.integers(1, 4), st.integers(0, 2**32 - 1), dtype).map(
        lambda a: torch.randn(a[0], a[1], generator=_gen(a[2]), dtype=torch.float64).to(a[3]))


def _ex_pair(dtype):
    return _cloud(6, dtype, 0), _cloud(6, dtype, 1)


def _ex_phase(dtype):
    return _cloud(5, dtype, 0), _cloud(5, dtype, 1)


def _ex_field(dtype, size=8, ndim=1):
    return (torch.randn(2, 3, *(size,) * ndim, generator=_gen(0), dtype=torch.float64).to(dtype),)


def _ex_graph(dtype):
    pos = _cloud(8, dtype, 0)
    h = torch.randn(8, 3, generator=_gen(1), dtype=torch.float64).to(dtype)
    return h, pos, radius_graph(pos, 1.5)


def _ex_irreps(dtype):
    return (torch.randn(4, 5, generator=_gen(0), dtype=torch.float64).to(dtype),
            torch.randn(4, 4, generator=_gen(1), dtype=torch.float64).to(dtype))


def _e3p():
    return E3() * Permutations()


def _dihedral(ndim):
    return lambda: GridShifts(ndim) * GridReflections(ndim)


REFERENCE_MAPS: tuple[ReferenceMap, ...] = (
    ReferenceMap("pairwise_distances", pairwise_distances, E3, ("positions",), ("scalars",),
                 lambda: _clouds(), lambda dt: (_cloud(7, dt),), True, "E(3)-invariant distance matrix"),
    ReferenceMap("centroid_relative", centroid_relative, _e3p, ("positions",), ("vectors",),
                 lambda: _clouds(), lambda dt: (_cloud(7, dt),), True, "translation removed"),
    ReferenceMap("sum_over_nodes", sum_over_nodes, Permutations, ("nodes",), ("scalars",),
                 _node_features, lambda dt: (_cloud(7, dt),), True, "permutation-invariant readout"),
    ReferenceMap("tensor_product", tensor_product, lambda: O3() * Permutations(),
                 ("2x0e+1x1o", "1x0e+1x1o"), ("2x0e+1x1o+1x1e",), lambda: _irreps_pair(), _ex_irreps, True,
                 "e3nn FullyConnectedTensorProduct"),
    ReferenceMap("symmetric_circular_convolution", symmetric_circular_convolution, _dihedral(2),
                 ("field",), ("field",), lambda: gst.fields(ndim=2, channels=2),
                 lambda dt: _ex_field(dt, 7, 2), True, "even kernel, periodic"),
    ReferenceMap("cross_product", cross_product, lambda: O3() * Permutations(), ("vectors", "vectors"),
                 ("pseudovectors",), lambda: _vector_pairs(), _ex_pair, True, "a x b is a pseudovector"),
    ReferenceMap("harmonic_forces", harmonic_forces, _e3p, ("positions",), ("vectors",),
                 lambda: _clouds(), lambda dt: (_cloud(7, dt),), True, "forces by autograd of an invariant energy"),
    ReferenceMap("message_passing", message_passing, _e3p, ("nodes", "positions", "edge_index"),
                 ("nodes", "positions"), lambda: gst.graphs(num_features=3, max_points=12), _ex_graph, True,
                 "EGNN-style layer on a radius graph"),
    ReferenceMap("leapfrog_harmonic", leapfrog_harmonic, _e3p, ("positions", "vectors"),
                 ("positions", "vectors"), lambda: _phase_space(), _ex_phase, True,
                 "symplectic step, Newton's third law"),
    ReferenceMap("radius_graph_edges", radius_graph_edges, _e3p, ("positions",), ("edge_index",),
                 lambda: _clouds(dtype=torch.float64, scale=1.0),
                 lambda dt: (_cloud(12, torch.float64),), True, "edge set relabelled with the nodes"),
    # ------------------------------------------------------------ broken
    ReferenceMap("frame_antiparallel_fallback", frame_antiparallel_fallback, SO3, ("vectors", "vectors"),
                 ("vectors",), lambda: _cloud_and_direction(),
                 lambda dt: (_cloud(6, dt), _EZ.to(dt)), False,
                 "correct except for rotations turning d onto -z (half turns)"),
    ReferenceMap("smoothing_double_fftshift", smoothing_double_fftshift, lambda: GridShifts(1),
                 ("field",), ("field",), lambda: gst.fields(ndim=1), lambda dt: _ex_field(dt, 9), False,
                 "correct except on odd grid sizes"),
    ReferenceMap("centroid_relative_squeeze", centroid_relative_squeeze, _e3p, ("positions",), ("vectors",),
                 lambda: _clouds(), lambda dt: (_cloud(1, dt),), False, "wrong only for a single node"),
    ReferenceMap("cross_product_as_vector", cross_product_as_vector, lambda: O3() * Permutations(),
                 ("vectors", "vectors"), ("vectors",), lambda: _vector_pairs(), _ex_pair, False,
                 "a pseudovector declared as a vector"),
    ReferenceMap("reflection_off_by_one", reflection_off_by_one, lambda: GridReflections(1),
                 ("field",), ("field",), lambda: gst.fields(ndim=1), lambda dt: _ex_field(dt, 8), False,
                 "reflection about (N-1)/2: an off-by-one grid shift"),
    ReferenceMap("zero_padded_convolution", zero_padded_convolution, lambda: GridShifts(1),
                 ("field",), ("field",), lambda: gst.fields(ndim=1), lambda dt: _ex_field(dt, 8), False,
                 "zero padding claimed periodic"),
    ReferenceMap("anisotropic_z", anisotropic_z, SO3, ("vectors",), ("vectors",), lambda: _clouds(),
                 lambda dt: (_cloud(5, dt),), False, "equivariant only about the z axis"),
    ReferenceMap("first_node_readout", first_node_readout, Permutations, ("nodes",), ("scalars",),
                 _node_features, lambda dt: (_cloud(5, dt),), False, "permutation-dependent readout"),
    ReferenceMap("leapfrog_one_sided", leapfrog_one_sided, _e3p, ("positions", "vectors"),
                 ("positions", "vectors"), lambda: _phase_space(), _ex_phase, False,
                 "non-conserving step (one-sided pair forces)"),
    ReferenceMap("energy_with_absolute_positions", energy_with_absolute_positions, E3, ("positions",),
                 ("scalars",), lambda: _clouds(), lambda dt: (_cloud(5, dt),), False,
                 "absolute positions leak into an energy"),
)


def correct_maps() -> list[ReferenceMap]:
    return [m for m in REFERENCE_MAPS if m.correct]


def broken_maps() -> list[ReferenceMap]:
    return [m for m in REFERENCE_MAPS if not m.correct]


def get(name: str) -> ReferenceMap:
    for m in REFERENCE_MAPS:
        if m.name == name:
            return m
    raise KeyError(f"no reference map {name!r}; known: {[m.name for m in REFERENCE_MAPS]}")
