"""Unconstrained twins of the graph layers, exposed like :class:`~equigen.nn.EGNN`.

* :class:`FlatMLP`: an MLP on the flattened coordinates and features of each graph (fixed
  node count). No symmetry at all: not even permutations or translations.
* :class:`RawMessagePassing`: message passing whose messages see raw coordinates
  ``(h_i, h_j, x_i, x_j)`` and whose position update is a raw vector. Permutation
  equivariant (it is a graph network), but neither rotation nor translation equivariant.
* :class:`DistanceMLP`: an energy from an MLP on the sorted list of a graph's edge lengths.
  Invariant by its input (distances, sorted), but with no locality, no per-atom
  decomposition and no species: the "hand-made invariant features" twin.

Both take ``(h, pos, edge_index)`` (or a PyG ``Data``/``Batch``) and return ``(h_out, pos_out)``, so they drop into
:class:`~equigen.nn.EnergyModel` / :class:`~equigen.nn.ForceField` in place of EGNN.
:func:`width_for_params` picks the hidden width that matches a parameter budget.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from equigen._configurable import configurable
from equigen.core.blocks import count_parameters
from equigen.groups import E3, Permutations
from equigen.nn._checks import (
    check_batch,
    check_edge_index,
    check_nodes,
    check_pos,
    check_shifts,
    graph_inputs,
    is_graph_data,
    scatter_sum,
)
from equigen.nn.egnn import _mlp, _positive_int
from equigen.symmetry import Symmetry

__all__ = ["FlatMLP", "RawMessagePassing", "DistanceMLP", "width_for_params", "count_parameters"]


def width_for_params(make: Callable[[int], nn.Module], target: int, *, lo: int = 1, hi: int = 8192) -> int:
    """The hidden width ``w`` in ``[lo, hi]`` whose ``make(w)`` parameter count is closest to ``target``.

    Assumes the count grows with ``w`` (bisection). Example:
    ``w = width_for_params(lambda w: FlatMLP(13, 1, w, 8), count_parameters(egnn))``.
    """
    if not isinstance(target, int) or target < 1:
        raise ValueError(f"target={target!r} must be a positive parameter count")
    a, b = lo, hi
    while b - a > 1:
        mid = (a + b) // 2
        if count_parameters(make(mid)) < target:
            a = mid
        else:
            b = mid
    return min((a, b), key=lambda w: abs(count_parameters(make(w)) - target))


@configurable
class FlatMLP(nn.Module):
    """MLP on flattened graphs: ``[pos, h]`` of each graph (``num_nodes`` nodes) -> ``[delta pos, h_out]``.

    Shapes: ``h (N, in_features)``, ``pos (N, dim)``, ``N = B * num_nodes`` with graphs
    stored contiguously (``batch`` sorted); ``edge_index`` is accepted and ignored.
    Returns ``(h_out (N, out_features), pos_out (N, dim))``.

    Symmetry: none (``symmetry = None``) -- this is the unconstrained twin.

    Example: ``FlatMLP(13, 1, 128, 16)(torch.ones(26, 1), pos, edge_index, batch=batch)``.
    """

    symmetry = None
    needs_batch = True

    def __init__(self, num_nodes: int, in_features: int, hidden_features: int, out_features: int,
                 num_layers: int = 4, *, dim: int = 3, act=nn.SiLU, dtype=None, device=None):
        super().__init__()
        self.num_nodes = _positive_int(num_nodes, "num_nodes")
        self.in_features = _positive_int(in_features, "in_features")
        self.out_features = _positive_int(out_features, "out_features")
        self.dim = _positive_int(dim, "dim")
        hidden_features = _positive_int(hidden_features, "hidden_features")
        num_layers = _positive_int(num_layers, "num_layers")
        sizes = ([num_nodes * (dim + in_features)] + [hidden_features] * num_layers
                 + [num_nodes * (dim + out_features)])
        self.mlp = _mlp(sizes, act, dtype=dtype, device=device)

    def forward(self, h, pos=None, edge_index=None, *, batch=None, shifts=None):
        if is_graph_data(h):
            h, pos, edge_index, extras = graph_inputs(h, pos, edge_index)
            batch = batch if batch is not None else extras.get("batch")
        pos = check_pos(pos, self.dim, like=self)
        n = pos.shape[0]
        h = check_nodes(h, n, self.in_features, "h", like=self)
        batch = check_batch(batch, n)
        if n % self.num_nodes:
            raise ValueError(f"pos has {n} nodes, not a multiple of num_nodes={self.num_nodes}; FlatMLP needs "
                             "graphs of exactly num_nodes nodes")
        if batch is not None and n and not torch.equal(
                batch, torch.arange(n // self.num_nodes, device=batch.device).repeat_interleave(self.num_nodes)):
            raise ValueError("batch must list graphs contiguously, each with num_nodes nodes, for FlatMLP")
        b = n // self.num_nodes
        flat = torch.cat([pos, h], dim=-1).reshape(b, -1)
        out = self.mlp(flat).reshape(n, self.dim + self.out_features)
        return out[:, self.dim:], pos + out[:, : self.dim]


@configurable
class RawMessagePassing(nn.Module):
    """Message passing on raw coordinates, the same size and interface as :class:`~equigen.nn.EGNN`.

    ``m_ij = phi_e(h_i, h_j, x_i, x_j (+shift))``, ``h_i += phi_h(h_i, sum_j m_ij)``,
    ``x_i += mean_j phi_x(m_ij)`` (a raw ``dim``-vector). Shapes as EGNN.

    Symmetry: node permutations only (declared), not rotations or translations.

    Example: ``RawMessagePassing(1, 32, 16)(h, pos, radius_graph(pos, 3.0))``.
    """

    symmetry = Symmetry(Permutations, ("nodes", "positions", "edge_index"), ("nodes", "positions"),
                        note="permutations only: raw coordinates break rotations and translations")

    def __init__(self, in_features: int, hidden_features: int, out_features: int, num_layers: int = 4, *,
                 dim: int = 3, act=nn.SiLU, dtype=None, device=None):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features")
        hidden = _positive_int(hidden_features, "hidden_features")
        self.out_features = _positive_int(out_features, "out_features")
        self.dim = _positive_int(dim, "dim")
        num_layers = _positive_int(num_layers, "num_layers")
        kw = {"dtype": dtype, "device": device}
        self.embed = nn.Linear(in_features, hidden, **kw)
        self.phi_e = nn.ModuleList([_mlp([2 * hidden + 2 * dim, hidden, hidden], act, last_act=True, **kw)
                                    for _ in range(num_layers)])
        self.phi_h = nn.ModuleList([_mlp([2 * hidden, hidden, hidden], act, **kw) for _ in range(num_layers)])
        self.phi_x = nn.ModuleList([_mlp([hidden, hidden, dim], act, **kw) for _ in range(num_layers)])
        self.out = nn.Linear(hidden, out_features, **kw)

    def forward(self, h, pos=None, edge_index=None, *, shifts=None):
        if is_graph_data(h):
            h, pos, edge_index, extras = graph_inputs(h, pos, edge_index)
            shifts = shifts if shifts is not None else extras.get("shifts")
        pos = check_pos(pos, self.dim, like=self)
        n = pos.shape[0]
        h = check_nodes(h, n, self.in_features, "h", like=self)
        edge_index = check_edge_index(edge_index, n)
        shifts = check_shifts(shifts, edge_index.shape[1], self.dim, pos)
        src, dst = edge_index
        h = self.embed(h)
        ones = torch.ones(src.shape[0], 1, dtype=pos.dtype, device=pos.device)
        degree = scatter_sum(ones, dst, n).clamp(min=1)
        for phi_e, phi_h, phi_x in zip(self.phi_e, self.phi_h, self.phi_x):
            xj = pos[src] if shifts is None else pos[src] + shifts
            m = phi_e(torch.cat([h[dst], h[src], pos[dst], xj], dim=-1))
            h = h + phi_h(torch.cat([h, scatter_sum(m, dst, n)], dim=-1))
            pos = pos + scatter_sum(phi_x(m), dst, n) / degree
        return self.out(h), pos

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        from equigen.geometry import radius_graph

        net = cls(2, 8, 3, num_layers=2, dtype=dtype)
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.3)
        pos = torch.randn(6, 3, generator=generator, dtype=dtype)
        return net, (torch.randn(6, 2, generator=generator, dtype=dtype), pos, radius_graph(pos, 2.5))


@configurable
class DistanceMLP(nn.Module):
    """Energy of each graph from an MLP on its ``num_distances`` shortest edge lengths, sorted.

    ``forward(pos, edge_index, batch=None, *, shifts=None, num_graphs=None) -> (B,)``.
    The lengths ``|pos[j] + shift - pos[i]|`` of every (directed) edge of a graph are sorted
    ascending, cut or padded with ``cutoff`` to ``num_distances`` entries and fed to an MLP.
    Padding with the cutoff keeps the energy continuous when an edge leaves the cutoff;
    sorting makes it piecewise smooth (forces jump where two distances cross).
    ``pos`` may also be a PyG ``Data``/``Batch`` (fields ``pos``, ``edge_index``, ``batch``, ``shifts``).

    Symmetry: E(3) x permutations (invariant energy), by its input features -- but nothing
    else of an interatomic potential is built in (no sum over atoms, no species).

    Example: ``DistanceMLP(24, 64, cutoff=4.0)(pos, radius_graph(pos, 4.0))`` -> ``(1,)``.
    """

    symmetry = Symmetry(lambda: E3() * Permutations(), ("positions", "edge_index", "batch"), None,
                        note="invariant by its sorted-distance input; no locality or species")

    def __init__(self, num_distances: int, hidden_features: int = 64, num_layers: int = 3, *, cutoff: float,
                 act=nn.SiLU, dtype=None, device=None):
        super().__init__()
        from equigen.geometry import _check_cutoff

        self.num_distances = _positive_int(num_distances, "num_distances")
        hidden = _positive_int(hidden_features, "hidden_features")
        num_layers = _positive_int(num_layers, "num_layers")
        _check_cutoff(cutoff)
        self.cutoff = float(cutoff)
        self.mlp = _mlp([self.num_distances] + [hidden] * num_layers + [1], act, dtype=dtype, device=device)

    def forward(self, pos, edge_index=None, batch=None, *, shifts=None, num_graphs: int | None = None):
        from equigen.geometry import edge_vectors, safe_norm
        from equigen.nn.readout import num_graphs_of

        if is_graph_data(pos):
            data = pos
            pos, edge_index = data.pos, data.edge_index
            batch = batch if batch is not None else getattr(data, "batch", None)
            shifts = shifts if shifts is not None else getattr(data, "shifts", None)
            num_graphs = num_graphs if num_graphs is not None else getattr(data, "num_graphs", None)
        pos = check_pos(pos)
        n = pos.shape[0]
        edge_index = check_edge_index(edge_index, n)
        shifts = check_shifts(shifts, edge_index.shape[1], pos.shape[1], pos)
        batch = check_batch(batch, n)
        b = num_graphs_of(batch, n, num_graphs)
        r = safe_norm(edge_vectors(pos, edge_index, shifts))
        graph = (batch[edge_index[1]] if batch is not None
                 else torch.zeros(r.shape[0], dtype=torch.long, device=pos.device))
        order = torch.argsort(r.detach(), stable=True)
        order = order[torch.argsort(graph[order], stable=True)]  # by graph, then by length
        g_sorted = graph[order]
        first = torch.searchsorted(g_sorted, g_sorted, side="left")
        rank = torch.arange(order.numel(), device=pos.device) - first
        keep = rank < self.num_distances
        feats = torch.full((b, self.num_distances), self.cutoff, dtype=pos.dtype, device=pos.device)
        feats = feats.index_put((g_sorted[keep], rank[keep]), r[order][keep])
        return self.mlp(feats / self.cutoff).squeeze(-1)

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        from equigen.geometry import radius_graph

        net = cls(10, 16, 2, cutoff=2.5, dtype=dtype)
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.5)
        pos = torch.randn(7, 3, generator=generator, dtype=dtype)
        batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
        return net, (pos, radius_graph(pos, 2.5, batch=batch), batch)
