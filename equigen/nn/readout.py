"""Readouts: invariant energies per graph, equivariant vectors per node, conservative forces.

* :class:`EnergyReadout`: ``E_g = sum_{i in g} MLP(h_i)`` -- invariant when ``h`` is.
* :class:`VectorReadout`: an e3nn linear map from node Irreps to ``k`` vectors (1o) per node.
* :func:`conservative_forces`: ``F = -dE/dpos`` by autograd. A gradient field is curl-free
  (it conserves energy in dynamics), and the gradient of an E(3)-invariant energy is exactly
  E(3)-equivariant: ``E(xR^T + t) = E(x)`` implies ``F(xR^T + t) = F(x) R^T``.
* :class:`EnergyModel`: a backbone (EGNN, TensorProductNet, or a baseline) + EnergyReadout.
* :class:`ForceField`: wraps an energy model, returns ``(energy, forces)``.
"""

from __future__ import annotations

import torch
from e3nn import o3
from torch import nn

from equigen._configurable import configurable
from equigen.core.dtypes import learning_dtype
from equigen.core.validation import check_positive_int
from equigen.groups import E3, Permutations
from equigen.nn._checks import check_batch, check_nodes, check_pos, graph_inputs, is_graph_data, scatter_sum
from equigen.symmetry import Symmetry

__all__ = ["EnergyReadout", "VectorReadout", "conservative_forces", "EnergyModel", "ForceField", "num_graphs_of"]


def num_graphs_of(batch: torch.Tensor | None, num_nodes: int, num_graphs: int | None = None) -> int:
    """Number of graphs: given, else ``batch.max() + 1`` (1 without ``batch``)."""
    if num_graphs is not None:
        check_positive_int(num_graphs, "num_graphs")
        if batch is not None and batch.numel() and int(batch.max()) >= num_graphs:
            raise ValueError(f"batch has graph index {int(batch.max())} but num_graphs={num_graphs}")
        return num_graphs
    if batch is None or batch.numel() == 0:
        return 1
    return int(batch.max()) + 1


@configurable
class EnergyReadout(nn.Module):
    """Per-graph scalar ``E_g = sum_{i in g} MLP(h_i)``: ``h (N, F)``, ``batch (N,)`` -> ``(B,)``.

    Symmetry: invariant under node permutations (and under every group that leaves ``h``
    invariant). Graphs without nodes get 0.

    Example: ``EnergyReadout(16)(h, batch)`` -> one energy per graph.
    """

    symmetry = Symmetry(lambda: E3() * Permutations(), ("nodes", "batch"), ("scalars",))

    def __init__(self, in_features: int, hidden_features: int = 64, *, act=nn.SiLU, dtype=None, device=None):
        super().__init__()
        check_positive_int(in_features, "in_features")
        self.in_features = in_features
        kw = {"dtype": dtype, "device": device}
        self.mlp = nn.Sequential(nn.Linear(in_features, hidden_features, **kw), act(),
                                 nn.Linear(hidden_features, 1, **kw))

    def forward(self, h: torch.Tensor, batch: torch.Tensor | None = None, *, num_graphs: int | None = None,
                _checked: bool = False):
        if not isinstance(h, torch.Tensor) or h.dim() != 2:
            raise ValueError(f"h must be an (N, {self.in_features}) tensor, got {tuple(getattr(h, 'shape', ()))}")
        h = check_nodes(h, h.shape[0], self.in_features, "h", like=self, finite=not _checked)
        batch = check_batch(batch, h.shape[0])
        b = num_graphs_of(batch, h.shape[0], num_graphs)
        idx = batch if batch is not None else torch.zeros(h.shape[0], dtype=torch.long, device=h.device)
        return scatter_sum(self.mlp(h).squeeze(-1), idx, b)

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        readout = cls(3, 8, dtype=dtype)
        _init(readout, generator)
        h = torch.randn(7, 3, generator=generator, dtype=dtype)
        return readout, (h, torch.tensor([0, 0, 0, 1, 1, 2, 2]))


@configurable
class VectorReadout(nn.Module):
    """Equivariant vectors per node from Irreps features: ``(N, irreps_in.dim) -> (N, num_vectors, 3)``.

    An e3nn ``Linear`` onto ``num_vectors x 1o`` (Cartesian x, y, z order in e3nn >= 0.6);
    ``pseudo=True`` gives ``1e`` (pseudovectors). With ``num_vectors=1`` the output is ``(N, 3)``.

    Symmetry: E(3) x permutations (input Irreps, output vectors).

    Example: ``VectorReadout("8x0e+4x1o")(x)`` -> ``(N, 3)``.
    """

    symmetry = Symmetry(lambda: E3() * Permutations(), (o3.Irreps("3x0e+2x1o+1x2e"),), ("vectors",))

    def __init__(self, irreps_in, num_vectors: int = 1, *, pseudo: bool = False, dtype=None, device=None):
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        check_positive_int(num_vectors, "num_vectors")
        self.num_vectors = num_vectors
        self.irreps_out = o3.Irreps(f"{num_vectors}x1{'e' if pseudo else 'o'}")
        if not any(ir == self.irreps_out[0].ir for _, ir in self.irreps_in):
            raise ValueError(f"irreps_in={self.irreps_in} holds no {self.irreps_out[0].ir}: the readout would be 0; "
                             "add vectors to the features")
        self.linear = o3.Linear(self.irreps_in, self.irreps_out)
        self.to(dtype=learning_dtype(dtype), device=device)
        self.symmetry = Symmetry(lambda: E3() * Permutations(), (self.irreps_in,),
                                 ("pseudovectors" if pseudo else "vectors",))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 2:
            raise ValueError(f"x must be (N, {self.irreps_in.dim}), got {tuple(getattr(x, 'shape', ()))}")
        x = check_nodes(x, x.shape[0], self.irreps_in.dim, "x", like=self)
        out = self.linear(x).reshape(x.shape[0], self.num_vectors, 3)
        return out[:, 0] if self.num_vectors == 1 else out

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        readout = cls("3x0e+2x1o+1x2e", dtype=dtype)
        _init(readout, generator)
        return readout, (torch.randn(5, readout.irreps_in.dim, generator=generator, dtype=dtype),)


def conservative_forces(energy: torch.Tensor, pos: torch.Tensor, *, create_graph: bool | None = None):
    """``F = -dE/dpos``: ``energy`` any shape (summed), ``pos`` ``(N, n)`` with ``requires_grad``.

    ``create_graph`` (default: whether grad mode is on and ``energy`` needs grad) keeps the
    graph so a loss on forces can be trained. Units: energy unit / length unit.
    Forces of an invariant energy are equivariant vectors and curl-free by construction.
    """
    if not isinstance(pos, torch.Tensor) or not pos.requires_grad:
        raise ValueError("pos must be a tensor with requires_grad=True that the energy was computed from; "
                         "call pos.requires_grad_(True) before the forward pass")
    if create_graph is None:
        create_graph = torch.is_grad_enabled()
    (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=create_graph, allow_unused=True)
    return torch.zeros_like(pos) if grad is None else -grad


@configurable
class EnergyModel(nn.Module):
    """Backbone + :class:`EnergyReadout`: ``forward(h, pos, edge_index, batch=None, *, shifts, num_graphs) -> (B,)``.

    ``h`` may be a PyG ``Data``/``Batch`` (fields ``x``, ``pos``, ``edge_index``, optional ``batch``,
    ``shifts``). ``backbone(h, pos, edge_index, **kw)`` returns node features ``(N, F)`` or a tuple whose
    first entry they are (EGNN returns ``(h, pos)``). Only backbones with invariant scalar
    node features give invariant energies; with a TensorProductNet use an all-``0e`` irreps_out.

    Symmetry: that of the backbone's scalar outputs (E(3) x permutations for EGNN and E(3)
    TensorProductNet; none for the unconstrained baselines).
    """

    symmetry = Symmetry(lambda: E3() * Permutations(), ("nodes", "positions", "edge_index", "batch"), ("scalars",))

    def __init__(self, backbone: nn.Module, out_features: int, hidden_features: int = 64, *, dtype=None,
                 device=None):
        super().__init__()
        self.backbone = backbone
        self.readout = EnergyReadout(out_features, hidden_features, dtype=dtype, device=device)
        self.symmetry = _model_symmetry(backbone)

    def forward(self, h, pos=None, edge_index=None, batch=None, *, shifts=None, num_graphs: int | None = None):
        h, pos, edge_index, batch, shifts, num_graphs = _unpack(h, pos, edge_index, batch, shifts, num_graphs)
        kw = {"shifts": shifts} if shifts is not None else {}
        if getattr(self.backbone, "needs_batch", False):
            kw["batch"] = batch
        out = self.backbone(h, pos, edge_index, **kw)
        feats = out[0] if isinstance(out, tuple) else out
        return self.readout(feats, batch, num_graphs=num_graphs, _checked=True)  # the backbone checked the input

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        from equigen.geometry import radius_graph
        from equigen.nn.egnn import EGNN

        model = cls(EGNN(2, 8, 4, num_layers=2, num_radial=4, cutoff=3.0, dtype=dtype), 4, 8, dtype=dtype)
        _init(model, generator)
        pos = torch.randn(7, 3, generator=generator, dtype=dtype)
        batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
        h = torch.randn(7, 2, generator=generator, dtype=dtype)
        return model, (h, pos, radius_graph(pos, 3.0, batch=batch), batch)


@configurable
class ForceField(nn.Module):
    """Energy and conservative forces: ``forward(h, pos, edge_index, batch=None, ...) -> (E (B,), F (N, n))``.

    ``h`` may be a PyG ``Data``/``Batch`` as for :class:`EnergyModel`.
    ``F = -dE/dpos`` (:func:`conservative_forces`); with grad mode on the graph is kept so a
    force loss can be back-propagated; under ``torch.no_grad()`` both outputs come detached.
    Symmetry: E invariant, F equivariant under the energy model's group
    (E(3) x permutations for an equivariant backbone).

    Example::

        ff = ForceField(EnergyModel(EGNN(1, 32, 32, num_radial=8, cutoff=3.0), 32))
        energy, forces = ff(torch.ones(13, 1), pos, radius_graph(pos, 3.0))
    """

    symmetry = Symmetry(lambda: E3() * Permutations(), ("nodes", "positions", "edge_index", "batch"),
                        ("scalars", "vectors"))

    def __init__(self, energy_model: nn.Module):
        super().__init__()
        self.energy_model = energy_model
        inner = getattr(energy_model, "symmetry", None)
        self.symmetry = None if inner is None else Symmetry(inner.group, inner.in_kinds, ("scalars", "vectors"))

    def forward(self, h, pos=None, edge_index=None, batch=None, *, shifts=None, num_graphs: int | None = None):
        h, pos, edge_index, batch, shifts, num_graphs = _unpack(h, pos, edge_index, batch, shifts, num_graphs)
        pos = check_pos(pos)
        keep_graph = torch.is_grad_enabled()  # under no_grad: forces only, no graph kept
        with torch.enable_grad():
            if not pos.requires_grad:
                pos = pos.detach().requires_grad_(True)
            energy = self.energy_model(h, pos, edge_index, batch, shifts=shifts, num_graphs=num_graphs)
            forces = conservative_forces(energy, pos, create_graph=keep_graph)
        if not keep_graph:
            energy, forces = energy.detach(), forces.detach()
        return energy, forces

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        model, inputs = EnergyModel.symmetry_example(dtype=dtype, generator=generator)
        return cls(model), inputs


def _unpack(h, pos, edge_index, batch, shifts, num_graphs):
    """A PyG ``Data``/``Batch`` in place of ``h``: its x, pos, edge_index, batch, shifts and graph count."""
    if not is_graph_data(h):
        return h, pos, edge_index, batch, shifts, num_graphs
    if batch is not None:
        raise ValueError("batch given together with a Data/Batch input: the Batch carries its own batch vector")
    h, pos, edge_index, extras = graph_inputs(h, pos, edge_index)
    return (h, pos, edge_index, extras.get("batch"), shifts if shifts is not None else extras.get("shifts"),
            num_graphs if num_graphs is not None else extras.get("num_graphs"))


def _model_symmetry(backbone):
    sym = getattr(backbone, "symmetry", None)
    if sym is None:
        return None
    return Symmetry(sym.group, ("nodes", "positions", "edge_index", "batch"), ("scalars",),
                    note=f"energy of {type(backbone).__name__}")


def _init(module: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for p in module.parameters():
            fan_in = p.shape[-1] if p.dim() > 1 else max(p.numel(), 1)
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) / fan_in**0.5)
