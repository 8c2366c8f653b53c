"""Layers for the kit's adversarial suite: subtly broken ones, written the way real code
breaks, and correct ones of the same kinds.

Each :class:`Case` names a layer, its family, whether it is correct, the bug (or what makes
it right), and ``check()``: the documented calls of :mod:`equigen.testing` (or ``equigen
check``) a user would run on it. ``check()`` raises an ``AssertionError`` subclass of the kit
(:class:`~equigen.testing.EquivarianceError`, :class:`~equigen.testing.ConservationError`,
:class:`~equigen.testing.SymplecticityError`) when the kit catches the layer.

Some layers are module-level functions so that ``equigen check tests/testing/adversarial_layers.py:NAME``
can load them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import torch
from e3nn import o3
from e3nn.nn import Gate
from hypothesis import strategies as st

from equigen.dynamics import HarmonicOscillator, Kepler, stepper
from equigen.groups import E3, GridReflections, GridShifts, Permutations
from equigen.nn import EGNNLayer, SpectralConv, TensorProductConv
from equigen.nn.symbols import Conserving, RealEven
from equigen.nn.tensor_product import default_dtype, spherical_harmonics_safe
from equigen.testing import assert_conserves, assert_symplectic, check_conserves, check_equivariant
from equigen.testing import strategies as gst
from equigen.testing.plugin import active_settings

F64 = torch.float64
HERE = Path(__file__).resolve()
GRAPH_KINDS = ("nodes", "positions", "edge_index", "batch")
EN = E3() * Permutations()


@dataclass
class Case:
    """One layer of the suite: ``check()`` raises when the kit flags it."""

    name: str
    family: str  # "graph", "e3nn", "spectral", "integrator"
    correct: bool
    what: str
    check: Callable[[], None]
    e3nn: Callable | None = None  # (fn, args, irreps_in, irreps_out) for e3nn's own checker


CASES: list[Case] = []


def case(name, family, correct, what, e3nn=None):
    def register(check, e3nn=e3nn):
        CASES.append(Case(name, family, correct, what, check, e3nn))
        return check
    return register


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


#: False: searches stop at the first counterexample (no shrinking) -- the same inputs and
#: elements are tried, so what is caught does not change; only the report is less minimal.
SHRINK = True


def settings():
    """The active hypothesis profile, without the shrink phase when ``SHRINK`` is False."""
    if SHRINK:
        return None
    phases = [p for p in active_settings().phases if p != hypothesis.Phase.shrink]
    return hypothesis.settings(active_settings(), phases=phases)


# ================================================================ graph networks
# Inputs: (h (N, 3), pos (N, 3), edge_index (2, E), batch (N,)), float64, several graphs.


def _graph_inputs(max_points=10):
    return gst.graphs(num_features=3, max_points=max_points, with_batch=True, dtype=F64)


def _check_graph(fn, out_kinds):
    check_equivariant(fn, EN, GRAPH_KINDS, out_kinds, _graph_inputs(), settings=settings())


def _fixed_graph(seed=4, sizes=(7, 6)):
    """One generic batch of two graphs (for e3nn's single-example checker)."""
    from equigen.geometry import radius_graph

    g = _gen(seed)
    n = sum(sizes)
    pos = torch.randn(n, 3, generator=g, dtype=F64)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return torch.randn(n, 3, generator=g, dtype=F64), pos, radius_graph(pos, 1.5, batch=batch), batch


_E3NN_KIND = {"positions": "cartesian_points", "vectors": "1x1o", "pseudovectors": "1x1e"}


def _graph_e3nn(fn, out_kinds):
    args = _fixed_graph()
    outs = fn(*args)
    outs = outs if isinstance(outs, tuple) else (outs,)
    irreps_out = []
    for o, kind in zip(outs, out_kinds):
        if kind in ("nodes", "scalars"):
            irreps_out.append(f"{o.shape[1]}x0e")
        elif kind in _E3NN_KIND and o.dim() == 2:
            irreps_out.append(_E3NN_KIND[kind])
        else:
            return None  # (N, C, 3) vectors: no e3nn irreps layout
    return fn, args, ["3x0e", "cartesian_points", None, None], irreps_out


def graph_case(name, correct, what, fn, out_kinds):
    case(name, "graph", correct, what, e3nn=lambda: _graph_e3nn(fn, out_kinds))(
        lambda: _check_graph(fn, out_kinds))


def _weights(pos, edge_index):
    src, dst = edge_index
    return torch.exp(-((pos[dst] - pos[src]) ** 2).sum(-1, keepdim=True))


def _graph_means(x, batch):
    num = int(batch.max()) + 1 if batch.numel() else 0
    sums = torch.zeros(num, *x.shape[1:], dtype=x.dtype).index_add_(0, batch, x)
    counts = torch.bincount(batch, minlength=num).clamp_min(1).to(x.dtype)
    return sums / counts.reshape(-1, *([1] * (x.dim() - 1)))


def mp_sum(h, pos, edge_index, batch):
    src, dst = edge_index
    return h + torch.zeros_like(h).index_add_(0, dst, _weights(pos, edge_index) * h[src])


def mp_last_write(h, pos, edge_index, batch):
    src, dst = edge_index
    out = h.clone()
    out[dst] = h[dst] + _weights(pos, edge_index) * h[src]  # BUG: one message per target survives
    return out


graph_case("sum message passing (index_add)", True, "messages summed with index_add_", mp_sum, ("nodes",))
graph_case("last-write-wins scatter", False, "out[dst] = msg keeps the last edge only", mp_last_write, ("nodes",))


def mp_scatter_dim_size(h, pos, edge_index, batch):
    src, dst = edge_index
    agg = torch.zeros(h.shape[0], h.shape[1], dtype=h.dtype).index_add_(0, dst, _weights(pos, edge_index) * h[src])
    return torch.cat([h, agg], 1)


def mp_scatter_no_dim_size(h, pos, edge_index, batch):
    src, dst = edge_index
    size = int(dst.max()) + 1 if dst.numel() else 0  # BUG: scatter without dim_size=N
    agg = torch.zeros(size, h.shape[1], dtype=h.dtype).index_add_(0, dst, _weights(pos, edge_index) * h[src])
    return torch.cat([h[:size], agg], 1)


graph_case("scatter with dim_size=N", True, "aggregation sized by the node count", mp_scatter_dim_size, ("nodes",))
graph_case("scatter without dim_size", False, "output rows = max(dst)+1: drops trailing isolated nodes",
           mp_scatter_no_dim_size, ("nodes",))


def centre_per_graph(h, pos, edge_index, batch):
    rel = pos - _graph_means(pos, batch)[batch]
    return pos + 0.1 * rel * torch.tanh(h[:, :1])


def centre_batch_wide(h, pos, edge_index, batch):
    rel = pos - pos.mean(0)  # BUG: one centroid for the whole batch
    return pos + 0.1 * rel * torch.tanh(h[:, :1])


def centre_sorted_batch(h, pos, edge_index, batch):
    counts = torch.bincount(batch)  # BUG: assumes the nodes of a graph are contiguous
    means = torch.stack([c.mean(0) if c.numel() else c.sum(0) for c in torch.split(pos, counts.tolist())])
    rel = pos - torch.repeat_interleave(means, counts, 0)
    return pos + 0.1 * rel * torch.tanh(h[:, :1])


graph_case("per-graph centroid", True, "centroid per graph by index_add over batch", centre_per_graph, ("positions",))
graph_case("batch-wide centroid", False, "pos - pos.mean(0) over the whole batch", centre_batch_wide, ("positions",))
graph_case("sorted-batch centroid", False, "torch.split by bincount assumes sorted batch",
           centre_sorted_batch, ("positions",))


def nearest_first_edge(h, pos, edge_index, batch):
    src, dst = edge_index
    n = pos.shape[0]
    # BUG: takes the first listed incoming edge as the nearest neighbour (assumes sorted edges)
    first = torch.full((n,), -1, dtype=torch.long)
    for k in range(dst.numel() - 1, -1, -1):
        first[dst[k]] = src[k]
    d = torch.where(first >= 0, (pos - pos[first.clamp_min(0)]).norm(dim=1), torch.zeros(n, dtype=pos.dtype))
    return torch.cat([h, d[:, None]], 1)


def nearest_min(h, pos, edge_index, batch):
    src, dst = edge_index
    n = pos.shape[0]
    d = (pos[src] - pos[dst]).norm(dim=1)
    big = torch.full((n,), math.inf, dtype=pos.dtype).scatter_reduce(0, dst, d, reduce="amin")
    return torch.cat([h, torch.where(torch.isinf(big), torch.zeros_like(big), big)[:, None]], 1)


graph_case("nearest neighbour by scatter amin", True, "minimum over incoming edges", nearest_min, ("nodes",))
graph_case("nearest neighbour = first edge", False, "relies on the column order of edge_index",
           nearest_first_edge, ("nodes",))


def _edge_sums(h, pos, edge_index):
    src, dst = edge_index
    rel = pos[src] - pos[dst]
    w = _weights(pos, edge_index)
    a = torch.zeros_like(pos).index_add_(0, dst, w * rel)
    b = torch.zeros_like(pos).index_add_(0, dst, torch.tanh(h[src, :1]) * rel)
    return a, b


def cross_update(h, pos, edge_index, batch):
    a, b = _edge_sums(h, pos, edge_index)
    return torch.linalg.cross(a, b)  # a pseudovector, declared a vector under E(3)


def cross_update_se3(h, pos, edge_index, batch):
    return cross_update(h, pos, edge_index, batch)


graph_case("cross product claimed O(3)", False, "cross(a, b) of two equivariant vectors declared a vector",
           cross_update, ("vectors",))
graph_case("cross product declared a pseudovector", True, "the same map with out kind 'pseudovectors'",
           cross_update_se3, ("pseudovectors",))


class BiasedCoordinateUpdate(torch.nn.Module):
    """EGNN-style coordinate update plus a learnable vector shift initialised to zero (BUG)."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(0.3, dtype=F64))
        self.shift = torch.nn.Parameter(torch.zeros(3, dtype=F64))

    def forward(self, h, pos, edge_index, batch):
        a, _ = _edge_sums(h, pos, edge_index)
        return pos + self.scale * a + self.shift


graph_case("zero-initialised vector bias", False, "learnable shift of positions, zero at init",
           BiasedCoordinateUpdate(), ("positions",))


def density_cdist(pos):
    """Per-node density ``sum_j exp(-|x_i - x_j|)`` with torch.cdist's default mode (BUG above 25 points)."""
    return torch.exp(-torch.cdist(pos, pos)).sum(1, keepdim=True)


def density_cdist_exact(pos):
    """The same density with the difference-based distance."""
    return torch.exp(-torch.cdist(pos, pos, compute_mode="donot_use_mm_for_euclid_dist")).sum(1, keepdim=True)


def _cli(target: str, *args: str) -> int:
    from equigen.cli import main

    return main(["check", f"{HERE}:{target}", *args])


def _cli_check(target: str, *args: str) -> None:
    from equigen.testing import EquivarianceError

    rc = _cli(target, *args)
    if rc == 1:
        raise EquivarianceError(f"equigen check {target} reported a violation (exit 1)")
    if rc != 0:
        raise RuntimeError(f"equigen check {target} exited with {rc}")


_DENSITY = ("--group", "E3*Permutations", "--in", "positions", "--out", "nodes", "--dtype", "float64",
            "--examples", "20")
case("cdist density, difference mode (CLI)", "graph", True, "compute_mode='donot_use_mm_for_euclid_dist'")(
    lambda: _cli_check("density_cdist_exact", *_DENSITY))
case("cdist density, default mode (CLI)", "graph", False,
     "torch.cdist's matmul formula above 25 points: sqrt of rounding on the diagonal")(
    lambda: _cli_check("density_cdist", *_DENSITY))


def graphnorm_per_graph(h, pos, edge_index, batch):
    mean = _graph_means(h, batch)[batch]
    var = _graph_means((h - mean) ** 2, batch)[batch]
    return (h - mean) / torch.sqrt(var + 1e-5)


def graphnorm_global_std(h, pos, edge_index, batch):
    mean = _graph_means(h, batch)[batch]
    return (h - mean) / torch.sqrt(h.var(0, unbiased=False) + 1e-5)  # BUG: variance over the whole batch


graph_case("graph norm with per-graph statistics", True, "mean and variance per graph", graphnorm_per_graph, ("nodes",))
graph_case("graph norm with batch-wide variance", False, "per-graph mean, batch-wide variance",
           graphnorm_global_std, ("nodes",))


def absolute_position_feature(h, pos, edge_index, batch):
    return mp_sum(h, pos, edge_index, batch) + torch.tanh(pos.norm(dim=1, keepdim=True))  # BUG: |x| from origin


graph_case("absolute-position feature", False, "|x_i| (distance to the origin) as a node feature",
           absolute_position_feature, ("nodes",))


def _vector_channels(h, pos, edge_index):
    a, _ = _edge_sums(h, pos, edge_index)
    return torch.stack([a, a * a.norm(dim=1, keepdim=True)], 1)  # (N, 2, 3)


def normalise_vectors(h, pos, edge_index, batch):
    v = _vector_channels(h, pos, edge_index)
    return v / (v.norm(dim=-1, keepdim=True) + 1)


def normalise_vectors_wrong_axis(h, pos, edge_index, batch):
    v = _vector_channels(h, pos, edge_index)
    return v / (v.norm(dim=1, keepdim=True) + 1)  # BUG: norm over the channel axis, not xyz


graph_case("vector normalisation over xyz", True, "norm over the last (spatial) axis", normalise_vectors, ("vectors",))
graph_case("vector normalisation over the wrong axis", False, "v.norm(dim=1) on (N, C, 3) vectors",
           normalise_vectors_wrong_axis, ("vectors",))


def egnn_update_absolute(h, pos, edge_index, batch):
    src, dst = edge_index
    w = _weights(pos, edge_index) * torch.tanh(h[src, :1])
    return pos + torch.zeros_like(pos).index_add_(0, dst, w * pos[src])  # BUG: x_j instead of x_i - x_j


graph_case("EGNN update with x_j instead of x_i - x_j", False, "absolute neighbour positions in the update",
           egnn_update_absolute, ("positions",))


def _attention(h, same):
    scores = h @ h.T
    scores = scores.masked_fill(~same, -math.inf)
    return h + torch.softmax(scores, dim=1) @ h


def attention_masked(h, pos, edge_index, batch):
    return _attention(h, batch[:, None] == batch[None, :])


def attention_unmasked(h, pos, edge_index, batch):
    return _attention(h, torch.ones(h.shape[0], h.shape[0], dtype=torch.bool))  # BUG: no batch mask


graph_case("global attention with a batch mask", True, "softmax over nodes of the same graph",
           attention_masked, ("nodes",))
graph_case("global attention without a batch mask", False, "softmax over every node of the batch",
           attention_unmasked, ("nodes",))


class EGNNWrapper(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layer = EGNNLayer(3, 8, dtype=F64)

    def forward(self, h, pos, edge_index, batch):
        return self.layer(h, pos, edge_index)


graph_case("equigen EGNNLayer", True, "E(n) message passing with relative vectors",
           EGNNWrapper(), ("nodes", "positions"))


def pca_frame_first_sign(pos):
    c = pos - pos.mean(0)
    _, vecs = torch.linalg.eigh(c.T @ c)
    vecs = vecs * torch.sign(vecs[0])  # BUG: sign fixed by a frame-dependent component
    return c @ vecs


case("PCA frame, sign from first component", "graph", False, "canonicalisation whose sign rule is not invariant")(
    lambda: check_equivariant(pca_frame_first_sign, EN, ("positions",), ("nodes",),
                              gst.point_clouds(min_points=3, max_points=10, dtype=F64, layout="gaussian"),
                              settings=settings()))


def readout_per_graph(h, pos, edge_index, batch):
    return _graph_means(mp_sum(h, pos, edge_index, batch), batch)


graph_case("per-graph mean readout", True, "mean pooling by index_add over batch", readout_per_graph, ("scalars",))


# ================================================================ e3nn layers
# Inputs: (x (N, irreps.dim), pos (N, 3), edge_index (2, E)), float64.


@st.composite
def _irreps_graph(draw, irreps, max_points=6):
    pos, edge_index = draw(gst.graphs(max_points=max_points, dtype=F64))
    seed = draw(st.integers(0, 2**31 - 1))
    x = torch.randn(pos.shape[0], o3.Irreps(irreps).dim, generator=_gen(seed), dtype=F64)
    return x, pos, edge_index


def _fixed_irreps_graph(irreps, n=7, seed=3):
    g = _gen(seed)
    pos = torch.randn(n, 3, generator=g, dtype=F64)
    src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    keep = src != dst
    edge_index = torch.stack([src[keep], dst[keep]])
    return torch.randn(n, o3.Irreps(irreps).dim, generator=g, dtype=F64), pos, edge_index


def _check_e3nn(fn, irreps_in, irreps_out, group=None):
    group = group or EN
    check_equivariant(fn, group, (o3.Irreps(irreps_in), "positions", "edge_index"), (o3.Irreps(irreps_out),),
                      _irreps_graph(irreps_in), settings=settings())


def _e3nn_spec(fn, irreps_in, irreps_out):
    """What e3nn's checker needs: a function of (x, pos) with edge_index fixed, and irreps."""
    x, pos, edge_index = _fixed_irreps_graph(irreps_in)
    return (lambda x, pos: fn(x, pos, edge_index)), (x, pos), [irreps_in, "cartesian_points"], [irreps_out]


def triple_product(x, pos, edge_index, *, parity_ok=True):
    src, dst = edge_index
    rel = pos[src] - pos[dst]
    t = (x[dst] * torch.linalg.cross(x[src], rel)).sum(-1, keepdim=True)
    return torch.zeros(x.shape[0], 1, dtype=x.dtype).index_add_(0, dst, t)


case("triple product declared 0o", "e3nn", True, "x_i . (x_j x r_ij) is a pseudoscalar")(
    lambda: _check_e3nn(triple_product, "1x1o", "1x0o"), e3nn=lambda: _e3nn_spec(triple_product, "1x1o", "1x0o"))
case("triple product declared 0e", "e3nn", False, "a pseudoscalar declared 0e (wrong parity)")(
    lambda: _check_e3nn(triple_product, "1x1o", "1x0e"), e3nn=lambda: _e3nn_spec(triple_product, "1x1o", "1x0e"))


def axial_dot_harmonics(x, pos, edge_index):
    src, dst = edge_index
    sh = spherical_harmonics_safe(o3.Irreps("1x1o"), pos[src] - pos[dst])
    t = (x[dst] * sh).sum(-1, keepdim=True)
    return torch.zeros(x.shape[0], 1, dtype=x.dtype).index_add_(0, dst, t)


case("1e feature . 1o harmonics declared 0e", "e3nn", False, "an axial (1e) input treated as 1o")(
    lambda: _check_e3nn(axial_dot_harmonics, "1x1e", "1x0e"),
    e3nn=lambda: _e3nn_spec(axial_dot_harmonics, "1x1e", "1x0e"))


IRREPS = "2x0e+1x1o"


def _seeded(module: torch.nn.Module, seed=0) -> torch.nn.Module:
    g = _gen(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=F64))
    return module


class E3nnConv(torch.nn.Module):
    """Spherical harmonics of edges, weights from a radial MLP, sum over neighbours."""

    def __init__(self, irreps_in=IRREPS, irreps_out=IRREPS, *, xyz_bug=False):
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        self.sh = o3.Irreps("0e+1o+2e")
        with default_dtype(F64):  # e3nn tabulates its coefficients in the default dtype
            self.tp = o3.FullyConnectedTensorProduct(self.irreps_in, self.sh, self.irreps_out, shared_weights=False)
        self.radial = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.SiLU(),
                                          torch.nn.Linear(8, self.tp.weight_numel))
        self.xyz_bug = xyz_bug
        _seeded(self.double())

    def forward(self, x, pos, edge_index):
        src, dst = edge_index
        rel = pos[src] - pos[dst]
        sh = spherical_harmonics_safe(self.sh, rel)
        if self.xyz_bug:  # BUG: l=1 reordered to (y, z, x) (older e3nn's order); e3nn's l=1 is (x, y, z)
            sh = torch.cat([sh[:, :1], sh[:, [2, 3, 1]], sh[:, 4:]], 1)
        w = self.radial(rel.norm(dim=1, keepdim=True))
        msg = self.tp(x[src], sh, w)
        return torch.zeros(x.shape[0], msg.shape[1], dtype=x.dtype).index_add_(0, dst, msg)


case("hand-written e3nn tensor-product conv", "e3nn", True, "harmonics + FullyConnectedTensorProduct + index_add")(
    lambda: _check_e3nn(E3nnConv(), IRREPS, IRREPS), e3nn=lambda: _e3nn_spec(E3nnConv(), IRREPS, IRREPS))
case("l=1 harmonics reordered to (y, z, x)", "e3nn", False, "code ported from an older basis convention")(
    lambda: _check_e3nn(E3nnConv(xyz_bug=True), IRREPS, IRREPS),
    e3nn=lambda: _e3nn_spec(E3nnConv(xyz_bug=True), IRREPS, IRREPS))


class TPConvWrapper(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = TensorProductConv(IRREPS, IRREPS, cutoff=3.0, num_radial=4, radial_hidden=8, dtype=F64,
                                      warn_unreachable=False)

    def forward(self, x, pos, edge_index):
        return self.conv(x, pos, edge_index)


case("equigen TensorProductConv", "e3nn", True, "gated tensor-product convolution")(
    lambda: _check_e3nn(TPConvWrapper(), IRREPS, IRREPS), e3nn=lambda: _e3nn_spec(TPConvWrapper(), IRREPS, IRREPS))


GATED_IN = "3x0e+1x1o"


class GatedConv(torch.nn.Module):
    """A conv to ``2x0e + 1x0e (gate) + 1x1o`` followed by a gate; the bugs are in the gate."""

    def __init__(self, mode="gate"):
        super().__init__()
        self.mode = mode
        self.conv = E3nnConv(GATED_IN, "2x0e+1x0e+1x1o")
        with default_dtype(F64):
            self.gate = Gate("2x0e", [torch.tanh], "1x0e", [torch.sigmoid], "1x1o")
        self.linear = _seeded(torch.nn.Linear(6, 6).double())

    def forward(self, x, pos, edge_index):
        y = self.conv(x, pos, edge_index)
        if self.mode == "gate":
            return self.gate(y)
        if self.mode == "silu":  # BUG: elementwise SiLU on every component, vectors included
            return torch.nn.functional.silu(torch.cat([y[:, :2], y[:, 3:]], 1))
        if self.mode == "slice":  # BUG: gate scalar sliced from the vector block (y[:, 3])
            return torch.cat([torch.tanh(y[:, :2]), torch.sigmoid(y[:, 3:4]) * y[:, 3:]], 1)
        if self.mode == "linear":  # BUG: torch.nn.Linear over the flat irreps mixes m components
            return self.linear(torch.cat([y[:, :2], torch.sigmoid(y[:, 2:3]) * y[:, 3:], y[:, 2:3]], 1))[:, :5]
        raise ValueError(self.mode)


_OUT = "2x0e+1x1o"
for _mode, _ok, _what in (("gate", True, "e3nn.nn.Gate: scalars gate the vectors"),
                          ("silu", False, "SiLU applied to vector components"),
                          ("slice", False, "gate scalar taken from a vector component"),
                          ("linear", False, "torch.nn.Linear instead of o3.Linear on irreps")):
    case(f"gated conv ({_mode})", "e3nn", _ok, _what,
         e3nn=lambda m=_mode: _e3nn_spec(GatedConv(m), GATED_IN, _OUT))(
        lambda m=_mode: _check_e3nn(GatedConv(m), GATED_IN, _OUT))


def vector_norms(x, pos, edge_index):
    return x.reshape(x.shape[0], 2, 3).norm(dim=-1)  # "2x1o" is multiplicity-major: (N, 2, 3)


def vector_norms_wrong_layout(x, pos, edge_index):
    return x.reshape(x.shape[0], 3, 2).norm(dim=1)  # BUG: (N, 3, 2) layout: mixes the two vectors


case("norms of 2x1o", "e3nn", True, "reshape (N, mul, 3) and norm over xyz")(
    lambda: _check_e3nn(vector_norms, "2x1o", "2x0e"), e3nn=lambda: _e3nn_spec(vector_norms, "2x1o", "2x0e"))
case("norms of 2x1o, wrong layout", "e3nn", False, "reshape (N, 3, mul): norm over the wrong axis")(
    lambda: _check_e3nn(vector_norms_wrong_layout, "2x1o", "2x0e"),
    e3nn=lambda: _e3nn_spec(vector_norms_wrong_layout, "2x1o", "2x0e"))


# ================================================================ spectral layers
# Fields (B, C, n) periodic; claims GridShifts(1) (and GridReflections(1)).

SHIFTS = GridShifts(1)
SHIFTS_REFL = GridShifts(1) * GridReflections(1)
MODES = 4


def _fields(ndim=1, channels=2, min_size=2):
    return gst.fields(ndim=ndim, channels=channels, min_size=min_size, max_size=16 if ndim == 1 else 8, dtype=F64)


def _check_field(fn, group, ndim=1, min_size=2):
    check_equivariant(fn, group, ("field",), ("field",), _fields(ndim, min_size=min_size), settings=settings())


def _complex_weights(seed=1, channels=2, modes=MODES):
    g = _gen(seed)
    return torch.complex(torch.randn(channels, channels, modes, generator=g, dtype=F64),
                         torch.randn(channels, channels, modes, generator=g, dtype=F64))


class Spectral1d(torch.nn.Module):
    """A hand-written FNO spectral conv: rfft, mix the first ``modes`` bins, irfft."""

    def __init__(self, bug=None):
        super().__init__()
        w = _complex_weights()
        self.re = torch.nn.Parameter(w.real.clone())
        if bug == "even":  # a real symbol: no imaginary part at all
            self.register_buffer("im", torch.zeros_like(w.imag))
        elif bug == "zero_im":  # BUG: a trainable imaginary part initialised to zero
            self.im = torch.nn.Parameter(torch.zeros_like(w.imag))
        else:
            self.im = torch.nn.Parameter(w.imag.clone())
        self.bug = bug

    def forward(self, x):
        n = x.shape[-1]
        pad = 0
        if self.bug == "pad":  # BUG: zero padding of the domain (non-periodic problems) on a periodic claim
            pad = 3
            x = torch.nn.functional.pad(x, (0, pad))
        X = torch.fft.rfft(x)
        m = min(MODES, X.shape[-1])
        w = torch.complex(self.re, self.im)[..., :m]
        if self.bug == "real_only":  # BUG: multiplies only the real part of the spectrum
            Xm = X[..., :m].real.to(X.dtype)
        else:
            Xm = X[..., :m]
        Y = torch.zeros(x.shape[0], self.re.shape[0], X.shape[-1], dtype=X.dtype)
        Y[..., :m] = torch.einsum("bik,oik->bok", Xm, w)
        if self.bug == "no_n":  # BUG: irfft without n=: odd grids come back one point short... re-padded
            y = torch.fft.irfft(Y)
            return torch.nn.functional.pad(y, (0, n - y.shape[-1]), mode="circular") if y.shape[-1] < n else y
        y = torch.fft.irfft(Y, n=x.shape[-1])
        return y[..., :n] if pad else y


case("hand-written spectral conv, shifts", "spectral", True, "rfft, complex weights, irfft(n=n)")(
    lambda: _check_field(Spectral1d(), SHIFTS))
case("complex symbol claimed reflection-symmetric", "spectral", False, "complex weights are not even")(
    lambda: _check_field(Spectral1d(), SHIFTS_REFL))
case("real weights, reflection-symmetric", "spectral", True, "a real symbol is even in 1-D rfft")(
    lambda: _check_field(Spectral1d("even"), SHIFTS_REFL))
case("real symbol from a zero-initialised imaginary parameter", "spectral", False,
     "reflection symmetry holds only while Im w = 0; training moves it")(
    lambda: _check_field(Spectral1d("zero_im"), SHIFTS_REFL))
case("irfft without n", "spectral", False, "odd grids: the inverse returns n-1 points (then re-padded)")(
    lambda: _check_field(Spectral1d("no_n"), SHIFTS))
case("domain padding claimed periodic", "spectral", False, "zero-pads the grid before the FFT, crops after")(
    lambda: _check_field(Spectral1d("pad"), SHIFTS))
case("real part of the spectrum only", "spectral", False, "X.real * w drops Im X")(
    lambda: _check_field(Spectral1d("real_only"), SHIFTS))


def grid_embedding(x):
    """FNO lifting with a positional grid channel (neuraloperator's default embedding)."""
    n = x.shape[-1]
    grid = torch.linspace(0, 1, n, dtype=x.dtype).expand(x.shape[0], 1, n)
    return x + torch.sin(3 * grid) * x.mean(1, keepdim=True)  # BUG: depends on absolute grid position


case("positional grid embedding claimed shift-equivariant", "spectral", False, "linspace(0, 1, n) channel")(
    lambda: _check_field(grid_embedding, SHIFTS))


case("equigen SpectralConv, RealEven", "spectral", True, "real even symbol: shifts and reflections")(
    lambda: _check_field(SpectralConv(2, 2, MODES, "real_even", ndim=1, generator=_gen(), dtype=F64), SHIFTS_REFL,
                         min_size=2 * MODES))
case("equigen SpectralConv, Free", "spectral", True, "complex symbol claimed shifts only")(
    lambda: _check_field(SpectralConv(2, 2, MODES, "free", ndim=1, generator=_gen(), dtype=F64), SHIFTS,
                         min_size=2 * MODES))


class Spectral2d(torch.nn.Module):
    """2-D rfft2 spectral conv with real weights over ``|k1| <= m, 0 <= k2 <= m``."""

    def __init__(self, negative_rows=True):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(2, 2, 3, 3, generator=_gen(2), dtype=F64))
        self.negative_rows = negative_rows

    def forward(self, x):
        X = torch.fft.rfft2(x)
        n1, m = x.shape[-2], min(3, X.shape[-1])
        Y = torch.zeros(x.shape[0], 2, n1, X.shape[-1], dtype=X.dtype)
        rows = min(3, (n1 + 1) // 2)
        w = self.w[..., :rows, :m].to(X.dtype)
        Y[..., :rows, :m] = torch.einsum("bixy,oixy->boxy", X[..., :rows, :m], w)
        if self.negative_rows:  # the weights2 block of FNO: rows -1 .. -(rows-1), same |k1|
            neg = torch.arange(1, rows)
            Y[..., -neg, :m] = torch.einsum("bixy,oixy->boxy", X[..., -neg, :m], w[..., 1:rows, :])
        # BUG (negative_rows=False): only the positive rows of the rfft2 half-plane kept
        return torch.fft.irfft2(Y, s=x.shape[-2:])


GRID2 = GridShifts(2) * GridReflections(2)
case("2-D spectral conv with both row blocks", "spectral", True, "weights shared by +k1 and -k1")(
    lambda: _check_field(Spectral2d(True), GRID2, ndim=2))
case("2-D spectral conv, positive rows only", "spectral", False, "FNO without its weights2 block, claimed reflections")(
    lambda: _check_field(Spectral2d(False), GRID2, ndim=2))


def _mass(u):
    return u.sum(dim=-1)


def _mass_step(layer):
    return lambda u: u + 0.01 * layer(u)


class SpectralGenerator(torch.nn.Module):
    """du/dt = L u with a real even multiplier; ``k0`` is the weight of the mean (k = 0)."""

    def __init__(self, k0):
        super().__init__()
        w = -torch.arange(MODES, dtype=F64) ** 2
        w[0] = k0
        self.w = torch.nn.Parameter(w)

    def forward(self, u):
        U = torch.fft.rfft(u)
        m = min(MODES, U.shape[-1])
        out = torch.zeros_like(U)
        out[..., :m] = U[..., :m] * self.w[:m]
        return torch.fft.irfft(out, n=u.shape[-1])


_U0 = torch.randn(1, 1, 15, generator=_gen(5), dtype=F64)
case("spectral generator with L(0) = 0, mass", "spectral", True, "zero weight on k = 0")(
    lambda: assert_conserves(_mass_step(SpectralGenerator(0.0)), _U0, _mass, 50))
case("spectral generator with L(0) != 0 claimed mass-conserving", "spectral", False, "weight 0.05 on k = 0")(
    lambda: assert_conserves(_mass_step(SpectralGenerator(0.05)), _U0, _mass, 50))
case("equigen Conserving(RealEven), mass", "spectral", True, "SpectralConv with a Conserving symbol")(
    lambda: assert_conserves(_mass_step(SpectralConv(1, 1, MODES, Conserving(RealEven(1, 1, MODES, generator=_gen(),
                                                                                     dtype=F64)))),
                             _U0, _mass, 50))


# ================================================================ integrators

KEPLER = Kepler()
KEPLER_STATE = Kepler.initial_state(0.6)


def _kepler_energy(s):
    return KEPLER.energy(*s)


def _bounded(step, state=KEPLER_STATE, energy=_kepler_energy, steps=500):
    assert_conserves(step, state, energy, steps, mode="bounded", rtol=0.05)


for _method, _ok in (("leapfrog", True), ("yoshida4", True), ("rk4", False)):
    case(f"{_method} energy on Kepler (bounded)", "integrator", _ok,
         "symplectic: bounded energy error" if _ok else "non-symplectic: slow secular energy loss")(
        lambda m=_method: _bounded(stepper(KEPLER, 0.05, m, check=False)))


def damped_leapfrog(s, _step=stepper(KEPLER, 0.05, "leapfrog", check=False)):
    q, p = _step(s)
    return q, p * (1 - 2e-6)  # BUG: a tiny friction term left in


case("leapfrog damped by 2e-6 per step", "integrator", False, "friction left in a 'conservative' step")(
    lambda: _bounded(damped_leapfrog))

OSC = HarmonicOscillator()
OSC_STATE = (torch.tensor([1.0], dtype=F64), torch.tensor([0.0], dtype=F64))


def _osc_energy(s):
    return OSC.energy(*s)


def euler_step(s, dt=0.02):
    q, p = s
    return q + dt * p, p - dt * q  # BUG: explicit Euler, both updates from the old state


def symplectic_euler_step(s, dt=0.02):
    q, p = s
    p = p - dt * q
    return q + dt * p, p


case("explicit Euler claimed energy-conserving", "integrator", False, "energy grows by (1 + dt^2) per step")(
    lambda: _bounded(euler_step, OSC_STATE, _osc_energy))
case("symplectic Euler energy (bounded)", "integrator", True, "kick then drift")(
    lambda: _bounded(symplectic_euler_step, OSC_STATE, _osc_energy))
case("symplectic Euler is symplectic", "integrator", True, "J^T Omega J = Omega")(
    lambda: assert_symplectic(symplectic_euler_step, OSC_STATE))


def stale_force_verlet(s, dt=0.05):
    q, p = s
    f = -KEPLER.grad_potential(q)
    p_half = p + 0.5 * dt * f
    q = q + dt * p_half
    return q, p_half + 0.5 * dt * f  # BUG: second half-kick reuses the force at the old q


case("velocity Verlet reusing the old force", "integrator", False, "cached force for the second half-kick")(
    lambda: assert_symplectic(stale_force_verlet, tuple(t.clone() for t in KEPLER_STATE)))
case("leapfrog is symplectic", "integrator", True, "kick-drift-kick")(
    lambda: assert_symplectic(stepper(KEPLER, 0.05, "leapfrog", check=False),
                              tuple(t.clone() for t in KEPLER_STATE)))


def adaptive_leapfrog(s):
    q, p = s
    dt = 0.05 / (1 + q.norm())  # BUG: state-dependent step size breaks symplecticity
    p = p - 0.5 * dt * KEPLER.grad_potential(q)
    q = q + dt * p
    return q, p - 0.5 * dt * KEPLER.grad_potential(q)


case("adaptive-step leapfrog claimed symplectic", "integrator", False, "dt depends on |q|")(
    lambda: assert_symplectic(adaptive_leapfrog, tuple(t.clone() for t in KEPLER_STATE)))

MASSES = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5], dtype=F64)
PARTICLES = (torch.randn(5, 3, generator=_gen(7), dtype=F64), torch.randn(5, 3, generator=_gen(8), dtype=F64))


def _pair_forces(q):
    r = q[:, None] - q[None]  # r_ij = q_i - q_j
    d2 = (r ** 2).sum(-1) + 0.1
    return -(MASSES[:, None, None] * MASSES[None, :, None] * r / d2[..., None] ** 1.5).sum(1)  # F_i, antisymmetric


def pair_step(s, dt=0.01, bug=False):
    q, p = s
    if bug:  # BUG: accelerations (F_i / m_i) used as forces in the momentum update
        p = p + dt * _pair_forces(q) / MASSES[:, None]
    else:
        p = p + dt * _pair_forces(q)
    return q + dt * p / MASSES[:, None], p


def _momentum(s):
    return s[1].sum(0)


case("pair forces (Newton's third law), momentum", "integrator", True, "antisymmetric pair forces")(
    lambda: assert_conserves(pair_step, PARTICLES, _momentum, 200))
case("accelerations used as forces, momentum", "integrator", False, "F_i / m_i in dp: unequal masses")(
    lambda: assert_conserves(lambda s: pair_step(s, bug=True), PARTICLES, _momentum, 200))


WALL = 1.5


def _osc_states():
    return st.tuples(st.floats(-2.0, 2.0), st.floats(-2.0, 2.0)).map(
        lambda t: (torch.tensor([t[0]], dtype=F64), torch.tensor([t[1]], dtype=F64)))


def leapfrog_osc(s, dt=0.1):
    q, p = s
    p = p - 0.5 * dt * q
    q = q + dt * p
    return q, p - 0.5 * dt * q


def walled_leapfrog(s):
    q, p = leapfrog_osc(s)
    hit = q.abs() > WALL
    # BUG: the wall clamps the position (moving the particle) and flips p: energy changes at each hit
    return q.clamp(-WALL, WALL), torch.where(hit, -p, p)


def _check_osc_states(step):
    # 50..200 steps, 4x extended: 200..800 steps of dt = 0.1, 6..25 periods of the energy error
    check_conserves(step, _osc_states(), _osc_energy, 200, mode="bounded", rtol=0.01, settings=settings())


case("leapfrog oscillator over searched states", "integrator", True, "bounded energy for every initial state")(
    lambda: _check_osc_states(leapfrog_osc))
case("reflecting wall by clamping", "integrator", False, "energy changes only for states that reach the wall")(
    lambda: _check_osc_states(walled_leapfrog))


def e3nn_flags(c: Case):
    """Does e3nn's own single-example checker flag ``c``? None where it does not apply."""
    from e3nn.util.test import assert_equivariant as e3nn_assert_equivariant

    spec = c.e3nn() if c.e3nn is not None else None
    if spec is None:
        return None
    fn, args, irreps_in, irreps_out = spec
    with default_dtype(F64):  # its tolerance follows the default dtype (1e-9 in float64)
        try:
            e3nn_assert_equivariant(fn, args_in=list(args), irreps_in=irreps_in, irreps_out=irreps_out)
        except AssertionError:
            return True
    return False


BROKEN = [c for c in CASES if not c.correct]
CORRECT = [c for c in CASES if c.correct]

