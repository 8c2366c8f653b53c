"""Uniform scalings ``x -> s x`` of positions and vectors (a scale-only Euclidean part)."""

from __future__ import annotations

import math

import torch

from equigen.groups.base import Element, Group
from equigen.groups.euclidean import EuclideanPart

__all__ = ["Dilations"]


class Dilations(Group):
    """Uniform scalings ``x -> s x`` of positions and vectors, ``s`` log-uniform in a range."""

    def __init__(self, min_scale: float = 0.5, max_scale: float = 2.0, *, dim: int = 3):
        if not 0 < min_scale <= max_scale:
            raise ValueError(f"need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
        self.min_scale, self.max_scale, self.dim = float(min_scale), float(max_scale), dim
        self.name = f"Dilations({min_scale:g}..{max_scale:g})"

    def identity(self) -> Element:
        return Element(EuclideanPart(dim=self.dim), label="identity")

    def sample(self, *, generator=None, dtype=None, device=None) -> Element:
        u = float(torch.rand((), generator=generator, dtype=torch.float64))
        s = math.exp(math.log(self.min_scale) + u * (math.log(self.max_scale) - math.log(self.min_scale)))
        return Element(EuclideanPart(scale=s, dim=self.dim))

    def edge_cases(self) -> list[Element]:
        scales = sorted({self.min_scale, self.max_scale, math.sqrt(self.min_scale * self.max_scale)})
        return [self.identity()] + [
            Element(EuclideanPart(scale=s, dim=self.dim), label=f"scale {s:g}") for s in scales if s != 1.0
        ]

    def includes(self, other: Group) -> bool:
        """Dilations of the same dimension whose scale range lies inside this one."""
        if not isinstance(other, Dilations):
            return super().includes(other)
        return other.dim == self.dim and self.min_scale <= other.min_scale and other.max_scale <= self.max_scale

    def elements_strategy(self):
        """Scale 1 (when in range), then 2 and 1/2 (when in range), then any scale in the range."""
        from hypothesis import strategies as st

        lo, hi = self.min_scale, self.max_scale
        simple = [s for s in (2.0, 0.5) if lo <= s <= hi]
        options = [st.just(1.0)] if lo <= 1.0 <= hi else []
        options += [st.sampled_from(simple)] if simple else []
        options.append(st.floats(lo, hi, allow_nan=False))
        return st.one_of(*options).map(lambda s: Element(EuclideanPart(scale=s, dim=self.dim)))
