"""The public models the conformance suite drives, each a short data-driven :class:`Adapter`.

torch_geometric (``SchNet``, ``DimeNet``, ``DimeNetPlusPlus``, ``ViSNet``): PyG 2.8 computes
radius graphs with ``torch.ops.pyg.radius`` (the ``pyg-lib`` extension) and DimeNet's triplets
with ``torch_sparse.SparseTensor``; neither installs as a wheel for this torch. The adapters hand
each model equigen's :func:`equigen.geometry.radius_graph` (same cutoff, same
``max_num_neighbors``, no self loops unless the model asks) in place of the function it calls,
and DimeNet a pure-torch :func:`triplets` that returns the same triplets (checked against a
brute-force enumeration in the tests). SchNet takes the graph through its public
``interaction_graph`` argument. Everything else runs as published.

e3nn (``Gate``, ``BatchNorm``, ``NormActivation``, ``FullyConnectedTensorProduct``, ``Linear``,
``S2Activation``, ``SO3Activation``): irreps in and out as e3nn declares them; the kit acts on
them with :func:`equigen.groups.wigner_d` (exact in float64).

MACE (``mace-torch`` pins ``e3nn==0.4.4``): the adapter is registered everywhere but only runs
where ``mace`` imports, i.e. in a separate environment (see ``docs/conformance.md``).

Controls: deliberately broken twins (``control.*``) that must fail, so a green row means
something.

To add equigen's own graph layers: ``register(adapter_from_declared(MyLayer))``, or nothing at
all: :func:`equigen.conformance.declared_adapters` finds every layer declaring a symmetry.
"""

from __future__ import annotations

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3

from equigen.conformance.adapters import Adapter, Output, register
from equigen.geometry import radius_graph as _equigen_radius_graph

__all__ = ["pyg_radius_graph", "triplets", "e3nn_irreps", "s2_activation", "so3_activation"]

_CUTOFF = 3.0


@torch.compiler.disable  # graph construction (scipy) stays eager under torch.compile
def pyg_radius_graph(x, r, batch=None, loop=False, max_num_neighbors=32, flow="source_to_target",
                     num_workers=1, batch_size=None):
    """``torch_geometric.nn.radius_graph``'s signature, computed by equigen's radius graph.

    Returns ``edge_index`` ``(2, E)`` (row 0 sources, row 1 targets) of pairs closer than ``r``.
    PyG keeps the ``max_num_neighbors`` nearest per target; so does this (ties by index).
    """
    if flow != "source_to_target":
        raise ValueError(f"flow={flow!r}: only 'source_to_target' is supported by this stand-in")
    k = None if max_num_neighbors is None or max_num_neighbors >= x.shape[0] else int(max_num_neighbors)
    return _equigen_radius_graph(x.detach(), float(r), batch=batch, loop=loop, max_neighbors=k).to(x.device)


def triplets(edge_index: torch.Tensor, num_nodes: int):
    """DimeNet's triplets ``k -> j -> i`` (``k != i``) in pure torch, as PyG's ``dimenet.triplets``.

    For each edge ``ji`` (``j -> i``) every edge ``kj`` ending at ``j``. Returns
    ``(i, j, idx_i, idx_j, idx_k, idx_kj, idx_ji)`` like PyG (no torch_sparse needed).
    """
    row, col = edge_index  # j -> i: row = source j, col = target i
    device = row.device
    num_edges = row.numel()
    order = torch.argsort(col * (num_nodes + 1) + row, stable=True)  # incoming edges grouped by target
    counts = torch.bincount(col, minlength=num_nodes)
    ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    per_edge = counts[row]  # incoming edges of j, for each edge j -> i
    idx_ji = torch.arange(num_edges, device=device).repeat_interleave(per_edge)
    first = (per_edge.cumsum(0) - per_edge).repeat_interleave(per_edge)
    offset = torch.arange(idx_ji.numel(), device=device) - first
    idx_kj = order[ptr[row].repeat_interleave(per_edge) + offset]
    idx_i, idx_j, idx_k = col[idx_ji], row[idx_ji], row[idx_kj]
    mask = idx_i != idx_k
    return col, row, idx_i[mask], idx_j[mask], idx_k[mask], idx_kj[mask], idx_ji[mask]


_GRAPH_NOTE = "radius graph: equigen's in place of pyg-lib's"


def _molecule(model, z, pos, batch):
    return model(z, pos, batch)


# -------------------------------------------------------------------------------------
# torch_geometric
# -------------------------------------------------------------------------------------


def _schnet():
    from torch_geometric.nn.models import SchNet
    from torch_geometric.nn.models.schnet import RadiusInteractionGraph

    return SchNet(hidden_channels=16, num_filters=16, num_interactions=2, num_gaussians=12, cutoff=_CUTOFF,
                  interaction_graph=RadiusInteractionGraph(_CUTOFF))


def _dimenet():
    from torch_geometric.nn.models import DimeNet

    return DimeNet(hidden_channels=16, out_channels=1, num_blocks=2, num_bilinear=4, num_spherical=3,
                   num_radial=4, cutoff=_CUTOFF, output_initializer="glorot_orthogonal")


def _dimenetpp():
    from torch_geometric.nn.models import DimeNetPlusPlus

    return DimeNetPlusPlus(hidden_channels=16, out_channels=1, num_blocks=2, int_emb_size=8, basis_emb_size=4,
                           out_emb_channels=16, num_spherical=3, num_radial=4, cutoff=_CUTOFF,
                           output_initializer="glorot_orthogonal")


def _visnet():
    from torch_geometric.nn.models import ViSNet

    return ViSNet(lmax=2, num_heads=2, num_layers=2, hidden_channels=16, num_rbf=8, cutoff=_CUTOFF,
                  max_z=10, derivative=True)


_PYG_SCHNET_GRAPH = (("torch_geometric.nn.models.schnet", "radius_graph", pyg_radius_graph),)
_PYG_DIMENET = (("torch_geometric.nn.models.dimenet", "radius_graph", pyg_radius_graph),
                ("torch_geometric.nn.models.dimenet", "triplets", triplets))
_PYG_VISNET = (("torch_geometric.nn.models.visnet", "radius_graph", pyg_radius_graph),)
_ENERGY = (Output("energy", "scalars", per="graph"),)

register(Adapter(name="pyg.SchNet", library="torch_geometric", domain="molecule", build=_schnet,
                 forward=_molecule, outputs=_ENERGY, forces=True, patches=_PYG_SCHNET_GRAPH,
                 requires=("torch_geometric",), note=_GRAPH_NOTE + " (through interaction_graph)"))
register(Adapter(name="pyg.DimeNet", library="torch_geometric", domain="molecule", build=_dimenet,
                 forward=_molecule, outputs=_ENERGY, forces=True, patches=_PYG_DIMENET,
                 requires=("torch_geometric",), note=_GRAPH_NOTE + "; triplets in pure torch (no torch_sparse)"))
register(Adapter(name="pyg.DimeNetPlusPlus", library="torch_geometric", domain="molecule", build=_dimenetpp,
                 forward=_molecule, outputs=_ENERGY, forces=True, patches=_PYG_DIMENET,
                 requires=("torch_geometric",), note=_GRAPH_NOTE + "; triplets in pure torch (no torch_sparse)"))
register(Adapter(name="pyg.ViSNet", library="torch_geometric", domain="molecule", build=_visnet,
                 forward=_molecule, outputs=(Output("energy", "scalars", per="graph"),
                                             Output("forces", "vectors", per="node")),
                 patches=_PYG_VISNET, default_dtype=True, requires=("torch_geometric",),
                 note=_GRAPH_NOTE + "; forces are ViSNet's own (derivative=True); float64 needs "
                      "torch.set_default_dtype(float64): its Distance allocates edge weights in the default dtype"))


# -------------------------------------------------------------------------------------
# e3nn
# -------------------------------------------------------------------------------------

_IR = o3.Irreps("4x0e+2x0o+2x1o+2x1e+1x2e")


def _gate():
    return e3nn_nn.Gate("4x0e+2x0o", [torch.tanh, torch.tanh], "3x0e", [torch.sigmoid],
                        "2x1o+1x2e")


def _features(model, *xs):
    return model(*xs)


def e3nn_irreps(model) -> tuple:
    """``(irreps_in, irreps_out)`` an e3nn module declares (``irreps_in``, ``irreps_in1/2``,
    ``irreps``, ``irreps_out``): the layout its forward expects, which may be sorted and simplified
    (e3nn's Gate takes ``2x0o+7x0e+...``, not scalars + gates + gated in the order given)."""
    if hasattr(model, "irreps_in1"):
        ins = (model.irreps_in1, model.irreps_in2)
    elif hasattr(model, "irreps_in"):
        ins = (model.irreps_in,)
    elif hasattr(model, "irreps"):
        ins = (model.irreps,)
    else:
        raise ValueError(f"{type(model).__name__} declares no irreps_in: give irreps to its adapter")
    out = getattr(model, "irreps_out", ins[0])
    return tuple(o3.Irreps(i) for i in ins), o3.Irreps(out)


def _e3(name, build, irreps_in=None, irreps_out=None, note="", forward=None, control=False, default_dtype=True):
    """e3nn modules compute constants (Clebsch-Gordan coefficients, grids) at construction in the
    default dtype, so they are built (and run) with the default dtype set to the checked dtype, as
    e3nn documents; ``default_dtype=False`` builds in float32 and casts with ``.to(dtype)``."""
    if irreps_in is None:
        with torch.random.fork_rng(devices=[]):
            irreps_in, irreps_out = e3nn_irreps(build())
    register(Adapter(name=f"e3nn.{name}" if not control else name, library="e3nn", domain="features", build=build,
                     forward=forward or _features, irreps_in=irreps_in, default_dtype=default_dtype,
                     outputs=(Output("features", irreps_out, per="node"),), control=control, note=note))


# irreps are read from each module (e3nn_irreps), so the layout is the one its forward expects
_e3("Gate", _gate)
_e3("BatchNorm", lambda: e3nn_nn.BatchNorm(_IR), note="training mode (batch statistics)")
_e3("NormActivation", lambda: e3nn_nn.NormActivation(_IR, torch.sigmoid, bias=True))


def _fctp():
    return o3.FullyConnectedTensorProduct("2x0e+2x1o+1x2e", "1x0e+1x1o+1x1e", "2x0e+2x1o+2x1e+1x2e+1x2o")


_e3("FullyConnectedTensorProduct", _fctp)
_e3("FullyConnectedTensorProduct[cast]", _fctp, default_dtype=False,
    note="built with the float32 default dtype, then .to(dtype): its Clebsch-Gordan coefficients keep float32 "
         "rounding")
_e3("Linear", lambda: o3.Linear(_IR, "3x0e+1x0o+3x1o+1x2e"))

#: Grid resolutions of the approximate activations (the table uses the first; the resolution
#: study sweeps them all).
S2_RESOLUTIONS = (10, 20, 30, 40, 60)
SO3_RESOLUTIONS = (6, 8, 10, 12, 14)
_S2_IRREPS = o3.Irreps("0e+1o+2e")  # a function on the sphere: parity (-1)^l
_SO3_IRREPS = o3.Irreps([(2 * l + 1, (l, 1)) for l in range(3)])  # D^l coefficients, l <= 2


def s2_activation(res: int):
    """e3nn ``S2Activation`` on ``0e+1o+2e`` with tanh at grid resolution ``res``."""
    return e3nn_nn.S2Activation(_S2_IRREPS, torch.tanh, res)


def so3_activation(res: int):
    """e3nn ``SO3Activation`` lmax 2 -> 2 with tanh at grid resolution ``res``."""
    return e3nn_nn.SO3Activation(2, 2, torch.tanh, res)


# (irreps given: building fine grids at import would be slow; the tests check them against the modules)
_e3(f"S2Activation[res={S2_RESOLUTIONS[0]}]", lambda: s2_activation(S2_RESOLUTIONS[0]), (_S2_IRREPS,), _S2_IRREPS,
    note="approximate: a pointwise activation on a sphere grid; error shrinks with res")
_e3(f"SO3Activation[res={SO3_RESOLUTIONS[0]}]", lambda: so3_activation(SO3_RESOLUTIONS[0]), (_SO3_IRREPS,),
    _SO3_IRREPS, note="approximate: a pointwise activation on an SO(3) grid; error shrinks with resolution")
_e3(f"S2Activation[res={S2_RESOLUTIONS[-1]}]", lambda: s2_activation(S2_RESOLUTIONS[-1]), (_S2_IRREPS,),
    _S2_IRREPS, note="approximate, fine grid")
_e3(f"SO3Activation[res={SO3_RESOLUTIONS[-1]}]", lambda: so3_activation(SO3_RESOLUTIONS[-1]), (_SO3_IRREPS,),
    _SO3_IRREPS, note="approximate, fine grid")


# -------------------------------------------------------------------------------------
# MACE (separate environment: mace-torch pins e3nn 0.4.4)
# -------------------------------------------------------------------------------------

_MACE_ELEMENTS = (1, 6, 7, 8)


def _mace():
    import numpy as np
    from mace import modules

    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    return modules.MACE(r_max=_CUTOFF, num_bessel=4, num_polynomial_cutoff=5, max_ell=2, interaction_cls=block,
                        interaction_cls_first=block, num_interactions=2, num_elements=len(_MACE_ELEMENTS),
                        hidden_irreps=o3.Irreps("8x0e+8x1o"), MLP_irreps=o3.Irreps("8x0e"),
                        atomic_energies=np.zeros(len(_MACE_ELEMENTS)), avg_num_neighbors=4.0,
                        atomic_numbers=list(_MACE_ELEMENTS), correlation=2, gate=torch.nn.functional.silu)


def _mace_forward(model, z, pos, batch):
    types = torch.searchsorted(torch.tensor(_MACE_ELEMENTS, device=z.device), z)
    edge_index = pyg_radius_graph(pos, _CUTOFF, batch=batch, max_num_neighbors=None)
    num_graphs = int(batch.max()) + 1
    zeros = torch.zeros(edge_index.shape[1], 3, dtype=pos.dtype, device=pos.device)
    ptr = torch.cat([batch.new_zeros(1), torch.bincount(batch, minlength=num_graphs).cumsum(0)])
    data = {"positions": pos, "node_attrs": torch.nn.functional.one_hot(types, len(_MACE_ELEMENTS)).to(pos.dtype),
            "edge_index": edge_index, "shifts": zeros, "unit_shifts": zeros,
            "cell": torch.zeros(3 * num_graphs, 3, dtype=pos.dtype, device=pos.device), "batch": batch, "ptr": ptr}
    out = model(data, training=False, compute_force=True)
    return out["energy"], out["forces"]


register(Adapter(name="mace.MACE", library="mace", domain="molecule", build=_mace, forward=_mace_forward,
                 outputs=(Output("energy", "scalars", per="graph"), Output("forces", "vectors", per="node")),
                 atom_types=_MACE_ELEMENTS, requires=("mace.modules",), default_dtype=True,
                 note="separate environment (e3nn 0.4.4); forces are MACE's own; graph from equigen; "
                      "built with the checked default dtype, as MACE's own scripts do"))


# -------------------------------------------------------------------------------------
# Controls: broken twins that must fail
# -------------------------------------------------------------------------------------


def _schnet_absolute(model, z, pos, batch):
    """SchNet plus a small term in absolute positions: breaks rotation and translation."""
    energy = model(z, pos, batch)
    drift = torch.zeros_like(energy).index_add_(0, batch, (1e-3 * pos[:, :1]))
    return energy + drift


def _gate_on_components(model, x):
    """Gate applied after squaring every component: breaks rotation for l >= 1."""
    return model(x * x.abs())


register(Adapter(name="control.SchNet+absolute-x", library="torch_geometric", domain="molecule", build=_schnet,
                 forward=_schnet_absolute, outputs=_ENERGY, forces=True, patches=_PYG_SCHNET_GRAPH,
                 requires=("torch_geometric",), control=True,
                 note="broken twin: energy + 1e-3 * sum of x coordinates (not rotation/translation invariant)"))
_e3("control.Gate(x*abs(x))", _gate, forward=_gate_on_components, control=True,
    note="broken twin: components squared (with sign) before the gate")
