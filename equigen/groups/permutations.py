"""Relabellings of the nodes of a graph: the permutation part and the group :class:`Permutations`."""

from __future__ import annotations

import torch

from equigen.core.validation import check_positive_int
from equigen.groups.base import Context, Element, Group, Part
from equigen.kinds import Kind, is_node_indexed

__all__ = ["PermutationPart", "Permutations"]


class PermutationPart(Part):
    """Relabelling of nodes: node-indexed rows ``x -> x[p]``; edge columns reordered too.

    A part is a sequence of primitive rules ("identity", "swap", "reverse", "roll",
    "random" with a seed, or an explicit permutation), materialised for the node count and
    ``batch`` vector of the call it acts on, so one element serves graphs of any size. These
    rules permute nodes within each graph of a batch; "interleave" (with a seed) permutes all
    nodes at once, across graphs, so the permuted ``batch`` vector is no longer sorted; "edges"
    (with a seed) keeps the nodes and only reorders the columns of ``edge_index``.

    Every rule but "identity" also reorders the columns of ``edge_index`` (and the rows of
    ``edges`` tensors with them): the order of edges carries no meaning in a graph.
    """

    RULES = ("identity", "swap", "reverse", "roll", "random", "explicit", "interleave", "edges")
    order = 1

    def __init__(self, rule="identity", *, seed: int = 0, perm=None, _steps=None):
        if _steps is not None:
            self.steps = tuple(_steps)
            return
        if rule not in self.RULES:
            raise ValueError(f"rule={rule!r}: use one of {self.RULES}")
        if (rule == "explicit") != (perm is not None):
            raise ValueError("give perm exactly when rule='explicit'")
        if perm is not None:
            perm = torch.as_tensor(perm, dtype=torch.long)
            if not torch.equal(torch.sort(perm).values, torch.arange(perm.numel())):
                raise ValueError(f"perm={perm.tolist()} is not a permutation of 0..{perm.numel()-1}")
        self.steps = ((rule, int(seed), perm, False),)

    def compose(self, other: PermutationPart) -> PermutationPart:
        return PermutationPart(_steps=other.steps + self.steps)  # other acts first

    def inverse(self) -> PermutationPart:
        return PermutationPart(_steps=tuple((r, s, p, not inv) for r, s, p, inv in reversed(self.steps)))

    def is_identity(self) -> bool:
        return all(r == "identity" for r, *_ in self.steps)

    @staticmethod
    def _local(rule, seed, perm, n: int, graph: int) -> torch.Tensor:
        if rule in ("identity", "edges") or n < 2:
            return torch.arange(n)
        if rule == "swap":
            p = torch.arange(n)
            p[0], p[1] = 1, 0
            return p
        if rule == "reverse":
            return torch.arange(n - 1, -1, -1)
        if rule == "roll":
            return torch.roll(torch.arange(n), 1)
        if rule in ("random", "interleave"):
            gen = torch.Generator().manual_seed(seed * 1_000_003 + graph)
            return torch.randperm(n, generator=gen)
        if perm.numel() != n:
            raise ValueError(f"explicit permutation of {perm.numel()} nodes applied to {n} nodes")
        return perm

    @staticmethod
    def _columns(rule, seed, num_edges: int) -> torch.Tensor:
        """The reordering ``c`` of edge columns (``e_new = e[:, c]``) of one rule."""
        if rule == "identity" or num_edges < 2:
            return torch.arange(num_edges)
        if rule in ("swap", "reverse", "roll"):
            return torch.arange(num_edges - 1, -1, -1)
        gen = torch.Generator().manual_seed(seed * 999_983 + 7)
        return torch.randperm(num_edges, generator=gen)

    def materialize(self, ctx: Context) -> torch.Tensor:
        """The index ``p`` (long, CPU) with ``x_new = x[p]`` for this call's nodes."""
        n = ctx.num_nodes
        if n is None:
            raise ValueError("a permutation needs node-indexed inputs to know the node count")
        batch = None if ctx.batch is None else ctx.batch.detach().cpu()
        total = torch.arange(n)
        for rule, seed, perm, inv in self.steps:
            if batch is None or rule == "interleave":
                p = self._local(rule, seed, perm, n, 0)
            else:
                p = torch.arange(n)
                for b in torch.unique(batch).tolist():
                    idx = torch.nonzero(batch == b).flatten()
                    p[idx] = idx[self._local(rule, seed, perm, idx.numel(), b)]
            if inv:
                p = torch.argsort(p)
            total = total[p]
        return total

    def edge_order(self, num_edges: int) -> torch.Tensor:
        """The index ``c`` with ``edge_index_new = edge_index[:, c]`` (relabelling aside)."""
        total = torch.arange(num_edges)
        for rule, seed, _, inv in self.steps:
            c = self._columns(rule, seed, num_edges)
            total = total[torch.argsort(c) if inv else c]
        return total

    def act(self, x: torch.Tensor, kind: Kind, ctx: Context) -> torch.Tensor:
        if kind == "edge_index":
            p = self.materialize(ctx).to(x.device)
            return torch.argsort(p)[x][:, self.edge_order(x.shape[1]).to(x.device)]
        if kind == "edges":
            return x[self.edge_order(x.shape[0]).to(x.device)] if x.dim() >= 1 else x
        if kind == "batch" or kind == "nodes" or (is_node_indexed(kind) and x.dim() >= 2):
            p = self.materialize(ctx).to(x.device)
            if x.shape[0] != p.numel():
                raise ValueError(f"node-indexed tensor of shape {tuple(x.shape)} but {p.numel()} nodes")
            return x[p]
        return x

    def is_simple(self) -> bool:
        """Swaps, reversals and rolls (no seeded or explicit permutation)."""
        return not any(rule in ("random", "explicit", "interleave", "edges") for rule, *_ in self.steps)

    def describe(self) -> str:
        names = []
        for rule, seed, perm, inv in self.steps:
            if rule == "identity":
                continue
            word = {"swap": "swap nodes 0 and 1", "reverse": "reverse node order",
                    "roll": "roll nodes by 1", "random": f"random permutation (seed {seed})",
                    "interleave": f"random permutation across graphs (seed {seed})",
                    "edges": f"shuffle of edge order only (seed {seed})",
                    "explicit": f"permutation {perm.tolist() if perm is not None else ''}"}[rule]
            names.append(word + (" inverted" if inv else ""))
        return ", then ".join(names) if names else "identity permutation"



class Permutations(Group):
    """Relabellings of the nodes of a graph; samples stay within each graph of a batch, the edge
    cases include a permutation across graphs (unsorted ``batch``) and an edge reordering.

    ``num_nodes`` is optional: without it an element is a rule materialised for the size of
    the tensors it acts on.
    """

    name = "Permutations"

    def __init__(self, num_nodes: int | None = None):
        self.num_nodes = check_positive_int(num_nodes, "num_nodes", allow_none=True)

    def identity(self) -> Element:
        return Element(PermutationPart("identity"), label="identity")

    def sample(self, *, generator=None, dtype=None, device=None) -> Element:
        if self.num_nodes is not None:
            return Element(PermutationPart("explicit", perm=torch.randperm(self.num_nodes, generator=generator)))
        seed = int(torch.randint(0, 2**31 - 1, (), generator=generator))
        return Element(PermutationPart("random", seed=seed))

    def edge_cases(self) -> list[Element]:
        return [self.identity()] + [Element(PermutationPart(r)) for r in ("swap", "reverse", "roll")] + [
            Element(PermutationPart("interleave", seed=1), label="random permutation across graphs"),
            Element(PermutationPart("edges", seed=1), label="shuffle of edge order only")]


    def includes(self, other: Group) -> bool:
        """Every node relabelling group (``num_nodes`` only fixes the size of samples)."""
        return isinstance(other, Permutations) or super().includes(other)

    def elements_strategy(self):
        """Identity, then swaps, reversals and rolls, then seeded random permutations within
        graphs, across graphs and of the edge order only."""
        from hypothesis import strategies as st

        rules = st.one_of(
            st.just(PermutationPart("identity")),
            st.sampled_from(["swap", "reverse", "roll"]).map(PermutationPart),
            st.integers(0, 2**31 - 1).map(lambda s: PermutationPart("random", seed=s)),
            st.integers(0, 2**31 - 1).map(lambda s: PermutationPart("interleave", seed=s)),
            st.integers(0, 2**31 - 1).map(lambda s: PermutationPart("edges", seed=s)),
        )
        return rules.map(Element)
