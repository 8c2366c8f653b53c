"""Unconstrained twins of the graph layers, exposed like :class:`~equigen.nn.EGNN`.

* :class:`FlatMLP`: an MLP on the flattened coordinates and features of each graph (fixed
  node count). No symmetry at all: not even permutations or translations.
* :class:`RawMessagePassing`: message passing whose messages see raw coordinates
  ``(h_i, h_j, x_i, x_j)`` and whose position update is a raw vector. Permutation
  equivariant (it is a graph network), but neither rotation nor translation equivariant.

Both take ``(h, pos, edge_index)`` and return ``(h_out, pos_out)``, so they drop into
:class:`~equigen.nn.EnergyModel` / :class:`~equigen.nn.ForceField` in place of EGNN.
:func:`width_for_params` picks the hidden width that matches a parameter budget.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from equigen._configurable import configurable
from equigen.groups import Permutations
from equigen.nn._checks import check_batch, check_edge_index, check_nodes, check_pos, check_shifts, scatter_sum
from equigen.nn.egnn import _mlp, _positive_int
from equigen.symmetry import Symmetry

__all__ = ["FlatMLP", "RawMessagePassing", "width_for_params", "count_parameters"]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


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

    def forward(self, h, pos, edge_index=None, *, batch=None, shifts=None):
        pos = check_pos(pos, self.dim)
        n = pos.shape[0]
        h = check_nodes(h, n, self.in_features, "h")
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

    def forward(self, h, pos, edge_index, *, shifts=None):
        pos = check_pos(pos, self.dim)
        n = pos.shape[0]
        h = check_nodes(h, n, self.in_features, "h")
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
