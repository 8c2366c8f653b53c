"""Neighbour graphs and edge vectors (PyG conventions).

``edge_index`` is ``(2, E)`` long with ``edge_index[0]`` the source (neighbour ``j``) and
``edge_index[1]`` the target (receiving node ``i``); messages flow source -> target.
In a periodic box an edge also carries a shift: the source's image sits at
``pos[j] + shift`` (shift a multiple of the box lengths).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import cKDTree

from equigen.core.validation import InputTypeError, check_finite, check_positive_float

__all__ = ["radius_graph", "edge_vectors", "safe_norm", "polynomial_cutoff", "bessel_basis", "BesselBasis"]


def _check_pos(pos) -> torch.Tensor:
    if not isinstance(pos, torch.Tensor):
        raise TypeError(f"pos must be a torch.Tensor of shape (N, n), got {type(pos).__name__}")
    if pos.dim() != 2:
        raise ValueError(f"pos must have shape (N, n), got {tuple(pos.shape)}; flatten batches and pass `batch`")
    if not pos.is_floating_point():
        raise ValueError(f"pos must be floating point, got {pos.dtype}")
    return check_finite(pos, "pos")


def radius_graph(pos: torch.Tensor, cutoff: float, batch: torch.Tensor | None = None, loop: bool = False,
                 max_neighbors: int | None = None, box=None, *, cell=None, pbc=None):
    """All pairs closer than ``cutoff`` (within the same graph), built with scipy's cKDTree.

    Args:
        pos: ``(N, n)`` positions (any length unit).
        cutoff: radius, same unit; pairs with distance ``< cutoff`` (strictly) are edges.
        batch: ``(N,)`` long graph index of each node; no edges between graphs.
        loop: include self-edges ``(i, i)``.
        max_neighbors: keep only the nearest ``k`` sources of each target (ties broken by the
            lower source index). Truncation breaks exact rotation/permutation symmetry when
            distances tie at the k-th neighbour.
        box: ``(n,)`` lengths of an orthorhombic periodic box; minimum-image convention, so
            ``cutoff`` must be below half the smallest length.
        cell: a general (triclinic) periodic cell: ``(n, n)`` with the lattice vectors as rows
            (ASE's ``atoms.cell``), or ``(B, n, n)``, one per graph of ``batch``. Every image within
            ``cutoff`` is an edge, so the cutoff may exceed the cell (an atom may then see several
            images of the same neighbour, and its own images). Positions need not be wrapped.
        pbc: with ``cell``: ``(n,)`` (or ``(B, n)``) bools, which lattice directions are periodic
            (default all).

    Returns:
        ``edge_index`` ``(2, E)`` long, sorted by target then source; with ``box`` or ``cell`` the
        tuple ``(edge_index, shifts)`` where ``shifts`` ``(E, n)`` place each source's image
        (``pos[j] + shift - pos[i]`` is the edge vector; with ``cell`` the shift is an integer
        combination of the lattice vectors).

    Symmetry: the edge set is equivariant under E(n) and node permutations (relabelled);
    O(N log N) time.
    """
    pos = _check_pos(pos)
    _check_graph_args(pos, cutoff, batch, max_neighbors)
    if cell is not None:
        if box is not None:
            raise ValueError("pass either box (orthorhombic lengths) or cell (lattice vectors), not both")
        return _radius_graph_cell(pos, float(cutoff), batch, loop, max_neighbors, cell, pbc)
    if pbc is not None:
        raise ValueError("pbc is used with cell=; pass the lattice vectors as cell (or box= for an orthorhombic box)")
    return _radius_graph_box(pos, cutoff, batch, loop, max_neighbors, box)


def _check_graph_args(pos, cutoff, batch, max_neighbors) -> None:
    """Validate ``cutoff``, ``max_neighbors`` and ``batch`` of :func:`radius_graph` (``pos`` already checked)."""
    if isinstance(cutoff, bool) or not (isinstance(cutoff, (int, float)) and np.isfinite(cutoff) and cutoff > 0):
        raise ValueError(f"cutoff={cutoff!r} must be a positive finite number (same unit as pos)")
    if max_neighbors is not None and (not isinstance(max_neighbors, int) or max_neighbors < 1):
        raise ValueError(f"max_neighbors={max_neighbors!r} must be a positive integer or None")
    n_nodes = pos.shape[0]
    if batch is not None:
        if not isinstance(batch, torch.Tensor) or batch.dtype != torch.long or batch.shape != (n_nodes,):
            raise ValueError(
                f"batch must be a long tensor of shape ({n_nodes},), got "
                f"{getattr(batch, 'dtype', type(batch).__name__)} {tuple(getattr(batch, 'shape', ()))}"
            )
        if n_nodes and int(batch.min()) < 0:
            raise ValueError("batch contains negative graph indices")


def _radius_graph_box(pos, cutoff, batch, loop, max_neighbors, box):
    """Neighbour list in open space or in an orthorhombic ``box`` (minimum image), one tree for the batch."""
    n_nodes, dim = pos.shape
    x0 = pos.detach().cpu().double().numpy()
    x, lengths = x0, None
    if box is not None:
        lengths = _box_lengths(box, dim, cutoff)
        x = np.mod(x, lengths)
        x[x >= lengths] = 0.0  # np.mod can round up to exactly L
    boxsize = lengths
    if batch is not None and n_nodes:
        x, boxsize = _separate_graphs(x, batch, cutoff, boxsize)
    src, dst = _pairs_within(x, cutoff, boxsize, loop)
    delta = x0[src] - x0[dst]
    shifts = None
    if box is not None:
        shifts = -lengths * np.round(delta / lengths)
        delta = delta + shifts
    return _finish(pos, src, dst, delta, shifts, max_neighbors)


def _box_lengths(box, dim: int, cutoff) -> np.ndarray:
    """The ``(dim,)`` float64 box lengths, checked positive and more than twice ``cutoff``."""
    lengths = np.asarray(torch.as_tensor(box, dtype=torch.float64).cpu(), dtype=np.float64).reshape(-1)
    if lengths.shape != (dim,) or not np.all(lengths > 0) or not np.all(np.isfinite(lengths)):
        raise ValueError(f"box={box!r} must hold {dim} positive box lengths")
    if cutoff >= lengths.min() / 2:
        raise ValueError(f"cutoff={cutoff} must be below half the smallest box length ({lengths.min()})")
    return lengths


def _separate_graphs(x, batch, cutoff, boxsize):
    """Separate graphs along an extra axis (``3 cutoff`` apart) so one tree serves the whole batch."""
    b = batch.detach().cpu().numpy().astype(np.float64)
    gap = 3.0 * cutoff
    x = np.concatenate([x, (b * gap)[:, None]], axis=1)
    if boxsize is not None:
        boxsize = np.concatenate([boxsize, [(b.max() + 2) * gap]])
    return x, boxsize


def _pairs_within(x, cutoff, boxsize, loop):
    """Both directions ``(src, dst)`` of every pair of rows of ``x`` closer than ``cutoff`` (+ self-loops)."""
    n_nodes = x.shape[0]
    if n_nodes == 0:
        pairs = np.zeros((0, 2), dtype=np.int64)
    else:
        tree = cKDTree(x, boxsize=boxsize)
        pairs = tree.query_pairs(r=np.nextafter(cutoff, 0), output_type="ndarray").astype(np.int64)
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    if loop:
        src = np.concatenate([src, np.arange(n_nodes)])
        dst = np.concatenate([dst, np.arange(n_nodes)])
    return src, dst

def _finish(pos, src, dst, delta, shifts, max_neighbors):
    """Truncate to ``max_neighbors``, sort by target then source, convert to tensors."""
    if max_neighbors is not None:
        dist = np.linalg.norm(delta, axis=1)
        order = np.lexsort((src, dist, dst))
        dst_sorted = dst[order]
        first = np.searchsorted(dst_sorted, dst_sorted, side="left")
        keep = order[(np.arange(order.size) - first) < max_neighbors]
    else:
        keep = np.arange(src.size)
    keys = (src[keep], dst[keep]) if shifts is None else (*shifts[keep].T[::-1], src[keep], dst[keep])
    keep = keep[np.lexsort(keys)]
    edge_index = torch.from_numpy(np.stack([src[keep], dst[keep]]).astype(np.int64)).to(pos.device)
    if shifts is None:
        return edge_index
    return edge_index, torch.from_numpy(shifts[keep]).to(device=pos.device, dtype=pos.dtype)


def _radius_graph_cell(pos, cutoff, batch, loop, max_neighbors, cell, pbc):
    """Neighbour list in a triclinic periodic cell: every image within ``cutoff`` (per graph)."""
    n_nodes, dim = pos.shape
    cells, pbcs = _cells_and_pbc(cell, pbc, batch, n_nodes, dim)
    x0 = pos.detach().cpu().double().numpy()
    graph = np.zeros(n_nodes, dtype=np.int64) if batch is None else batch.detach().cpu().numpy()
    all_src, all_dst, all_shift = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros((0, dim))]
    for g in range(cells.shape[0]):
        idx = np.nonzero(graph == g)[0]
        if idx.size == 0:
            continue
        j, i, shift = _cell_images_within(x0[idx], cells[g], pbcs[g], cutoff, loop, g)
        all_shift.append(shift)
        all_src.append(idx[j])
        all_dst.append(idx[i])
    src, dst, shifts = np.concatenate(all_src), np.concatenate(all_dst), np.concatenate(all_shift)
    delta = x0[src] + shifts - x0[dst]
    return _finish(pos, src, dst, delta, shifts, max_neighbors)


def _cells_and_pbc(cell, pbc, batch, n_nodes: int, dim: int):
    """``cell`` and ``pbc`` as ``(B, n, n)`` float64 and ``(B, n)`` bool arrays, one row per graph."""
    cells = np.asarray(torch.as_tensor(cell, dtype=torch.float64).detach().cpu(), dtype=np.float64)
    num_graphs = 1 if batch is None or n_nodes == 0 else int(batch.max()) + 1
    if cells.shape == (dim, dim):
        cells = np.broadcast_to(cells, (num_graphs, dim, dim))
    if cells.shape != (num_graphs, dim, dim) or not np.all(np.isfinite(cells)):
        raise ValueError(f"cell must be ({dim}, {dim}) lattice vectors as rows, or ({num_graphs}, {dim}, {dim}) one "
                         f"per graph, finite; got shape {cells.shape}")
    pbcs = np.ones((num_graphs, dim), dtype=bool) if pbc is None else np.asarray(
        torch.as_tensor(pbc).detach().cpu(), dtype=bool)
    if pbcs.shape == (dim,):
        pbcs = np.broadcast_to(pbcs, (num_graphs, dim))
    if pbcs.shape != (num_graphs, dim):
        raise ValueError(f"pbc must be ({dim},) or ({num_graphs}, {dim}) booleans, got shape {pbcs.shape}")
    return cells, pbcs


def _cell_images_within(x, c, periodic, cutoff, loop, g):
    """Edges of one graph ``x`` ``(n, dim)`` in cell ``c``: local ``(src, dst)`` and the ``(E, dim)`` shifts."""
    n, dim = x.shape
    if periodic.any() and abs(np.linalg.det(c)) < 1e-12:
        raise ValueError(f"cell of graph {g} is singular (volume ~0): {c.tolist()}; periodic directions need "
                         "independent lattice vectors")
    inv = np.linalg.inv(c) if periodic.any() else np.eye(dim)
    frac = x @ inv if periodic.any() else x
    wrap = np.where(periodic, np.floor(frac), 0.0)
    xw = x - wrap @ c if periodic.any() else x
    # images needed per axis: cutoff over the spacing of the lattice planes (1 / |reciprocal vector|)
    reps = np.where(periodic, np.ceil(cutoff * np.linalg.norm(inv, axis=0)), 0).astype(np.int64)
    offsets = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in reps], indexing="ij"), -1).reshape(-1, dim)
    images = (xw[None, :, :] + (offsets @ c)[:, None, :]).reshape(-1, dim)
    found = cKDTree(xw).sparse_distance_matrix(cKDTree(images), max_distance=np.nextafter(cutoff, 0),
                                               output_type="ndarray")
    i, k = found["i"].astype(np.int64), found["j"].astype(np.int64)
    j, m = k % n, k // n
    keep = ~((i == j) & np.all(offsets[m] == 0, axis=1))  # an atom and itself, not its images
    i, j, m = i[keep], j[keep], m[keep]
    if loop:
        centre = int(np.nonzero(np.all(offsets == 0, axis=1))[0][0])
        own = np.arange(n)
        i, j, m = np.concatenate([i, own]), np.concatenate([j, own]), np.concatenate([m, np.full(n, centre)])
    return j, i, (offsets[m] - wrap[j] + wrap[i]) @ c


def edge_vectors(pos: torch.Tensor, edge_index: torch.Tensor, shifts: torch.Tensor | None = None) -> torch.Tensor:
    """Vectors from each edge's target to its source (image): ``pos[j] + shift - pos[i]``, ``(E, n)``.

    Differences of positions: invariant under translations, rotating with the frame.
    """
    if not isinstance(edge_index, torch.Tensor) or edge_index.dtype != torch.long or edge_index.dim() != 2 \
            or edge_index.shape[0] != 2:
        raise InputTypeError(f"edge_index must be a torch.long tensor of shape (2, E), got "
                             f"{getattr(edge_index, 'dtype', type(edge_index).__name__)} "
                             f"{tuple(getattr(edge_index, 'shape', ()))}; use edge_index.long()")
    src, dst = edge_index
    try:
        vec = pos[src] - pos[dst]
    except IndexError:  # no extra pass over the indices on the hot path: translate torch's error
        raise ValueError(f"edge_index has node indices outside [0, {pos.shape[0]}) (pos has {pos.shape[0]} "
                         "rows); build it for these positions, e.g. with radius_graph(pos, cutoff)") from None
    return vec if shifts is None else vec + shifts.to(vec)


def safe_norm(vec: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """Euclidean norm with a finite gradient at 0 (the gradient there is 0, not NaN).

    Rotation invariant; ``(..., n) -> (...)``.
    """
    if not isinstance(vec, torch.Tensor):
        raise InputTypeError(f"vec must be a torch.Tensor, got {type(vec).__name__}")
    sq = (vec * vec).sum(dim=dim, keepdim=keepdim)
    zero = sq == 0
    return torch.where(zero, torch.zeros_like(sq), torch.sqrt(torch.where(zero, torch.ones_like(sq), sq)))


def polynomial_cutoff(r: torch.Tensor, cutoff: float, p: int = 6) -> torch.Tensor:
    """Smooth envelope ``u(r/cutoff)`` that is 1 at 0 and vanishes smoothly at ``cutoff``.

    The polynomial of Klicpera, Gross and Guennemann (DimeNet, 2020)::

        u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2),   x < 1;  0 otherwise

    so ``u``, ``u'`` and ``u''`` vanish at ``x = 1`` (forces are continuous when an
    edge leaves the cutoff). ``r`` any shape, same unit as ``cutoff``; output same shape.

    Example: ``polynomial_cutoff(torch.tensor([0.0, 2.5, 5.0]), 5.0)`` -> ``[1.0, 0.58.., 0.0]``.
    """
    _check_cutoff(cutoff)
    if not isinstance(p, int) or p < 2:
        raise ValueError(f"p={p!r} must be an integer >= 2 (the envelope's polynomial degree)")
    x = r / cutoff
    out = (1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2))
    return torch.where(x < 1, out, torch.zeros_like(out))


def bessel_basis(r: torch.Tensor, cutoff: float, num_basis: int = 8, p: int = 6) -> torch.Tensor:
    """Radial Bessel basis with a polynomial envelope: ``(...,) -> (..., num_basis)``.

    ``b_k(r) = sqrt(2/c) sin(k pi r / c) / r * u(r / c)``, ``k = 1..num_basis`` (DimeNet,
    NequIP). At ``r = 0`` the limit ``sqrt(2/c) k pi / c`` is used, so coincident points stay
    finite. Each function is smooth and vanishes (with 2 derivatives) at ``cutoff``.
    Rotation/translation invariant (a function of distance only).

    Example: ``bessel_basis(torch.rand(10) * 5, cutoff=5.0, num_basis=8).shape == (10, 8)``.
    """
    _check_cutoff(cutoff)
    if not isinstance(num_basis, int) or num_basis < 1:
        raise ValueError(f"num_basis={num_basis!r} must be a positive integer")
    k = torch.arange(1, num_basis + 1, dtype=r.dtype, device=r.device) * math.pi / cutoff
    r1 = r.unsqueeze(-1)
    small = r1.abs() < 1e-9 * cutoff
    r_safe = torch.where(small, torch.ones_like(r1), r1)
    val = torch.where(small, k.expand_as(r1 * k), torch.sin(k * r_safe) / r_safe)
    return math.sqrt(2.0 / cutoff) * val * polynomial_cutoff(r, cutoff, p).unsqueeze(-1)


class BesselBasis(torch.nn.Module):
    """Module form of :func:`bessel_basis` (no trainable parameters)."""

    def __init__(self, cutoff: float, num_basis: int = 8, p: int = 6):
        super().__init__()
        _check_cutoff(cutoff)
        if not isinstance(num_basis, int) or num_basis < 1:
            raise ValueError(f"num_basis={num_basis!r} must be a positive integer")
        self.cutoff, self.num_basis, self.p = float(cutoff), num_basis, p

    def get_config(self) -> dict:
        """Constructor arguments (for :func:`equigen.train.save_model`)."""
        return {"cutoff": self.cutoff, "num_basis": self.num_basis, "p": self.p}

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return bessel_basis(r, self.cutoff, self.num_basis, self.p)


def _check_cutoff(cutoff) -> None:
    check_positive_float(cutoff, "cutoff")
