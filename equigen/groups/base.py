"""What every group shares: :class:`Group`, :class:`Element`, :class:`Part`, the call :class:`Context`
and the direct product :class:`ProductGroup`.

A group samples elements, lists edge-case elements and says how hypothesis draws its elements;
an element is a tuple of independent *parts* (one per aspect of a tensor it moves) that compose,
invert and act on tensors by kind. A new group is one subclass of :class:`Group` (with a
:class:`Part` subclass when it moves an aspect no existing part covers); the testing kit uses it
through these methods only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from equigen.core.validation import InputTypeError
from equigen.kinds import INTEGER_KINDS, Kind, is_node_indexed, normalize_kind, normalize_kinds

__all__ = ["Context", "Part", "Element", "Group", "ProductGroup", "per_graph"]


@dataclass(frozen=True)
class Context:
    """What an element needs to know about a whole call: node count and graph membership."""

    num_nodes: int | None = None
    batch: torch.Tensor | None = None

    @staticmethod
    def from_tensors(tensors, kinds) -> Context:
        """Infer the node count and ``batch`` vector from a call's tensors and their kinds."""
        num_nodes, batch = None, None
        for i, (x, kind) in enumerate(zip(tensors, kinds)):
            if kind == "batch":
                batch = x
                n = x.shape[0]
            elif (kind == "nodes" and x.dim() >= 1) or (is_node_indexed(kind) and x.dim() >= 2):
                n = x.shape[0]
            else:
                continue
            if num_nodes is not None and n != num_nodes:
                raise ValueError(
                    f"inputs[{i}] (kind {kind}) has {n} nodes along axis 0 but an earlier "
                    f"node-indexed input has {num_nodes}; node-indexed tensors must agree."
                )
            num_nodes = n
        return Context(num_nodes, batch)


class Part:
    """One aspect of an element (Euclidean motion, node relabelling, grid map...).

    Subclasses implement :meth:`compose` (``self`` after ``other``), :meth:`inverse`,
    :meth:`is_identity`, :meth:`act` and :meth:`describe`. ``order`` places the part among an
    element's parts (the order in which they act); parts of one class merge by composition.
    """

    order: int = 100

    def compose(self, other: Part) -> Part:
        raise NotImplementedError

    def inverse(self) -> Part:
        raise NotImplementedError

    def is_identity(self) -> bool:
        raise NotImplementedError

    def act(self, x: torch.Tensor, kind: Kind, ctx: Context) -> torch.Tensor:
        """Apply the part to ``x`` of the given kind (return ``x`` for kinds it leaves alone)."""
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__

    def is_simple(self) -> bool:
        """True when a person reads the part at a glance (half turns, swaps, unit shifts...)."""
        return True

    @classmethod
    def stack(cls, parts) -> Part | None:
        """One part moving graph ``b`` of a batch by ``parts[b]``, or ``None`` if the class has none."""
        return None


def _order(part) -> int:
    return getattr(type(part), "order", Part.order)


def _same(a, b) -> bool:
    """Equal attribute values (tensors compared exactly; values that cannot be compared differ)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    try:
        return bool(a == b)
    except (TypeError, ValueError, RuntimeError):
        return False


class Element:
    """A group element: acts on tensors by kind, composes (``g @ h``: ``h`` first) and inverts."""

    def __init__(self, *parts, label: str | None = None):
        merged = {}
        for part in parts:
            key = type(part)
            merged[key] = part if key not in merged else merged[key].compose(part)
        self.parts = tuple(sorted(merged.values(), key=_order))
        self.label = label

    def part(self, kind: type):
        """The part of the given class, or ``None``."""
        return next((p for p in self.parts if isinstance(p, kind)), None)

    def compose(self, other: Element) -> Element:
        """``(self @ other).act(x) == self.act(other.act(x))``."""
        merged = {type(p): p for p in other.parts}
        for p in self.parts:
            merged[type(p)] = p.compose(merged[type(p)]) if type(p) in merged else p
        label = None
        if self.label and other.label:
            label = f"{self.label} after {other.label}"
        return Element(*merged.values(), label=label)

    __matmul__ = compose

    def inverse(self) -> Element:
        return Element(*(p.inverse() for p in self.parts),
                       label=f"inverse of {self.label}" if self.label else None)

    def is_identity(self) -> bool:
        return all(p.is_identity() for p in self.parts)

    def is_simple(self) -> bool:
        """True when every part is simple (:meth:`Part.is_simple`)."""
        return all(p.is_simple() for p in self.parts if isinstance(p, Part))

    def act(self, x: torch.Tensor, kind: Kind, *, num_nodes: int | None = None,
            batch: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the element to one tensor of the given kind.

        ``num_nodes`` and ``batch`` tell a permutation which nodes it relabels; they are
        inferred from ``x`` where possible.
        """
        kind = normalize_kind(kind)
        if not isinstance(x, torch.Tensor):
            raise InputTypeError(f"x must be a torch.Tensor of kind {kind}, got {type(x).__name__}; "
                                 "wrap it with torch.as_tensor(x)")
        if num_nodes is None and kind != "edge_index" and x.dim() >= 1:
            num_nodes = x.shape[0]
        return self._act(x, kind, Context(num_nodes, batch))

    def _act(self, x, kind, ctx):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor of kind {kind}, got {type(x).__name__}")
        if kind in INTEGER_KINDS:
            if x.dtype != torch.long:
                raise ValueError(f"a tensor of kind '{kind}' must be torch.long, got {x.dtype}")
        elif not (x.is_floating_point() or x.is_complex()) and kind not in ("scalars", "nodes", "edges"):
            raise ValueError(f"a tensor of kind {kind} must be floating point, got {x.dtype}")
        for p in self.parts:
            x = p.act(x, kind, ctx)
        return x

    def act_all(self, tensors, kinds, *, context: Context | None = None) -> tuple:
        """Apply the element to every tensor of one call; returns a tuple.

        The node count and ``batch`` vector are read from the tensors (or given ``context``)
        so that node permutations and per-graph elements act consistently on all of them.
        """
        tensors = tuple(tensors)
        kinds = normalize_kinds(kinds, len(tensors))
        ctx = context if context is not None else Context.from_tensors(tensors, kinds)
        return tuple(self._act(x, k, ctx) for x, k in zip(tensors, kinds))

    def __repr__(self) -> str:
        if self.label:
            return self.label
        words = [p.describe() for p in self.parts if not p.is_identity()]
        return "; ".join(words) if words else "identity"


class Group:
    """Base class: a group samples elements and lists edge-case elements.

    Subclasses implement :meth:`sample`, :meth:`identity` and :meth:`edge_cases` (identity
    first); :meth:`elements_strategy` (how hypothesis draws elements), :meth:`includes`
    (subgroup test) and ``per_graph_sampling`` have defaults that work for any group.
    ``G * H`` is the direct product (elements of both, acting on their own aspects).
    """

    name = "group"
    #: ``sample(num_graphs=B)`` gives one element per graph of a batch (see :func:`per_graph`)
    per_graph_sampling = False

    def sample(self, *, generator: torch.Generator | None = None, dtype=None, device=None) -> Element:
        raise NotImplementedError

    def identity(self) -> Element:
        raise NotImplementedError

    def edge_cases(self) -> list[Element]:
        """Elements worth checking always: identity, half turns, reflections, large shifts..."""
        return [self.identity()]

    @property
    def factors(self) -> tuple:
        """The factors of a direct product; ``(self,)`` for a group that is not one."""
        return (self,)

    def includes(self, other: Group) -> bool:
        """Whether every element of ``other`` is an element of this group (``other`` a subgroup).

        The default knows only equal groups (same class and parameters); built-in groups
        also recognise their subgroups (``E3().includes(SO3())``).
        """
        if other is self:
            return True
        mine, theirs = vars(self), vars(other)
        return (type(other) is type(self) and mine.keys() == theirs.keys()
                and all(_same(mine[k], theirs[k]) for k in mine))

    def elements_strategy(self):
        """A hypothesis strategy drawing elements: the edge cases, then seeded samples.

        Groups with structure (rotations, shifts) override this so that draws shrink toward
        simple elements; hypothesis is imported here, when a test asks for the strategy.
        """
        from hypothesis import strategies as st

        return st.one_of(st.sampled_from(self.edge_cases()),
                         st.integers(0, 2**32 - 1).map(
                             lambda s: self.sample(generator=torch.Generator().manual_seed(s))))

    def __mul__(self, other: Group) -> ProductGroup:
        if not isinstance(other, Group):
            return NotImplemented
        return ProductGroup(*self.factors, *other.factors)

    def __repr__(self) -> str:
        return self.name


class ProductGroup(Group):
    """Direct product of groups: an element of each factor, acting together.

    Every method composes the factors' own: samples, edge cases (each factor's in turn, then
    all last ones together), hypothesis draws, per-graph samples, subgroups.
    """

    def __init__(self, *factors: Group):
        if len(factors) < 2 or not all(isinstance(f, Group) for f in factors):
            raise ValueError("ProductGroup needs two or more groups")
        self._factors = tuple(factors)
        self.name = " x ".join(f.name for f in factors)

    @property
    def factors(self) -> tuple:
        return self._factors

    @property
    def per_graph_sampling(self) -> bool:
        return any(f.per_graph_sampling for f in self.factors)

    def identity(self) -> Element:
        return _combine([f.identity() for f in self.factors], "identity")

    def sample(self, *, generator=None, dtype=None, device=None, num_graphs: int | None = None) -> Element:
        """One element of each factor, composed; with ``num_graphs=B`` the factors that can move
        each graph of a batch separately do so (``per_graph_sampling``), the others move all graphs alike."""
        if num_graphs is None:
            return _combine([f.sample(generator=generator, dtype=dtype, device=device) for f in self.factors])
        return _combine([f.sample(generator=generator, dtype=dtype, device=device, num_graphs=num_graphs)
                         if f.per_graph_sampling else f.sample(generator=generator, dtype=dtype, device=device)
                         for f in self.factors])

    def edge_cases(self) -> list[Element]:
        ids = [f.identity() for f in self.factors]
        out = [self.identity()]
        for k, f in enumerate(self.factors):
            for e in f.edge_cases()[1:]:
                out.append(_combine(ids[:k] + [e] + ids[k + 1:], e.label))
        lasts = [f.edge_cases()[-1] for f in self.factors]
        out.append(_combine(lasts, " and ".join(str(e) for e in lasts)))
        return out

    def includes(self, other: Group) -> bool:
        """Every factor of ``other`` lies in some factor of this product."""
        if other is self:
            return True
        return all(any(f.includes(g) for f in self.factors) for g in other.factors)

    def elements_strategy(self):
        """One draw from each factor's strategy, composed (shrinks factor by factor)."""
        from hypothesis import strategies as st

        return st.tuples(*(f.elements_strategy() for f in self.factors)).map(_compose_all)


def _compose_all(elems) -> Element:
    out = elems[0]
    for e in elems[1:]:
        out = out.compose(e)
    return out


def per_graph(elements, label: str | None = None) -> Element:
    """One element per graph of a batch: ``elements[b]`` moves the nodes of graph ``b``.

    Parts that can act per graph (the Euclidean rotation and translation) are stacked into
    a batched part that acts through the call's ``batch`` vector; every other part, and the
    scale, come from ``elements[0]``. ``elements`` must all belong to the same group.
    """
    elements = list(elements)
    if not elements:
        raise ValueError("per_graph needs at least one element (one per graph)")
    first = elements[0]
    parts, stacked = [], False
    for part in first.parts:
        same = [e.part(type(part)) for e in elements]
        stack = getattr(type(part), "stack", None)
        batched = stack(same) if stack is not None and all(p is not None for p in same) else None
        stacked = stacked or batched is not None
        parts.append(part if batched is None else batched)
    return Element(*parts, label=label) if stacked else first


def _combine(elements, label=None) -> Element:
    """The composition ``elements[0] @ elements[1] @ ...`` labelled ``label``."""
    result = elements[0]
    for e in elements[1:]:
        result = result.compose(e)
    result.label = label
    return result
