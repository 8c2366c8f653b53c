"""Hypothesis strategies for group elements, point clouds, graphs, fields and irreps features.

Every argument takes a value or a strategy; size ranges are keyword-only ``min_*``/``max_*``
pairs. Group elements shrink toward simple ones: identity, then half and quarter turns
about coordinate axes, single reflections, unit shifts and swaps, so a failure is reported
with the simplest element that shows it. Tensors are drawn from a seeded torch generator
(values shrink through the seed, sizes and layouts shrink directly).
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from hypothesis import strategies as st

from equigen.core.grids import integer_frequencies
from equigen.geometry import radius_graph
from equigen.groups import Element, Group

__all__ = [
    "elements",
    "is_simple",
    "point_clouds",
    "graphs",
    "fields",
    "irreps_features",
    "DTYPES",
]

DTYPES = (torch.float64, torch.float32)
LAYOUTS = ("gaussian", "coincident", "collinear", "planar", "clustered")


def _strategy(value):
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


# --------------------------------------------------------------------------------------
# Group elements
# --------------------------------------------------------------------------------------


def elements(group: Group) -> st.SearchStrategy:
    """Elements of ``group``, shrinking toward simple ones (see the module doc).

    Each group says how its elements are drawn (:meth:`~equigen.groups.Group.elements_strategy`):
    identity, half turns, quarter turns, single reflections, inversion, rotations by any angle
    in a coordinate plane, near-identity rotations (1e-9..1e-3 rad), Haar rotations, unit and
    large (up to 1e3) translations, scales, swaps and random permutations, unit and large grid
    shifts and axis reflections. A group without its own strategy draws its edge cases, then
    seeded samples.
    """
    if not isinstance(group, Group):
        raise TypeError(f"elements() needs an equigen.groups.Group, got {group!r}")
    return group.elements_strategy()


def is_simple(element: Element) -> bool:
    """True for elements a person reads at a glance: identity, signed permutation matrices
    (axis half/quarter turns, single reflections), translations and scales with entries in
    {0, +-1, 2, 1/2}, swaps / reversals / rolls of nodes, unit grid shifts and axis reflections."""
    return element.is_simple()


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


_SALTS = {"points": 0, "features": 0x5EED_F00D, "fields": 0x0F1E_1D5, "irreps": 0x1223_5813}


def _generator(seed: int, stream: str = "points") -> torch.Generator:
    """A generator for one kind of drawn tensor: the same drawn seed gives unrelated numbers
    for positions, node features, fields and irreps features (no accidental correlation)."""
    if stream == "points":
        return torch.Generator().manual_seed(int(seed))
    return torch.Generator().manual_seed((int(seed) * 0x9E37_79B9 + _SALTS[stream]) % (2**63 - 1))


def _layout(layout: str, n: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    if layout == "coincident" and n >= 2:
        k = max(1, n // 2)
        x[k:2 * k] = x[:k][: x[k:2 * k].shape[0]]
        x[-1] = x[0]
    elif layout == "collinear":
        direction = torch.randn(dim, generator=gen, dtype=torch.float64)
        x = torch.randn(n, 1, generator=gen, dtype=torch.float64) * direction / direction.norm()
    elif layout == "planar" and dim >= 3:
        x[:, 2:] = 0.0
    elif layout == "clustered":
        centres = 4 * torch.randn(3, dim, generator=gen, dtype=torch.float64)
        x = 0.1 * x + centres[torch.arange(n) % 3]
    return x


def _separated(n: int, dim: int, min_sep: float, gen: torch.Generator) -> torch.Tensor:
    """Jittered lattice points: spacing 2*min_sep, jitter below min_sep/2 per axis."""
    side = math.ceil(n ** (1.0 / dim)) + 1
    grid = torch.stack(torch.meshgrid(*[torch.arange(side)] * dim, indexing="ij"), -1).reshape(-1, dim)
    pick = torch.randperm(grid.shape[0], generator=gen)[:n]
    jitter = (torch.rand(n, dim, generator=gen, dtype=torch.float64) - 0.5) * (0.999 * min_sep / math.sqrt(dim))
    return grid[pick].double() * 2 * min_sep + jitter


@st.composite
def point_clouds(draw, *, min_points=1, max_points=64, dim=3, dtype=st.sampled_from(DTYPES),
                 min_separation=None, scale=st.sampled_from([1.0, 10.0, 0.01, 1e4]),
                 layout=st.sampled_from(LAYOUTS), with_batch=False, min_graphs=1, max_graphs=4):
    """Point clouds ``(N, dim)``; with ``with_batch`` the tuple ``(pos, batch)``.

    ``layout`` is one of "gaussian", "coincident" (repeated points), "collinear", "planar",
    "clustered"; ``min_separation`` (in units of ``scale``) places points on a jittered
    lattice so that no two are closer than that (layout then ignored).
    """
    n = draw(st.integers(_draw_int(draw, min_points), _draw_int(draw, max_points)))
    d = _draw_int(draw, dim)
    dt = draw(_strategy(dtype))
    sc = draw(_strategy(scale))
    gen = _generator(draw(st.integers(0, 2**32 - 1)))
    sep = draw(_strategy(min_separation))
    if sep is not None:
        x = _separated(n, d, float(sep), gen)
    else:
        x = _layout(draw(_strategy(layout)), n, d, gen)
    pos = (x * sc).to(dt)
    if not _draw_value(draw, with_batch):
        return pos
    graphs = draw(st.integers(_draw_int(draw, min_graphs), max(_draw_int(draw, min_graphs),
                                                                min(_draw_int(draw, max_graphs), n))))
    cuts = sorted(draw(st.lists(st.integers(1, max(n - 1, 1)), min_size=graphs - 1, max_size=graphs - 1,
                                unique=True))) if n > 1 else []
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes, dtype=torch.long))
    return pos, batch


def _draw_int(draw, value) -> int:
    return int(draw(_strategy(value)))


def _draw_value(draw, value):
    return draw(_strategy(value))


@st.composite
def graphs(draw, *, min_points=1, max_points=32, dim=3, dtype=st.sampled_from(DTYPES), cutoff=None,
           num_features=0, with_batch=False, min_separation=None, layout=st.sampled_from(LAYOUTS)):
    """Radius graphs: ``(pos, edge_index)``, plus ``batch`` with ``with_batch``, and node
    features ``h`` ``(N, num_features)`` first when ``num_features > 0``.

    ``cutoff`` defaults to 1.5 times the typical spacing, so graphs have a handful of
    neighbours; graphs may have a single node or no edges.
    """
    drawn = draw(point_clouds(min_points=min_points, max_points=max_points, dim=dim, dtype=dtype,
                              scale=1.0, with_batch=with_batch, min_separation=min_separation,
                              layout=layout))
    pos, batch = drawn if isinstance(drawn, tuple) else (drawn, None)
    c = draw(_strategy(cutoff)) if cutoff is not None else draw(st.sampled_from([1.5, 0.5, 3.0]))
    edge_index = radius_graph(pos, float(c), batch=batch)
    out = (pos, edge_index) + ((batch,) if batch is not None else ())
    f = _draw_int(draw, num_features)
    if f > 0:
        gen = _generator(draw(st.integers(0, 2**32 - 1)), "features")
        out = (torch.randn(pos.shape[0], f, generator=gen, dtype=torch.float64).to(pos.dtype),) + out
    return out


@st.composite
def fields(draw, *, ndim=st.integers(1, 3), channels=1, batch=1, min_size=1, max_size=None,
           dtype=st.sampled_from(DTYPES), smooth=False):
    """Periodic fields ``(batch, channels, *spatial)`` with odd and even sizes per axis.

    ``max_size`` defaults to 33 (1-D), 16 (2-D), 9 (3-D). ``smooth=True`` keeps only low
    Fourier modes (band-limited data, as a PDE solution).
    """
    nd = _draw_int(draw, ndim)
    hi = max_size if max_size is not None else {1: 33, 2: 16}.get(nd, 9)
    sizes = [draw(st.integers(_draw_int(draw, min_size), _draw_int(draw, hi))) for _ in range(nd)]
    b, c = _draw_int(draw, batch), _draw_int(draw, channels)
    gen = _generator(draw(st.integers(0, 2**32 - 1)), "fields")
    x = torch.randn(b, c, *sizes, generator=gen, dtype=torch.float64)
    if _draw_value(draw, smooth):
        spectrum = torch.fft.fftn(x, dim=tuple(range(2, 2 + nd)))
        for k, n in enumerate(sizes):
            freq = integer_frequencies(n)
            shape = [1] * (2 + nd)
            shape[2 + k] = n
            spectrum = spectrum * (freq.abs() <= 3).reshape(shape)
        x = torch.fft.ifftn(spectrum, dim=tuple(range(2, 2 + nd))).real
    return x.to(draw(_strategy(dtype)))


@st.composite
def irreps_features(draw, irreps, *, min_nodes=1, max_nodes=16, dtype=st.sampled_from(DTYPES)):
    """Node features ``(N, irreps.dim)`` for an e3nn ``Irreps`` (object or string)."""
    ir = o3.Irreps(draw(_strategy(irreps)))
    n = draw(st.integers(_draw_int(draw, min_nodes), _draw_int(draw, max_nodes)))
    gen = _generator(draw(st.integers(0, 2**32 - 1)), "irreps")
    return torch.randn(n, ir.dim, generator=gen, dtype=torch.float64).to(draw(_strategy(dtype)))
