"""Pair potentials of particle sets: Lennard-Jones (exact energies and forces) and the DW4 double well.

One Lennard-Jones potential throughout equigen, in reduced units (lengths in ``sigma``, energies
in ``epsilon``)::

    u(r) = 4 eps ((sigma / r)^12 - (sigma / r)^6) = eps ((r_m / r)^12 - 2 (r_m / r)^6),   r_m = 2^(1/6) sigma

(minimum ``-eps`` at ``r_m``). Three kernels evaluate it, each for its caller, and the tests check
that they agree: :func:`lj_energy` / :func:`lj_forces` (all pairs of ``(..., N, 3)`` positions as a
matrix, with the exact forces; parameters ``epsilon, sigma``), :func:`lj_pair_energy` (energies of
given pair distances; parameters ``epsilon, r_min``, as the equivariant-flow benchmarks publish
them) and :func:`lj_particle_energy` (numpy, one particle against the others, for single-particle
Monte Carlo moves). The exact forces are the negative gradient::

    F_i = sum_{j != i} 24 eps (2 (sigma/r_ij)^12 - (sigma/r_ij)^6) / r_ij^2 (x_i - x_j)

The double well of DW4 is ``u(d) = a (d - d0)^4 + b (d - d0)^2``.

Symmetry: energies are E(d) x permutation invariant, forces E(d) x permutation equivariant.

Example::

    pos = torch.randn(13, 3, dtype=torch.float64)
    lj_energy(pos), lj_forces(pos).shape                     # (), (13, 3)
    lj_pair_energy(pair_distances(pos), r_min=2 ** (1 / 6)).sum()   # lj_energy(pos) up to rounding
"""

from __future__ import annotations

import numpy as np
import torch

from equigen.core.validation import check_finite, check_positive_float, check_tensor

__all__ = ["remove_com", "pair_distances", "lj_energy", "lj_forces", "lj_particle_energy", "double_well",
           "lj_pair_energy"]


def remove_com(x: torch.Tensor) -> torch.Tensor:
    """Subtract the centre of mass: ``(..., N, d) -> (..., N, d)`` (orthogonal projection)."""
    check_tensor(x, "x", finite=False)
    return x - x.mean(dim=-2, keepdim=True)


def pair_distances(x: torch.Tensor) -> torch.Tensor:
    """Distances of all pairs ``i < j``: ``(..., N, d) -> (..., N (N - 1) / 2)``."""
    n = x.shape[-2]
    i, j = torch.triu_indices(n, n, offset=1, device=x.device)
    return (x[..., i, :] - x[..., j, :]).norm(dim=-1)


def lj_pair_energy(d: torch.Tensor, *, epsilon: float = 1.0, r_min: float = 2 ** (1 / 6)) -> torch.Tensor:
    """Lennard-Jones energy ``eps ((r_min/d)^12 - 2 (r_min/d)^6)`` of pair distances ``d`` (elementwise).

    The potential of :func:`lj_energy` with ``sigma = r_min / 2^(1/6)`` (the default is ``sigma = 1``).
    """
    inv6 = (r_min / d) ** 6
    return epsilon * (inv6**2 - 2 * inv6)


def double_well(d: torch.Tensor, *, a: float, b: float, d0: float) -> torch.Tensor:
    """Double-well pair energy ``a (d - d0)^4 + b (d - d0)^2`` of distances ``d`` (elementwise)."""
    s = d - d0
    return a * s**4 + b * s**2


def _check_pos(pos) -> torch.Tensor:
    if not isinstance(pos, torch.Tensor):
        raise TypeError(f"pos must be a torch.Tensor of shape (..., N, 3), got {type(pos).__name__}")
    if pos.dim() < 2 or pos.shape[-1] != 3:
        raise ValueError(f"pos must have shape (..., N, 3), got {tuple(pos.shape)}")
    if not pos.is_floating_point():
        raise ValueError(f"pos must be floating point, got {pos.dtype}; use pos.double()")
    return check_finite(pos, "pos", fix="positions must be finite numbers")


def _pair_terms(pos: torch.Tensor):
    """``x_i - x_j`` ``(..., N, N, d)``, ``1 / r^2`` and ``1 / r^6`` ``(..., N, N)`` (zero on the diagonal)."""
    diff = pos.unsqueeze(-2) - pos.unsqueeze(-3)
    r2 = (diff * diff).sum(-1)
    n = pos.shape[-2]
    eye = torch.eye(n, dtype=torch.bool, device=pos.device)
    inv2 = torch.where(eye, torch.zeros_like(r2), 1.0 / torch.where(eye, torch.ones_like(r2), r2))
    inv6 = inv2 * inv2 * inv2
    return diff, inv2, inv6


def lj_energy(pos: torch.Tensor, *, epsilon: float = 1.0, sigma: float = 1.0) -> torch.Tensor:
    """Total Lennard-Jones energy ``sum_{i<j} 4 eps ((s/r)^12 - (s/r)^6)``: ``(..., N, 3) -> (...)``.

    Coincident particles give ``inf``. Invariant under E(3) and particle permutations.
    """
    epsilon, sigma = check_positive_float(epsilon, "epsilon"), check_positive_float(sigma, "sigma")
    pos = _check_pos(pos) / sigma
    _, _, inv6 = _pair_terms(pos)
    return 2.0 * epsilon * (inv6 * (inv6 - 1.0)).sum((-1, -2))  # each pair counted twice: 4/2


def lj_forces(pos: torch.Tensor, *, epsilon: float = 1.0, sigma: float = 1.0) -> torch.Tensor:
    """Exact forces ``-dE/dx``: ``(..., N, 3) -> (..., N, 3)`` (units ``epsilon / sigma``).

    Equivariant under E(3) and particle permutations; they sum to zero (Newton's third law).
    """
    epsilon, sigma = check_positive_float(epsilon, "epsilon"), check_positive_float(sigma, "sigma")
    pos = _check_pos(pos)
    diff, inv2, inv6 = _pair_terms(pos / sigma)
    coef = 24.0 * (2.0 * inv6 * inv6 - inv6) * inv2  # (..., N, N)
    return epsilon / sigma * (coef.unsqueeze(-1) * diff).sum(-2)


def lj_particle_energy(x: np.ndarray, k: np.ndarray, xk: np.ndarray, *, epsilon: float = 1.0,
                       sigma: float = 1.0) -> np.ndarray:
    """Lennard-Jones energy of one particle per chain with all the others (numpy, for single-particle moves).

    ``x``: ``(C, N, 3)`` configurations; ``k``: ``(C,)`` the particle of each chain; ``xk``: ``(C, 3)``
    the position at which to evaluate it (particle ``k``'s own entry of ``x`` is ignored). Returns
    ``(C,)``: ``sum_{j != k} u(|xk - x_j|)``, the part of :func:`lj_energy` that a move of ``k`` changes.
    """
    d = (x - xk[:, None, :]) / sigma
    r2 = (d * d).sum(-1)
    r2[np.arange(x.shape[0]), k] = np.inf
    inv6 = 1.0 / r2**3
    return 4.0 * epsilon * (inv6 * inv6 - inv6).sum(-1)
