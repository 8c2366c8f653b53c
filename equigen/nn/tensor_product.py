"""Tensor-product convolution on e3nn (NequIP-style; Batzner et al., Nat. Commun. 2022).

For each edge ``j -> i`` with vector ``r_ij = x_j (+ shift) - x_i``::

    msg_ij = TP_w(|r_ij|)( x_j , Y(r_ij / |r_ij|) )          Y: spherical harmonics (irreps_sh)
    w(r)   = MLP( Bessel_k(r) * u(r / cutoff) )              smooth radial basis, envelope u
    out_i  = Gate( Linear( sum_j msg_ij / sqrt(num_neighbors) ) + SelfLinear(x_i) )

Each path ``l1 x l2 -> l_out`` of the tensor product gets its own radial weights ('uvu'
mode). The gate (Weiler et al. 2018) applies ``silu``/``tanh`` to even/odd scalars and
multiplies each higher-order irrep by a sigmoid-activated scalar gate.

Symmetry: E(3) x node permutations with parity respected (input and output transform by
their Irreps, positions as positions). With ``chiral=True`` every path whose output degree
``l`` is wanted is kept whatever its parity, so the layer is SE(3)-equivariant only: it can
distinguish a structure from its mirror image (which needs 4 or more non-coplanar points).
Coincident points (``r_ij = 0``) contribute only through ``l = 0`` (the direction is undefined).
"""

from __future__ import annotations

import contextlib
import math
import warnings

import torch
from e3nn import nn as enn
from e3nn import o3
from torch import nn

from equigen._configurable import configurable
from equigen.core.validation import check_positive_float, check_positive_int
from equigen.geometry import _check_cutoff, bessel_basis, edge_vectors, safe_norm
from equigen.groups import E3, SE3, Permutations
from equigen.nn._checks import (
    check_edge_index,
    check_nodes,
    check_pos,
    check_shifts,
    graph_inputs,
    is_graph_data,
    scatter_sum,
)
from equigen.symmetry import Symmetry

__all__ = ["TensorProductConv", "TensorProductNet", "spherical_harmonics_safe", "default_dtype"]

_EXAMPLE_IRREPS = o3.Irreps("4x0e+2x1o+1x2e")


def _irreps(value, argument: str) -> o3.Irreps:
    try:
        return o3.Irreps(value)
    except (ValueError, AssertionError, TypeError):
        raise ValueError(f"{argument}={value!r} is not an e3nn Irreps; use a string such as '8x0e+4x1o'") from None


def _directions(vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors of ``vec`` ``(E, 3)`` (``+z`` for zero vectors) and the mask ``(E, 1)`` of zero vectors."""
    r = safe_norm(vec, keepdim=True)
    zero = r == 0
    return torch.where(zero, vec.new_tensor([0.0, 0.0, 1.0]).expand_as(vec), vec / torch.where(zero, 1, r)), zero


def _scalar_mask(irreps_sh: o3.Irreps) -> torch.Tensor:
    """1 on the ``l = 0`` components of ``irreps_sh``, 0 elsewhere: ``(irreps_sh.dim,)``."""
    return torch.cat([torch.full((ir.dim,), float(ir.l == 0)) for mul, ir in irreps_sh for _ in range(mul)])


def spherical_harmonics_safe(irreps_sh: o3.Irreps, vec: torch.Tensor) -> torch.Tensor:
    """Spherical harmonics of the directions of ``vec`` ``(E, 3) -> (E, irreps_sh.dim)``.

    Component normalisation. Zero vectors have no direction: their ``l > 0`` components
    are 0 (and so is the gradient), ``l = 0`` is the constant 1.
    """
    unit, zero = _directions(vec)
    sh = o3.spherical_harmonics(irreps_sh, unit, normalize=False, normalization="component")
    return torch.where(zero, sh * _scalar_mask(irreps_sh).to(sh), sh)


def _gate_for(irreps_out: o3.Irreps):
    """A Gate producing ``irreps_out`` (up to order) and a permutation restoring the order."""
    scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
    gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
    gates = o3.Irreps([(gated.num_irreps, (0, 1))]) if gated.num_irreps else o3.Irreps("")
    acts = [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars]
    gate = enn.Gate(scalars, acts, gates, [torch.sigmoid] * len(gates), gated)
    # Gate's output is scalars then gated; map back to the order of irreps_out.
    offsets, pos_s, pos_g = [], 0, scalars.dim
    for mul, ir in irreps_out:
        if ir.l == 0:
            offsets.append(torch.arange(pos_s, pos_s + mul * ir.dim))
            pos_s += mul * ir.dim
        else:
            offsets.append(torch.arange(pos_g, pos_g + mul * ir.dim))
            pos_g += mul * ir.dim
    order = torch.cat(offsets) if offsets else torch.zeros(0, dtype=torch.long)
    return gate, order


def _tensor_product_paths(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, target: o3.Irreps, chiral: bool):
    """The ``"uvu"`` paths ``irreps_in x irreps_sh -> target``: middle Irreps, the same relabelled, instructions.

    With ``chiral`` every degree of ``target`` is kept whatever its parity, and relabelled with the
    parity ``target`` has at that degree (SE(3) only: parity-violating paths).
    """
    parity_of_l = {}
    for _, ir in target:
        parity_of_l.setdefault(ir.l, ir.p)
    wanted = {ir for _, ir in target}
    mid, mid_relabelled, instructions = [], [], []
    for i1, (mul, ir1) in enumerate(irreps_in):
        for i2, (_, ir2) in enumerate(irreps_sh):
            for ir_out in ir1 * ir2:
                if ir_out in wanted or (chiral and ir_out.l in parity_of_l):
                    instructions.append((i1, i2, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
                    mid_relabelled.append((mul, (ir_out.l, parity_of_l[ir_out.l]) if chiral else ir_out))
    return mid, mid_relabelled, instructions


@configurable
class TensorProductConv(nn.Module):
    """One tensor-product convolution: arbitrary Irreps in and out.

    Args:
        irreps_in, irreps_out: e3nn Irreps (or strings) of node features in and out.
        irreps_sh: spherical harmonics of edge directions (default ``"0e+1o+2e"``).
        cutoff: radius of the smooth cutoff (length unit of ``pos``); edges beyond it carry 0.
        num_radial: Bessel basis functions; ``radial_hidden``: width of the radial MLP.
        num_neighbors: typical neighbour count; messages are summed and divided by its sqrt.
        gate: gated nonlinearity on the output (else a linear output).
        chiral: SE(3)-only (keep parity-violating paths); default False = E(3).
        warn_unreachable: warn when some of ``irreps_out`` can be reached neither by a path
            nor by the self-connection (those channels are always 0); if none can, ValueError.

    Shapes: ``x (N, irreps_in.dim)``, ``pos (N, 3)``, ``edge_index (2, E)`` long,
    ``shifts (E, 3)`` for periodic boxes. Returns ``(N, irreps_out.dim)``.

    Symmetry: E(3) x permutations (``chiral=False``), SE(3) x permutations (``chiral=True``).
    The instance attribute ``symmetry`` carries its own Irreps.

    Example::

        conv = TensorProductConv("4x0e", "4x0e+2x1o", cutoff=3.0)
        out = conv(torch.randn(10, 4), pos, radius_graph(pos, 3.0))      # (10, 10)
    """

    symmetry = Symmetry(lambda: E3() * Permutations(), (_EXAMPLE_IRREPS, "positions", "edge_index"),
                        (_EXAMPLE_IRREPS,),
                        note="class-level kinds are those of symmetry_example; chiral=True claims SE(3) only")

    def __init__(self, irreps_in, irreps_out, irreps_sh="0e+1o+2e", *, cutoff: float = 5.0, num_radial: int = 8,
                 radial_hidden: int = 32, num_neighbors: float = 16.0, gate: bool = True, chiral: bool = False,
                 warn_unreachable: bool = True, dtype=None, device=None):
        super().__init__()
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        with default_dtype(torch.float64):  # e3nn's Clebsch-Gordan buffers: build exact, then cast
            self._build(irreps_in, irreps_out, irreps_sh, cutoff, num_radial, radial_hidden, num_neighbors, gate,
                        chiral, warn_unreachable)
        self.to(dtype=dtype, device=device)

    def _build(self, irreps_in, irreps_out, irreps_sh, cutoff, num_radial, radial_hidden, num_neighbors, gate,
               chiral, warn_unreachable):
        self.irreps_in = _irreps(irreps_in, "irreps_in")
        self.irreps_out = _irreps(irreps_out, "irreps_out")
        self.irreps_sh = _irreps(irreps_sh, "irreps_sh")
        _check_cutoff(cutoff)
        for name, value in (("num_radial", num_radial), ("radial_hidden", radial_hidden)):
            check_positive_int(value, name)
        check_positive_float(num_neighbors, "num_neighbors")
        if self.irreps_in.dim == 0 or self.irreps_out.dim == 0:
            raise ValueError("irreps_in and irreps_out must be non-empty")
        self.cutoff, self.num_radial, self.num_neighbors = float(cutoff), num_radial, float(num_neighbors)
        self.chiral, self.use_gate = bool(chiral), bool(gate)
        target = self._build_gate()
        mid, mid_relabelled, instructions = _tensor_product_paths(self.irreps_in, self.irreps_sh, target, self.chiral)
        self._check_reachable(mid, mid_relabelled, warn_unreachable)
        self.irreps_mid = o3.Irreps(mid)
        self.tp = o3.TensorProduct(self.irreps_in, self.irreps_sh, self.irreps_mid, instructions,
                                   shared_weights=False, internal_weights=False)
        self.radial = enn.FullyConnectedNet([num_radial, radial_hidden, radial_hidden, self.tp.weight_numel],
                                            torch.nn.functional.silu)
        self.linear = o3.Linear(o3.Irreps(mid_relabelled), target)
        self.self_linear = o3.Linear(self.irreps_in, target)
        # Plain values for forward(): torch.compile cannot guard on e3nn Irreps objects.
        self._dim_in = self.irreps_in.dim
        self._sh_module = o3.SphericalHarmonics(self.irreps_sh, normalize=False, normalization="component")
        self.register_buffer("_sh_mask", _scalar_mask(self.irreps_sh), persistent=False)
        group = SE3 if self.chiral else E3
        self.symmetry = Symmetry(lambda: group() * Permutations(), (self.irreps_in, "positions", "edge_index"),
                                 (self.irreps_out,))

    def _build_gate(self) -> o3.Irreps:
        """The output gate (or none) and its channel order; returns the Irreps the linear maps produce."""
        if self.use_gate:
            self.gate, order = _gate_for(self.irreps_out)
            self.register_buffer("_order", order, persistent=False)
            return self.gate.irreps_in
        self.gate = None
        self.register_buffer("_order", torch.zeros(0, dtype=torch.long), persistent=False)
        return self.irreps_out

    def _check_reachable(self, mid, mid_relabelled, warn_unreachable) -> None:
        """ValueError when no output can be reached (by a path or the self-connection), a warning when some can't."""
        reachable = {ir for _, ir in mid_relabelled} | {ir for _, ir in self.irreps_in}
        unreachable = [str(ir) for _, ir in self.irreps_out if ir not in reachable]
        if not mid or len(unreachable) == len(self.irreps_out):
            raise ValueError(f"no tensor-product path leads from irreps_in={self.irreps_in} with irreps_sh="
                             f"{self.irreps_sh} to irreps_out={self.irreps_out}; the output would always be 0: "
                             "add the missing degrees/parities to irreps_sh or irreps_in")
        if unreachable and warn_unreachable:
            warnings.warn(f"irreps_out={self.irreps_out}: {', '.join(unreachable)} cannot be reached from irreps_in="
                          f"{self.irreps_in} with irreps_sh={self.irreps_sh} and will always be 0", stacklevel=4)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None, edge_index: torch.Tensor | None = None, *,
                shifts: torch.Tensor | None = None, _checked: bool = False) -> torch.Tensor:
        if is_graph_data(x):
            x, pos, edge_index, extras = graph_inputs(x, pos, edge_index)
            shifts = shifts if shifts is not None else extras.get("shifts")
        pos = check_pos(pos, 3, like=self, finite=not _checked)  # _checked: TensorProductNet checked the input
        n_nodes = pos.shape[0]
        x = check_nodes(x, n_nodes, self._dim_in, "x", like=self, finite=not _checked)
        edge_index = check_edge_index(edge_index, n_nodes)
        shifts = check_shifts(shifts, edge_index.shape[1], 3, pos)
        src, dst = edge_index
        vec = edge_vectors(pos, edge_index, shifts)
        r = safe_norm(vec)
        unit, zero = _directions(vec)  # as spherical_harmonics_safe, with a prebuilt module (compilable)
        sh = self._sh_module(unit)
        sh = torch.where(zero, sh * self._sh_mask.to(sh), sh)
        weights = self.radial(bessel_basis(r, self.cutoff, self.num_radial))
        msg = self.tp(x[src], sh, weights)
        agg = scatter_sum(msg, dst, n_nodes) / math.sqrt(self.num_neighbors)
        out = self.linear(agg) + self.self_linear(x)
        if self.gate is None:
            return out
        return self.gate(out)[:, self._order]

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        from equigen.geometry import radius_graph

        conv = cls(_EXAMPLE_IRREPS, _EXAMPLE_IRREPS, cutoff=3.0, num_neighbors=4.0, dtype=dtype)
        _init(conv, generator)
        pos = torch.randn(6, 3, generator=generator, dtype=dtype)
        x = torch.randn(6, _EXAMPLE_IRREPS.dim, generator=generator, dtype=dtype)
        return conv, (x, pos, radius_graph(pos, 3.0))


@configurable
class TensorProductNet(nn.Module):
    """A stack of :class:`TensorProductConv`: ``irreps_in -> irreps_hidden (x num_layers-1) -> irreps_out``.

    ``forward(x, pos, edge_index, *, shifts=None) -> (N, irreps_out.dim)``; ``x`` may be a PyG
    ``Data``/``Batch`` (fields ``x``, ``pos``, ``edge_index``, optional ``shifts``). Other keyword
    arguments (cutoff, num_radial, chiral, ...) are passed to every layer; the last layer is
    linear (no gate) unless ``gate_last=True``.

    Symmetry: E(3) x permutations (SE(3) x permutations with ``chiral=True``).

    Example::

        net = TensorProductNet("1x0e", "16x0e+8x1o+4x2e", "8x0e", num_layers=3, cutoff=3.0)
        h = net(torch.ones(13, 1), pos, radius_graph(pos, 3.0))          # (13, 8) invariant
    """

    symmetry = Symmetry(lambda: E3() * Permutations(), (o3.Irreps("2x0e+1x1o"), "positions", "edge_index"),
                        (o3.Irreps("2x0e+1x1o"),), note="class-level kinds are those of symmetry_example")

    def __init__(self, irreps_in, irreps_hidden, irreps_out, num_layers: int = 3, *, gate_last: bool = False,
                 **conv_kwargs):
        super().__init__()
        check_positive_int(num_layers, "num_layers")
        self.irreps_in, self.irreps_out = _irreps(irreps_in, "irreps_in"), _irreps(irreps_out, "irreps_out")
        irreps_hidden = _irreps(irreps_hidden, "irreps_hidden")
        # hidden layers may leave some irreps at 0 (e.g. no 1e from scalars in layer 1): warn only at the end
        warn = conv_kwargs.pop("warn_unreachable", True)
        dims = [self.irreps_in] + [irreps_hidden] * (num_layers - 1) + [self.irreps_out]
        self.layers = nn.ModuleList([
            TensorProductConv(a, b, gate=(i < num_layers - 1) or gate_last,
                              warn_unreachable=warn and i == num_layers - 1, **conv_kwargs)
            for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]))])
        self.symmetry = Symmetry(self.layers[0].symmetry.group, (self.irreps_in, "positions", "edge_index"),
                                 (self.irreps_out,))

    def forward(self, x, pos=None, edge_index=None, *, shifts=None):
        if is_graph_data(x):
            x, pos, edge_index, extras = graph_inputs(x, pos, edge_index)
            shifts = shifts if shifts is not None else extras.get("shifts")
        check_pos(pos, 3, like=self)
        check_nodes(x, pos.shape[0], self.layers[0]._dim_in, "x", like=self)
        for layer in self.layers:
            x = layer(x, pos, edge_index, shifts=shifts, _checked=True)
        return x

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        from equigen.geometry import radius_graph

        net = cls("2x0e+1x1o", "4x0e+2x1o+1x2e", "2x0e+1x1o", num_layers=2, cutoff=3.0, num_neighbors=4.0,
                  dtype=dtype)
        _init(net, generator)
        pos = torch.randn(7, 3, generator=generator, dtype=dtype)
        x = torch.randn(7, 5, generator=generator, dtype=dtype)
        return net, (x, pos, radius_graph(pos, 3.0))


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    """``with default_dtype(torch.float64): ...`` sets torch's default dtype inside the block only."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _init(module: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
