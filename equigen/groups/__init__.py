"""Symmetry groups as values.

A group samples elements; an element composes, inverts and acts on tensors by *kind*
(see :mod:`equigen.kinds`)::

    >>> import torch
    >>> from equigen.groups import SE3
    >>> g = SE3().sample(generator=torch.Generator().manual_seed(0))
    >>> pos = torch.randn(5, 3, dtype=torch.float64)
    >>> moved = g.act(pos, "positions")           # R pos + t, shape (5, 3)
    >>> torch.allclose(g.inverse().act(moved, "positions"), pos)
    True

Elements are built from independent *parts* that act on different aspects of a tensor:
a Euclidean part (rotation ``R`` with ``det R = +-1``, translation ``t``, scale ``s``) acting on
the last axis of geometric kinds, a permutation part acting on the node axis, and a grid part
(signs and cyclic shifts) acting on the spatial axes of periodic fields. Products of groups
(``E3() * Permutations()``) sample one element of each factor and merge the parts.
Group elements are stored in float64 on the CPU and cast to the dtype and device of the
tensor they act on.

One module per family: :mod:`~equigen.groups.base` (``Group``, ``Element``, ``Part``,
``ProductGroup``), :mod:`~equigen.groups.euclidean`, :mod:`~equigen.groups.dilations`,
:mod:`~equigen.groups.permutations`, :mod:`~equigen.groups.grids`, and the rotation-matrix
helpers in :mod:`~equigen.groups.rotations`. Each group class carries all its behaviour
(identity, samples, edge cases, hypothesis strategy, subgroups), so a new group is one file.
"""

from equigen.groups.base import Context, Element, Group, Part, ProductGroup, per_graph
from equigen.groups.dilations import Dilations
from equigen.groups.euclidean import (
    E3,
    O3,
    SE,
    SE3,
    SO,
    SO3,
    E,
    EuclideanGroup,
    EuclideanPart,
    O,
    Translations,
)
from equigen.groups.grids import GridPart, GridReflections, GridShifts
from equigen.groups.permutations import PermutationPart, Permutations
from equigen.groups.rotations import describe_rotation, haar_orthogonal, rotation_in_plane, wigner_d

__all__ = [
    "Element",
    "Group",
    "EuclideanGroup",
    "SO",
    "O",
    "SE",
    "E",
    "SO3",
    "O3",
    "SE3",
    "E3",
    "Translations",
    "Dilations",
    "GridShifts",
    "GridReflections",
    "Permutations",
    "ProductGroup",
    "Context",
    "per_graph",
    "rotation_in_plane",
    "haar_orthogonal",
    "wigner_d",
    "Part",
    "EuclideanPart",
    "PermutationPart",
    "GridPart",
    "describe_rotation",
]
