"""A group defined in one file works with the whole kit; base-class defaults; subgroups.

``AxisFlips`` below is all a new group needs: a :class:`Part` saying how it acts and a
:class:`Group` saying how it is sampled, its edge cases and (optionally) how hypothesis draws
it. Nothing in ``equigen.testing`` knows about it.
"""

import hypothesis
import pytest
import torch
from hypothesis import strategies as st

from equigen.groups import (
    E3,
    O3,
    SE3,
    SO3,
    Dilations,
    E,
    Element,
    EuclideanPart,
    GridShifts,
    Group,
    Part,
    Permutations,
    Translations,
)
from equigen.testing import EquivarianceError, assert_equivariant, check_equivariant
from equigen.testing import strategies as gst


class FlipPart(Part):
    """``x -> x * signs`` on the last axis of positions and vectors (reflections in coordinate planes)."""

    order = 50

    def __init__(self, signs):
        self.signs = tuple(int(s) for s in signs)

    def compose(self, other):
        return FlipPart([a * b for a, b in zip(self.signs, other.signs)])

    def inverse(self):
        return self

    def is_identity(self):
        return all(s == 1 for s in self.signs)

    def act(self, x, kind, ctx):
        if kind not in ("positions", "vectors"):
            return x
        return x * torch.tensor(self.signs, dtype=x.dtype, device=x.device)

    def describe(self):
        return f"flip axes {[k for k, s in enumerate(self.signs) if s == -1]}"


class AxisFlips(Group):
    """The group {+-1}^n of sign flips of coordinate axes."""

    def __init__(self, dim=3):
        self.dim = dim
        self.name = f"AxisFlips({dim})"

    def _element(self, flips, label=None):
        return Element(FlipPart([-1 if f else 1 for f in flips]), label=label)

    def identity(self):
        return self._element([False] * self.dim, "identity")

    def sample(self, *, generator=None, dtype=None, device=None):
        return self._element([bool(torch.randint(0, 2, (), generator=generator)) for _ in range(self.dim)])

    def edge_cases(self):
        return [self.identity()] + [self._element([i == k for i in range(self.dim)], f"flip axis {k}")
                                    for k in range(self.dim)]

    def elements_strategy(self):
        return st.lists(st.booleans(), min_size=self.dim, max_size=self.dim).map(self._element)


def _cube(pos):
    return pos * pos.abs()  # coordinate-wise: commutes with every axis flip


def _roll(pos):
    return pos.roll(1, dims=-1)  # commutes only with flipping all axes or none


def test_a_group_from_one_file_passes_and_fails_assert_equivariant():
    pos = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    reports = assert_equivariant(_cube, pos, AxisFlips(), "positions", "vectors")
    assert [str(r.element) for r in reports[:4]] == ["identity", "flip axis 0", "flip axis 1", "flip axis 2"]
    with pytest.raises(EquivarianceError, match="flip axis 0"):
        assert_equivariant(_roll, pos, AxisFlips(), "positions", "vectors")


def test_a_group_from_one_file_drives_the_search_with_its_own_strategy():
    check_equivariant(_cube, AxisFlips(), "positions", "vectors", gst.point_clouds(max_points=6))
    with pytest.raises(EquivarianceError) as info:
        check_equivariant(_roll, AxisFlips(), "positions", "vectors", gst.point_clouds(max_points=6))
    signs = info.value.element.part(FlipPart).signs
    assert sorted(signs) == [-1, 1, 1]  # shrunk to a single flip, drawn by AxisFlips.elements_strategy


def test_a_group_from_one_file_in_a_product():
    pos = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    group = AxisFlips() * Permutations()
    assert group.factors[0].name == "AxisFlips(3)"
    g = group.sample(generator=torch.Generator().manual_seed(2))
    assert [type(p).__name__ for p in g.parts] == ["PermutationPart", "FlipPart"]  # by Part.order
    assert_equivariant(_cube, pos, group, "positions", "vectors")
    check_equivariant(_cube, group, "positions", "vectors", gst.point_clouds(max_points=5))


class QuarterTurns(Group):
    """A user's group with only the required methods: the kit's defaults do the rest."""

    name = "QuarterTurns"
    _turn = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)

    def identity(self):
        return Element(EuclideanPart(dim=2), label="identity")

    def sample(self, *, generator=None, dtype=None, device=None):
        return Element(EuclideanPart(self._turn.matrix_power(int(torch.randint(0, 4, (), generator=generator)))))

    def edge_cases(self):
        return [self.identity(), Element(EuclideanPart(-torch.eye(2, dtype=torch.float64)), label="half turn")]


def test_the_default_strategy_draws_edge_cases_then_seeded_samples():
    group, drawn = QuarterTurns(), []

    @hypothesis.settings(derandomize=True, database=None, max_examples=30)
    @hypothesis.given(gst.elements(group))
    def collect(g):
        drawn.append(g)

    collect()
    labels = {str(g) for g in drawn}
    assert {"identity", "half turn"} <= labels  # the edge cases, by their labels
    turns = [QuarterTurns._turn.matrix_power(k) for k in range(4)]
    for g in drawn:  # the others are samples: powers of the quarter turn
        assert any(torch.equal(g.part(EuclideanPart).rotation, t) for t in turns)
    assert not group.per_graph_sampling and group.factors == (group,)


def test_per_graph_needs_a_group_that_samples_per_graph():
    pos, batch = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 0, 1, 1, 1])
    for group in (AxisFlips(), Permutations() * GridShifts(1)):
        with pytest.raises(ValueError, match="per_graph=True needs a Euclidean group"):
            assert_equivariant(lambda p, b: p, (pos, batch), group, ("positions", "batch"), ("positions",),
                               per_graph=True)
    assert (SE3() * Permutations()).per_graph_sampling
    g = (SE3() * Permutations()).sample(generator=torch.Generator().manual_seed(0), num_graphs=2)
    assert g.part(EuclideanPart).rotation.shape == (2, 3, 3)


@pytest.mark.parametrize("big, small, included", [
    (E3(), SO3(), True), (E3(), O3(), True), (E3(), Translations(3), True), (SE3(), O3(), False),
    (SO3(), E3(), False), (E(2), SO3(), False), (O3(), Translations(3), False),
    (E3() * Permutations(), Permutations(), True), (E3() * Permutations(), SE3() * Permutations(), True),
    (SE3(), SE3() * Permutations(), False), (Dilations(0.5, 2.0), Dilations(0.7, 1.5), True),
    (Dilations(0.7, 1.5), Dilations(0.5, 2.0), False), (GridShifts(2), GridShifts(2), True),
    (GridShifts(2), GridShifts(1), False), (AxisFlips(), AxisFlips(), True), (AxisFlips(3), AxisFlips(2), False),
])
def test_includes(big, small, included):
    assert big.includes(small) is included


def test_elements_keep_parts_of_new_classes_in_their_order():
    flip = FlipPart([-1, 1, 1])
    g = Element(EuclideanPart(scale=2.0, dim=3), flip) @ Element(FlipPart([-1, 1, 1]))
    assert [type(p) for p in g.parts] == [EuclideanPart, FlipPart]
    assert g.part(FlipPart).is_identity() and g.is_simple()
    assert torch.equal(g.act(torch.ones(1, 3, dtype=torch.float64), "vectors"),
                       torch.full((1, 3), 2.0, dtype=torch.float64))
