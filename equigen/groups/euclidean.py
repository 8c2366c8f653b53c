"""Isometries of n-D space: the Euclidean part (rotation ``R``, translation ``t``, scale ``s``) and
the groups SO(n), O(n), SE(n), E(n) and Translations (with SO3, O3, SE3, E3).

The part acts on the last axis of geometric kinds: ``x -> s x R^T + t`` on positions, rotation
(times ``det R`` for pseudovectors) on vectors, Wigner D matrices on e3nn irreps; scalars, node
features, fields and graph structure are left alone.
"""

from __future__ import annotations

import math

import torch

from equigen.core.validation import check_float
from equigen.groups.base import Context, Element, Group, Part
from equigen.groups.rotations import AXES3, describe_rotation, haar_orthogonal, rotation_in_plane, wigner_d
from equigen.kinds import Kind

__all__ = ["EuclideanPart", "EuclideanGroup", "SO", "O", "SE", "E", "Translations", "SO3", "O3", "SE3", "E3"]


class EuclideanPart(Part):
    """``x -> s x R^T + t`` on positions; rotation (and parity) on vectors and irreps.

    ``rotation`` is ``(n, n)`` or ``(B, n, n)`` for one element per graph of a batch,
    ``translation`` ``(n,)`` or ``(B, n)``, ``scale`` a positive float.
    """

    order = 0

    def __init__(self, rotation=None, translation=None, scale=1.0, *, dim=None):
        if rotation is None and translation is None and dim is None:
            raise ValueError("EuclideanPart needs a rotation, a translation or dim")
        if dim is None:
            dim = (rotation if rotation is not None else translation).shape[-1]
        self.dim = int(dim)
        dt = torch.float64
        if rotation is None:
            rotation = torch.eye(self.dim, dtype=dt)
        if translation is None:
            translation = torch.zeros(self.dim, dtype=rotation.dtype)
        self.rotation = torch.as_tensor(rotation)
        self.translation = torch.as_tensor(translation, dtype=self.rotation.dtype)
        self.scale = float(scale)
        if not self.scale > 0:
            raise ValueError(f"scale={scale} must be positive")

    @property
    def batched(self) -> bool:
        return self.rotation.dim() == 3 or self.translation.dim() == 2

    def compose(self, other: EuclideanPart) -> EuclideanPart:
        r1, t1, s1 = self.rotation, self.translation, self.scale
        r2, t2, s2 = other.rotation.to(r1.dtype), other.translation.to(r1.dtype), other.scale
        t = s1 * (r1 @ t2.unsqueeze(-1)).squeeze(-1) + t1
        return EuclideanPart(r1 @ r2, t, s1 * s2)

    def inverse(self) -> EuclideanPart:
        rt = self.rotation.transpose(-1, -2)
        t = -(rt @ self.translation.unsqueeze(-1)).squeeze(-1) / self.scale
        return EuclideanPart(rt, t, 1.0 / self.scale)

    def is_identity(self) -> bool:
        eye = torch.eye(self.dim, dtype=self.rotation.dtype)
        return bool(
            torch.equal(self.rotation, eye.expand_as(self.rotation))
            and not self.translation.any()
            and self.scale == 1.0
        )

    def _per_row(self, m: torch.Tensor, x: torch.Tensor, ctx: Context) -> torch.Tensor:
        """Index per-graph matrices/vectors by the batch vector for node rows."""
        if ctx.batch is None:
            raise ValueError(
                "this element has one rotation per graph, so the call needs a 'batch' input "
                "telling which graph each node belongs to"
            )
        if x.dim() < 2 or x.shape[0] != ctx.batch.shape[0]:
            raise ValueError(
                f"per-graph elements act on node-indexed rows (N, ...), got shape {tuple(x.shape)}"
            )
        return m[ctx.batch.to(m.device)]

    def _rotate(self, x: torch.Tensor, mat: torch.Tensor, ctx: Context) -> torch.Tensor:
        mat = mat.to(dtype=x.dtype, device=x.device)
        if mat.dim() == 3:
            mat = self._per_row(mat, x, ctx)
            shape = (x.shape[0],) + (1,) * (x.dim() - 2) + mat.shape[-2:]
            return (mat.reshape(shape) @ x.unsqueeze(-1)).squeeze(-1)
        return x @ mat.transpose(-1, -2)

    def act(self, x: torch.Tensor, kind: Kind, ctx: Context) -> torch.Tensor:
        if kind in ("scalars", "nodes", "edges", "field", "edge_index", "batch"):
            return x
        if not isinstance(kind, str):  # e3nn Irreps
            if self.dim != 3:
                raise ValueError(f"irreps kinds need 3-D rotations, this element is {self.dim}-D")
            if x.shape[-1] != kind.dim:
                raise ValueError(
                    f"tensor of kind {kind} must end in irreps.dim={kind.dim}, got {tuple(x.shape)}"
                )
            return self._rotate(x, wigner_d(kind, self.rotation), ctx)
        if x.shape[-1] != self.dim:
            raise ValueError(
                f"a tensor of kind '{kind}' must have shape (..., {self.dim}) for this "
                f"{self.dim}-D element, got {tuple(x.shape)}"
            )
        out = self._rotate(x, self.rotation, ctx)
        if kind == "pseudovectors":
            det = torch.linalg.det(self.rotation).round()
            det = det.to(dtype=x.dtype, device=x.device)
            out = out * (self._per_row(det, x, ctx).reshape(-1, *(1,) * (x.dim() - 1))
                         if det.dim() == 1 else det)
        if self.scale != 1.0:
            out = out * self.scale
        if kind == "positions":
            t = self.translation.to(dtype=x.dtype, device=x.device)
            out = out + (self._per_row(t, x, ctx).reshape(x.shape[0], *(1,) * (x.dim() - 2), -1)
                         if t.dim() == 2 else t)
        return out

    def is_simple(self) -> bool:
        """Signed permutation matrices, translations with entries in {0, +-1}, scales 1, 2 or 1/2."""
        if self.batched:
            return False
        r, t = self.rotation, self.translation
        if not torch.all((r == 0) | (r.abs() == 1)):
            return False
        if not torch.all((t == 0) | (t.abs() == 1)):
            return False
        return self.scale in (1.0, 2.0, 0.5)

    @classmethod
    def stack(cls, parts) -> EuclideanPart:
        """Rotations and translations of ``parts`` stacked per graph (``(B, n, n)``, ``(B, n)``);
        the scale of ``parts[0]``."""
        dim = parts[0].dim
        rot = torch.stack([p.rotation.to(torch.float64).expand(dim, dim) if p.rotation.dim() == 2
                           else p.rotation[0].to(torch.float64) for p in parts])
        trans = torch.stack([p.translation.to(torch.float64).reshape(-1, dim)[0] for p in parts])
        return cls(rot, trans, parts[0].scale)

    def describe(self) -> str:
        if self.batched:
            return f"one Euclidean element per graph ({self.rotation.shape[0]} graphs)"
        words = []
        r = self.rotation
        if not torch.equal(r, torch.eye(self.dim, dtype=r.dtype)):
            words.append(describe_rotation(r))
        if self.translation.any():
            t = ", ".join(f"{v:.4g}" for v in self.translation.tolist())
            words.append(f"translation ({t})")
        if self.scale != 1.0:
            words.append(f"scale {self.scale:.4g}")
        return " then ".join(words) if words else "identity"



def _plane_about(n: int, axis: int) -> tuple[int, int]:
    """The rotation plane of an axis in 3-D (right-handed), or (0, 1) in other dimensions."""
    if n == 3:
        return ((1, 2), (2, 0), (0, 1))[axis]
    return (0, 1)



class EuclideanGroup(Group):
    """Isometries of n-D space: ``rotations`` in {"none", "proper", "improper"}, translations on/off.

    ``translation_scale`` is the half-width of the uniform distribution of sampled translations.
    """

    def __init__(self, dim: int = 3, *, rotations: str = "proper", translations: bool = False,
                 translation_scale: float = 10.0, name: str | None = None):
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim={dim!r} must be a positive integer (the space dimension n)")
        if rotations not in ("none", "proper", "improper"):
            raise ValueError(f"rotations={rotations!r}: use 'none', 'proper' or 'improper'")
        if rotations == "none" and not translations:
            raise ValueError("a Euclidean group needs rotations or translations")
        self.dim, self.rotations, self.translations = dim, rotations, translations
        self.translation_scale = check_float(translation_scale, "translation_scale", min=0.0)
        self.name = name or f"EuclideanGroup({dim}, {rotations}, translations={translations})"

    per_graph_sampling = True

    def identity(self) -> Element:
        return Element(EuclideanPart(dim=self.dim), label="identity")

    def sample(self, *, generator=None, dtype=None, device=None, num_graphs: int | None = None) -> Element:
        """A random element: Haar rotation and uniform translation in ``[-scale, scale]^n``.

        ``num_graphs=B`` samples one element per graph (rotation ``(B, n, n)``).
        """
        dtype = dtype or torch.float64
        size = () if num_graphs is None else (num_graphs,)
        r = None
        if self.rotations != "none":
            r = haar_orthogonal(self.dim, proper=self.rotations == "proper", size=size,
                                generator=generator, dtype=dtype)
        t = None
        if self.translations:
            u = torch.rand(*size, self.dim, generator=generator, dtype=torch.float64)
            t = ((2 * u - 1) * self.translation_scale).to(dtype)
        return Element(EuclideanPart(r, t, dim=self.dim))

    def edge_cases(self) -> list[Element]:
        n, out = self.dim, [self.identity()]
        names = AXES3 if n == 3 else [str(k) for k in range(n)]
        if self.rotations != "none" and n >= 2:
            for axis in range(n if n == 3 else 1):
                i, j = _plane_about(n, axis)
                out.append(_rot(rotation_in_plane(n, i, j, math.pi), f"rotation 180 deg about {names[axis]}"
                                if n == 3 else "rotation 180 deg"))
            i, j = _plane_about(n, 2 if n == 3 else 0)
            out.append(_rot(rotation_in_plane(n, i, j, math.pi / 2), "rotation 90 deg about z"
                            if n == 3 else "rotation 90 deg"))
            out.append(_rot(rotation_in_plane(n, i, j, 1e-6), "rotation 1e-6 rad (near identity)"))
            if n == 3:
                axis = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64) / math.sqrt(2)
                half_turn = 2 * torch.outer(axis, axis) - torch.eye(3, dtype=torch.float64)
                out.append(_rot(half_turn, "rotation 180 deg about (1, 1, 0)/sqrt(2)"))
        if self.rotations == "improper":
            refl = torch.eye(n, dtype=torch.float64)
            refl[0, 0] = -1
            out.append(_rot(refl, f"reflection {names[0]} -> -{names[0]}"))
            out.append(_rot(-torch.eye(n, dtype=torch.float64), "inversion -I"))
        if self.translations:
            big = torch.full((n,), 1e3, dtype=torch.float64)
            out.append(Element(EuclideanPart(translation=big), label="translation by 1e3 on every axis"))
            if self.rotations != "none" and n >= 2:
                i, j = _plane_about(n, 0)
                out.append(Element(EuclideanPart(rotation_in_plane(n, i, j, math.pi / 2), big),
                                   label="rotation 90 deg then translation by 1e3"))
        return out


    _ROTATIONS = ("none", "proper", "improper")

    def includes(self, other: Group) -> bool:
        """A Euclidean group of the same dimension with no more rotations and translations."""
        if not isinstance(other, EuclideanGroup):
            return super().includes(other)
        rank = self._ROTATIONS.index
        return (other.dim == self.dim and rank(other.rotations) <= rank(self.rotations)
                and (self.translations or not other.translations))

    def elements_strategy(self):
        """Identity, half and quarter turns about coordinate planes, reflections, inversion, any
        angle in a plane, near-identity and Haar rotations; zero, unit and large translations."""
        from hypothesis import strategies as st

        n = self.dim
        rot = (st.just(torch.eye(n, dtype=torch.float64)) if self.rotations == "none"
               else _rotations(n, self.rotations == "improper"))
        trans = (_translations(n, self.translation_scale) if self.translations
                 else st.just(torch.zeros(n, dtype=torch.float64)))
        return st.tuples(rot, trans).map(lambda rt: Element(EuclideanPart(rt[0], rt[1])))


def _planes(n: int):
    if n == 3:
        return [(1, 2), (2, 0), (0, 1)]
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def _rotations(n: int, improper: bool):
    """Rotation matrices, simplest first (the shrink order of hypothesis's ``one_of``)."""
    from hypothesis import strategies as st

    eye = torch.eye(n, dtype=torch.float64)
    planes = _planes(n)
    options = [st.just(eye)]
    if n >= 2:
        options += [
            st.sampled_from(planes).map(lambda p: rotation_in_plane(n, *p, math.pi)),
            st.sampled_from(planes).map(lambda p: rotation_in_plane(n, *p, math.pi / 2)),
        ]
    if improper:
        reflections = []
        for k in range(n):
            r = eye.clone()
            r[k, k] = -1
            reflections.append(r)
        options += [st.sampled_from(reflections), st.just(-eye)]
    if n >= 2:
        options += [
            st.tuples(st.sampled_from(planes), st.floats(-math.pi, math.pi, allow_nan=False))
            .map(lambda pa: rotation_in_plane(n, *pa[0], pa[1])),
            st.tuples(st.sampled_from(planes), st.floats(1e-9, 1e-3))
            .map(lambda pa: rotation_in_plane(n, *pa[0], pa[1])),
            st.integers(0, 2**32 - 1).map(
                lambda s: haar_orthogonal(n, proper=True, generator=torch.Generator().manual_seed(s))),
        ]
    if improper:
        options.append(st.integers(0, 2**32 - 1).map(
            lambda s: haar_orthogonal(n, proper=False, generator=torch.Generator().manual_seed(s))))
    return st.one_of(*options)


def _translations(n: int, scale: float):
    """Zero, unit and uniform translations up to ``max(scale, 1e3)`` per axis."""
    from hypothesis import strategies as st

    units = []
    for k in range(n):
        u = torch.zeros(n, dtype=torch.float64)
        u[k] = 1.0
        units.append(u)
    big = max(scale, 1e3)
    return st.one_of(
        st.just(torch.zeros(n, dtype=torch.float64)),
        st.sampled_from(units),
        st.lists(st.floats(-big, big, allow_nan=False), min_size=n, max_size=n)
        .map(lambda v: torch.tensor(v, dtype=torch.float64)),
    )


def _rot(matrix: torch.Tensor, label: str) -> Element:
    return Element(EuclideanPart(matrix), label=label)


class SO(EuclideanGroup):
    """Rotations of n-D space, SO(n)."""

    def __init__(self, dim: int = 3):
        super().__init__(dim, rotations="proper", name=f"SO({dim})")


class O(EuclideanGroup):  # noqa: E742 - the group's name
    """Rotations and reflections of n-D space, O(n)."""

    def __init__(self, dim: int = 3):
        super().__init__(dim, rotations="improper", name=f"O({dim})")


class SE(EuclideanGroup):
    """Rotations and translations of n-D space, SE(n)."""

    def __init__(self, dim: int = 3, *, translation_scale: float = 10.0):
        super().__init__(dim, rotations="proper", translations=True,
                         translation_scale=translation_scale, name=f"SE({dim})")


class E(EuclideanGroup):
    """All isometries of n-D space (rotations, reflections, translations), E(n)."""

    def __init__(self, dim: int = 3, *, translation_scale: float = 10.0):
        super().__init__(dim, rotations="improper", translations=True,
                         translation_scale=translation_scale, name=f"E({dim})")


class Translations(EuclideanGroup):
    """Translations of n-D space; act on ``positions`` only."""

    def __init__(self, dim: int = 3, *, translation_scale: float = 10.0):
        super().__init__(dim, rotations="none", translations=True,
                         translation_scale=translation_scale, name=f"Translations({dim})")


def SO3() -> SO:
    """SO(3)."""
    return SO(3)


def O3() -> O:
    """O(3)."""
    return O(3)


def SE3(**kwargs) -> SE:
    """SE(3)."""
    return SE(3, **kwargs)


def E3(**kwargs) -> E:
    """E(3)."""
    return E(3, **kwargs)

