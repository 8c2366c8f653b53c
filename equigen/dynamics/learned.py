"""Learned dynamics from snapshots: a linear map, a Hamiltonian network, an invariant pair potential.

Three models of ``(q, p)_t -> (q, p)_{t + Delta}`` for particle systems (``q, p: (..., N, d)``):

* :class:`LinearDynamics` -- ``s_{t+1} = A s_t`` on the flattened state, fitted by least
  squares. No structure: nothing is conserved (the baseline).
* :class:`HamiltonianNet` -- a scalar network ``H(q, p)`` (or, given the masses, the known
  kinetic energy plus a network ``V(q)`` of all coordinates) integrated by a symplectic
  method. Conserves its own energy (bounded error) but, without rotation or translation
  symmetry, not momentum or angular momentum (the unconstrained twin).
* :class:`PairPotentialNet` -- ``V(q) = sum_{i<j} m_i m_j phi(r_ij)`` with a learned ``phi`` of
  the distance: E(d)- and permutation-invariant by construction, forces by autograd, so the
  pair forces are central and opposite and a symplectic rollout conserves linear and
  angular momentum to rounding (Noether), in whatever dtype it was trained.

The Hamiltonian models are :class:`~equigen.dynamics.systems.HamiltonianSystem` values: pass
them to :func:`~equigen.dynamics.integrators.integrate` like any physical system.
:func:`train_one_step` fits them by backpropagating through the integrator.

Example::

    >>> import torch
    >>> from equigen.dynamics import PairPotentialNet, integrate
    >>> model = PairPotentialNet(torch.ones(3), generator=torch.Generator().manual_seed(0)).double()
    >>> q0 = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    >>> q, p = integrate(model, q0, torch.zeros_like(q0), 0.01, 10)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from equigen._configurable import configurable
from equigen.core.blocks import count_parameters
from equigen.core.deprecation import renamed_kwargs
from equigen.core.dtypes import learning_dtype, physics_dtype
from equigen.core.validation import (
    check_finite,
    check_non_negative_float,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
    check_tensor,
)
from equigen.dynamics.integrators import integrate
from equigen.dynamics.systems import HamiltonianSystem
from equigen.groups import E3, Permutations
from equigen.symmetry import Symmetry

__all__ = ["LinearDynamics", "HamiltonianNet", "PairPotentialNet", "train_one_step", "mlp", "count_parameters"]


def mlp(sizes, *, activation=nn.Softplus, dtype=None, device=None, generator=None) -> nn.Sequential:
    """A smooth MLP ``sizes[0] -> ... -> sizes[-1]``; weights drawn from ``generator`` (reproducible).

    ``dtype`` defaults to ``torch.get_default_dtype()`` (float32 unless changed).
    """
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b, dtype=learning_dtype(dtype), device=device)
        with torch.no_grad():
            bound = 1.0 / math.sqrt(a)
            lin.weight.copy_(torch.empty_like(lin.weight).uniform_(-bound, bound, generator=generator))
            lin.bias.copy_(torch.empty_like(lin.bias).uniform_(-bound, bound, generator=generator))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def _positive_int(name, value):
    return check_positive_int(value, name)


def _positive_float(name, value):
    return check_positive_float(value, name)


def _check_masses(masses, *, dtype=None, device=None):
    masses = torch.as_tensor(masses, dtype=learning_dtype(dtype), device=device)
    if masses.dim() != 1 or not torch.isfinite(masses).all() or (masses <= 0).any():
        raise ValueError(f"masses must be a 1-D tensor of finite positive values, got {masses.tolist()}")
    return masses


@configurable
class LinearDynamics(nn.Module):
    """``s_{t+1} = A s_t`` (+ ``b`` with ``bias=True``) on flattened ``s = (q, p)``; least squares.

    Shapes: :meth:`fit` takes trajectories ``q, p: (T, ..., N, d)`` (consecutive frames are
    the pairs) and :meth:`forward` maps ``(q, p)`` of shape ``(..., N, d)`` one step on.
    ``ridge`` adds ``ridge * I`` to the normal equations. No symmetry: the fitted map does not
    commute with rotations and conserves no momentum (the seed's baseline).
    """

    def __init__(self, num_bodies: int, dim: int, *, bias: bool = False, dtype=None, device=None):
        super().__init__()
        n = 2 * _positive_int("num_bodies", num_bodies) * _positive_int("dim", dim)
        self.shape = (num_bodies, dim)
        self.bias = bias
        self.register_buffer("A", torch.eye(n, dtype=physics_dtype(dtype), device=device))
        self.register_buffer("b", torch.zeros(n, dtype=physics_dtype(dtype), device=device))

    def _flat(self, q, p):
        if tuple(q.shape[-2:]) != self.shape or q.shape != p.shape:
            raise ValueError(f"q, p must have equal shapes (..., {self.shape[0]}, {self.shape[1]}), "
                             f"got {tuple(q.shape)} and {tuple(p.shape)}")
        return torch.cat([q.reshape(*q.shape[:-2], -1), p.reshape(*p.shape[:-2], -1)], -1)

    def fit(self, q: torch.Tensor, p: torch.Tensor, *, ridge: float = 0.0, rcond: float = 1e-10) -> LinearDynamics:
        """Least-squares fit on trajectories ``(T, ..., N, d)``; returns ``self``.

        Minimum-norm solution by SVD: directions the data never vary in (e.g. the centre of
        mass, fixed in a centre-of-mass frame) get singular values below ``rcond`` times the
        largest and are mapped to zero instead of amplifying rounding errors. ``ridge > 0``
        solves the regularised normal equations instead.
        """
        check_tensor(q, "q", floating=True)
        check_tensor(p, "p", floating=True)
        ridge = check_non_negative_float(ridge, "ridge")
        if q.dim() < 3 or q.shape[0] < 2:
            raise ValueError(f"q, p must be trajectories (T >= 2, ..., N, d), got {tuple(q.shape)}")
        s = self._flat(q, p).to(self.A.dtype)
        x, y = s[:-1].reshape(-1, s.shape[-1]), s[1:].reshape(-1, s.shape[-1])
        if self.bias:
            x = torch.cat([x, torch.ones_like(x[:, :1])], 1)
        if ridge > 0:
            gram = x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
            coef = torch.linalg.solve(gram, x.T @ y)   # (n [+1], n)
        else:
            coef = torch.linalg.pinv(x, rtol=rcond) @ y
        self.A.copy_(coef[: s.shape[-1]].T)
        if self.bias:
            self.b.copy_(coef[-1])
        return self

    def forward(self, q: torch.Tensor, p: torch.Tensor):
        s = self._flat(q, p)
        s = s @ self.A.to(s.dtype).T + self.b.to(s.dtype)
        k = s.shape[-1] // 2
        return s[..., :k].reshape(q.shape), s[..., k:].reshape(p.shape)

    def rollout(self, q0: torch.Tensor, p0: torch.Tensor, steps: int):
        """``steps`` applications from ``(q0, p0)``; trajectories ``(steps + 1, ..., N, d)``."""
        steps = check_non_negative_int(steps, "steps")
        check_tensor(q0, "q0", floating=True)
        check_tensor(p0, "p0", floating=True)
        qs, ps = [q0], [p0]
        q, p = q0, p0
        for _ in range(steps):
            q, p = self(q, p)
            qs.append(q)
            ps.append(p)
        return torch.stack(qs), torch.stack(ps)


@configurable
class HamiltonianNet(nn.Module, HamiltonianSystem):
    """A learned Hamiltonian ``H(q, p)`` of all coordinates (no symmetry built in).

    ``q, p: (..., N, d)``. With ``masses`` (``(N,)``) the kinetic energy is the known
    ``sum |p|^2 / 2m`` and the network learns ``V(q)`` (separable: explicit symplectic
    integrators apply); without, one network of ``(q, p)`` (non-separable: integrate with
    ``"implicit_midpoint"``). It conserves its own ``H`` under a symplectic method, but not
    momentum or angular momentum: it is the unconstrained twin of :class:`PairPotentialNet`.
    ``energy_scale`` multiplies the network's output (set it to the data's typical energy,
    e.g. the mean kinetic energy, so that an O(1) network output is the right size).
    ``pair_features=True`` (separable only) appends the ``N(N-1)/2`` inverse distances ``1/r_ij``
    (``i < j``) to the coordinates fed to ``V``: the physically useful feature, with the raw
    coordinates still there, so the model stays without a built-in symmetry.
    """

    def __init__(self, num_bodies: int, dim: int, *, masses=None, hidden: int = 64, layers: int = 2,
                 energy_scale: float = 1.0, pair_features: bool = False, dtype=None, device=None,
                 generator=None):
        super().__init__()
        self.energy_scale = _positive_float("energy_scale", energy_scale)
        self.shape = (_positive_int("num_bodies", num_bodies), _positive_int("dim", dim))
        _positive_int("hidden", hidden), _positive_int("layers", layers)
        self.separable = masses is not None
        if not isinstance(pair_features, bool):
            raise ValueError(f"pair_features={pair_features!r} must be True or False")
        if pair_features and not self.separable:
            raise ValueError("pair_features=True needs masses (a separable H = T(p) + V(q)); pass masses=...")
        self.pair_features = pair_features
        n = num_bodies * dim * (1 if self.separable else 2)
        n += num_bodies * (num_bodies - 1) // 2 if pair_features else 0
        self.net = mlp([n] + [hidden] * layers + [1], dtype=dtype, device=device, generator=generator)
        if masses is not None:
            self.register_buffer("masses", _check_masses(masses, dtype=dtype, device=device))
            if self.masses.numel() != num_bodies:
                raise ValueError(f"masses has {self.masses.numel()} entries for num_bodies={num_bodies}")

    def check_state(self, q, p):
        if tuple(q.shape[-2:]) != self.shape:
            raise ValueError(f"q, p must have shape (..., {self.shape[0]}, {self.shape[1]}), got {tuple(q.shape)}")

    def _net(self, x):
        w = self.net[0].weight
        return self.energy_scale * self.net(x.to(w.dtype)).squeeze(-1).to(x.dtype)

    def kinetic(self, p):
        return 0.5 * ((p * p).sum(-1) / self.masses.to(p.dtype)).sum(-1)

    def grad_kinetic(self, p):
        return p / self.masses.to(p.dtype)[:, None]

    def potential(self, q):
        x = q.reshape(*q.shape[:-2], -1)
        if self.pair_features:
            i, j = torch.triu_indices(q.shape[-2], q.shape[-2], 1, device=q.device)
            x = torch.cat([x, (q[..., i, :] - q[..., j, :]).norm(dim=-1).reciprocal()], -1)
        return self._net(x)

    def energy(self, q, p):
        if self.separable:
            return self.kinetic(p) + self.potential(q)
        return self._net(torch.cat([q.reshape(*q.shape[:-2], -1), p.reshape(*p.shape[:-2], -1)], -1))

    def forward(self, q, p):
        if isinstance(q, torch.Tensor) and q.grad_fn is None:  # user input (states inside a rollout: unchecked)
            check_finite(q, "q")
            check_finite(p, "p")
        return self.energy(q, p)


@configurable
class PairPotentialNet(nn.Module, HamiltonianSystem):
    """``H = sum_i |p_i|^2 / 2 m_i + sum_{i<j} m_i m_j phi(r_ij)``, ``phi`` a learned function of distance.

    ``masses``: ``(N,)`` positive. ``phi`` is ``energy_scale`` times an MLP of the features
    ``features`` of the distance: ``("1/r", "r")`` (default) or ``("r",)`` (smooth softplus
    activations). ``forward(q, masses)`` returns the pair
    energy ``(...)`` of positions ``(..., N, d)`` with node masses ``(N,)``; it is invariant
    under E(d) acting on ``q`` and under permutations of particles with their masses (checked
    by the symmetry sweep). Forces by autograd are central and pairwise opposite, so linear
    and angular momentum are conserved by any symplectic rollout, to rounding.
    """

    symmetry = Symmetry(lambda: E3() * Permutations(), ("positions", "nodes"), None,
                        note="exact for any weights; distances must be non-zero (phi uses 1/r)")

    FEATURES = ("1/r", "r")

    def __init__(self, masses, *, hidden: int = 32, layers: int = 2, energy_scale: float = 1.0,
                 features=("1/r", "r"), dtype=None, device=None, generator=None):
        super().__init__()
        self.energy_scale = _positive_float("energy_scale", energy_scale)
        _positive_int("hidden", hidden), _positive_int("layers", layers)
        features = tuple(features) if isinstance(features, (list, tuple)) else features
        if not isinstance(features, tuple) or not features or any(f not in self.FEATURES for f in features) \
                or len(set(features)) != len(features):
            raise ValueError(f"features={features!r} must be a non-empty tuple of distinct names from "
                             f"{self.FEATURES}, e.g. ('1/r', 'r') or ('r',)")
        self.features = features
        self.register_buffer("masses", _check_masses(masses, dtype=dtype, device=device))
        self.phi = mlp([len(features)] + [hidden] * layers + [1], dtype=dtype, device=device, generator=generator)

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        model = cls(torch.rand(5, generator=generator) + 0.5, hidden=8, generator=generator).to(dtype)
        q = torch.randn(5, 3, generator=generator).to(dtype)
        return model, (q, model.masses)

    def check_state(self, q, p):
        if q.dim() < 2 or q.shape[-2] != self.masses.numel():
            raise ValueError(f"q has shape {tuple(q.shape)} but the model has {self.masses.numel()} masses; "
                             f"use q, p of shape (..., {self.masses.numel()}, d)")
        r, (i, j) = self.pair_distances(q.detach())
        if (r == 0).any():
            k = int((r == 0).nonzero()[0, -1])
            raise ValueError(f"particles {int(i[k])} and {int(j[k])} are at the same position; phi uses 1/r, "
                             "so separate them")

    def twin(self, dim: int = 3, *, energy_scale: float = 1.0, pair_features: bool = False,
             generator=None) -> HamiltonianNet:
        """The unconstrained twin: a :class:`HamiltonianNet` with the same masses (known kinetic
        energy) and an MLP ``V(q)`` of all ``N * dim`` coordinates (and, with ``pair_features``, the
        inverse distances), its width chosen so its parameter count is closest to this model's.
        Same interface, no symmetry built in.
        """
        target = count_parameters(self)
        n, layers = self.masses.numel(), len(self.phi) // 2
        dtype, device = self.masses.dtype, self.masses.device
        inputs = n * dim + (n * (n - 1) // 2 if pair_features else 0)

        def size(h):
            return inputs * h + h + (layers - 1) * (h * h + h) + h + 1

        hidden = min(range(1, 4097), key=lambda h: abs(size(h) - target))
        return HamiltonianNet(n, dim, masses=self.masses, hidden=hidden, layers=layers, energy_scale=energy_scale,
                              pair_features=pair_features, dtype=dtype, device=device, generator=generator)

    def pair_distances(self, q):
        """Distances ``r_ij`` for ``i < j``: ``(..., N, d) -> (..., N(N-1)/2)``, and the pair indices."""
        n = q.shape[-2]
        i, j = torch.triu_indices(n, n, 1, device=q.device)
        diff = q[..., i, :] - q[..., j, :]
        return (diff * diff).sum(-1).sqrt(), (i, j)

    def forward(self, q: torch.Tensor, masses: torch.Tensor | None = None) -> torch.Tensor:
        if isinstance(q, torch.Tensor) and q.grad_fn is None:  # user input (states inside a rollout: unchecked)
            check_tensor(q, "q", floating=True)
        masses = self.masses if masses is None else masses
        r, (i, j) = self.pair_distances(q)
        w = self.phi[0].weight
        feats = torch.stack([r.reciprocal() if f == "1/r" else r for f in self.features], -1).to(w.dtype)
        phi = self.energy_scale * self.phi(feats).squeeze(-1).to(q.dtype)
        mm = (masses[i] * masses[j]).to(q.dtype)
        return (mm * phi).sum(-1)

    def potential(self, q):
        return self(q)

    def kinetic(self, p):
        return 0.5 * ((p * p).sum(-1) / self.masses.to(p.dtype)).sum(-1)

    def grad_kinetic(self, p):
        return p / self.masses.to(p.dtype)[:, None]


@renamed_kwargs(iterations="steps")
def train_one_step(model: HamiltonianSystem, q_in, p_in, q_out, p_out, dt: float, *, substeps: int = 1,
                   method: str = "leapfrog", steps: int = 500, batch_size: int = 256, lr: float = 3e-3,
                   generator: torch.Generator | None = None, seed: int = 0, log_every: int = 1,
                   time_limit_s: float | None = None, **trainer_kwargs) -> list[float]:
    """Fit a learned Hamiltonian to snapshot pairs by backpropagating through ``substeps`` steps of ``method``.

    ``q_in, p_in, q_out, p_out``: ``(M, N, d)``, ``(q_out, p_out)`` the state ``dt`` after
    ``(q_in, p_in)``. Loss: mean squared error of the predicted state, the error of each
    particle's ``q`` and ``p`` scaled by the standard deviation of that particle's true change
    (so a light outer planet counts as much as the star). Runs ``steps`` optimiser steps of
    :class:`equigen.train.Trainer` (AdamW without weight decay, cosine decay of ``lr``, shuffled
    mini-batches seeded by ``seed``, or by a draw from ``generator`` when one is given); other keyword
    arguments go to the Trainer (``out_dir`` and ``checkpoint_every`` for resumable runs,
    ``device``, ``clip_grad_norm``, ``ema_decay``, ...). ``time_limit_s`` also stops training after
    that many wall-clock seconds (the cosine schedule still spans ``steps``). Returns the mean
    loss of every ``log_every`` steps (one value per step by default: its length is the
    number of steps run).
    """
    from equigen.train import Trainer

    if q_in.shape != p_in.shape or q_in.shape != q_out.shape or q_out.shape != p_out.shape:
        raise ValueError("q_in, p_in, q_out, p_out must have equal shapes (M, N, d)")
    for name, v in (("q_in", q_in), ("p_in", p_in), ("q_out", q_out), ("p_out", p_out)):
        check_finite(v, name, fix="drop or repair those samples before training")
    for name, v in (("substeps", substeps), ("steps", steps), ("batch_size", batch_size),
                    ("log_every", log_every)):
        _positive_int(name, v)
    _positive_float("lr", lr)
    if generator is not None:
        seed = int(torch.randint(0, 2**31 - 1, (), generator=generator))
    dtype = next(model.parameters()).dtype
    q_in, p_in, q_out, p_out = (x.to(dtype) for x in (q_in, p_in, q_out, p_out))
    # each particle's error in units of its own typical change (light bodies count as much as heavy ones)
    sq = (q_out - q_in).std(dim=(0, -1), keepdim=True).clamp_min(1e-12)
    sp = (p_out - p_in).std(dim=(0, -1), keepdim=True).clamp_min(1e-12)
    trainer_kwargs.setdefault("progress", False)
    trainer_kwargs.setdefault("distributed", False)

    def loss_fn(m, batch):
        qi, pi, qo, po = batch
        q, p = integrate(m, qi, pi, dt / substeps, substeps, method=method, save_every=substeps)
        return (((q[-1] - qo) / sq.to(q.device)) ** 2).mean() + (((p[-1] - po) / sp.to(p.device)) ** 2).mean()

    trainer = Trainer(model, loss_fn, lr=lr, schedule="cosine", seed=seed, log_every=log_every, **trainer_kwargs)
    trainer.fit((q_in, p_in, q_out, p_out), steps=steps, batch_size=min(batch_size, q_in.shape[0]),
                time_limit_s=time_limit_s)
    return [r["loss"] for r in trainer.history if "loss" in r]
