"""Kinds of tensors: how a group element acts on a tensor.

A *kind* names the transformation law of a tensor. It is either one of the strings below
or an e3nn :class:`~e3nn.o3.Irreps` (object or string such as ``"2x0e+1x1o"``).

================  ==========================  =================================================
kind              shape                       action of a group element
================  ==========================  =================================================
``scalars``       any                         invariant (unchanged by every group)
``vectors``       ``(..., n)``                ``x R^T`` (rotations), times ``s`` (dilations);
                                              node-indexed rows are permuted
``pseudovectors`` ``(..., n)``                ``det(R) x R^T``; otherwise like ``vectors``
``positions``     ``(..., n)``                ``s x R^T + t``; node-indexed rows are permuted
Irreps            ``(..., irreps.dim)``       ``x D(R)^T`` (Wigner D with parity, n = 3 only);
                                              node-indexed rows are permuted
``nodes``         ``(N, ...)``                invariant features of nodes (float or integer labels
                                              such as atom types): rows are permuted
``field``         ``(..., C, *spatial)``      periodic field: spatial axes shifted / reflected
``edge_index``    ``(2, E)`` long             node labels relabelled by a permutation, columns
                                              reordered (edge order carries no meaning)
``edges``         ``(E, ...)``                invariant features of edges (float or integer):
                                              rows reordered with the ``edge_index`` columns
``batch``         ``(N,)`` long               permuted like node rows
================  ==========================  =================================================

Node-indexed tensors put the node axis first (PyG convention: ``(N, F)``, ``(N, n)``); a
vector of shape ``(n,)`` is a single global vector and is never permuted.
"""

from __future__ import annotations

from e3nn import o3

NAMED_KINDS = (
    "scalars",
    "vectors",
    "pseudovectors",
    "positions",
    "nodes",
    "field",
    "edge_index",
    "batch",
    "edges",
)
#: Kinds whose leading axis indexes nodes (when the tensor has more than one axis).
NODE_INDEXED = ("vectors", "pseudovectors", "positions", "nodes")
#: Kinds carried by integer tensors.
INTEGER_KINDS = ("edge_index", "batch")

Kind = str | o3.Irreps


def normalize_kind(kind: Kind, *, argument: str = "kind") -> Kind:
    """Return ``kind`` as a named kind string or an :class:`e3nn.o3.Irreps`.

    Raises ``ValueError`` naming ``argument`` for anything that is neither.
    """
    if isinstance(kind, o3.Irreps):
        return kind
    if isinstance(kind, str):
        if kind in NAMED_KINDS:
            return kind
        try:
            return o3.Irreps(kind)
        except (ValueError, AssertionError, TypeError):
            pass
    raise ValueError(
        f"{argument}={kind!r} is not a kind of tensor. Use one of {', '.join(NAMED_KINDS)} "
        "or an e3nn Irreps such as '2x0e+1x1o'."
    )


def normalize_kinds(kinds, count: int | None = None, *, argument: str = "kinds") -> tuple:
    """Normalise one kind or a sequence of kinds to a tuple; check the count if given."""
    if isinstance(kinds, (str, o3.Irreps)):
        kinds = (kinds,)
    try:
        kinds = tuple(kinds)
    except TypeError:
        raise ValueError(f"{argument}={kinds!r} must be a kind or a tuple of kinds") from None
    out = tuple(normalize_kind(k, argument=f"{argument}[{i}]") for i, k in enumerate(kinds))
    if count is not None and len(out) != count:
        raise ValueError(
            f"{argument} has {len(out)} kind(s) {[str(k) for k in out]} but there are {count} "
            "tensor(s); give one kind per tensor."
        )
    return out


def is_node_indexed(kind: Kind) -> bool:
    """True for kinds whose leading axis indexes nodes (rows permuted by permutations)."""
    return isinstance(kind, o3.Irreps) or kind in NODE_INDEXED
