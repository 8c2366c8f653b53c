"""Conserved quantities of particle systems: energy, linear and angular momentum, centre of mass.

Shapes follow the phase-space convention ``q, p: (..., N, d)`` (leading axes batch systems);
every function reduces over the particle axis ``-2``. Noether: time-translation symmetry
conserves :func:`energy`, space translations :func:`linear_momentum`, rotations
:func:`angular_momentum` (and uniform motion of :func:`centre_of_mass`).

Example::

    >>> import torch
    >>> q = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]], dtype=torch.float64)
    >>> p = torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]], dtype=torch.float64)
    >>> angular_momentum(q, p)
    tensor([0., 0., 2.], dtype=torch.float64)
"""

from __future__ import annotations

import torch

from equigen.core.validation import check_tensor

__all__ = ["energy", "linear_momentum", "angular_momentum", "centre_of_mass", "relative_drift"]


def _pair(q, p):
    check_tensor(q, "q", floating=True, finite=False)
    check_tensor(p, "p", floating=True, finite=False)
    if q.shape != p.shape:
        raise ValueError(f"q has shape {tuple(q.shape)} but p has shape {tuple(p.shape)}; they must be equal")
    if q.dim() < 2:
        raise ValueError(f"q, p must have shape (..., N, d), got {tuple(q.shape)}")


def energy(system, q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Total energy ``system.energy(q, p)``: shape ``(...)``, units of the system."""
    return system.energy(q, p)


def linear_momentum(p: torch.Tensor) -> torch.Tensor:
    """``P = sum_i p_i``: ``(..., N, d) -> (..., d)``. Rotates as a vector, invariant under translations."""
    check_tensor(p, "p", finite=False)
    if p.dim() < 2:
        raise ValueError(f"p must have shape (..., N, d), got {tuple(p.shape)}")
    return p.sum(-2)


def angular_momentum(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``L = sum_i q_i x p_i`` about the origin.

    3-D: ``(..., N, 3) -> (..., 3)`` (a pseudovector). 2-D: ``(..., N, 2) -> (...)``, the
    scalar ``sum x p_y - y p_x``. Other ``d`` raise ``ValueError``.
    """
    _pair(q, p)
    d = q.shape[-1]
    if d == 3:
        return torch.linalg.cross(q, p, dim=-1).sum(-2)
    if d == 2:
        return (q[..., 0] * p[..., 1] - q[..., 1] * p[..., 0]).sum(-1)
    raise ValueError(f"angular momentum is defined here for d = 2 or 3, got d = {d}")


def centre_of_mass(q: torch.Tensor, masses: torch.Tensor) -> torch.Tensor:
    """``sum m_i q_i / sum m_i``: ``q (..., N, d)``, ``masses (N,)`` or ``(..., N)`` -> ``(..., d)``."""
    check_tensor(q, "q", floating=True, finite=False)
    masses = torch.as_tensor(masses, dtype=q.dtype, device=q.device)
    if q.dim() < 2 or masses.shape[-1] != q.shape[-2]:
        raise ValueError(f"masses of shape {tuple(masses.shape)} do not match q of shape {tuple(q.shape)}; "
                         "use masses (N,) or (..., N) with q (..., N, d)")
    return (masses[..., None] * q).sum(-2) / masses.sum(-1)[..., None]


def relative_drift(values: torch.Tensor) -> torch.Tensor:
    """``|Q_t - Q_0| / |Q_0|`` along a leading time axis (norm over any trailing vector axis).

    ``values``: ``(T, ...)`` for a scalar quantity, or ``(T, ..., k)`` (pass vectors with their
    component axis last; the norm is taken over it when ``values.dim() > 1``). Returns ``(T, ...)``.
    """
    v = values.double()
    dev = v - v[:1]
    if v.dim() > 1:
        return dev.norm(dim=-1) / v[:1].norm(dim=-1).clamp_min(1e-300)
    return dev.abs() / v[:1].abs().clamp_min(1e-300)
