"""E(n)-equivariant diffusion for point sets (EDM-style), and its unconstrained twin.

A sample is a configuration ``x (N, n)`` of ``N`` points in ``n`` dimensions; a batch is
``(B, N, n)``. Noise lives in the zero-centre-of-mass subspace (the diffusion core's
``project`` is :func:`~equigen.data.particles.remove_com`), and the denoiser predicts the noise
with an :class:`~equigen.nn.EGNN` on the complete graph of each configuration. Then:

* the denoiser is E(n) x permutation equivariant (``eps(g x_t) = R eps(x_t)``, permuted rows);
* the sampler maps rotated and permuted initial and step noise to the rotated and permuted
  sample (exactly, for a fixed seed), so the learned density is invariant by construction
  (Hoogeboom, Satorras, Vignac & Welling 2022, "Equivariant diffusion for molecule generation
  in 3D").

:class:`PointDiffusion` takes any denoiser ``(x_t (B, N, n), t (B,)) -> eps (B, N, n)``;
:func:`egnn_denoiser` and :func:`mlp_denoiser` build the equivariant one and the unconstrained
twin (an MLP on the flattened coordinates, optionally trained with random-rotation
augmentation). :meth:`PointDiffusion.nll` estimates the negative log-likelihood with the
probability-flow ODE and a Hutchinson trace estimator, in nats per configuration on the
``(N - 1) n``-dimensional CoM-free subspace.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from equigen._configurable import configurable
from equigen.core.deprecation import renamed_kwargs
from equigen.core.dtypes import learning_dtype
from equigen.core.validation import check_positive_float, check_positive_int, check_tensor
from equigen.data.particles import remove_com
from equigen.generative.base import GenerativeModel, check_data, check_num_samples, mlp
from equigen.generative.diffusion import Diffusion, timestep_embedding
from equigen.geometry import safe_norm
from equigen.groups import E, Permutations, haar_orthogonal
from equigen.nn import EGNN
from equigen.symmetry import Symmetry

__all__ = ["EGNNDenoiser", "MLPDenoiser", "PointDiffusion", "dense_egnn", "egnn_denoiser", "mlp_denoiser"]


def _complete_graph(num_graphs: int, n: int, device) -> torch.Tensor:
    """Directed edges ``i != j`` within each of ``num_graphs`` graphs of ``n`` nodes: ``(2, B n (n-1))``."""
    i, j = torch.meshgrid(torch.arange(n, device=device), torch.arange(n, device=device), indexing="ij")
    keep = i != j
    offsets = (torch.arange(num_graphs, device=device) * n)[:, None]
    src = (j[keep][None] + offsets).reshape(-1)
    dst = (i[keep][None] + offsets).reshape(-1)
    return torch.stack([src, dst])


def dense_egnn(egnn: EGNN, h: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """``egnn``'s positions output on the complete graph of each configuration, with dense tensors.

    The same function as ``egnn(h, pos, complete graph)[1]`` (same weights, same maths), computed
    on ``(B, N, N, H)`` edge tensors instead of gathered edge lists: the first linear map of each
    message MLP is split into its ``h_i``, ``h_j`` and ``|x_i - x_j|^2`` parts and applied per node,
    and the sums over neighbours are plain reductions. Several times faster for small ``N`` on CPU.
    Shapes: ``h (B, N, F)``, ``pos (B, N, n)`` -> ``(B, N, n)``. Symmetry: E(n) x permutations.
    """
    b, n, _ = pos.shape
    off = 1.0 - torch.eye(n, dtype=pos.dtype, device=pos.device)[None, :, :, None]  # no self-edges
    h = egnn.embed(h)
    for layer in egnn.layers:
        f = layer.in_features
        first, rest = layer.phi_e[0], layer.phi_e[1:]
        w = first.weight
        diff = pos[:, :, None, :] - pos[:, None, :, :]  # x_i - x_j, (B, N, N, n)
        d2 = (diff * diff).sum(-1, keepdim=True)
        pre = ((h @ w[:, :f].T)[:, :, None, :] + (h @ w[:, f:2 * f].T)[:, None, :, :]
               + d2 * w[:, 2 * f] + first.bias)
        m = rest(pre) * off
        agg = m.sum(2) / layer.message_norm
        h_new = layer.phi_h(torch.cat([h, agg], dim=-1))
        h_new = h + h_new if layer.out_features == layer.in_features else h_new
        if layer.update_pos:
            unit = diff / (safe_norm(diff, keepdim=True) + layer.norm_constant)
            step = unit * (layer.coords_range * torch.tanh(layer.phi_x(m))) * off
            pos = pos + step.sum(2) / max(n - 1, 1)
        h = h_new
    return pos


@configurable
class EGNNDenoiser(nn.Module):
    """Noise prediction ``eps (B, N, n)`` from ``x_t (B, N, n)`` and steps ``t (B,)`` with an EGNN.

    Node features: a sinusoidal embedding of ``t`` (``time_features`` wide) and, optionally,
    fixed per-particle features ``node_features (N, F)`` (atom types). The prediction is the
    EGNN's position update ``pos_out - x_t`` with the centre of mass removed. ``dense`` (default)
    evaluates the EGNN with :func:`dense_egnn` (same result, faster) on ``chunk`` configurations at
    a time; ``False`` uses edge lists.

    Symmetry: E(n) x permutations (``x_t`` positions -> ``eps`` vectors), for identical particles.
    """

    symmetry = Symmetry(lambda: E(3) * Permutations(), ("positions",), ("vectors",),
                        note="checked on one configuration (N, n) at a fixed step t")

    def __init__(self, dim: int, *, num_steps: int = 1000, hidden: int = 64, num_layers: int = 4,
                 time_features: int = 16, node_features: torch.Tensor | None = None, dense: bool = True,
                 coords_range: float = 1.0, chunk: int = 100, dtype=None, device=None):
        super().__init__()
        self.dense, self.chunk = bool(dense), check_positive_int(chunk, "chunk")  # configurations per evaluation
        check_positive_int(dim, "dim")
        self.dim, self.num_steps, self.time_features = dim, num_steps, time_features
        extra = 0 if node_features is None else node_features.shape[-1]
        self.register_buffer("node_features", None if node_features is None else node_features.to(dtype))
        self.egnn = EGNN(time_features + extra, hidden, 1, num_layers, coords_range=coords_range, dtype=dtype,
                         device=device)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        b, n, d = x_t.shape
        emb = timestep_embedding(t, self.time_features, self.num_steps, dtype=x_t.dtype).to(x_t.device)
        h = emb[:, None, :].expand(b, n, self.time_features)
        if self.node_features is not None:
            h = torch.cat([h, self.node_features.to(x_t)[None].expand(b, n, -1)], dim=-1)
        if self.dense:  # chunks of configurations: the edge tensors stay small (faster on CPU), same result
            c = self.chunk
            out = torch.cat([dense_egnn(self.egnn, h[i:i + c], x_t[i:i + c]) for i in range(0, b, c)]) if b else x_t
            return remove_com(out - x_t)
        pos = x_t.reshape(b * n, d)
        _, pos_out = self.egnn(h.reshape(b * n, -1), pos, _complete_graph(b, n, x_t.device))
        return remove_com((pos_out - pos).reshape(b, n, d))

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            net = cls(3, num_steps=100, hidden=16, num_layers=2, dtype=dtype)
        pos = torch.randn(5, 3, generator=generator, dtype=torch.float64).to(dtype)
        t = torch.tensor([37])
        return (lambda x: net(x[None], t)[0]), (pos,)


@configurable
class MLPDenoiser(nn.Module):
    """Unconstrained twin: an MLP on flattened coordinates and the step embedding -> ``eps``.

    No symmetry is built in (the CoM is removed from the output so the chain stays in the same
    subspace as the equivariant model's).
    """

    def __init__(self, num_particles: int, dim: int, *, num_steps: int = 1000, hidden: int = 128,
                 num_layers: int = 3, time_features: int = 16, dtype=None, device=None):
        super().__init__()
        self.num_particles, self.dim, self.num_steps, self.time_features = num_particles, dim, num_steps, time_features
        self.net = mlp(num_particles * dim + time_features, num_particles * dim, hidden, num_layers,
                       dtype=dtype, device=device)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        b = x_t.shape[0]
        emb = timestep_embedding(t, self.time_features, self.num_steps, dtype=x_t.dtype).to(x_t.device)
        out = self.net(torch.cat([x_t.reshape(b, -1), emb], dim=-1))
        return remove_com(out.reshape(x_t.shape))


def egnn_denoiser(num_particles: int, dim: int, **kwargs) -> EGNNDenoiser:
    """The equivariant denoiser (``num_particles`` unused: the EGNN works for any ``N``)."""
    return EGNNDenoiser(dim, **kwargs)


def mlp_denoiser(num_particles: int, dim: int, **kwargs) -> MLPDenoiser:
    return MLPDenoiser(num_particles, dim, **kwargs)


@configurable
class PointDiffusion(GenerativeModel):
    """Diffusion over configurations ``(N, n)`` in the zero-CoM subspace with a given denoiser.

    Args:
        num_particles, dim: ``N`` and ``n``.
        denoiser: ``"egnn"`` (default), ``"mlp"`` or an ``nn.Module`` ``(x_t, t, cond) -> eps``.
        augment: train on randomly rotated (and reflected with ``improper=True``) copies of each
            batch (for the unconstrained twin; the equivariant model does not need it).
        num_steps, schedule, objective, t_power: of the diffusion core. ``"v"`` (default) keeps the
            prediction of ``x_0`` bounded at the noisiest steps, where ``"eps"`` divides by
            ``sqrt(abar_T)`` (~1e-4 for the cosine schedule) and amplifies errors.
        **denoiser_kwargs: go to the denoiser's constructor.

    Data are divided by one scalar, ``data_scale`` (the RMS distance of points from their centre
    of mass in the training data divided by ``signal``, set by :meth:`fit`), so that the scaled
    configurations have RMS radius ``signal`` in units of the noise; ``signal > 1`` raises every
    step's signal-to-noise ratio by ``signal^2`` (a shift of the noise schedule towards fine
    structure). A scalar commutes with every rotation and permutation, so no symmetry is lost.

    ``fit(data (M, N, n), ...)`` (shared interface, trainer-driven), ``sample(k, *, generator,
    noise, step_noise, steps, sampler)`` -> ``(k, N, n)``, ``nll(x, ...)`` -> ``(M,)``.
    """

    def __init__(self, num_particles: int, dim: int, *, denoiser="egnn", augment: bool = False,
                 num_steps: int = 1000, schedule: str = "cosine", objective: str = "v", t_power: float = 1.0,
                 signal: float = 1.0, dtype=None, device=None, **denoiser_kwargs):
        super().__init__()
        for name, v in (("num_particles", num_particles), ("dim", dim)):
            check_positive_int(v, name)
        signal = check_positive_float(signal, "signal")  # the data's RMS radius in noise units
        self.num_particles, self.dim, self.augment, self.signal = num_particles, dim, augment, signal
        self.event_shape = (num_particles, dim)
        self.diffusion = Diffusion(schedule, num_steps=num_steps, objective=objective, project=remove_com,
                                   t_power=t_power)
        self.register_buffer("data_scale", torch.ones((), dtype=learning_dtype(dtype), device=device))
        if isinstance(denoiser, str):
            builders = {"egnn": egnn_denoiser, "mlp": mlp_denoiser}
            if denoiser not in builders:
                raise ValueError(f"denoiser={denoiser!r} must be 'egnn', 'mlp' or an nn.Module")
            denoiser = builders[denoiser](num_particles, dim, num_steps=num_steps, dtype=dtype, device=device,
                                          **denoiser_kwargs)
        self.denoiser = denoiser

    def _check(self, x: torch.Tensor, argument: str = "x") -> torch.Tensor:
        return check_data(x, self.event_shape, like=self, argument=argument)

    def training_loss(self, x0: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Denoising MSE on centred, scaled (and, with ``augment``, randomly rotated) configurations."""
        check_tensor(x0, "x0", shape=(None, *self.event_shape), floating=True, like=self)
        x0 = remove_com(x0) / self.data_scale
        if self.augment:
            rot = haar_orthogonal(self.dim, proper=True, size=(x0.shape[0],), generator=generator,
                                  dtype=x0.dtype).to(x0.device)
            x0 = x0 @ rot.transpose(-1, -2)
        return self.diffusion.training_loss(self.denoiser, x0, generator=generator)

    def set_scale(self, data: torch.Tensor) -> torch.Tensor:
        """Set ``data_scale`` from configurations ``(M, N, n)``; returns them centred."""
        data = remove_com(self._check(data, "data"))
        self.data_scale.fill_(float(data.pow(2).sum(-1).mean().sqrt()) / self.signal)
        return data

    def fit(self, data, **kwargs) -> dict:
        """Train on configurations ``(M, N, n)`` (see :meth:`GenerativeModel.fit`); sets ``data_scale``."""
        return super().fit(self.set_scale(data), **kwargs)

    @renamed_kwargs(n="num_samples")
    @torch.no_grad()
    def sample(self, num_samples: int, *, generator: torch.Generator | None = None, cond=None, sampler: str = "ddpm",
               steps: int | None = None, noise: torch.Tensor | None = None, step_noise=None) -> torch.Tensor:
        """``num_samples`` configurations ``(num_samples, N, dim)`` with zero centre of mass.

        ``sampler``: ``"ddpm"`` (ancestral, ``steps`` defaults to all) or ``"ddim"`` (deterministic,
        ``steps`` default 50). ``noise``/``step_noise`` as in the diffusion core.
        """
        if cond is not None:
            raise ValueError("PointDiffusion is unconditional: cond must be None")
        n = check_num_samples(num_samples)
        p = self._first_param()
        shape = (n, *self.event_shape)
        if sampler not in ("ddpm", "ddim"):
            raise ValueError(f"sampler={sampler!r} must be 'ddpm' or 'ddim'")
        if n == 0 and noise is None:  # nothing to draw: an empty batch of the right shape and dtype
            return torch.zeros(shape, dtype=p.dtype, device=p.device)
        if sampler == "ddpm":
            x = self.diffusion.sample_ddpm(self.denoiser, shape, steps=steps, generator=generator, noise=noise,
                                           step_noise=step_noise, dtype=p.dtype, device=p.device)
        elif sampler == "ddim":
            x = self.diffusion.sample_ddim(self.denoiser, shape, steps=steps or 50, generator=generator,
                                           noise=noise, dtype=p.dtype, device=p.device)
        else:
            raise ValueError(f"sampler={sampler!r} must be 'ddpm' or 'ddim'")
        return x * self.data_scale

    def nll(self, x: torch.Tensor, *, steps: int = 100, probes: int = 1,
            generator: torch.Generator | None = None) -> torch.Tensor:
        """Negative log-likelihood (nats) of configurations ``x (M, N, n)`` on the CoM-free subspace.

        Integrates the probability-flow ODE ``dx/dt = f(x, t)`` from data to noise with ``steps``
        Euler steps (in the diffusion's continuous time, the step grid of ``num_steps``), the
        divergence estimated with ``probes`` Hutchinson probes (Rademacher, projected to zero
        CoM), and the prior a standard Gaussian on the ``(N - 1) n``-dimensional subspace.
        Dequantisation is not needed: data are continuous.
        """
        steps = check_positive_int(steps, "steps")
        probes = check_positive_int(probes, "probes")
        x = remove_com(self._check(x)) / self.data_scale
        ab = self.diffusion.schedule.alpha_bars.to(dtype=x.dtype, device=x.device)
        grid = torch.linspace(0, self.diffusion.num_steps - 1, steps + 1).round().long()
        dof = (self.num_particles - 1) * self.dim
        logdet = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        # Variance-preserving probability-flow ODE in the variable s = log abar (decreasing):
        # dx/ds = x/2 + score/2 = x/2 - eps / (2 sqrt(1 - abar)); log p0 = log pT + int div f ds.
        for k in range(steps):
            t0, t1 = int(grid[k]), int(grid[k + 1])
            if t1 == t0:
                continue
            dlog = float(torch.log(ab[t1]) - torch.log(ab[t0]))
            tt = torch.full((x.shape[0],), t0, dtype=torch.long, device=x.device)
            s1 = float((1 - ab[t0]).sqrt())
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                _, eps = self.diffusion.predict(self.denoiser(xg, tt, None), xg, tt)
                drift = 0.5 * xg - 0.5 * eps / s1
                div = torch.zeros_like(logdet)
                for _ in range(probes):
                    v = remove_com(torch.randint(0, 2, x.shape, generator=generator).to(x) * 2 - 1)
                    (g,) = torch.autograd.grad((drift * v).sum(), xg, retain_graph=True)
                    div = div + (g * v).sum(dim=(-2, -1)) / probes
            x = (x + dlog * drift).detach()
            logdet = logdet + dlog * div.detach()
        log_prior = -0.5 * x.pow(2).sum(dim=(-2, -1)) - 0.5 * dof * math.log(2 * math.pi)
        return -(log_prior + logdet) + dof * torch.log(self.data_scale)
