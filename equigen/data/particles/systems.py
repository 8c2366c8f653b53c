"""Particle systems with exact energies (DW4, LJ13, LJ55), and the container of labelled LJ configurations.

The two standard small benchmarks of equivariant generative models (Koehler, Klein & Noe 2020,
"Equivariant flows"; used again by equivariant flow matching, Klein et al. 2023), with their
published parameters, in reduced units (``temperature`` 1):

* **DW4**: 4 particles in 2-D, pair double-well ``u(d) = a (d - d0)^4 + b (d - d0)^2`` with
  ``a = 0.9, b = -4, d0 = 4``.
* **LJ13** (and **LJ55**): 13 (55) particles in 3-D, ``u(d) = eps ((rm/d)^12 - 2 (rm/d)^6)`` with
  ``eps = rm = 1`` (:func:`~equigen.data.particles.potentials.lj_pair_energy`, the Lennard-Jones potential with
  ``sigma = rm / 2^(1/6)``) plus a harmonic tether ``0.5 * sum_i |x_i - x_com|^2`` that keeps the
  cluster together.

Energies sum over pairs ``i < j``; both depend on the configuration only through pair distances
and distances to the centre of mass, so they are E(d) x permutation invariant. The Boltzmann
density ``exp(-E / T)`` lives on the zero-centre-of-mass subspace (the energy is translation
invariant; samples are stored centred).

Example::

    system = LJ13()
    x = torch.randn(8, 13, 3, dtype=torch.float64)
    system.energy(x).shape, system.forces(x).shape     # (8,), (8, 13, 3)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from equigen.core.validation import check_finite, check_positive_float
from equigen.data.particles.potentials import double_well, lj_pair_energy, pair_distances, remove_com

__all__ = ["ParticleSystem", "DW4", "LJ13", "LJ55", "LJDataset"]


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
        check_positive_float(self.temperature, "temperature")

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
            return double_well(d, a=p["a"], b=p["b"], d0=p["d0"]).sum(-1)
        lj = lj_pair_energy(d, epsilon=p["eps"], r_min=p["rm"]).sum(-1)
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
