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
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from e3nn import o3

from equigen.core.validation import InputTypeError, check_float, check_int, check_positive_int
from equigen.kinds import INTEGER_KINDS, Kind, is_node_indexed, normalize_kind, normalize_kinds

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
]

_AXES3 = "xyz"


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


# --------------------------------------------------------------------------------------
# Parts
# --------------------------------------------------------------------------------------


class EuclideanPart:
    """``x -> s x R^T + t`` on positions; rotation (and parity) on vectors and irreps.

    ``rotation`` is ``(n, n)`` or ``(B, n, n)`` for one element per graph of a batch,
    ``translation`` ``(n,)`` or ``(B, n)``, ``scale`` a positive float.
    """

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


_SH_POINTS = 64


@functools.cache
def _sh_fit(l: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed unit vectors ``X`` and ``pinv(Y_l(X))`` for solving ``Y_l(R x) = D_l(R) Y_l(x)``."""
    gen = torch.Generator().manual_seed(12345)
    x = torch.randn(max(_SH_POINTS, 4 * (2 * l + 1)), 3, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True)
    y = o3.spherical_harmonics(l, x, normalize=False)
    return x, torch.linalg.pinv(y)


def wigner_d(irreps, rotation: torch.Tensor) -> torch.Tensor:
    """Wigner D matrix of e3nn ``irreps`` for orthogonal ``rotation`` ``(..., 3, 3)``, with parity.

    Solved from ``Y_l(R x) = D_l(R) Y_l(x)`` on fixed points (e3nn's real spherical harmonics,
    hence e3nn's basis), which is exact to float64 rounding for every rotation. (Going
    through Euler angles, as ``Irreps.D_from_matrix`` does, loses up to ~2e-7 near
    gimbal lock, e.g. at half and quarter turns about x.)
    """
    irreps = o3.Irreps(irreps)
    r = rotation.to(torch.float64)
    det = torch.linalg.det(r).round()
    proper = r * det[..., None, None]
    blocks = []
    for mul, ir in irreps:
        x, pinv = _sh_fit(ir.l)
        y = o3.spherical_harmonics(ir.l, x @ proper.transpose(-1, -2), normalize=False)
        d = (pinv @ y).transpose(-1, -2)
        sign = torch.where(det < 0, float(ir.p), 1.0)[..., None, None]
        blocks += [d * sign] * mul
    if not blocks:
        return torch.zeros(*r.shape[:-2], 0, 0, dtype=torch.float64)
    return torch.block_diag(*blocks) if r.dim() == 2 else torch.stack(
        [torch.block_diag(*[b[i] for b in blocks]) for i in range(r.shape[0])])


def describe_rotation(r: torch.Tensor) -> str:
    """Human-readable description of an orthogonal matrix (axis-angle in 3-D)."""
    n = r.shape[-1]
    det = float(torch.linalg.det(r).round())
    if torch.allclose(r, -torch.eye(n, dtype=r.dtype)) and n % 2 == 1:
        return "inversion -I"
    if det < 0:
        diag = torch.diagonal(r)
        if torch.allclose(r, torch.diag(diag)) and int((diag < 0).sum()) == 1:
            axis = int(torch.nonzero(diag < 0)[0])
            name = _AXES3[axis] if n == 3 else f"axis {axis}"
            return f"reflection {name} -> -{name}"
    proper = r * det if n % 2 == 1 else r
    prefix = "improper: -(" if det < 0 and n % 2 == 1 else ""
    suffix = ")" if prefix else ""
    if n == 3:
        cos = float(((torch.trace(proper) - 1) / 2).clamp(-1, 1))
        angle = math.degrees(math.acos(cos))
        w = torch.stack([proper[2, 1] - proper[1, 2], proper[0, 2] - proper[2, 0],
                         proper[1, 0] - proper[0, 1]])
        if w.norm() < 1e-9:  # 0 or 180 degrees: axis from the symmetric part
            m = (proper + torch.eye(3, dtype=r.dtype)) / 2
            axis = m[int(torch.argmax(torch.diagonal(m)))]
        else:
            axis = w
        axis = axis / axis.norm()
        named = [a for i, a in enumerate(_AXES3) if torch.allclose(axis.abs(), torch.eye(3)[i].to(r))]
        where = named[0] if named else "(" + ", ".join(f"{v:.3f}" for v in axis.tolist()) + ")"
        return f"{prefix}rotation {angle:.6g} deg about {where}{suffix}"
    if n == 2:
        angle = math.degrees(math.atan2(float(proper[1, 0]), float(proper[0, 0])))
        text = f"rotation {angle:.6g} deg" if det > 0 else f"reflection (matrix {r.tolist()})"
        return text
    return f"orthogonal matrix with det {det:+.0f}"


class PermutationPart:
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


class GridPart:
    """Index map ``i -> sign * i + shift (mod size)`` on each of the last ``ndim`` axes of a field.

    ``sign = -1`` is the reflection about index 0 (``x[i] -> x[-i mod N]``), so shifts and
    reflections together form the dihedral group of the periodic lattice.
    """

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

    def describe(self) -> str:
        words = []
        if any(s == -1 for s in self.signs):
            words.append("reflect axes " + str([k for k, s in enumerate(self.signs) if s == -1]))
        if any(self.shifts):
            words.append(f"shift {list(self.shifts)}")
        return " then ".join(words) if words else "identity grid map"


_PART_ORDER = (EuclideanPart, PermutationPart, GridPart)


class Element:
    """A group element: acts on tensors by kind, composes (``g @ h``: ``h`` first) and inverts."""

    def __init__(self, *parts, label: str | None = None):
        merged = {}
        for part in parts:
            key = type(part)
            merged[key] = part if key not in merged else merged[key].compose(part)
        self.parts = tuple(merged[k] for k in _PART_ORDER if k in merged)
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
        return Element(*(merged[k] for k in _PART_ORDER if k in merged), label=label)

    __matmul__ = compose

    def inverse(self) -> Element:
        return Element(*(p.inverse() for p in self.parts),
                       label=f"inverse of {self.label}" if self.label else None)

    def is_identity(self) -> bool:
        return all(p.is_identity() for p in self.parts)

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


# --------------------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------------------


def rotation_in_plane(n: int, i: int, j: int, angle: float, *, dtype=torch.float64) -> torch.Tensor:
    """Rotation by ``angle`` (radians) taking axis ``i`` toward axis ``j``; ``(n, n)``."""
    n = check_int(n, "n", min=2)
    i, j = check_int(i, "i", min=0, max=n - 1), check_int(j, "j", min=0, max=n - 1)
    if i == j:
        raise ValueError(f"i and j must be two different axes (the plane of rotation), got i = j = {i}")
    angle = check_float(angle, "angle")
    r = torch.eye(n, dtype=dtype)
    c, s = math.cos(angle), math.sin(angle)
    if abs(angle - math.pi) < 1e-15 or abs(angle + math.pi) < 1e-15:
        c, s = -1.0, 0.0
    elif abs(abs(angle) - math.pi / 2) < 1e-15:
        c, s = 0.0, math.copysign(1.0, angle)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def _plane_about(n: int, axis: int) -> tuple[int, int]:
    """The rotation plane of an axis in 3-D (right-handed), or (0, 1) in other dimensions."""
    if n == 3:
        return ((1, 2), (2, 0), (0, 1))[axis]
    return (0, 1)


def haar_orthogonal(n: int, *, proper: bool, size=(), generator=None, dtype=torch.float64,
                    device=None) -> torch.Tensor:
    """Haar-distributed orthogonal matrices ``(*size, n, n)`` (QR with sign fix).

    With ``proper=True`` the result is Haar on SO(n) (a column flipped where ``det < 0``).
    """
    n = check_positive_int(n, "n")
    z = torch.randn(*size, n, n, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(z)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    if proper:
        det = torch.linalg.det(q)
        flip = torch.ones_like(q[..., 0, :])
        flip[..., 0] = torch.where(det < 0, -1.0, 1.0)
        q = q * flip.unsqueeze(-2)
    return q.to(dtype=dtype, device=device)


class Group:
    """Base class: a group samples elements and lists edge-case elements.

    Subclasses implement :meth:`sample`, :meth:`identity` and :meth:`edge_cases`.
    ``G * H`` is the direct product (elements of both, acting on their own aspects).
    """

    name = "group"

    def sample(self, *, generator: torch.Generator | None = None, dtype=None, device=None) -> Element:
        raise NotImplementedError

    def identity(self) -> Element:
        raise NotImplementedError

    def edge_cases(self) -> list[Element]:
        """Elements worth checking always: identity, half turns, reflections, large shifts..."""
        return [self.identity()]

    def __mul__(self, other: Group) -> ProductGroup:
        if not isinstance(other, Group):
            return NotImplemented
        left = self.factors if isinstance(self, ProductGroup) else (self,)
        right = other.factors if isinstance(other, ProductGroup) else (other,)
        return ProductGroup(*left, *right)

    def __repr__(self) -> str:
        return self.name


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
        names = _AXES3 if n == 3 else [str(k) for k in range(n)]
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

    def edge_cases(self) -> list[Element]:
        out = [self.identity()]
        for k in range(self.ndim):
            signs = [1] * self.ndim
            signs[k] = -1
            out.append(Element(GridPart(signs, [0] * self.ndim), label=f"reflection of axis {k}"))
        if self.ndim > 1:
            out.append(Element(GridPart([-1] * self.ndim, [0] * self.ndim), label="reflection of every axis"))
        return out


class ProductGroup(Group):
    """Direct product of groups: an element of each factor, acting together."""

    def __init__(self, *factors: Group):
        if len(factors) < 2 or not all(isinstance(f, Group) for f in factors):
            raise ValueError("ProductGroup needs two or more groups")
        self.factors = tuple(factors)
        self.name = " x ".join(f.name for f in factors)

    def identity(self) -> Element:
        return _combine([f.identity() for f in self.factors], "identity")

    def sample(self, *, generator=None, dtype=None, device=None) -> Element:
        return _combine([f.sample(generator=generator, dtype=dtype, device=device) for f in self.factors])

    def edge_cases(self) -> list[Element]:
        ids = [f.identity() for f in self.factors]
        out = [self.identity()]
        for k, f in enumerate(self.factors):
            for e in f.edge_cases()[1:]:
                out.append(_combine(ids[:k] + [e] + ids[k + 1:], e.label))
        lasts = [f.edge_cases()[-1] for f in self.factors]
        out.append(_combine(lasts, " and ".join(str(e) for e in lasts)))
        return out


def per_graph(elements, label: str | None = None) -> Element:
    """One element per graph of a batch: ``elements[b]`` moves the nodes of graph ``b``.

    The Euclidean parts (rotation, translation) are stacked into a batched part that acts
    through the call's ``batch`` vector; scale and every other part (permutations, grid maps)
    come from ``elements[0]``. ``elements`` must all belong to the same group.
    """
    elements = list(elements)
    if not elements:
        raise ValueError("per_graph needs at least one element (one per graph)")
    parts = [e.part(EuclideanPart) for e in elements]
    if any(p is None for p in parts):
        return elements[0]
    dim = parts[0].dim
    rot = torch.stack([p.rotation.to(torch.float64).expand(dim, dim) if p.rotation.dim() == 2
                       else p.rotation[0].to(torch.float64) for p in parts])
    trans = torch.stack([p.translation.to(torch.float64).reshape(-1, dim)[0] for p in parts])
    batched = EuclideanPart(rot, trans, parts[0].scale)
    others = [p for p in elements[0].parts if not isinstance(p, EuclideanPart)]
    return Element(batched, *others, label=label)


def _combine(elements, label=None) -> Element:
    result = elements[0]
    for e in elements[1:]:
        result = result.compose(e)
    result.label = label
    return result
