"""Input checks shared by the graph layers (built on :mod:`equigen.core.validation`).

Each names the argument, the value and the fix. Value checks that read the data (NaN/Inf,
index ranges) are skipped while ``torch.compile`` traces; ``like`` (a module) makes a floating
input's dtype match the layer's parameters (``TypeError`` naming both dtypes otherwise).
"""

from __future__ import annotations

import torch

from equigen.core.validation import InputTypeError, check_dtype_like, check_finite, is_compiling


def check_pos(pos, dim: int | None = None, *, like=None, finite: bool = True) -> torch.Tensor:
    """``pos`` must be a finite floating ``(N, n)`` tensor (``n == dim`` when given)."""
    if not isinstance(pos, torch.Tensor):
        raise InputTypeError(f"pos must be a torch.Tensor of shape (N, n), got {type(pos).__name__}")
    if pos.dim() != 2 or (dim is not None and pos.shape[1] != dim):
        want = "(N, n)" if dim is None else f"(N, {dim})"
        raise ValueError(f"pos must have shape {want}, got {tuple(pos.shape)}; "
                         "flatten batches of graphs into one (N, n) tensor and pass `batch`")
    if not pos.is_floating_point():
        raise ValueError(f"pos must be floating point, got {pos.dtype}; use pos.double() or pos.float()")
    if like is not None:
        check_dtype_like(pos, "pos", like)
    return check_finite(pos, "pos", fix="positions must be finite numbers") if finite else pos


def check_edge_index(edge_index, num_nodes: int) -> torch.Tensor:
    """``edge_index`` must be a long ``(2, E)`` tensor with entries in ``[0, num_nodes)``."""
    if not isinstance(edge_index, torch.Tensor):
        raise InputTypeError(f"edge_index must be a torch.Tensor of shape (2, E), got {type(edge_index).__name__}")
    if edge_index.dtype != torch.long:
        raise ValueError(f"edge_index must be torch.long, got {edge_index.dtype}; use edge_index.long()")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}; "
                         "transpose an (E, 2) list with .t()")
    if edge_index.numel() and not is_compiling():  # value checks are data-dependent
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            raise ValueError(f"edge_index has node indices in [{lo}, {hi}] but there are {num_nodes} nodes; "
                             "indices must lie in [0, N)")
    return edge_index


def check_shifts(shifts, num_edges: int, dim: int, pos: torch.Tensor):
    """Periodic ``shifts`` must be ``(E, n)`` (or None)."""
    if shifts is None:
        return None
    if not isinstance(shifts, torch.Tensor) or shifts.shape != (num_edges, dim):
        raise ValueError(f"shifts must be a tensor of shape ({num_edges}, {dim}) (one image shift per edge, "
                         f"as returned by radius_graph(..., box=...)), got {tuple(getattr(shifts, 'shape', ()))}")
    return check_finite(shifts, "shifts").to(pos)


def check_nodes(h, num_nodes: int, features: int, argument: str = "h", *, like=None,
                finite: bool = True) -> torch.Tensor:
    """Node features must be finite floating ``(N, features)`` (in ``like``'s dtype when given)."""
    if not isinstance(h, torch.Tensor):
        raise InputTypeError(f"{argument} must be a torch.Tensor of shape ({num_nodes}, {features}), "
                             f"got {type(h).__name__}")
    if h.dim() != 2 or h.shape != (num_nodes, features):
        raise ValueError(f"{argument} must have shape ({num_nodes}, {features}) (nodes x features), got "
                         f"{tuple(h.shape)}; check the layer's input width and that it matches pos")
    if not h.is_floating_point():
        raise ValueError(f"{argument} must be floating point, got {h.dtype}")
    if like is not None:
        check_dtype_like(h, argument, like)
    return check_finite(h, argument) if finite else h


def check_batch(batch, num_nodes: int):
    """``batch`` must be long ``(N,)`` with non-negative graph indices (or None)."""
    if batch is None:
        return None
    if not isinstance(batch, torch.Tensor) or batch.dtype != torch.long or batch.shape != (num_nodes,):
        raise ValueError(f"batch must be a long tensor of shape ({num_nodes},) (graph index of each node), got "
                         f"{getattr(batch, 'dtype', type(batch).__name__)} {tuple(getattr(batch, 'shape', ()))}")
    if num_nodes and not is_compiling() and int(batch.min()) < 0:
        raise ValueError(f"batch has a negative graph index ({int(batch.min())}); graph indices start at 0")
    return batch


def scatter_sum(src: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Sum rows of ``src`` into ``size`` bins given by ``index`` (``(E, ...) -> (size, ...)``)."""
    out = src.new_zeros((size,) + tuple(src.shape[1:]))
    return out.index_add_(0, index, src)


def is_graph_data(obj) -> bool:
    """Whether ``obj`` is a PyG ``Data``/``Batch`` (torch_geometric is a core dependency)."""
    from torch_geometric.data import Data

    return isinstance(obj, Data)


def graph_inputs(data, pos=None, edge_index=None):
    """``(x, pos, edge_index, extras)`` from a PyG ``Data``/``Batch``; ``extras`` holds the optional fields
    ``batch``, ``shifts``, ``edge_attr``, ``vel`` and ``num_graphs`` present on it."""
    if pos is not None or edge_index is not None:
        raise ValueError("pass either a PyG Data/Batch or (h, pos, edge_index), not both")
    missing = [k for k in ("x", "pos", "edge_index") if getattr(data, k, None) is None]
    if missing:
        raise ValueError(f"a Data/Batch input needs the fields x, pos and edge_index; missing {missing} (for atoms, "
                         "set x to the species one-hot or use equigen.nn.Potential, which reads z)")
    extras = {k: getattr(data, k) for k in ("batch", "shifts", "edge_attr", "vel")
              if getattr(data, k, None) is not None}
    if hasattr(data, "num_graphs"):
        extras["num_graphs"] = int(data.num_graphs)
    return data.x, data.pos, data.edge_index, extras
