"""Invariant-feature baselines: an MLP on the sorted pairwise distances of each configuration.

:class:`ClusterDistanceMLP` is the honest middle ground between an equivariant network and an
unconstrained MLP on raw coordinates: its input (the sorted list of the ``N (N - 1) / 2`` pair
distances of a graph, optionally expanded in a Bessel radial basis) is invariant under
rotations, reflections, translations and node permutations, so its energy is too, and the
forces ``-dE/dx`` (by autograd, e.g. through :class:`~equigen.nn.ForceField`) are equivariant.
What it lacks is locality and weight sharing over pairs: every sorted slot has its own weights.

It is called like :class:`~equigen.nn.EnergyModel` -- ``(h, pos, edge_index, batch) -> (B,)`` --
so it drops into :class:`~equigen.nn.ForceField` in place of an EGNN energy model.

Example::

    model = ClusterDistanceMLP(13, 128)                       # plain sorted distances
    model.fit_standardization(train_pos)              # train_pos (M, 13, 3): feature mean/std
    ff = ForceField(model)
    energy, forces = ff(torch.ones(26, 1), pos, None, batch)   # two graphs of 13 nodes
"""

from __future__ import annotations

import torch
from torch import nn

from equigen._configurable import configurable
from equigen.geometry import bessel_basis
from equigen.groups import E3, Permutations
from equigen.nn._checks import check_batch, check_pos
from equigen.nn.egnn import _mlp, _positive_int
from equigen.symmetry import Symmetry

__all__ = ["ClusterDistanceMLP", "sorted_distances"]


def sorted_distances(pos: torch.Tensor) -> torch.Tensor:
    """The ``N (N - 1) / 2`` pair distances of each configuration, ascending: ``(..., N, n) -> (..., P)``.

    Invariant under rotations, reflections, translations and permutations of the ``N`` points;
    differentiable (the sort permutes, so gradients flow to the positions). Units: those of ``pos``.
    """
    if not isinstance(pos, torch.Tensor) or pos.dim() < 2:
        raise ValueError(f"pos must be a tensor (..., N, n), got {tuple(getattr(pos, 'shape', ()))}")
    n = pos.shape[-2]
    i, j = torch.triu_indices(n, n, offset=1, device=pos.device)
    diff = pos[..., i, :] - pos[..., j, :]
    # sqrt of a clamped square: finite gradient even for coincident points
    dist = diff.square().sum(-1).clamp(min=1e-12).sqrt()
    return torch.sort(dist, dim=-1).values


@configurable
class ClusterDistanceMLP(nn.Module):
    """Energy ``E_g = MLP(features(sorted pair distances of graph g))``: ``pos (B N, n)`` -> ``(B,)``.

    Args:
        num_nodes: nodes per graph ``N`` (fixed; graphs stored contiguously, ``batch`` sorted).
        hidden_features: MLP width; ``num_layers``: hidden layers (SiLU).
        basis: ``"distance"`` (the ``P = N (N - 1) / 2`` sorted distances themselves) or
            ``"bessel"`` (each sorted distance expanded in ``num_radial`` Bessel functions with
            cutoff ``cutoff``: ``P * num_radial`` features).
        dim: spatial dimension ``n``.

    Inputs are standardised per feature with buffers ``feature_mean`` / ``feature_std`` (0 and 1
    until :meth:`fit_standardization` sets them from training positions). Node features ``h`` and
    ``edge_index`` are accepted for interface compatibility and ignored: the particles are identical.
    Units: ``pos`` in the unit of ``cutoff``; the energy in the unit it is trained on.

    Symmetry: E(n) x node permutations invariant energy (declared for ``n = 3``).
    """

    symmetry = Symmetry(lambda: E3() * Permutations(), ("nodes", "positions"), ("scalars",),
                        note="sorted pair distances of one graph")

    def __init__(self, num_nodes: int, hidden_features: int = 128, num_layers: int = 3, *, basis: str = "distance",
                 num_radial: int = 8, cutoff: float = 5.0, dim: int = 3, act=nn.SiLU, dtype=None, device=None):
        super().__init__()
        self.num_nodes = _positive_int(num_nodes, "num_nodes")
        if num_nodes < 2:
            raise ValueError(f"num_nodes={num_nodes!r} must be >= 2: a single node has no pair distances")
        if basis not in ("distance", "bessel"):
            raise ValueError(f"basis={basis!r} must be 'distance' or 'bessel'")
        self.basis, self.dim = basis, _positive_int(dim, "dim")
        self.num_radial, self.cutoff = _positive_int(num_radial, "num_radial"), float(cutoff)
        pairs = num_nodes * (num_nodes - 1) // 2
        self.num_features = pairs * (num_radial if basis == "bessel" else 1)
        sizes = [self.num_features] + [_positive_int(hidden_features, "hidden_features")] * _positive_int(
            num_layers, "num_layers") + [1]
        self.mlp = _mlp(sizes, act, dtype=dtype, device=device)
        kw = {"dtype": dtype, "device": device}
        self.register_buffer("feature_mean", torch.zeros(self.num_features, **kw))
        self.register_buffer("feature_std", torch.ones(self.num_features, **kw))

    def features(self, pos: torch.Tensor) -> torch.Tensor:
        """Unstandardised invariant features of configurations ``(M, N, n)`` -> ``(M, num_features)``."""
        d = sorted_distances(pos)
        if self.basis == "bessel":
            d = bessel_basis(d, self.cutoff, self.num_radial).flatten(-2)
        return d

    @torch.no_grad()
    def fit_standardization(self, pos: torch.Tensor) -> ClusterDistanceMLP:
        """Set ``feature_mean``/``feature_std`` from training configurations ``pos (M, N, n)``; returns self."""
        if not isinstance(pos, torch.Tensor) or pos.dim() != 3 or pos.shape[1:] != (self.num_nodes, self.dim):
            raise ValueError(f"pos must be (M, {self.num_nodes}, {self.dim}) training configurations, "
                             f"got {tuple(getattr(pos, 'shape', ()))}")
        f = self.features(pos.to(self.feature_mean))
        self.feature_mean.copy_(f.mean(0))
        self.feature_std.copy_(f.std(0).clamp(min=1e-6) if len(f) > 1 else torch.ones_like(f[0]))
        return self

    def forward(self, h, pos, edge_index=None, batch=None, *, shifts=None, num_graphs: int | None = None):
        pos = check_pos(pos, self.dim)
        n = pos.shape[0]
        if n % self.num_nodes:
            raise ValueError(f"pos has {n} nodes, not a multiple of num_nodes={self.num_nodes}; "
                             "ClusterDistanceMLP needs graphs of exactly num_nodes nodes")
        if shifts is not None:
            raise ValueError("ClusterDistanceMLP works on isolated graphs: shifts (periodic images) must be None")
        b = n // self.num_nodes
        batch = check_batch(batch, n)
        if batch is not None and n and not torch.equal(
                batch, torch.arange(b, device=batch.device).repeat_interleave(self.num_nodes)):
            raise ValueError("batch must list graphs contiguously, each with num_nodes nodes, for ClusterDistanceMLP")
        if num_graphs is not None and num_graphs != b:
            raise ValueError(f"num_graphs={num_graphs!r} but pos holds {b} graphs of {self.num_nodes} nodes")
        f = (self.features(pos.reshape(b, self.num_nodes, self.dim)) - self.feature_mean) / self.feature_std
        return self.mlp(f).squeeze(-1)

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            net = cls(6, 16, 2, basis="bessel", num_radial=4, cutoff=4.0, dtype=dtype)
        pos = torch.randn(6, 3, generator=generator, dtype=dtype)
        return net, (torch.ones(6, 1, dtype=dtype), pos)
