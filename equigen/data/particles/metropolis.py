"""Metropolis samplers of particle systems: checked reference samples, a time-budget baseline, LJ cluster data.

* :func:`sample_reference` draws Boltzmann samples of a :class:`~equigen.data.particles.ParticleSystem`
  on many parallel chains (Gaussian moves of all particles projected to zero centre of mass, step
  size tuned in burn-in) and reports diagnostics that the chains mixed: acceptance rate, the
  integrated autocorrelation time of the energy, the effective sample size and the split R-hat of
  the energy across chains (:mod:`equigen.data.mcmc`).
* :func:`sample_with_budget`: the same moves for a fixed wall-clock time (the "plain MCMC" baseline).
* :func:`sample_lj_cluster` draws an ``N``-particle Lennard-Jones cluster (LJ13 by default) from
  ``exp(-E / T)`` with single-particle moves inside a hard spherical wall of radius
  ``wall_radius`` around the centre of mass (an E(3)-invariant constraint, so the sampled
  distribution keeps every symmetry of the potential). Stored samples are centred and given a
  uniformly random orientation (the Boltzmann distribution is rotation invariant; a chain's
  orientation only diffuses slowly), so a model cannot exploit a preferred frame.

Example::

    ref = sample_reference(DW4(), 5000, seed=0)
    ref.pos.shape, ref.energy.shape, ref.diagnostics["rhat"]   # (5000, 4, 2), (5000,), ~1.00
    data = sample_lj_cluster(1000, seed=0)                      # LJDataset, float64
    data.pos.shape, data.energy.shape, data.forces.shape        # (1000, 13, 3), (1000,), (1000, 13, 3)
    train, test = data.split(800)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from equigen.core.validation import (
    check_int,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
    check_probability,
)
from equigen.data.mcmc import adapt_step_size, integrated_autocorrelation_time, metropolis_accept, split_rhat
from equigen.data.particles.potentials import lj_energy, lj_forces, lj_particle_energy, remove_com
from equigen.data.particles.systems import LJDataset, ParticleSystem

__all__ = ["ReferenceSamples", "com_free_metropolis_step", "sample_reference", "sample_with_budget",
           "sample_lj_cluster"]


@dataclass
class ReferenceSamples:
    """Reference configurations ``pos (M, N, d)`` (centred, float64), their ``energy (M,)``,
    and the chains' ``diagnostics`` (acceptance, tau, ess, rhat, step, seconds)."""

    system: ParticleSystem
    pos: torch.Tensor
    energy: torch.Tensor
    diagnostics: dict


def com_free_metropolis_step(system: ParticleSystem, x: torch.Tensor, logp: torch.Tensor, step: float,
                             generator: torch.Generator):
    """One Metropolis move of every chain: all particles displaced by ``step`` times a Gaussian
    projected to zero centre of mass (symmetric on the CoM-free subspace). ``x`` ``(C, N, d)`` float64,
    ``logp`` ``(C,)`` its unnormalised log density; returns the new ``x``, ``logp`` and the ``(C,)``
    accepted mask."""
    prop = x + remove_com(step * torch.randn(x.shape, generator=generator, dtype=torch.float64))
    logp_prop = system.log_prob_unnormalized(prop)
    accept = metropolis_accept(logp_prop - logp, generator)
    return torch.where(accept[:, None, None], prop, x), torch.where(accept, logp_prop, logp), accept


def _initial_step(system: ParticleSystem) -> float:
    return 0.1 * (system.params.get("d0", 1.0) if system.kind == "double_well" else 1.0)


def _initial_configuration(system: ParticleSystem, chains: int, gen: torch.Generator) -> torch.Tensor:
    """Start points near low energy: a jittered lattice at the pair-minimum spacing, relaxed by
    300 steps of gradient descent with displacements capped at 5% of the spacing."""
    spacing = system.params.get("d0", 2.0) if system.kind == "double_well" else system.params["rm"]
    side = math.ceil(system.num_particles ** (1 / system.dim))
    grid = torch.stack(torch.meshgrid(*[torch.arange(side, dtype=torch.float64)] * system.dim, indexing="ij"),
                       dim=-1).reshape(-1, system.dim)
    x = torch.stack([grid[torch.randperm(len(grid), generator=gen)[: system.num_particles]] for _ in range(chains)])
    x = remove_com(x * spacing + 0.05 * spacing * torch.randn(x.shape, generator=gen, dtype=torch.float64))
    for _ in range(300):
        f = system.forces(x)
        norm = f.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        x = remove_com(x + f / norm * torch.clamp(0.01 * norm, max=0.05 * spacing))
    return x


@torch.no_grad()
def sample_reference(system: ParticleSystem, num_samples: int, *, chains: int = 128, burn_in: int = 2000,
                     thin: int | None = None, target_acceptance: float = 0.4, seed: int = 0,
                     max_steps: int = 200_000) -> ReferenceSamples:
    """Boltzmann samples of ``system`` by Metropolis on ``chains`` parallel chains (float64, CPU).

    Proposals are isotropic Gaussian moves of all particles, projected to zero centre of mass
    (a symmetric proposal on the CoM-free subspace, so detailed balance holds there). The step
    size is tuned during ``burn_in`` towards ``target_acceptance`` and then frozen; a 4000-step
    pilot run measures the energy's integrated autocorrelation time ``tau``, and the chains run
    ``5 tau`` more steps before production. Each chain is then thinned by ``thin`` steps (default
    ``2 tau``) until ``num_samples`` are collected. Diagnostics on the production run:
    ``acceptance``, ``tau`` (energy, in steps), ``ess`` (effective samples), ``rhat`` (split
    R-hat of the energy), ``step``, ``steps``.
    """
    check_positive_int(num_samples, "num_samples")
    check_int(chains, "chains", min=2)  # R-hat compares chains
    check_non_negative_int(burn_in, "burn_in")
    check_positive_int(thin, "thin", allow_none=True)
    check_probability(target_acceptance, "target_acceptance", allow_zero=False, allow_one=False)
    gen = torch.Generator().manual_seed(seed)
    x = _initial_configuration(system, chains, gen)
    logp = system.log_prob_unnormalized(x)
    x, logp, step, tau_pilot = _equilibrate(system, x, logp, burn_in, target_acceptance, gen)
    if thin is None:
        thin = max(1, int(math.ceil(2 * tau_pilot)))
    per_chain = math.ceil(num_samples / chains)
    steps = per_chain * thin
    if steps > max_steps:
        raise ValueError(f"{num_samples} samples at thinning {thin} need {steps} steps per chain > max_steps="
                         f"{max_steps}; use more chains or allow more steps")
    kept, series, accepted = _production(system, x, logp, step, steps, thin, gen)
    tau = integrated_autocorrelation_time(series)
    pos = torch.stack(kept, 1).reshape(-1, system.num_particles, system.dim)[:num_samples]
    pos = remove_com(pos)
    diagnostics = {"acceptance": float(accepted.mean() / steps), "tau": tau, "ess": chains * steps / tau,
                   "rhat": split_rhat(series), "step": step, "thin": thin, "steps_per_chain": steps,
                   "chains": chains, "burn_in": burn_in + 4000 + int(5 * tau_pilot)}
    return ReferenceSamples(system, pos, system.energy(pos), diagnostics)


def _equilibrate(system, x, logp, burn_in, target_acceptance, gen):
    """Burn-in with step-size tuning, a 4000-step pilot measuring the energy's ``tau``, then ``5 tau`` more.

    Returns the chains' ``x`` and ``logp``, the frozen step size and the pilot's ``tau``.
    """
    step = _initial_step(system)
    for i in range(burn_in):
        x, logp, acc = com_free_metropolis_step(system, x, logp, step, gen)
        step = adapt_step_size(step, acc.double().mean().item(), target_acceptance, i)
    pilot = []
    for _ in range(4000):
        x, logp, _ = com_free_metropolis_step(system, x, logp, step, gen)
        pilot.append(logp.clone())
    tau_pilot = integrated_autocorrelation_time(torch.stack(pilot, 1).numpy())
    for _ in range(int(5 * tau_pilot)):  # forget the start: five more autocorrelation times
        x, logp, _ = com_free_metropolis_step(system, x, logp, step, gen)
    return x, logp, step, tau_pilot


def _production(system, x, logp, step, steps, thin, gen):
    """``steps`` moves of every chain at a fixed step size, keeping every ``thin``-th state.

    Returns the kept states (list of ``(C, N, d)``), the energy series ``(C, steps)`` (numpy) and the
    ``(C,)`` accepted-move counts.
    """
    accepted = torch.zeros(x.shape[0], dtype=torch.float64)
    kept, energies = [], []
    for s in range(steps):
        x, logp, acc = com_free_metropolis_step(system, x, logp, step, gen)
        accepted += acc.double()
        energies.append(-logp * system.temperature)
        if (s + 1) % thin == 0:
            kept.append(x.clone())
    return kept, torch.stack(energies, 1).numpy(), accepted

@torch.no_grad()
def sample_with_budget(system: ParticleSystem, num_samples: int, seconds: float, *, seed: int = 0,
                       target_acceptance: float = 0.4) -> tuple[torch.Tensor, dict]:
    """Plain MCMC given a wall-clock budget: ``num_samples`` chains started like
    :func:`sample_reference`'s (relaxed lattice), random-walk Metropolis until ``seconds`` have
    passed (start-up included), step size adapted with a decaying rate throughout. Returns the
    final states ``(num_samples, N, d)`` and ``{"steps", "acceptance", "seconds"}``: the baseline
    "what does plain MCMC reach in the time a learned sampler takes?"."""
    if not seconds > 0:
        raise ValueError(f"seconds={seconds!r} must be positive")
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    x = _initial_configuration(system, num_samples, gen)
    logp = system.log_prob_unnormalized(x)
    step = _initial_step(system)
    steps, accepted = 0, 0.0
    while time.perf_counter() - start < seconds:
        x, logp, accept = com_free_metropolis_step(system, x, logp, step, gen)
        rate = accept.double().mean().item()
        accepted += rate
        step = adapt_step_size(step, rate, target_acceptance, steps)
        steps += 1
    return x, {"steps": steps, "acceptance": accepted / max(steps, 1), "seconds": time.perf_counter() - start}


def _random_rotations(rng: np.random.Generator, size: int) -> np.ndarray:
    """Haar-random proper rotations ``(size, 3, 3)`` (QR of Gaussian matrices, sign-fixed)."""
    a = rng.standard_normal((size, 3, 3))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    det = np.linalg.det(q)
    q[det < 0, :, 0] *= -1
    return q


def sample_lj_cluster(num_samples: int, num_particles: int = 13, *, temperature: float = 0.3,
                      wall_radius: float = 2.0, num_chains: int = 256, burn_in_sweeps: int = 400,
                      thin_sweeps: int = 10, step: float = 0.1, seed: int = 0) -> LJDataset:
    """Boltzmann samples of an LJ cluster (``u(r) = 4 (r^-12 - r^-6)``, reduced units) by Metropolis
    Monte Carlo on parallel chains.

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
        :class:`~equigen.data.particles.LJDataset` in float64, centred, each sample rotated
        uniformly at random, with exact energies and forces (:func:`~equigen.data.particles.lj_energy`);
        ``info`` holds the settings, the final step size and the acceptance rate after burn-in.
    """
    _check_lj_cluster_args(num_samples, num_particles, temperature, wall_radius, num_chains, burn_in_sweeps,
                           thin_sweeps, step)
    rng = np.random.default_rng(seed)
    chains = min(num_chains, num_samples)
    per_chain = -(-num_samples // chains)
    x = _lattice_cluster(num_particles, chains, rng)
    beta = 1.0 / temperature
    steps = np.full(chains, float(step))
    for _ in range(burn_in_sweeps):
        rate = _lj_sweep(x, steps, beta, wall_radius, rng) / num_particles
        steps[:] = np.clip(steps * np.where(rate > 0.4, 1.05, 0.95), 1e-3, 0.5)
    accepted, tried, samples = np.zeros(chains), 0, []
    for _ in range(per_chain):
        for _ in range(thin_sweeps):
            accepted += _lj_sweep(x, steps, beta, wall_radius, rng)
            tried += num_particles
        samples.append(x - x.mean(1, keepdims=True))
    pos_t = torch.from_numpy(_interleave_and_rotate(samples, num_samples, rng))
    info = {"num_particles": num_particles, "temperature": float(temperature), "wall_radius": float(wall_radius),
            "num_chains": chains, "burn_in_sweeps": burn_in_sweeps, "thin_sweeps": thin_sweeps, "seed": seed,
            "step_final_mean": float(steps.mean()),
            "acceptance": float(accepted.sum() / max(tried * chains, 1))}
    return LJDataset(pos_t, lj_energy(pos_t), lj_forces(pos_t), info)


def _interleave_and_rotate(samples, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """The first ``num_samples`` of the chains' centred states ``(C, N, 3)`` per stored sweep, shuffled
    across chains and each given a uniformly random rotation: ``(num_samples, N, 3)``."""
    pos = np.stack(samples, axis=1).reshape(-1, *samples[0].shape[1:])[:num_samples]  # chain-major order
    order = rng.permutation(pos.shape[0])  # interleave chains so any prefix mixes them
    pos = np.einsum("sij,snj->sni", _random_rotations(rng, pos.shape[0]), pos[order])
    return np.ascontiguousarray(pos)


def _check_lj_cluster_args(num_samples, num_particles, temperature, wall_radius, num_chains, burn_in_sweeps,
                           thin_sweeps, step) -> None:
    """Validate :func:`sample_lj_cluster`'s counts and sizes (the wall must be able to hold the cluster)."""
    for name, value, low in (("num_samples", num_samples, 1), ("num_particles", num_particles, 2),
                             ("num_chains", num_chains, 1), ("burn_in_sweeps", burn_in_sweeps, 0),
                             ("thin_sweeps", thin_sweeps, 1)):
        check_int(value, name, min=low)
    for name, value in (("temperature", temperature), ("wall_radius", wall_radius), ("step", step)):
        check_positive_float(value, name)
    if wall_radius < 0.5 * num_particles ** (1 / 3):
        raise ValueError(f"wall_radius={wall_radius} is too small to hold {num_particles} particles; "
                         f"use at least {0.5 * num_particles ** (1 / 3):.2f}")


def _lattice_cluster(num_particles: int, chains: int, rng: np.random.Generator) -> np.ndarray:
    """Start ``(chains, N, 3)``: a slightly perturbed simple cubic arrangement at spacing 1.1, centred."""
    side = math.ceil(num_particles ** (1 / 3))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)[:num_particles] * 1.1
    return np.repeat((grid - grid.mean(0))[None], chains, axis=0) + 0.02 * rng.standard_normal(
        (chains, num_particles, 3))


def _lj_sweep(x: np.ndarray, steps: np.ndarray, beta: float, wall_radius: float,
              rng: np.random.Generator) -> np.ndarray:
    """One sweep of every chain: ``N`` single-particle Metropolis moves inside the wall, ``x`` updated in place.

    ``x`` ``(C, N, 3)``, ``steps`` ``(C,)`` Gaussian step sizes; returns the ``(C,)`` accepted-move counts.
    """
    chains, num_particles = x.shape[:2]
    rows = np.arange(chains)
    acc = np.zeros(chains)
    for _ in range(num_particles):
        k = rng.integers(num_particles, size=chains)
        old = x[rows, k]
        new = old + steps[:, None] * rng.standard_normal((chains, 3))
        com = x.mean(1) + (new - old) / num_particles
        trial = x.copy()
        trial[rows, k] = new
        inside = (np.linalg.norm(trial - com[:, None, :], axis=-1) <= wall_radius).all(-1)
        d_e = lj_particle_energy(x, k, new) - lj_particle_energy(x, k, old)
        with np.errstate(over="ignore"):
            ok = inside & (rng.random(chains) < np.exp(np.minimum(0.0, -beta * d_e)))
        x[rows[ok], k[ok]] = new[ok]
        acc += ok
    return acc
