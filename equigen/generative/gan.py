"""Generative adversarial network on vectors: a deterministic generator ``x = G(z)`` and a critic.

The generator pushes the latent distribution ``N(0, I_{d_z})`` forward through a smooth map, so its
samples lie on (the image of) a ``d_z``-dimensional set: their correlation dimension cannot exceed
``d_z``. That is what makes a GAN able to represent singular distributions such as strange
attractors, and what the "lorenz" experiment measures.
"""

from __future__ import annotations

import time

import torch

from equigen._configurable import configurable
from equigen.core.deprecation import renamed_kwargs
from equigen.core.validation import check_float, check_non_negative_int, check_positive_float, check_positive_int
from equigen.generative.base import GenerativeModel, check_data, check_input, check_num_samples, mlp, randn

__all__ = ["GAN", "OBJECTIVES"]

OBJECTIVES = ("wgan-gp", "ns-r1", "ns-sn")


@configurable
class GAN(GenerativeModel):
    """GAN with a configurable latent dimension and one of three stable objectives.

    Args:
        data_dim: dimension of the data vectors. latent_dim: ``d_z``; ``z ~ N(0, I)``.
        hidden, layers: generator MLP (SiLU). critic_hidden, critic_layers: critic MLP (LeakyReLU 0.2),
            default to the generator's.
        objective:
            * ``"wgan-gp"``: Wasserstein critic with gradient penalty ``penalty * (|grad D| - 1)^2`` on
              random interpolates (Gulrajani et al. 2017), ``critic_steps = 5`` by default;
            * ``"ns-r1"``: non-saturating loss with the R1 penalty ``penalty/2 |grad D(x_real)|^2``
              (Mescheder et al. 2018), ``critic_steps = 1``: the critic may become sharp, which
              lets it resolve thin structure that a 1-Lipschitz critic barely sees;
            * ``"ns-sn"``: non-saturating loss with spectral normalisation of every critic layer.
        penalty: weight of the gradient penalty (default 10 for wgan-gp, 1 for ns-r1).

    ``fit`` runs its own loop (two optimisers alternate, which :class:`equigen.train.Trainer`, built
    around one optimiser, does not do). ``sample(num_samples)`` returns ``G(z)``, using the exponential moving
    average of the generator's weights when ``fit(..., ema_decay=...)`` kept one.

    Symmetry: none.

    Example::

        gan = GAN(3, latent_dim=3, objective="ns-r1")
        gan.fit(x, steps=5000)
        y = gan.sample(1000, generator=torch.Generator().manual_seed(0))
    """

    def __init__(self, data_dim: int, latent_dim: int = 3, *, hidden: int = 128, layers: int = 3,
                 critic_hidden: int | None = None, critic_layers: int | None = None, objective: str = "wgan-gp",
                 penalty: float | None = None, dtype=None, device=None):
        super().__init__()
        for name, v in (("data_dim", data_dim), ("latent_dim", latent_dim)):
            check_positive_int(v, name)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if penalty is None:
            penalty = {"wgan-gp": 10.0, "ns-r1": 1.0, "ns-sn": 0.0}[objective]
        if not penalty >= 0:
            raise ValueError(f"penalty must be >= 0, got {penalty!r}")
        self.data_dim, self.latent_dim, self.objective, self.penalty = data_dim, latent_dim, objective, float(penalty)
        self.event_shape = (data_dim,)
        ch, cl = critic_hidden or hidden, critic_layers or layers
        self.config = {"data_dim": data_dim, "latent_dim": latent_dim, "hidden": hidden, "layers": layers,
                       "critic_hidden": ch, "critic_layers": cl, "objective": objective, "penalty": self.penalty}
        self.generator = mlp(latent_dim, data_dim, hidden, layers, dtype=dtype, device=device)
        wrap = torch.nn.utils.parametrizations.spectral_norm if objective == "ns-sn" else None
        self.critic = mlp(data_dim, 1, ch, cl, activation=lambda: torch.nn.LeakyReLU(0.2), dtype=dtype,
                          device=device, wrap=wrap)
        self.ema_generator = None
        self.history: list[dict] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``G(z)``: ``(..., latent_dim) -> (..., data_dim)``."""
        return self.generator(check_input(z, "z", self, self.latent_dim))

    # ----------------------------------------------------------------------------- losses
    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor, *, generator: torch.Generator | None = None):
        """Critic loss on a real and a (detached) fake batch, penalty included."""
        if self.objective == "wgan-gp":
            u = torch.rand((len(real), 1), generator=generator, dtype=real.dtype,
                           device=generator.device if generator is not None else real.device).to(real.device)
            xh = (u * real + (1 - u) * fake).requires_grad_(True)
            g, = torch.autograd.grad(self.critic(xh).sum(), xh, create_graph=True)
            gp = ((g.norm(dim=-1) - 1) ** 2).mean()
            return self.critic(fake).mean() - self.critic(real).mean() + self.penalty * gp
        sp = torch.nn.functional.softplus
        if self.objective == "ns-r1":
            real = real.detach().requires_grad_(True)
            d_real = self.critic(real)
            g, = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            r1 = 0.5 * self.penalty * (g ** 2).sum(-1).mean()
            return sp(-d_real).mean() + sp(self.critic(fake)).mean() + r1
        return sp(-self.critic(real)).mean() + sp(self.critic(fake)).mean()

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        d = self.critic(fake)
        return -d.mean() if self.objective == "wgan-gp" else torch.nn.functional.softplus(-d).mean()

    # ----------------------------------------------------------------------------- training
    @renamed_kwargs(n_critic="critic_steps")
    def fit(self, data, *, steps: int = 5000, batch_size: int = 256, lr: float = 2e-4, critic_lr: float | None = None,
            betas=None, critic_steps: int | None = None, ema_decay: float | None = 0.999, seed: int = 0,
            time_limit_s: float | None = None, log_every: int = 100, callback=None, cond=None) -> dict:
        """Alternate ``critic_steps`` critic steps and one generator step, ``steps`` times (Adam).

        ``betas`` default to ``(0.5, 0.9)`` (wgan-gp) or ``(0.0, 0.99)`` (non-saturating).
        ``time_limit_s`` stops early when the wall-clock budget is spent (the summary says so).
        ``callback(model, step)`` runs every ``log_every`` steps (e.g. to record a metric).
        Returns ``{"steps", "seconds", "stopped_early", "critic_loss", "generator_loss"}``.
        """
        if cond is not None:
            raise ValueError("GAN is unconditional: cond must be None")
        data = check_data(data, self.event_shape, like=self)
        check_non_negative_int(steps, "steps")
        batch_size, lr, critic_lr, critic_steps, log_every, time_limit_s, betas = self._fit_settings(
            batch_size, lr, critic_lr, critic_steps, log_every, time_limit_s, ema_decay, betas)
        gen = torch.Generator(device=data.device).manual_seed(seed)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas)
        opt_d = torch.optim.Adam(self.critic.parameters(), lr=critic_lr or lr, betas=betas)
        ema = self._new_ema(ema_decay)
        bs = min(batch_size, len(data))
        t0, step, stopped = time.perf_counter(), 0, False
        acc_d = acc_g = 0.0
        last = {"critic_loss": float("nan"), "generator_loss": float("nan")}
        self.train()
        for step in range(1, steps + 1):
            loss_d, loss_g = self._training_step(data, bs, critic_steps, opt_d, opt_g, gen)
            if ema is not None:
                ema.update(self.generator)
            acc_d += float(loss_d.detach())
            acc_g += float(loss_g.detach())
            if step % log_every == 0 or step == steps:
                k = log_every if step % log_every == 0 else step % log_every
                last = {"critic_loss": acc_d / k, "generator_loss": acc_g / k}
                acc_d = acc_g = 0.0
                self.history.append({"step": step, **last, "time_s": time.perf_counter() - t0})
                if callback is not None:
                    self._set_ema(ema)
                    callback(self, step)
            if time_limit_s is not None and time.perf_counter() - t0 > time_limit_s:
                stopped = step < steps
                break
        self._set_ema(ema)
        self.eval()
        return {"steps": step, "seconds": time.perf_counter() - t0, "stopped_early": stopped, **last}

    def _fit_settings(self, batch_size, lr, critic_lr, critic_steps, log_every, time_limit_s, ema_decay, betas):
        """Validate :meth:`fit`'s settings and fill the objective's defaults for ``critic_steps`` and ``betas``."""
        batch_size = check_positive_int(batch_size, "batch_size")
        lr = check_positive_float(lr, "lr")
        critic_lr = check_positive_float(critic_lr, "critic_lr", allow_none=True)
        critic_steps = check_positive_int(critic_steps, "critic_steps", allow_none=True)
        log_every = check_positive_int(log_every, "log_every")
        time_limit_s = check_positive_float(time_limit_s, "time_limit_s", allow_none=True)
        if ema_decay is not None and not 0 <= check_float(ema_decay, "ema_decay") < 1:
            raise ValueError(f"ema_decay must lie in [0, 1) (typical: 0.999) or be None, got {ema_decay!r}")
        if critic_steps is None:
            critic_steps = 5 if self.objective == "wgan-gp" else 1
        if betas is None:
            betas = (0.5, 0.9) if self.objective == "wgan-gp" else (0.0, 0.99)
        return batch_size, lr, critic_lr, critic_steps, log_every, time_limit_s, betas

    def _new_ema(self, ema_decay):
        """An exponential moving average of the generator's weights, or ``None`` when ``ema_decay`` is."""
        if ema_decay is None:
            return None
        from equigen.train import EMA

        return EMA(self.generator, ema_decay, warmup=True)  # the random initial generator fades

    def _training_step(self, data, bs, critic_steps, opt_d, opt_g, gen):
        """``critic_steps`` critic updates on fresh batches, then one generator update (critic frozen).

        Returns the last critic loss and the generator loss.
        """
        p = next(self.parameters())
        for _ in range(critic_steps):
            real = data[torch.randint(len(data), (bs,), generator=gen, device=data.device)]
            with torch.no_grad():
                fake = self.generator(randn((bs, self.latent_dim), generator=gen, like=p))
            loss_d = self.critic_loss(real, fake, generator=gen)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        for q in self.critic.parameters():
            q.requires_grad_(False)
        loss_g = self.generator_loss(self.generator(randn((bs, self.latent_dim), generator=gen, like=p)))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for q in self.critic.parameters():
            q.requires_grad_(True)
        return loss_d, loss_g

    def _set_ema(self, ema) -> None:
        if ema is None:
            self.ema_generator = None
            return
        import copy

        g = copy.deepcopy(self.generator)
        ema.copy_to(g)
        for q in g.parameters():
            q.requires_grad_(False)
        self.ema_generator = g

    @renamed_kwargs(n="num_samples")
    @torch.no_grad()
    def sample(self, num_samples: int, *, generator: torch.Generator | None = None, cond=None,
               ema: bool = True) -> torch.Tensor:
        """``num_samples`` samples ``G(z)``, ``(num_samples, data_dim)`` (EMA weights when available and ``ema``)."""
        if cond is not None:
            raise ValueError("GAN is unconditional: cond must be None")
        n = check_num_samples(num_samples)
        net = self.ema_generator if (ema and self.ema_generator is not None) else self.generator
        p = next(self.generator.parameters())
        return net(randn((n, self.latent_dim), generator=generator, like=p))
