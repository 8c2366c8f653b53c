"""An interatomic potential on atomic numbers: species embedding, reference energies, normalisation.

:class:`Potential` is what a user with atoms trains: it reads PyG ``Data``/``Batch`` objects with
``z`` (atomic numbers), ``pos`` (Angstrom, say) and, for periodic systems, ``cell`` ``(B, 3, 3)``
and ``pbc`` ``(B, 3)``; it builds the neighbour graph itself (triclinic cells through
:func:`equigen.geometry.radius_graph`) and returns energies, conservative forces and, on request,
the stress from the strain derivative. The energy is

    ``E = energy_scale * sum_i e_i + sum_i (energy_shift + e0[z_i])``

where ``e_i`` are the backbone's per-atom outputs (a graph-level output for the
``"distance-mlp"`` twin), ``e0`` the per-species reference energies fitted by least squares
(:meth:`Potential.fit_normalization`), ``energy_shift`` the mean residual energy per atom and
``energy_scale`` the RMS force (or residual energy spread) of the training set. ``e0``,
``energy_shift`` and ``energy_scale`` are buffers: they travel with the weights in
:func:`~equigen.train.save_model` files.

Backbones (``backbone=``): ``"egnn"`` (E(3) x permutations, :class:`~equigen.nn.EGNN` with its smooth
cutoff envelope on every message), ``"tp"``
(an e3nn :class:`~equigen.nn.TensorProductNet`), and the unconstrained twins ``"flat-mlp"``
(:class:`~equigen.nn.FlatMLP` on the coordinates of a fixed number of atoms; no symmetry),
``"raw-mp"`` (:class:`~equigen.nn.RawMessagePassing`; permutations only) and ``"distance-mlp"``
(:class:`~equigen.nn.DistanceMLP` on sorted distances; invariant, but not local).
"""

from __future__ import annotations

import torch
from torch import nn

from equigen._configurable import configurable
from equigen.core.dtypes import learning_dtype
from equigen.core.validation import (
    check_choice,
    check_dtype_like,
    check_finite,
    check_int,
    check_positive_float,
    check_positive_int,
    check_tensor,
)
from equigen.geometry import radius_graph
from equigen.groups import E3
from equigen.nn._checks import is_graph_data, scatter_sum
from equigen.nn.egnn import EGNN, _init
from equigen.nn.graph_baselines import DistanceMLP, FlatMLP, RawMessagePassing
from equigen.nn.readout import EnergyReadout
from equigen.nn.tensor_product import TensorProductNet
from equigen.symmetry import Symmetry

__all__ = ["Potential", "BACKBONES", "fit_reference_energies"]

BACKBONES = ("egnn", "tp", "flat-mlp", "raw-mp", "distance-mlp")
EQUIVARIANT = ("egnn", "tp")


def fit_reference_energies(z: torch.Tensor, batch: torch.Tensor, energy: torch.Tensor, species) -> torch.Tensor:
    """Per-species reference energies ``e0`` minimising ``sum_g (E_g - sum_{i in g} e0[z_i])^2``.

    ``z (N,)`` atomic numbers, ``batch (N,)`` graph index, ``energy (B,)``; returns ``(S,)`` in
    ``energy``'s unit, ordered like ``species``. Least squares (``torch.linalg.lstsq``, minimum-norm
    when the species counts are collinear, e.g. every structure has the same composition).
    """
    species = torch.as_tensor(species, dtype=torch.long)
    index = species_index(z, species)
    counts = torch.zeros(energy.shape[0], species.numel(), dtype=torch.float64)
    counts.index_put_((batch.cpu(), index.cpu()), torch.ones(z.shape[0], dtype=torch.float64), accumulate=True)
    sol = torch.linalg.lstsq(counts, energy.detach().cpu().double()[:, None], driver="gelsd").solution
    return sol[:, 0]


def species_index(z: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
    """Position of each atomic number ``z`` in the sorted ``species``; ValueError for unknown species."""
    species = species.to(z.device)
    idx = torch.searchsorted(species, z).clamp(max=species.numel() - 1)
    bad = species[idx] != z
    if bool(bad.any()):
        unknown = sorted(set(z[bad].tolist()))
        raise ValueError(f"atomic numbers {unknown} are not among the model's species {species.tolist()}; "
                         "build the model with species that include them")
    return idx


@configurable
class Potential(nn.Module):
    """Energies, forces and stress of atomic structures: ``forward(data) -> {"energy", "forces"[, "stress"]}``.

    Args:
        species: atomic numbers the model knows (e.g. ``[29]`` for Cu); embedded one-hot.
        backbone: one of :data:`BACKBONES`.
        cutoff: neighbour radius (length unit of ``pos``).
        hidden: width of the backbone (hidden features / channels).
        num_layers, num_radial: depth and radial basis size of the backbone.
        num_atoms: atoms per structure, required by ``"flat-mlp"`` (fixed size input).
        num_distances: input length of ``"distance-mlp"`` (default ``12 * num_atoms``, or 256).

    ``data``: a PyG ``Data``/``Batch`` with ``z (N,)`` long, ``pos (N, 3)``, optional ``batch``,
    ``cell (B, 3, 3)`` (lattice vectors as rows) and ``pbc (B, 3)``. Returns ``energy (B,)``,
    ``forces (N, 3)`` ``= -dE/dpos`` (with ``forces=True``) and ``stress (B, 3, 3)``
    ``= (1/V) dE/d(strain)`` (with ``stress=True``, periodic structures only; energy / length^3).

    Symmetry: for ``"egnn"``/``"tp"`` the energy is invariant and the forces equivariant under
    E(3) x permutations (and the energy is periodic in the cell); the twins guarantee less (see the
    module docstring).

    Example::

        model = Potential([29], backbone="egnn", cutoff=4.0)
        out = model(Batch.from_data_list(structures))       # out["energy"], out["forces"]
    """

    symmetry = Symmetry(E3, ("positions",), ("scalars", "vectors"),
                        note="energy invariant, forces equivariant (E(3)); permutations also hold when z is "
                             "permuted with the positions; example: one structure of 6 atoms")

    def __init__(self, species, *, backbone: str = "egnn", cutoff: float = 5.0, hidden: int = 32,
                 num_layers: int = 3, num_radial: int = 8, num_atoms: int | None = None,
                 num_distances: int | None = None, dtype=None, device=None):
        super().__init__()
        if isinstance(species, torch.Tensor):
            species = species.tolist()
        if isinstance(species, (str, bytes)) or not hasattr(species, "__iter__"):
            raise TypeError(f"species must be a list of atomic numbers (1..118), e.g. [29], got {species!r}")
        species_list = sorted({check_int(s, "species", min=1, max=118) for s in species})
        if not species_list:
            raise ValueError(f"species={species!r} must be a non-empty list of atomic numbers (1..118), e.g. [29]")
        check_choice(backbone, "backbone", BACKBONES)
        for name, value in (("hidden", hidden), ("num_layers", num_layers), ("num_radial", num_radial)):
            check_positive_int(value, name)
        check_positive_int(num_atoms, "num_atoms", allow_none=True)
        check_positive_int(num_distances, "num_distances", allow_none=True)
        self.backbone_name, self.cutoff = backbone, check_positive_float(cutoff, "cutoff")
        s = len(species_list)
        kw = {"dtype": dtype, "device": device}
        self.register_buffer("species", torch.tensor(species_list, dtype=torch.long, device=device))
        fdtype = learning_dtype(dtype)
        self.register_buffer("e0", torch.zeros(s, dtype=fdtype, device=device))
        self.register_buffer("energy_shift", torch.zeros((), dtype=fdtype, device=device))
        self.register_buffer("energy_scale", torch.ones((), dtype=fdtype, device=device))
        self.per_atom = backbone != "distance-mlp"
        if backbone == "egnn":
            self.net = EGNN(s, hidden, hidden, num_layers, num_radial=num_radial, cutoff=cutoff, update_pos=False,
                            smooth_cutoff=True, **kw)
        elif backbone == "tp":
            vec = max(hidden // 4, 1)
            self.net = TensorProductNet(f"{s}x0e", f"{hidden}x0e+{vec}x1o", f"{hidden}x0e", num_layers,
                                        cutoff=cutoff, num_radial=num_radial, **kw)
        elif backbone == "raw-mp":
            self.net = RawMessagePassing(s, hidden, hidden, num_layers, **kw)
        elif backbone == "flat-mlp":
            if num_atoms is None:
                raise ValueError("backbone='flat-mlp' needs num_atoms (it sees a fixed-size vector of coordinates)")
            self.net = FlatMLP(num_atoms, s, hidden, hidden, num_layers, **kw)
        else:
            k = num_distances or (12 * num_atoms if num_atoms else 256)
            self.net = DistanceMLP(k, hidden, num_layers, cutoff=cutoff, **kw)
        self.readout = EnergyReadout(hidden, hidden, **kw) if self.per_atom else None

    @property
    def equivariant(self) -> bool:
        """Whether E(3) symmetry is built in (``"egnn"``, ``"tp"``)."""
        return self.backbone_name in EQUIVARIANT

    def graph(self, data):
        """``(edge_index, shifts)`` of ``data`` within ``cutoff`` (periodic where ``data.pbc`` says)."""
        pos = data.pos.detach()
        batch = getattr(data, "batch", None)
        cell = getattr(data, "cell", None)
        pbc = getattr(data, "pbc", None)
        if cell is not None and (pbc is None or bool(torch.as_tensor(pbc).any())):
            cell = cell.reshape(-1, 3, 3)
            pbc = None if pbc is None else torch.as_tensor(pbc).reshape(-1, 3)
            return radius_graph(pos, self.cutoff, batch=batch, cell=cell, pbc=pbc)
        return radius_graph(pos, self.cutoff, batch=batch), None

    def forward(self, data, *, forces: bool = True, stress: bool = False) -> dict:
        if not is_graph_data(data):
            raise TypeError(f"data must be a PyG Data/Batch with z, pos (and cell, pbc), got {type(data).__name__}; "
                            "read structures with equigen.io.read_structures")
        for name in ("z", "pos"):
            if getattr(data, name, None) is None:
                raise ValueError(f"data has no {name!r} field; a structure needs z (atomic numbers) and pos")
        z = check_tensor(data.z, "data.z", ndim=1, floating=False)
        pos = check_tensor(data.pos, "data.pos", shape=(z.shape[0], 3), floating=True)
        check_dtype_like(pos, "data.pos", self.e0, owner=f"the model (read the data with dtype={self.e0.dtype})")
        if getattr(data, "cell", None) is not None:
            check_finite(data.cell, "data.cell")
        n = pos.shape[0]
        batch = getattr(data, "batch", None)
        batch = batch if batch is not None else torch.zeros(n, dtype=torch.long, device=pos.device)
        num_graphs = int(getattr(data, "num_graphs", 1) or 1)
        edge_index, shifts = self.graph(data)
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            pos = pos.detach().requires_grad_(True) if not pos.requires_grad else pos
            strain = None
            if stress:
                if shifts is None:
                    raise ValueError("stress=True needs periodic structures (data.cell with pbc)")
                strain = torch.zeros(num_graphs, 3, 3, dtype=pos.dtype, device=pos.device, requires_grad=True)
                sym = 0.5 * (strain + strain.transpose(1, 2))
                pos_in = pos + torch.einsum("ni,nij->nj", pos, sym[batch])
                shifts_in = shifts + torch.einsum("ei,eij->ej", shifts, sym[batch[edge_index[1]]])
            else:
                pos_in, shifts_in = pos, shifts
            energy = self.energy(z, pos_in, edge_index, batch, shifts_in, num_graphs)
            out = {"energy": energy}
            if forces or stress:
                inputs = [pos] + ([strain] if stress else [])
                grads = torch.autograd.grad(energy.sum(), inputs, create_graph=keep_graph, allow_unused=True)
                if forces:
                    out["forces"] = torch.zeros_like(pos) if grads[0] is None else -grads[0]
                if stress:
                    volume = torch.linalg.det(data.cell.reshape(-1, 3, 3).to(pos)).abs()
                    g = torch.zeros_like(strain) if grads[1] is None else grads[1]
                    out["stress"] = g / volume[:, None, None]
        if not keep_graph:
            out = {k: v.detach() for k, v in out.items()}
        return out

    def energy(self, z, pos, edge_index, batch, shifts, num_graphs):
        """Total energy per structure ``(B,)`` from atomic numbers, positions and the graph."""
        idx = species_index(z, self.species)
        onehot = nn.functional.one_hot(idx, self.species.numel()).to(pos.dtype)
        if self.per_atom:
            kw = {"shifts": shifts} if shifts is not None else {}
            if self.backbone_name == "flat-mlp":
                kw = {"batch": batch}
            out = self.net(onehot, pos, edge_index, **kw)
            feats = out[0] if isinstance(out, tuple) else out
            learned = self.readout(feats, batch, num_graphs=num_graphs)
        else:
            learned = self.net(pos, edge_index, batch, shifts=shifts, num_graphs=num_graphs)
        atomic = scatter_sum(self.e0[idx] + self.energy_shift, batch, num_graphs)
        return self.energy_scale * learned + atomic

    @torch.no_grad()
    def fit_normalization(self, data) -> dict:
        """Fit ``e0`` (least squares), ``energy_shift`` and ``energy_scale`` on a training Batch.

        ``data``: a PyG ``Batch`` with ``z``, ``batch``, ``energy (B,)`` and, if present, ``forces``.
        ``energy_scale`` is the RMS force component when forces are given (forces are then of
        order 1 for the network), else the standard deviation of the residual energy per atom.
        Returns the fitted values as plain numbers.
        """
        if getattr(data, "energy", None) is None:
            raise ValueError("fit_normalization needs data.energy (one energy per structure)")
        check_tensor(data.energy, "data.energy", floating=True, min_numel=1)
        if getattr(data, "forces", None) is not None:
            check_tensor(data.forces, "data.forces", floating=True)
        batch = data.batch if getattr(data, "batch", None) is not None else torch.zeros_like(data.z)
        energy = data.energy.reshape(-1).double().cpu()
        e0 = fit_reference_energies(data.z.cpu(), batch.cpu(), energy, self.species.cpu())
        counts = torch.bincount(batch.cpu(), minlength=energy.shape[0]).double()
        residual = (energy - scatter_sum(e0[species_index(data.z.cpu(), self.species.cpu())], batch.cpu(),
                                         energy.shape[0])) / counts
        shift = residual.mean()
        forces = getattr(data, "forces", None)
        if forces is not None and forces.numel():
            scale = forces.double().pow(2).mean().sqrt()
        else:
            scale = residual.std() if residual.numel() > 1 else torch.tensor(1.0, dtype=torch.float64)
        scale = scale if float(scale) > 0 else torch.tensor(1.0, dtype=torch.float64)
        self.e0.copy_(e0.to(self.e0))
        self.energy_shift.copy_(shift.to(self.energy_shift))
        self.energy_scale.copy_(scale.to(self.energy_scale))
        return {"e0": dict(zip(self.species.tolist(), e0.tolist())), "energy_shift": float(shift),
                "energy_scale": float(scale)}

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        from torch_geometric.data import Data

        model = cls([1, 8], backbone="egnn", cutoff=3.0, hidden=8, num_layers=2, num_radial=4, dtype=dtype)
        _init(model.net, generator)
        _init(model.readout, generator)
        z = torch.tensor([8, 1, 1, 8, 1, 1])

        def energy_forces(pos):
            out = model(Data(z=z, pos=pos))
            return out["energy"], out["forces"]

        energy_forces.model = model
        return energy_forces, (torch.randn(6, 3, generator=generator, dtype=dtype),)
