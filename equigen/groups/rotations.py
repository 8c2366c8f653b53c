"""Rotation matrices: Haar sampling, rotations in a coordinate plane, Wigner D matrices of e3nn
irreps (exact in float64) and human-readable descriptions.

All functions work in float64 on the CPU unless a ``dtype``/``device`` is given.
"""

from __future__ import annotations

import functools
import math

import torch
from e3nn import o3

from equigen.core.validation import check_float, check_int, check_positive_int

__all__ = ["rotation_in_plane", "haar_orthogonal", "wigner_d", "describe_rotation"]

AXES3 = "xyz"

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
            name = AXES3[axis] if n == 3 else f"axis {axis}"
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
        named = [a for i, a in enumerate(AXES3) if torch.allclose(axis.abs(), torch.eye(3)[i].to(r))]
        where = named[0] if named else "(" + ", ".join(f"{v:.3f}" for v in axis.tolist()) + ")"
        return f"{prefix}rotation {angle:.6g} deg about {where}{suffix}"
    if n == 2:
        angle = math.degrees(math.atan2(float(proper[1, 0]), float(proper[0, 0])))
        text = f"rotation {angle:.6g} deg" if det > 0 else f"reflection (matrix {r.tolist()})"
        return text
    return f"orthogonal matrix with det {det:+.0f}"

