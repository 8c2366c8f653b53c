"""Particle systems with exact energies, DW4 / LJ13 / LJ55, and a checked MCMC reference sampler.

The two standard small benchmarks of equivariant generative models (Koehler, Klein & Noe 2020,
"Equivariant flows"; used again by equivariant flow matching, Klein et al. 2023), with their
published parameters, in reduced units (``temperature`` 1):

* **DW4**: 4 particles in 2-D, pair double-well ``u(d) = a (d - d0)^4 + b (d - d0)^2`` with
  ``a = 0.9, b = -4, d0 = 4``.
* **LJ13** (and **LJ55**): 13 (55) particles in 3-D, ``u(d) = eps ((rm/d)^12 - 2 (rm/d)^6)`` with
  ``eps = rm = 1`` plus a harmonic tether ``0.5 * sum_i |x_i - x_com|^2`` that keeps the cluster
  together.

Energies sum over pairs ``i < j``; both depend on the configuration only through pair distances
and distances to the centre of mass, so they are E(d) x permutation invariant. The Boltzmann
density ``exp(-E / T)`` lives on the zero-centre-of-mass subspace (the energy is translation
invariant; samples are stored centred).

:func:`sample_reference` draws reference samples with Metropolis on many parallel chains
(Gaussian proposals projected to zero centre of mass, step size tuned in burn-in), and reports
diagnostics that the chains mixed: acceptance rate, the integrated autocorrelation time of the
energy, the effective sample size and the split R-hat of the energy across chains.

Example::

    system = DW4()
    ref = sample_reference(system, 5000, seed=0)
    ref.pos.shape, ref.energy.shape, ref.diagnostics["rhat"]   # (5000, 4, 2), (5000,), ~1.00
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from equigen.core.validation import check_finite, check_probability, check_tensor

__all__ = ["ParticleSystem", "DW4", "LJ13", "LJ55", "ReferenceSamples", "sample_reference", "sample_with_budget",
           "remove_com", "pair_distances", "integrated_autocorrelation_time", "split_rhat"]


def remove_com(x: torch.Tensor) -> torch.Tensor:
    """Subtract the centre of mass: ``(..., N, d) -> (..., N, d)`` (orthogonal projection)."""
    check_tensor(x, "x", finite=False)
    return x - x.mean(dim=-2, keepdim=True)


def pair_distances(x: torch.Tensor) -> torch.Tensor:
    """Distances of all pairs ``i < j``: ``(..., N, d) -> (..., N (N - 1) / 2)``."""
    n = x.shape[-2]
    i, j = torch.triu_indices(n, n, offset=1, device=x.device)
    return (x[..., i, :] - x[..., j, :]).norm(dim=-1)


@dataclass(frozen=True)
class ParticleSystem:
    """``num_particles`` particles in ``dim`` dimensions with a pair energy (module doc).

    ``energy(x)``: ``(..., N, d) -> (...)`` in units of ``k_B T`` at ``temperature = 1``;
    ``forces(x) = -dE/dx`` by autograd. Symmetry: E(d) x permutations (energy invariant).
    """

    name: str
    num_particles: int
    dim: int
    kind: str  # "double_well" or "lennard_jones"
    params: dict = field(default_factory=dict)
    temperature: float = 1.0

    def __post_init__(self):
        if not (isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature)
                and self.temperature > 0):
            raise ValueError(f"temperature={self.temperature!r} must be a positive finite number")

    def check(self, x: torch.Tensor, argument: str = "x") -> torch.Tensor:
        """Validate ``(..., N, d)`` positions of this system (clear ``ValueError`` otherwise)."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"{argument} must be a floating-point torch.Tensor, got {type(x).__name__}")
        if x.dim() < 2 or x.shape[-2:] != (self.num_particles, self.dim):
            raise ValueError(f"{argument} must have shape (..., {self.num_particles}, {self.dim}) for {self.name} "
                             f"({self.num_particles} particles in {self.dim}-D), got {tuple(x.shape)}")
        return check_finite(x, argument)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Total energy ``(..., N, d) -> (...)`` (module doc for the formulas)."""
        d = pair_distances(self.check(x))
        p = self.params
        if self.kind == "double_well":
            s = d - p["d0"]
            return (p["a"] * s**4 + p["b"] * s**2).sum(-1)
        inv6 = (p["rm"] / d) ** 6
        lj = (p["eps"] * (inv6**2 - 2 * inv6)).sum(-1)
        return lj + 0.5 * p["tether"] * remove_com(x).pow(2).sum(dim=(-2, -1))

    def forces(self, x: torch.Tensor) -> torch.Tensor:
        """``-dE/dx``, ``(..., N, d)``, by autograd."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.energy(x).sum(), x)
        return -grad

    def log_prob_unnormalized(self, x: torch.Tensor) -> torch.Tensor:
        """``-E(x) / T``."""
        return -self.energy(x) / self.temperature


def DW4(temperature: float = 1.0) -> ParticleSystem:
    """4 particles in 2-D with the double-well pair potential (a=0.9, b=-4, d0=4)."""
    return ParticleSystem("DW4", 4, 2, "double_well", {"a": 0.9, "b": -4.0, "d0": 4.0}, temperature)


def LJ13(temperature: float = 1.0) -> ParticleSystem:
    """13 Lennard-Jones particles in 3-D (eps = rm = 1) with a unit harmonic tether to the CoM."""
    return ParticleSystem("LJ13", 13, 3, "lennard_jones", {"eps": 1.0, "rm": 1.0, "tether": 1.0}, temperature)


def LJ55(temperature: float = 1.0) -> ParticleSystem:
    """55 Lennard-Jones particles in 3-D, as :func:`LJ13`."""
    return ParticleSystem("LJ55", 55, 3, "lennard_jones", {"eps": 1.0, "rm": 1.0, "tether": 1.0}, temperature)


def integrated_autocorrelation_time(series: np.ndarray, *, c: float = 5.0) -> float:
    """Integrated autocorrelation time of ``(chains, steps)`` series (Sokal's self-consistent window).

    The autocorrelation is averaged over chains (FFT estimate); the window is the smallest ``M``
    with ``M >= c tau(M)``. Returns ``tau >= 1`` in steps.
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    check_finite(x, "series")
    n = x.shape[1]
    x = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(x, n=2 * n, axis=1)
    acf = np.fft.irfft(f * np.conj(f), axis=1)[:, :n].mean(axis=0)
    if acf[0] <= 0:
        return 1.0
    acf = acf / acf[0]
    taus = 2.0 * np.cumsum(acf) - 1.0
    window = np.arange(n) >= c * taus
    m = int(np.argmax(window)) if window.any() else n - 1
    return float(max(taus[m], 1.0))


def split_rhat(series: np.ndarray) -> float:
    """Split R-hat (Gelman-Rubin) of ``(chains, steps)``: ~1.00 when the chains agree."""
    x = np.asarray(series, dtype=np.float64)
    half = x.shape[1] // 2
    x = np.concatenate([x[:, :half], x[:, half:2 * half]], axis=0)
    m, n = x.shape
    within = x.var(axis=1, ddof=1).mean()
    between = n * x.mean(axis=1).var(ddof=1)
    var = (n - 1) / n * within + between / n
    return float(math.sqrt(var / within)) if within > 0 else float("nan")


@dataclass
class ReferenceSamples:
    """Reference configurations ``pos (M, N, d)`` (centred, float64), their ``energy (M,)``,
    and the chains' ``diagnostics`` (acceptance, tau, ess, rhat, step, seconds)."""

    system: ParticleSystem
    pos: torch.Tensor
    energy: torch.Tensor
    diagnostics: dict


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
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples={num_samples!r} must be a positive integer")
    if not isinstance(chains, int) or chains < 2:
        raise ValueError(f"chains={chains!r} must be an integer >= 2 (R-hat compares chains)")
    check_probability(target_acceptance, "target_acceptance", allow_zero=False, allow_one=False)
    gen = torch.Generator().manual_seed(seed)
    x = _initial_configuration(system, chains, gen)
    logp = system.log_prob_unnormalized(x)
    step = 0.1 * (system.params.get("d0", 1.0) if system.kind == "double_well" else 1.0)
    accepted = torch.zeros(chains, dtype=torch.float64)

    def move(x, logp, step):
        prop = x + remove_com(step * torch.randn(x.shape, generator=gen, dtype=torch.float64))
        logp_prop = system.log_prob_unnormalized(prop)
        accept = torch.rand(chains, generator=gen, dtype=torch.float64).log() < (logp_prop - logp)
        x = torch.where(accept[:, None, None], prop, x)
        return x, torch.where(accept, logp_prop, logp), accept

    for i in range(burn_in):
        x, logp, acc = move(x, logp, step)
        rate = acc.double().mean().item()
        step *= math.exp(0.5 * (rate - target_acceptance) / math.sqrt(1 + i / 50))
    pilot = []
    for _ in range(4000):
        x, logp, _ = move(x, logp, step)
        pilot.append(logp.clone())
    tau_pilot = integrated_autocorrelation_time(torch.stack(pilot, 1).numpy())
    for _ in range(int(5 * tau_pilot)):  # forget the start: five more autocorrelation times
        x, logp, _ = move(x, logp, step)
    if thin is None:
        thin = max(1, int(math.ceil(2 * tau_pilot)))
    per_chain = math.ceil(num_samples / chains)
    steps = per_chain * thin
    if steps > max_steps:
        raise ValueError(f"{num_samples} samples at thinning {thin} need {steps} steps per chain > max_steps="
                         f"{max_steps}; use more chains or allow more steps")
    kept, energies = [], []
    for s in range(steps):
        x, logp, acc = move(x, logp, step)
        accepted += acc.double()
        energies.append(-logp * system.temperature)
        if (s + 1) % thin == 0:
            kept.append(x.clone())
    series = torch.stack(energies, 1).numpy()
    tau = integrated_autocorrelation_time(series)
    pos = torch.stack(kept, 1).reshape(-1, system.num_particles, system.dim)[:num_samples]
    pos = remove_com(pos)
    diagnostics = {"acceptance": float(accepted.mean() / steps), "tau": tau, "ess": chains * steps / tau,
                   "rhat": split_rhat(series), "step": step, "thin": thin, "steps_per_chain": steps,
                   "chains": chains, "burn_in": burn_in + 4000 + int(5 * tau_pilot)}
    return ReferenceSamples(system, pos, system.energy(pos), diagnostics)


@torch.no_grad()
def sample_with_budget(system: ParticleSystem, num_samples: int, seconds: float, *, seed: int = 0,
                       target_acceptance: float = 0.4) -> tuple[torch.Tensor, dict]:
    """Plain MCMC given a wall-clock budget: ``num_samples`` chains started like
    :func:`sample_reference`'s (relaxed lattice), random-walk Metropolis until ``seconds`` have
    passed (start-up included), step size adapted with a decaying rate throughout. Returns the
    final states ``(num_samples, N, d)`` and ``{"steps", "acceptance", "seconds"}``: the baseline
    "what does plain MCMC reach in the time a learned sampler takes?"."""
    import time

    if not seconds > 0:
        raise ValueError(f"seconds={seconds!r} must be positive")
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    x = _initial_configuration(system, num_samples, gen)
    logp = system.log_prob_unnormalized(x)
    step = 0.1 * (system.params.get("d0", 1.0) if system.kind == "double_well" else 1.0)
    steps, accepted = 0, 0.0
    while time.perf_counter() - start < seconds:
        prop = x + remove_com(step * torch.randn(x.shape, generator=gen, dtype=torch.float64))
        logp_prop = system.log_prob_unnormalized(prop)
        accept = torch.rand(num_samples, generator=gen, dtype=torch.float64).log() < (logp_prop - logp)
        x = torch.where(accept[:, None, None], prop, x)
        logp = torch.where(accept, logp_prop, logp)
        rate = accept.double().mean().item()
        accepted += rate
        step *= math.exp(0.5 * (rate - target_acceptance) / math.sqrt(1 + steps / 50))
        steps += 1
    return x, {"steps": steps, "acceptance": accepted / max(steps, 1), "seconds": time.perf_counter() - start}
