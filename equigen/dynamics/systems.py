"""Hamiltonian systems as values: energy, its gradients, and what they conserve.

A system exposes ``kinetic(p)``, ``potential(q)``, ``energy(q, p)`` (shape: the batch axes),
``grad_kinetic(p) = dT/dp``, ``grad_potential(q) = dV/dq`` (so the force is
``-grad_potential``), ``dH_dq(q, p)``, ``dH_dp(q, p)``, ``separable`` (``H = T(p) + V(q)``)
and ``check_state(q, p)``. Subclasses override what they can do in closed form; the rest
falls back to autograd, so a learned energy only needs ``potential`` (and ``kinetic``).

Systems:

* :class:`NBodyGravity` -- ``N`` point masses, direct ``O(N^2)`` pairwise sum as dense tensor
  algebra, batched over leading axes. ``q, p``: ``(..., N, d)``. Invariant under E(d) and
  under permutations of the particles (with their masses).
* :class:`Kepler` -- one body around a fixed centre, ``q, p``: ``(..., d)``; exact solution.
* :class:`HarmonicOscillator`, :class:`Pendulum` -- elementwise, any shape.
* :class:`HenonHeiles` -- ``q, p``: ``(..., 2)``; chaotic at energies near 1/6.

Example::

    >>> import torch
    >>> from equigen.dynamics import NBodyGravity
    >>> system = NBodyGravity(torch.tensor([1.0, 1e-3], dtype=torch.float64))
    >>> q = torch.tensor([[0.0, 0, 0], [1.0, 0, 0]], dtype=torch.float64)
    >>> p = torch.tensor([[0.0, 0, 0], [0.0, 1e-3, 0]], dtype=torch.float64)
    >>> float(system.energy(q, p))                 # 0.5 * 1e-3 - 1e-3
    -0.0005
"""

from __future__ import annotations

import math

import torch

from equigen.core.dtypes import physics_dtype
from equigen.core.validation import check_non_negative_float, check_positive_float, check_positive_int
from equigen.groups import E3, Permutations
from equigen.symmetry import Symmetry

__all__ = ["HamiltonianSystem", "NBodyGravity", "Kepler", "HarmonicOscillator", "Pendulum", "HenonHeiles",
           "grad"]


def grad(fn, x: torch.Tensor) -> torch.Tensor:
    """``d fn(x).sum() / dx`` by autograd, keeping the graph when gradients are being recorded.

    Works under ``torch.no_grad()`` (rollouts) and inside training (``create_graph=True``,
    so forces stay differentiable with respect to model parameters).
    """
    create = torch.is_grad_enabled()
    with torch.enable_grad():
        x_ = x if x.requires_grad else x.detach().requires_grad_(True)
        y = fn(x_).sum()
        (g,) = torch.autograd.grad(y, x_, create_graph=create)
    return g


class HamiltonianSystem:
    """Base class: override ``kinetic``/``potential`` (separable) or ``energy`` (set ``separable = False``)."""

    separable: bool = True

    def kinetic(self, p: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def potential(self, q: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def energy(self, q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Total energy ``H(q, p)``, one value per system of the batch."""
        return self.kinetic(p) + self.potential(q)

    def grad_kinetic(self, p: torch.Tensor) -> torch.Tensor:
        """``dT/dp`` (velocities), same shape as ``p``."""
        return grad(self.kinetic, p)

    def grad_potential(self, q: torch.Tensor) -> torch.Tensor:
        """``dV/dq`` (minus the force), same shape as ``q``."""
        return grad(self.potential, q)

    def force(self, q: torch.Tensor) -> torch.Tensor:
        """``-dV/dq``."""
        return -self.grad_potential(q)

    def dH_dq(self, q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        if self.separable:
            return self.grad_potential(q)
        return grad(lambda x: self.energy(x, p), q)

    def dH_dp(self, q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        if self.separable:
            return self.grad_kinetic(p)
        return grad(lambda x: self.energy(q, x), p)

    def check_state(self, q: torch.Tensor, p: torch.Tensor) -> None:
        """Raise ``ValueError`` if ``(q, p)`` does not fit this system (default: accept)."""


def _positive(name, value, *, allow_zero=False):
    return check_non_negative_float(value, name) if allow_zero else check_positive_float(value, name)


class NBodyGravity(HamiltonianSystem):
    """Newtonian gravity of ``N`` point masses: ``H = sum |p_i|^2 / 2 m_i - G sum_{i<j} m_i m_j / r_ij``.

    ``masses``: ``(N,)`` or ``(..., N)`` (one set per system of a batch), all positive.
    ``q, p``: ``(..., N, d)`` positions and momenta (``p = m v``), any ``d``. ``softening``
    ``eps`` replaces ``r_ij`` by ``sqrt(r_ij^2 + eps^2)``; with ``eps = 0`` two particles at the
    same place raise ``ValueError`` instead of producing Inf. Units: any consistent set
    (``G`` in length^3 / (mass time^2)).

    The pairwise sum is dense tensor algebra over all ordered pairs (``O(N^2)`` memory per
    block of ``block_rows`` rows). Pair forces are exactly antisymmetric and central, so
    linear and angular momentum are conserved to rounding by the symplectic integrators.
    Symmetry: the energy is invariant under E(d) acting on ``q`` (rotations also on ``p``)
    and under permutations of particles together with their masses.

    Example::

        >>> import torch
        >>> from equigen.dynamics import NBodyGravity, integrate
        >>> m = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
        >>> q0 = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        >>> q, p = integrate(NBodyGravity(m, softening=0.1), q0, torch.zeros_like(q0), 1e-3, 10)
    """

    symmetry = Symmetry(lambda: E3() * Permutations(), ("positions", "vectors", "nodes"), None,
                        note="energy(q, p) with the masses as node features; exact for any softening")

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        masses = (torch.rand(5, generator=generator, dtype=torch.float64) + 0.5).to(dtype)
        q = torch.randn(5, 3, generator=generator, dtype=torch.float64).to(dtype)
        p = torch.randn(5, 3, generator=generator, dtype=torch.float64).to(dtype)

        def energy(q, p, masses):
            return cls(masses, softening=0.05).energy(q, p)

        return energy, (q, p, masses)

    def __init__(self, masses, G: float = 1.0, softening: float = 0.0, *, block_rows: int | None = None,
                 dtype=None, device=None):
        masses = torch.as_tensor(masses, dtype=dtype if dtype is not None else (
            masses.dtype if isinstance(masses, torch.Tensor) and masses.is_floating_point() else torch.float64),
            device=device)
        if masses.dim() == 0 or masses.shape[-1] == 0:
            raise ValueError(f"masses must have shape (N,) or (..., N) with N >= 1, got {tuple(masses.shape)}")
        if not torch.isfinite(masses).all() or (masses <= 0).any():
            bad = masses[~(torch.isfinite(masses) & (masses > 0))]
            raise ValueError(f"masses must be finite and positive; got {bad.tolist()[:5]} "
                             "(use a tiny positive mass for a test particle)")
        self.masses = masses
        self.G = _positive("G", G)
        self.softening = _positive("softening", softening, allow_zero=True)
        self.block_rows = check_positive_int(block_rows, "block_rows", allow_none=True)
        self._workspace = {}

    @property
    def num_bodies(self) -> int:
        return self.masses.shape[-1]

    def _m(self, x):
        return self.masses.to(dtype=x.dtype, device=x.device)

    def check_state(self, q, p):
        n = self.num_bodies
        if q.dim() < 2 or q.shape[-2] != n:
            raise ValueError(f"q has shape {tuple(q.shape)} but the system has {n} masses; "
                             f"use q, p of shape (..., {n}, d)")
        batch = q.shape[:-2]
        try:
            torch.broadcast_shapes(self.masses.shape, (*batch, n))
        except RuntimeError:
            raise ValueError(f"masses of shape {tuple(self.masses.shape)} do not broadcast against the batch "
                             f"axes {tuple(batch)} of q; use masses of shape ({n},) or (*batch, {n})") from None
        if self.softening == 0 and n > 1:
            x = q.detach()
            with torch.no_grad():   # one force evaluation: NaN (0 * Inf) only if two particles coincide
                if bool(torch.isfinite(self._acceleration_inplace(x, self._m(x))).all()):
                    return
            for lo, hi in self._blocks(n, x):
                r2 = sum((x[..., lo:hi, None, c] - x[..., None, :, c]) ** 2 for c in range(x.shape[-1]))
                r2.diagonal(offset=lo, dim1=-2, dim2=-1).fill_(1.0)
                hit = (r2 == 0).nonzero()
                if len(hit):
                    i, j = int(hit[0, -2]) + lo, int(hit[0, -1])
                    raise ValueError(f"particles {i} and {j} are at the same position with softening=0; "
                                     "separate them or pass softening > 0")

    def kinetic(self, p):
        return 0.5 * ((p * p).sum(-1) / self._m(p)).sum(-1)

    def grad_kinetic(self, p):
        return p / self._m(p)[..., None]

    def _blocks(self, n, q, elements=1 << 17):
        """Row blocks ``[lo, hi)`` keeping each ``(..., rows, N)`` work array near ``elements`` (cache-sized)."""
        rows = self.block_rows
        if rows is None:
            batch = max(1, math.prod(q.shape[:-2]))
            rows = max(1, min(n, elements // max(1, n * batch)))
        return [(lo, min(n, lo + rows)) for lo in range(0, n, rows)]

    def _inverse_distances(self, q, lo, hi, power):
        """Differentiable: per-component ``q_i - q_j`` (rows ``lo:hi``) and ``(r_ij^2 + eps^2)^(-power/2)``.

        Self pairs get 0. Out of place, so autograd can differentiate it (training, gradcheck).
        """
        n = q.shape[-2]
        diffs = [q[..., lo:hi, None, c] - q[..., None, :, c] for c in range(q.shape[-1])]
        r2 = sum(dc * dc for dc in diffs)
        if self.softening:
            r2 = r2 + self.softening ** 2
        self_pair = torch.arange(lo, hi, device=q.device)[:, None] == torch.arange(n, device=q.device)[None, :]
        w = r2.masked_fill(self_pair, 1.0).rsqrt()
        if power == 3:
            w = w * w * w
        return diffs, w.masked_fill(self_pair, 0.0)

    def potential(self, q):
        n = q.shape[-2]
        m = self._m(q)
        out = 0.0
        for lo, hi in self._blocks(n, q):
            _, inv_r = self._inverse_distances(q, lo, hi, 1)
            out = out + (m[..., lo:hi] * (inv_r * m[..., None, :]).sum(-1)).sum(-1)
        energy = -0.5 * self.G * out
        self._guard(energy, q)
        return energy

    def grad_potential(self, q):
        """``dV/dq_i = G m_i sum_j m_j (q_i - q_j) / (r_ij^2 + eps^2)^{3/2}``, shape of ``q``.

        Dense pairwise algebra over row blocks (no Python loop over particles): about 20
        floating-point operations per ordered pair, one evaluation per leapfrog step. Without
        gradients to record (rollouts) it runs in place in cached cache-sized work buffers;
        otherwise out of place, differentiable.
        """
        m = self._m(q)
        if torch.is_grad_enabled() and (q.requires_grad or m.requires_grad):
            rows = []
            for lo, hi in self._blocks(q.shape[-2], q):
                diffs, w = self._inverse_distances(q, lo, hi, 3)
                w = w * m[..., None, :]                                           # m_j / r_ij^3
                rows.append(torch.stack([(w * dc).sum(-1) for dc in diffs], -1))
            acc = rows[0] if len(rows) == 1 else torch.cat(rows, dim=-2)
            out = self.G * m[..., None] * acc
        else:
            out = self._acceleration_inplace(q, m, scale=self.G)                  # already G m_i sum_j ...
        self._guard(out, q)
        return out

    def _acceleration_inplace(self, q, m, scale=None):
        """``sum_j m_j (q_i - q_j) / r_ij^3`` without autograd, in reused buffers (no page faults).

        With ``scale``, returns ``scale * m_i * sum_j ...`` (the gradient of the potential for ``scale = G``).
        """
        batch = torch.broadcast_shapes(q.shape[:-2], m.shape[:-1])
        n, d = q.shape[-2], q.shape[-1]
        q = q.expand(*batch, n, d)
        blocks = self._blocks(n, q, 1 << 16)
        rows = blocks[0][1] - blocks[0][0]
        key = (tuple(batch), rows, n, d, q.dtype, q.device)
        ws = self._workspace.get(key)
        if ws is None:
            if len(self._workspace) >= 4:
                self._workspace.clear()
            ws = self._workspace[key] = (q.new_empty(d, *batch, rows, n), q.new_empty(*batch, rows, n),
                                         q.new_empty(d, *batch, rows, n))
        qt = q.movedim(-1, 0)                                                     # (d, ..., N)
        out = q.new_empty(d, *batch, n)
        mj = m[..., None, :]
        for lo, hi in blocks:
            k = hi - lo
            diff, r2, tmp = ws if k == rows else (ws[0][..., :k, :], ws[1][..., :k, :], ws[2][..., :k, :])
            torch.sub(qt[..., lo:hi, None], qt[..., None, :], out=diff)            # q_i - q_j per component
            torch.mul(diff[0], diff[0], out=r2)
            for c in range(1, d):
                r2.addcmul_(diff[c], diff[c])
            if self.softening:
                r2.add_(self.softening ** 2)
            r2.diagonal(offset=lo, dim1=-2, dim2=-1).fill_(math.inf)             # self pairs: r^-3 = 0
            w = r2.rsqrt_()
            torch.mul(w, w, out=tmp[0])
            w.mul_(tmp[0]).mul_(mj)                                              # m_j / r_ij^3
            torch.mul(diff, w, out=tmp)
            torch.sum(tmp, -1, out=out[..., lo:hi])
        if scale is not None:
            out.mul_(m).mul_(scale)
        return out.movedim(0, -1)

    def _guard(self, out, q):
        """Coincident particles (softening 0) give Inf or 0 * Inf = NaN from finite positions: raise instead."""
        if self.softening == 0 and not torch.jit.is_tracing() and not math.isfinite(float(out.detach().sum())) \
                and not bool(torch.isfinite(out.detach()).all()) and bool(torch.isfinite(q.detach()).all()):
            raise ValueError("two particles are at the same position with softening=0 (the force is "
                             "infinite); separate them or pass softening > 0")


class Kepler(HamiltonianSystem):
    """The Kepler problem ``H = |p|^2 / 2 - k / |q|`` (reduced mass 1). ``q, p``: ``(..., d)``.

    With ``k = 1`` and :meth:`initial_state` ``(e)`` (periapsis ``(1 - e, 0)``, semi-major axis 1)
    the period is ``2 pi`` and :meth:`exact_state` gives the exact solution (Kepler's
    equation solved by Newton's method), the classic test of Hairer, Lubich & Wanner.
    Symmetry: O(d) acting on ``q`` and ``p``.
    """

    def __init__(self, k: float = 1.0):
        self.k = _positive("k", k)

    def check_state(self, q, p):
        if q.dim() < 1 or q.shape[-1] not in (2, 3):
            raise ValueError(f"Kepler needs q, p of shape (..., 2) or (..., 3), got {tuple(q.shape)}")
        if (q.detach().norm(dim=-1) == 0).any():
            raise ValueError("q = 0 is the singularity of the Kepler potential; start away from the origin")

    def kinetic(self, p):
        return 0.5 * (p * p).sum(-1)

    def grad_kinetic(self, p):
        return p

    def potential(self, q):
        return -self.k / q.norm(dim=-1)

    def grad_potential(self, q):
        r2 = (q * q).sum(-1, keepdim=True)
        return self.k * q / (r2 * r2.sqrt())

    @staticmethod
    def initial_state(eccentricity: float, *, dtype=None, device=None):
        """Periapsis of the orbit with semi-major axis 1 (``k = 1``): ``q = (1-e, 0), p = (0, sqrt((1+e)/(1-e)))``."""
        e = float(eccentricity)
        if not 0 <= e < 1:
            raise ValueError(f"eccentricity={eccentricity!r} must lie in [0, 1) for a bound orbit")
        dtype = physics_dtype(dtype)
        q = torch.tensor([1.0 - e, 0.0], dtype=dtype, device=device)
        p = torch.tensor([0.0, math.sqrt((1 + e) / (1 - e))], dtype=dtype, device=device)
        return q, p

    @staticmethod
    def exact_state(eccentricity: float, t, *, dtype=None, device=None):
        """Exact ``(q, p)`` at times ``t`` from :meth:`initial_state` (``k = 1``); shapes ``(*t.shape, 2)``."""
        e = float(eccentricity)
        dtype = physics_dtype(dtype)
        t = torch.as_tensor(t, dtype=torch.float64)
        mean = torch.remainder(t, 2 * math.pi)
        ecc = mean + e * torch.sin(mean)
        for _ in range(60):  # Newton on E - e sin E = M
            ecc = ecc - (ecc - e * torch.sin(ecc) - mean) / (1 - e * torch.cos(ecc))
        b = math.sqrt(1 - e * e)
        c, s = torch.cos(ecc), torch.sin(ecc)
        q = torch.stack([c - e, b * s], -1)
        p = torch.stack([-s, b * c], -1) / (1 - e * c)[..., None]
        return q.to(dtype=dtype, device=device), p.to(dtype=dtype, device=device)


class HarmonicOscillator(HamiltonianSystem):
    """``H = sum p^2 / 2m + k q^2 / 2`` elementwise; any shape; angular frequency ``sqrt(k/m)``."""

    def __init__(self, mass: float = 1.0, stiffness: float = 1.0):
        self.mass, self.stiffness = _positive("mass", mass), _positive("stiffness", stiffness)

    def kinetic(self, p):
        return (0.5 / self.mass) * (p * p).reshape(*p.shape[:-1], -1).sum(-1) if p.dim() else 0.5 * p * p / self.mass

    def potential(self, q):
        return 0.5 * self.stiffness * (q * q).reshape(*q.shape[:-1], -1).sum(-1) if q.dim() else \
            0.5 * self.stiffness * q * q

    def grad_kinetic(self, p):
        return p / self.mass

    def grad_potential(self, q):
        return self.stiffness * q

    def exact_state(self, q0, p0, t):
        """Exact solution at time ``t`` (a number)."""
        w = math.sqrt(self.stiffness / self.mass)
        c, s = math.cos(w * t), math.sin(w * t)
        return q0 * c + p0 / (self.mass * w) * s, p0 * c - self.mass * w * q0 * s


class Pendulum(HamiltonianSystem):
    """``H = p^2 / (2 m l^2) - m g l cos q`` elementwise (``q`` the angle from the downward vertical)."""

    def __init__(self, mass: float = 1.0, length: float = 1.0, gravity: float = 1.0):
        self.mass, self.length = _positive("mass", mass), _positive("length", length)
        self.gravity = _positive("gravity", gravity)

    def kinetic(self, p):
        e = 0.5 * p * p / (self.mass * self.length ** 2)
        return e.reshape(*e.shape[:-1], -1).sum(-1) if e.dim() else e

    def potential(self, q):
        e = -self.mass * self.gravity * self.length * torch.cos(q)
        return e.reshape(*e.shape[:-1], -1).sum(-1) if e.dim() else e

    def grad_kinetic(self, p):
        return p / (self.mass * self.length ** 2)

    def grad_potential(self, q):
        return self.mass * self.gravity * self.length * torch.sin(q)


class HenonHeiles(HamiltonianSystem):
    """``H = (px^2 + py^2)/2 + (x^2 + y^2)/2 + x^2 y - y^3 / 3``; ``q, p``: ``(..., 2)``. Escape energy 1/6."""

    def check_state(self, q, p):
        if q.dim() < 1 or q.shape[-1] != 2:
            raise ValueError(f"HenonHeiles needs q, p of shape (..., 2), got {tuple(q.shape)}")

    def kinetic(self, p):
        return 0.5 * (p * p).sum(-1)

    def grad_kinetic(self, p):
        return p

    def potential(self, q):
        x, y = q[..., 0], q[..., 1]
        return 0.5 * (x * x + y * y) + x * x * y - y ** 3 / 3

    def grad_potential(self, q):
        x, y = q[..., 0], q[..., 1]
        return torch.stack([x + 2 * x * y, y + x * x - y * y], -1)
