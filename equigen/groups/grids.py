"""Maps of periodic grids: the grid part (signs and cyclic shifts per spatial axis) and the groups
:class:`GridShifts` and :class:`GridReflections` acting on kind ``"field"``."""

from __future__ import annotations

import torch

from equigen.groups.base import Context, Element, Group, Part
from equigen.kinds import Kind

__all__ = ["GridPart", "GridShifts", "GridReflections"]


class GridPart(Part):
    """Index map ``i -> sign * i + shift (mod size)`` on each of the last ``ndim`` axes of a field.

    ``sign = -1`` is the reflection about index 0 (``x[i] -> x[-i mod N]``), so shifts and
    reflections together form the dihedral group of the periodic lattice.
    """

    order = 2

    def __init__(self, signs, shifts):
        self.signs = tuple(int(s) for s in signs)
        self.shifts = tuple(int(t) for t in shifts)
        if len(self.signs) != len(self.shifts) or any(s not in (-1, 1) for s in self.signs):
            raise ValueError(f"signs={signs} must be +-1, one per shift in shifts={shifts}")

    @property
    def ndim(self) -> int:
        return len(self.signs)

    def compose(self, other: GridPart) -> GridPart:
        if other.ndim != self.ndim:
            raise ValueError(f"cannot compose grid elements of {self.ndim} and {other.ndim} axes")
        return GridPart([a * b for a, b in zip(self.signs, other.signs)],
                        [a * t2 + t1 for a, t1, t2 in zip(self.signs, self.shifts, other.shifts)])

    def inverse(self) -> GridPart:
        return GridPart(self.signs, [-s * t for s, t in zip(self.signs, self.shifts)])

    def is_identity(self) -> bool:
        return all(s == 1 for s in self.signs) and not any(self.shifts)

    def act(self, x: torch.Tensor, kind: Kind, ctx: Context) -> torch.Tensor:
        if kind != "field":
            return x
        if x.dim() < self.ndim + 1:
            raise ValueError(
                f"a tensor of kind 'field' for a {self.ndim}-D grid element must have shape "
                f"(..., C, *spatial) with {self.ndim} spatial axes, got {tuple(x.shape)}"
            )
        for k, (s, t) in enumerate(zip(self.signs, self.shifts)):
            axis = x.dim() - self.ndim + k
            if s == -1:
                x = torch.roll(torch.flip(x, (axis,)), 1, axis)
            if t:
                x = torch.roll(x, t % x.shape[axis], axis)
        return x

    def is_simple(self) -> bool:
        """Shifts of at most one cell (any reflections)."""
        return all(abs(t) <= 1 for t in self.shifts)

    def describe(self) -> str:
        words = []
        if any(s == -1 for s in self.signs):
            words.append("reflect axes " + str([k for k, s in enumerate(self.signs) if s == -1]))
        if any(self.shifts):
            words.append(f"shift {list(self.shifts)}")
        return " then ".join(words) if words else "identity grid map"


class _GridGroup(Group):
    def __init__(self, ndim: int, sizes=None):
        if ndim not in (1, 2, 3) and not (isinstance(ndim, int) and ndim > 0):
            raise ValueError(f"ndim={ndim!r} must be a positive integer (number of spatial axes)")
        if sizes is not None and len(sizes) != ndim:
            raise ValueError(f"sizes={sizes} must give one size per spatial axis ({ndim})")
        self.ndim, self.sizes = ndim, None if sizes is None else tuple(int(s) for s in sizes)

    def identity(self) -> Element:
        return Element(GridPart([1] * self.ndim, [0] * self.ndim), label="identity")


class GridShifts(_GridGroup):
    """Integer cyclic shifts of the last ``ndim`` axes of periodic fields."""

    def __init__(self, ndim: int = 1, sizes=None):
        super().__init__(ndim, sizes)
        self.name = f"GridShifts({ndim})"

    def sample(self, *, generator=None, dtype=None, device=None) -> Element:
        hi = self.sizes or (2**20,) * self.ndim
        shifts = [int(torch.randint(0, h, (), generator=generator)) for h in hi]
        return Element(GridPart([1] * self.ndim, shifts))

    def elements_strategy(self):
        """Shifts per axis: 0, then +-1, then any shift in -1000..1000."""
        from hypothesis import strategies as st

        nd = self.ndim
        shift = st.one_of(st.just(0), st.sampled_from([1, -1]), st.integers(-1000, 1000))
        shifts = st.lists(shift, min_size=nd, max_size=nd)
        return shifts.map(lambda t: Element(GridPart([1] * nd, t)))

    def edge_cases(self) -> list[Element]:
        out = [self.identity()]
        for k in range(self.ndim):
            unit = [0] * self.ndim
            unit[k] = 1
            out.append(Element(GridPart([1] * self.ndim, unit), label=f"unit shift on axis {k}"))
        out.append(Element(GridPart([1] * self.ndim, [-1] * self.ndim), label="shift by -1 on every axis"))
        out.append(Element(GridPart([1] * self.ndim, [1001] * self.ndim), label="shift by 1001 on every axis"))
        return out


class GridReflections(_GridGroup):
    """Reflections ``x[i] -> x[-i mod N]`` of chosen spatial axes of periodic fields."""

    def __init__(self, ndim: int = 1, sizes=None):
        super().__init__(ndim, sizes)
        self.name = f"GridReflections({ndim})"

    def sample(self, *, generator=None, dtype=None, device=None) -> Element:
        signs = [1 - 2 * int(torch.randint(0, 2, (), generator=generator)) for _ in range(self.ndim)]
        return Element(GridPart(signs, [0] * self.ndim))

    def elements_strategy(self):
        """Reflections of any set of axes (none first)."""
        from hypothesis import strategies as st

        nd = self.ndim
        signs = st.lists(st.booleans(), min_size=nd, max_size=nd).map(lambda b: [-1 if f else 1 for f in b])
        return signs.map(lambda s: Element(GridPart(s, [0] * nd)))

    def edge_cases(self) -> list[Element]:
        out = [self.identity()]
        for k in range(self.ndim):
            signs = [1] * self.ndim
            signs[k] = -1
            out.append(Element(GridPart(signs, [0] * self.ndim), label=f"reflection of axis {k}"))
        if self.ndim > 1:
            out.append(Element(GridPart([-1] * self.ndim, [0] * self.ndim), label="reflection of every axis"))
        return out

