"""Lennard-Jones clusters: exact energies and forces, and an MCMC sampler of configurations.

Reduced units throughout: lengths in ``sigma``, energies in ``epsilon``, temperature in
``epsilon / k_B``. The pair potential is ``u(r) = 4 (r^-12 - r^-6)`` (minimum ``-1`` at
``r = 2^(1/6)``); the energy of a configuration is the sum over pairs, and the forces are
its exact negative gradient::

    F_i = sum_{j != i} 24 (2 r_ij^-12 - r_ij^-6) / r_ij^2 (x_i - x_j)

:func:`sample_lj_cluster` draws configurations of an ``N``-particle cluster (LJ13 by default)
from the Boltzmann distribution ``exp(-E / T)`` with single-particle Metropolis moves on many
independent chains at once. The particles are kept together by a hard spherical wall of radius
``wall_radius`` around the centre of mass (an E(3)-invariant constraint, so the sampled
distribution keeps every symmetry of the potential). Stored samples are centred and given a
uniformly random orientation (the Boltzmann distribution is rotation invariant; a chain's
orientation only diffuses slowly), so a model cannot exploit a preferred frame.

Symmetry: energies are E(3) x permutation invariant, forces E(3) x permutation equivariant.

Example::

    data = sample_lj_cluster(1000, seed=0)            # LJDataset, float64
    data.pos.shape, data.energy.shape, data.forces.shape   # (1000, 13, 3), (1000,), (1000, 13, 3)
    train, test = data.split(800)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from equigen.core.validation import check_finite, check_positive_float

__all__ = ["lj_energy", "lj_forces", "LJDataset", "sample_lj_cluster"]


def _check_pos(pos) -> torch.Tensor:
    if not isinstance(pos, torch.Tensor):
        raise TypeError(f"pos must be a torch.Tensor of shape (..., N, 3), got {type(pos).__name__}")
    if pos.dim() < 2 or pos.shape[-1] != 3:
        raise ValueError(f"pos must have shape (..., N, 3), got {tuple(pos.shape)}")
    if not pos.is_floating_point():
        raise ValueError(f"pos must be floating point, got {pos.dtype}; use pos.double()")
    return check_finite(pos, "pos", fix="positions must be finite numbers")


def _pair_terms(pos: torch.Tensor):
    diff = pos.unsqueeze(-2) - pos.unsqueeze(-3)  # x_i - x_j, (..., N, N, 3)
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


@dataclass
class LJDataset:
    """Configurations with their exact energies and forces.

    Attributes: ``pos (S, N, 3)``, ``energy (S,)``, ``forces (S, N, 3)`` (reduced units,
    float64 unless converted with :meth:`to`), ``info`` (sampler settings and diagnostics).
    """

    pos: torch.Tensor
    energy: torch.Tensor
    forces: torch.Tensor
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.pos.shape[0]

    def __getitem__(self, index) -> LJDataset:
        return LJDataset(self.pos[index], self.energy[index], self.forces[index], dict(self.info))

    def split(self, first: int) -> tuple[LJDataset, LJDataset]:
        """``(self[:first], self[first:])``."""
        if isinstance(first, bool) or not isinstance(first, int) or not 0 <= first <= len(self):
            raise ValueError(f"first={first!r} must be an integer in [0, {len(self)}]")
        return self[:first], self[first:]

    def to(self, dtype=None, device=None) -> LJDataset:
        return LJDataset(self.pos.to(dtype=dtype, device=device), self.energy.to(dtype=dtype, device=device),
                         self.forces.to(dtype=dtype, device=device), dict(self.info))


def _random_rotations(rng: np.random.Generator, size: int) -> np.ndarray:
    """Haar-random proper rotations ``(size, 3, 3)`` (QR of Gaussian matrices, sign-fixed)."""
    a = rng.standard_normal((size, 3, 3))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    det = np.linalg.det(q)
    q[det < 0, :, 0] *= -1
    return q


def _particle_energy(x: np.ndarray, k: np.ndarray, xk: np.ndarray) -> np.ndarray:
    """Energy of particle ``k`` (per chain) at position ``xk`` with the others of ``x`` ``(C, N, 3)``."""
    d = x - xk[:, None, :]
    r2 = (d * d).sum(-1)
    r2[np.arange(x.shape[0]), k] = np.inf
    inv6 = 1.0 / r2**3
    return 4.0 * (inv6 * inv6 - inv6).sum(-1)


def sample_lj_cluster(num_samples: int, num_particles: int = 13, *, temperature: float = 0.3,
                      wall_radius: float = 2.0, num_chains: int = 256, burn_in_sweeps: int = 400,
                      thin_sweeps: int = 10, step: float = 0.1, seed: int = 0) -> LJDataset:
    """Boltzmann samples of an LJ cluster by Metropolis Monte Carlo on parallel chains.

    Args:
        num_samples: configurations returned.
        num_particles: cluster size ``N`` (13 = LJ13).
        temperature: ``T`` in ``epsilon / k_B`` (LJ13 melts near 0.3).
        wall_radius: hard wall (``sigma``) around the centre of mass that keeps the cluster bound.
        num_chains: independent chains run in lock-step (vectorised).
        burn_in_sweeps: sweeps (``N`` single-particle moves each) discarded per chain; during
            them the step size is tuned towards 40 % acceptance.
        thin_sweeps: sweeps between stored samples of a chain.
        step: initial Gaussian step size (``sigma``).
        seed: seeds numpy's generator; the same seed gives the same data.

    Returns:
        :class:`LJDataset` in float64, centred, each sample rotated uniformly at random; ``info``
        holds the settings, the final step size and the acceptance rate after burn-in.
    """
    for name, value, low in (("num_samples", num_samples, 1), ("num_particles", num_particles, 2),
                             ("num_chains", num_chains, 1), ("burn_in_sweeps", burn_in_sweeps, 0),
                             ("thin_sweeps", thin_sweeps, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    for name, value in (("temperature", temperature), ("wall_radius", wall_radius), ("step", step)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name}={value!r} must be a positive number")
    if wall_radius < 0.5 * num_particles ** (1 / 3):
        raise ValueError(f"wall_radius={wall_radius} is too small to hold {num_particles} particles; "
                         f"use at least {0.5 * num_particles ** (1 / 3):.2f}")
    rng = np.random.default_rng(seed)
    chains = min(num_chains, num_samples)
    per_chain = -(-num_samples // chains)
    # start: a slightly perturbed simple cubic arrangement at spacing 1.1, centred
    side = math.ceil(num_particles ** (1 / 3))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)[:num_particles] * 1.1
    x = np.repeat((grid - grid.mean(0))[None], chains, axis=0) + 0.02 * rng.standard_normal((chains, num_particles, 3))
    beta = 1.0 / temperature
    steps = np.full(chains, float(step))
    accepted = np.zeros(chains)
    tried = 0
    rows = np.arange(chains)
    samples = []

    def sweep(tune: bool):
        nonlocal tried
        acc = np.zeros(chains)
        for _ in range(num_particles):
            k = rng.integers(num_particles, size=chains)
            old = x[rows, k]
            new = old + steps[:, None] * rng.standard_normal((chains, 3))
            com = x.mean(1) + (new - old) / num_particles
            trial = x.copy()
            trial[rows, k] = new
            inside = (np.linalg.norm(trial - com[:, None, :], axis=-1) <= wall_radius).all(-1)
            d_e = _particle_energy(x, k, new) - _particle_energy(x, k, old)
            with np.errstate(over="ignore"):
                ok = inside & (rng.random(chains) < np.exp(np.minimum(0.0, -beta * d_e)))
            x[rows[ok], k[ok]] = new[ok]
            acc += ok
        if tune:
            rate = acc / num_particles
            steps[:] = np.clip(steps * np.where(rate > 0.4, 1.05, 0.95), 1e-3, 0.5)
        else:
            accepted[:] += acc
            tried += num_particles

    for _ in range(burn_in_sweeps):
        sweep(tune=True)
    for _ in range(per_chain):
        for _ in range(thin_sweeps):
            sweep(tune=False)
        samples.append(x - x.mean(1, keepdims=True))
    pos = np.stack(samples, axis=1).reshape(-1, num_particles, 3)[:num_samples]  # chain-major order
    order = rng.permutation(pos.shape[0])  # interleave chains so any prefix mixes them
    pos = np.einsum("sij,snj->sni", _random_rotations(rng, pos.shape[0]), pos[order])
    pos_t = torch.from_numpy(np.ascontiguousarray(pos))
    info = {"num_particles": num_particles, "temperature": float(temperature), "wall_radius": float(wall_radius),
            "num_chains": chains, "burn_in_sweeps": burn_in_sweeps, "thin_sweeps": thin_sweeps, "seed": seed,
            "step_final_mean": float(steps.mean()),
            "acceptance": float(accepted.sum() / max(tried * chains, 1))}
    return LJDataset(pos_t, lj_energy(pos_t), lj_forces(pos_t), info)
