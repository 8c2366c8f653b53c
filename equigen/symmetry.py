"""What a layer, symbol or integrator guarantees, declared as data.

Every public layer of equigen carries a class attribute ``symmetry = Symmetry(...)`` naming its
group and the kinds of its inputs and outputs, and a classmethod
``symmetry_example(*, dtype, generator) -> (fn, inputs)`` that builds a small instance and
inputs. One sweep test (``tests/test_symmetry_sweep.py``) finds every such class in the package
and checks it with :mod:`equigen.testing`, so no list of layers needs maintaining.

Example::

    class MyLayer(torch.nn.Module):
        symmetry = Symmetry(lambda: E3() * Permutations(), ("nodes", "positions", "edge_index"),
                            ("nodes", "positions"))

        @classmethod
        def symmetry_example(cls, *, dtype, generator):
            ...
            return layer, (h, pos, edge_index)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from equigen.groups import Group
from equigen.kinds import normalize_kinds

__all__ = ["Symmetry"]


@dataclass(frozen=True)
class Symmetry:
    """A symmetry claim: ``group`` (a Group, or a callable building one), input and output kinds.

    ``out_kinds=None`` means every output is invariant. ``note`` says what is *not* claimed
    (e.g. "exact only without max_neighbors truncation").
    """

    group: Group | Callable[[], Group]
    in_kinds: tuple
    out_kinds: tuple | None = None
    note: str = ""

    def __post_init__(self):
        object.__setattr__(self, "in_kinds", normalize_kinds(self.in_kinds, argument="in_kinds"))
        if self.out_kinds is not None:
            object.__setattr__(self, "out_kinds", normalize_kinds(self.out_kinds, argument="out_kinds"))

    def __reduce__(self):
        # A group given as a lambda cannot be pickled: store the group value instead, so modules
        # holding a Symmetry survive torch.save / copy.deepcopy / multiprocessing.
        return (type(self), (self.make_group(), self.in_kinds, self.out_kinds, self.note))

    def make_group(self) -> Group:
        """The group as a value."""
        return self.group if isinstance(self.group, Group) else self.group()
