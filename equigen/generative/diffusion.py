"""Diffusion core: noise schedules, the training objective and DDPM / DDIM samplers.

Independent of the denoiser and of the data's shape. A *sample* is a slice ``x[b]`` of a
tensor whose first axis indexes samples -- fields ``(B, C, *spatial)``, vectors ``(B, D)`` --
or, for point sets with a varying number of points, rows of ``(N, 3)`` (or ``(N, F)``) grouped
by a PyG-style ``batch`` vector ``(N,)`` with values ``0..B-1``. Coefficients that depend on
the time step are broadcast per sample (``coef[t][batch]`` for point sets).

The denoiser is any callable ``denoiser(x_t, t, cond) -> prediction`` of ``x_t``'s shape,
where ``t`` is a ``torch.long`` tensor ``(B,)`` of time steps in ``0..T-1`` (the noise level
of each sample) and ``cond`` is passed through untouched (``None`` when unconditional;
conditioning of fields by channel concatenation lives in the denoiser, e.g.
:class:`~equigen.generative.field_diffusion.FieldDenoiser`). It predicts, by ``objective``:

* ``"eps"``: the noise ``eps`` in ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``;
* ``"v"``: the velocity ``v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0``;
* ``"x0"``: the clean sample.

``project`` (optional) is a *linear orthogonal projection* onto a constraint subspace, e.g. zero
mean, zero centre of mass (point sets), zero boundary values (Dirichlet) or a band limit. It
is applied to every noise draw (initial and per step, given or generated), and to every
prediction of ``x_0``: the whole sampling chain then stays inside the subspace, so the samples
satisfy the constraint exactly (to rounding; exactly 0 where the projection writes zeros).

Samplers take their randomness from an explicit ``generator`` or as given tensors:
``noise`` (the initial ``x_T``, of the output's shape) and ``step_noise`` (a tensor ``(S - 1,
*shape)``, a sequence of ``S - 1`` tensors or a callable ``i -> tensor``, for the ``S - 1``
stochastic transitions of an ``S``-step chain; none are drawn by DDIM with ``eta = 0``). With
given noise the sampler is a deterministic function of ``(cond, noise, step_noise)``, so a
test can act with a group element on all of them and check that the sample transforms alike.

Symmetry: the samplers are equivariant under any group acting linearly on samples and noise
(shifts, rotations, permutations...) for which the denoiser is equivariant (and which commutes
with ``project``): every step is a linear combination of ``x_t``, the prediction and the noise.

Example::

    >>> import torch
    >>> from equigen.generative.diffusion import Diffusion
    >>> diff = Diffusion("cosine", num_steps=100)
    >>> denoiser = lambda x, t, cond: torch.zeros_like(x)      # predicts eps = 0
    >>> x = diff.sample_ddim(denoiser, (2, 1, 8, 8), steps=10, generator=torch.Generator().manual_seed(0))
    >>> x.shape
    torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from equigen.core.dtypes import learning_dtype
from equigen.core.validation import (
    check_finite,
    check_int,
    check_non_negative_float,
    check_positive_float,
    check_positive_int,
    check_probability,
)

__all__ = ["NoiseSchedule", "Diffusion", "OBJECTIVES", "timestep_embedding", "spaced_timesteps"]

OBJECTIVES = ("eps", "v", "x0")


class NoiseSchedule:
    """The forward noising schedule: ``betas`` (T,), ``alphas = 1 - betas``, ``alpha_bars = cumprod(alphas)``.

    Stored in float64 (cast to the data's dtype where used). Build with :meth:`linear` (Ho et al.
    2020: ``beta`` from 1e-4 to 0.02 at ``T = 1000``, rescaled by ``1000 / T``) or :meth:`cosine`
    (Nichol & Dhariwal 2021: ``abar(t) = cos^2(((t / T + s) / (1 + s)) pi / 2)``, betas capped).
    """

    def __init__(self, betas, *, name: str = "custom"):
        betas = torch.as_tensor(betas, dtype=torch.float64).detach().clone()
        if betas.dim() != 1 or betas.numel() < 1:
            raise ValueError(f"betas must be a 1-D tensor with at least one step, got shape {tuple(betas.shape)}")
        if not torch.isfinite(betas).all() or bool((betas <= 0).any()) or bool((betas >= 1).any()):
            raise ValueError("betas must lie in (0, 1) (noise variance added per step), got values in "
                             f"[{float(betas.min()):.3g}, {float(betas.max()):.3g}]")
        self.name = name
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alpha_bars = torch.cumprod(self.alphas, 0)

    @property
    def num_steps(self) -> int:
        return int(self.betas.numel())

    @classmethod
    def linear(cls, num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
        """Linear betas; the defaults (given for ``T = 1000``) are rescaled by ``1000 / T``."""
        _check_steps(num_steps)
        check_probability(beta_start, "beta_start", allow_zero=False, allow_one=False)
        check_probability(beta_end, "beta_end", allow_zero=False, allow_one=False)
        scale = 1000.0 / num_steps
        b0, b1 = beta_start * scale, min(beta_end * scale, 0.999)
        if not 0 < b0 <= b1 < 1:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1 after rescaling, got {b0}, {b1}")
        return cls(torch.linspace(b0, b1, num_steps, dtype=torch.float64), name="linear")

    @classmethod
    def cosine(cls, num_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
        """Cosine ``abar``; ``betas = 1 - abar_t / abar_{t-1}`` clipped to ``max_beta``."""
        _check_steps(num_steps)
        check_non_negative_float(s, "s")
        check_probability(max_beta, "max_beta", allow_zero=False, allow_one=False)
        t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(1e-8, max_beta)
        return cls(betas, name="cosine")

    @classmethod
    def make(cls, schedule, num_steps: int = 1000) -> NoiseSchedule:
        """A schedule from a name (``"linear"``, ``"cosine"``) or a :class:`NoiseSchedule` (returned as is)."""
        if isinstance(schedule, NoiseSchedule):
            return schedule
        if schedule == "linear":
            return cls.linear(num_steps)
        if schedule == "cosine":
            return cls.cosine(num_steps)
        raise ValueError(f"schedule={schedule!r} must be 'linear', 'cosine' or a NoiseSchedule")

    def snr(self, t=None) -> torch.Tensor:
        """Signal-to-noise ratio ``abar_t / (1 - abar_t)`` (all steps, or at steps ``t``)."""
        ab = self.alpha_bars if t is None else self.alpha_bars[torch.as_tensor(t, dtype=torch.long)]
        return ab / (1 - ab)

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.name}, T={self.num_steps})"


def _check_steps(num_steps):
    check_positive_int(num_steps, "num_steps")


def spaced_timesteps(num_steps: int, steps: int) -> list[int]:
    """``steps`` distinct time steps from ``T - 1`` down to 0, evenly spaced (``T = num_steps``)."""
    _check_steps(num_steps)
    check_int(steps, "steps", min=1, max=num_steps)  # at most the schedule's number of steps
    if steps == 1:
        return [num_steps - 1]
    return [round((num_steps - 1) * (1 - i / (steps - 1))) for i in range(steps)]


def timestep_embedding(t: torch.Tensor, dim: int, num_steps: int, *, dtype=None) -> torch.Tensor:
    """Sinusoidal embedding ``(B,) -> (B, dim)`` of time steps, frequencies from 1 to ~1000 per ``t / T``."""
    if dim < 2 or dim % 2:
        raise ValueError(f"dim={dim!r} must be an even int >= 2")
    half = dim // 2
    dtype = learning_dtype(dtype)
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=dtype, device=t.device) / max(half - 1, 1))
    arg = (t.to(dtype) / num_steps * 1000.0)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], -1)


class Diffusion:
    """Gaussian diffusion (DDPM) with a schedule, an objective and samplers.

    Args:
        schedule: ``"cosine"`` (default), ``"linear"`` or a :class:`NoiseSchedule`.
        num_steps: ``T`` when ``schedule`` is a name (default 1000).
        objective: ``"eps"`` (default), ``"v"`` or ``"x0"`` (module doc).
        project: optional linear orthogonal projection ``x -> P x`` onto a constraint subspace
            (module doc), e.g. ``lambda x: x - x.mean(dim=(-2, -1), keepdim=True)``.
        clip_x0: optional bound ``c``: predictions of ``x_0`` are clamped elementwise to ``[-c, c]``
            in the samplers (before ``project``). With ``objective="eps"`` the first steps divide
            by ``sqrt(abar_T)`` (about 1e-4 for the cosine schedule), amplifying the denoiser's
            error; clipping (or ``objective="v"``) keeps them bounded. Elementwise clamping commutes
            with shifts, reflections and permutations, not with rotations of vectors.
        t_power: training steps are drawn as ``floor(T u^p)``, ``u`` uniform on [0, 1): ``p = 1``
            (default) is uniform; ``p > 1`` spends more of the training on the low-noise steps, where
            fine structure (e.g. short-range repulsion between particles) is decided. Every step is
            still trained towards the same optimal denoiser; only the weighting changes.

    Methods: :meth:`q_sample` (noising), :meth:`training_loss`, :meth:`predict` (``x0`` and
    ``eps`` from a denoiser output), :meth:`sample_ddpm` (ancestral), :meth:`sample_ddim`.
    """

    def __init__(self, schedule="cosine", *, num_steps: int = 1000, objective: str = "eps",
                 project: Callable[[torch.Tensor], torch.Tensor] | None = None, clip_x0: float | None = None,
                 t_power: float = 1.0):
        self.t_power = check_positive_float(t_power, "t_power")  # 1: uniform training steps
        if clip_x0 is not None and not (isinstance(clip_x0, (int, float)) and not isinstance(clip_x0, bool)
                                        and clip_x0 > 0):
            raise ValueError(f"clip_x0={clip_x0!r} must be a positive number or None")
        self.clip_x0 = None if clip_x0 is None else float(clip_x0)
        self.schedule = NoiseSchedule.make(schedule, num_steps)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective={objective!r} must be one of {OBJECTIVES}")
        if project is not None and not callable(project):
            raise TypeError(f"project must be a callable x -> P x or None, got {type(project).__name__}")
        self.objective = objective
        self.project = project

    @property
    def num_steps(self) -> int:
        return self.schedule.num_steps

    # ------------------------------------------------------------------ helpers
    def _proj(self, x):
        return x if self.project is None else self.project(x)

    @staticmethod
    def _num_samples(x: torch.Tensor, batch: torch.Tensor | None, num_samples: int | None = None) -> int:
        if batch is None:
            return x.shape[0]
        if not isinstance(batch, torch.Tensor) or batch.dtype != torch.long or batch.shape != x.shape[:1]:
            raise ValueError(f"batch must be a torch.long tensor of shape ({x.shape[0]},) (one sample index per "
                             f"row of x), got {getattr(batch, 'shape', batch)}")
        if num_samples is not None:
            return num_samples
        return int(batch.max()) + 1 if batch.numel() else 0

    @staticmethod
    def _bcast(coef: torch.Tensor, x: torch.Tensor, batch: torch.Tensor | None) -> torch.Tensor:
        """Per-sample coefficients ``(B,)`` -> broadcastable against ``x``."""
        coef = coef.to(dtype=x.dtype, device=x.device)
        if batch is not None:
            coef = coef[batch]
        return coef.reshape(coef.shape[0], *([1] * (x.dim() - 1)))

    def _ab(self, t: torch.Tensor) -> torch.Tensor:
        """``abar`` at steps ``t`` (long); ``t = -1`` means no noise (``abar = 1``)."""
        ab = torch.cat([torch.ones(1, dtype=torch.float64), self.schedule.alpha_bars])
        return ab[(t + 1).cpu()]

    def _check_t(self, t, n: int) -> torch.Tensor:
        if isinstance(t, int) and not isinstance(t, bool):
            t = torch.full((n,), t, dtype=torch.long)
        if not isinstance(t, torch.Tensor) or t.dtype != torch.long or t.shape != (n,):
            raise ValueError(f"t must be an int or a torch.long tensor of shape ({n},) (one time step per sample), "
                             f"got {getattr(t, 'dtype', type(t).__name__)} {tuple(getattr(t, 'shape', ()))}")
        if n and (int(t.min()) < 0 or int(t.max()) >= self.num_steps):
            raise ValueError(f"t must lie in 0..{self.num_steps - 1}, got values in {int(t.min())}..{int(t.max())}")
        return t

    # ------------------------------------------------------------------ forward process
    def q_sample(self, x0: torch.Tensor, t, noise: torch.Tensor, *, batch=None) -> torch.Tensor:
        """``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise`` (``noise`` used as given)."""
        n = self._num_samples(x0, batch)
        t = self._check_t(t, n)
        ab = self._ab(t)
        return self._bcast(ab.sqrt(), x0, batch) * x0 + self._bcast((1 - ab).sqrt(), x0, batch) * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t, *, batch=None) -> torch.Tensor:
        """What the denoiser should output for ``(x0, noise, t)`` under the objective."""
        if self.objective == "eps":
            return noise
        if self.objective == "x0":
            return x0
        t = self._check_t(t, self._num_samples(x0, batch))
        ab = self._ab(t)
        return self._bcast(ab.sqrt(), x0, batch) * noise - self._bcast((1 - ab).sqrt(), x0, batch) * x0

    def predict(self, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, *, batch=None, clip: bool = False):
        """``(x0_hat, eps_hat)`` from a denoiser output; ``x0_hat`` clipped (``clip`` and ``clip_x0``), projected."""
        ab = self._ab(t)
        sa, s1 = self._bcast(ab.sqrt(), x_t, batch), self._bcast((1 - ab).sqrt(), x_t, batch)
        if self.objective == "eps":
            x0 = (x_t - s1 * out) / sa
        elif self.objective == "v":
            x0 = sa * x_t - s1 * out
        else:
            x0 = out
        if clip and self.clip_x0 is not None:
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
        x0 = self._proj(x0)
        eps = (x_t - sa * x0) / s1
        return x0, eps

    def training_loss(self, denoiser, x0: torch.Tensor, cond=None, *, generator: torch.Generator | None = None,
                      batch: torch.Tensor | None = None, num_samples: int | None = None) -> torch.Tensor:
        """Mean squared error of the denoiser's prediction at a random step per sample (scalar).

        ``t`` is uniform on ``0..T-1`` (``floor(T u^p)`` with ``t_power = p``) and the noise standard
        normal (then projected), both drawn from ``generator`` on the CPU (reproducible on every device).
        """
        check_finite(x0, "x0", fix="clean the data before training")
        n = self._num_samples(x0, batch, num_samples)
        if self.t_power == 1.0:
            t = torch.randint(0, self.num_steps, (n,), generator=generator)
        else:
            u = torch.rand((n,), generator=generator, dtype=torch.float64)
            t = (u.pow(self.t_power) * self.num_steps).long().clamp(max=self.num_steps - 1)
        t = t.to(x0.device)
        noise = self._proj(torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device))
        x_t = self.q_sample(x0, t, noise, batch=batch)
        out = denoiser(x_t, t, cond)
        if out.shape != x0.shape:
            raise ValueError(f"the denoiser returned shape {tuple(out.shape)} for x_t of shape {tuple(x0.shape)}")
        return (out - self.target(x0, noise, t, batch=batch)).pow(2).mean()

    # ------------------------------------------------------------------ samplers
    def _initial(self, shape, noise, generator, dtype, device):
        if noise is not None:
            if not isinstance(noise, torch.Tensor):
                raise TypeError(f"noise must be a tensor (the initial x_T), got {type(noise).__name__}")
            if shape is not None and tuple(noise.shape) != tuple(shape):
                raise ValueError(f"noise has shape {tuple(noise.shape)} but shape={tuple(shape)}")
            check_finite(noise, "noise")
            return self._proj(noise)
        if shape is None:
            raise ValueError("give shape (the output's shape) or noise (the initial x_T)")
        dtype = learning_dtype(dtype)
        return self._proj(torch.randn(tuple(shape), generator=generator, dtype=dtype).to(device))

    @staticmethod
    def _step_noises(step_noise, count: int, like: torch.Tensor, generator):
        if step_noise is None:
            def draw(i):
                return torch.randn(like.shape, generator=generator, dtype=like.dtype).to(like.device)
            return draw
        if callable(step_noise):
            return step_noise
        if isinstance(step_noise, torch.Tensor):
            if step_noise.shape[1:] != like.shape or step_noise.shape[0] != count:
                raise ValueError(f"step_noise must have shape ({count}, *{tuple(like.shape)}) (one noise per "
                                 f"stochastic step), got {tuple(step_noise.shape)}")
        elif isinstance(step_noise, Sequence):
            if len(step_noise) != count:
                raise ValueError(f"step_noise has {len(step_noise)} tensors but this chain takes {count}")
        else:
            raise TypeError("step_noise must be a tensor (steps - 1, *shape), a sequence of tensors or a callable")
        return lambda i: step_noise[i]

    def _run(self, denoiser, cond, x, timesteps, batch, num_samples, step, noises):
        n = self._num_samples(x, batch, num_samples)
        for i, t in enumerate(timesteps):
            t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
            tt = torch.full((n,), t, dtype=torch.long, device=x.device)
            out = denoiser(x, tt, cond)
            if out.shape != x.shape:
                raise ValueError(f"the denoiser returned shape {tuple(out.shape)} for x_t of shape {tuple(x.shape)}")
            x0, eps = self.predict(out, x, tt, batch=batch, clip=True)
            z = None
            if t_prev >= 0:
                z = noises(i)
                if z is not None:
                    z = self._proj(z.to(dtype=x.dtype, device=x.device))
            x = step(x, x0, eps, t, t_prev, z)
        return x

    @torch.no_grad()
    def sample_ddpm(self, denoiser, shape=None, cond=None, *, steps: int | None = None, generator=None,
                    noise=None, step_noise=None, variance: str = "posterior", batch=None, num_samples=None,
                    dtype=None, device=None) -> torch.Tensor:
        """Ancestral sampling ``x_T -> x_0`` (stochastic; ``steps`` defaults to all ``T``).

        With ``steps < T`` the chain runs on evenly spaced steps with the respaced betas
        ``1 - abar_t / abar_prev``. ``variance``: ``"posterior"`` (``beta_tilde``, default) or
        ``"beta"``. Uses ``steps - 1`` step noises (the last transition returns the mean).
        Returns a tensor of ``shape`` (or ``noise``'s shape).
        """
        if variance not in ("posterior", "beta"):
            raise ValueError(f"variance={variance!r} must be 'posterior' or 'beta'")
        timesteps = spaced_timesteps(self.num_steps, self.num_steps if steps is None else steps)
        x = self._initial(shape, noise, generator, dtype, device)
        noises = self._step_noises(step_noise, len(timesteps) - 1, x, generator)
        abar = self._ab

        def step(x, x0, eps, t, t_prev, z):
            ab_t = float(abar(torch.tensor([t]))[0])
            ab_p = float(abar(torch.tensor([t_prev]))[0])
            beta = 1 - ab_t / ab_p
            mean = (math.sqrt(ab_p) * beta / (1 - ab_t)) * x0 + (math.sqrt(1 - beta) * (1 - ab_p) / (1 - ab_t)) * x
            if t_prev < 0:
                return mean
            var = beta * (1 - ab_p) / (1 - ab_t) if variance == "posterior" else beta
            return mean + math.sqrt(var) * z

        return self._run(denoiser, cond, x, timesteps, batch, num_samples, step, noises)

    @torch.no_grad()
    def sample_ddim(self, denoiser, shape=None, cond=None, *, steps: int = 50, eta: float = 0.0, generator=None,
                    noise=None, step_noise=None, batch=None, num_samples=None, dtype=None,
                    device=None) -> torch.Tensor:
        """DDIM sampling on ``steps`` evenly spaced time steps; deterministic for ``eta = 0``.

        ``eta = 1`` gives the ancestral variance. Uses ``steps - 1`` step noises when ``eta > 0``.
        """
        eta = check_non_negative_float(eta, "eta")  # 0: deterministic DDIM
        timesteps = spaced_timesteps(self.num_steps, steps)
        x = self._initial(shape, noise, generator, dtype, device)
        noises = (self._step_noises(step_noise, len(timesteps) - 1, x, generator) if eta > 0
                  else (lambda i: None))
        abar = self._ab

        def step(x, x0, eps, t, t_prev, z):
            ab_t = float(abar(torch.tensor([t]))[0])
            ab_p = float(abar(torch.tensor([t_prev]))[0])
            if t_prev < 0:
                return x0
            sigma = eta * math.sqrt((1 - ab_p) / (1 - ab_t) * (1 - ab_t / ab_p))
            out = math.sqrt(ab_p) * x0 + math.sqrt(max(1 - ab_p - sigma**2, 0.0)) * eps
            return out + sigma * z if sigma > 0 else out

        return self._run(denoiser, cond, x, timesteps, batch, num_samples, step, noises)

    def __repr__(self) -> str:
        return f"Diffusion({self.schedule!r}, objective={self.objective!r}, project={self.project is not None})"
