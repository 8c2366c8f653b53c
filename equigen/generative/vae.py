"""Variational autoencoder with Gaussian encoder and Gaussian decoder ``p(x|z) = N(mu(z), sigma^2 I)``."""

from __future__ import annotations

import math

import torch

from equigen._configurable import configurable
from equigen.core.deprecation import renamed_kwargs
from equigen.core.validation import check_float, check_positive_float, check_positive_int
from equigen.generative.base import GenerativeModel, check_input, check_num_samples, mlp, randn

__all__ = ["VAE"]


@configurable
class VAE(GenerativeModel):
    """A VAE on vectors ``(N, data_dim)``: ``q(z|x) = N(m(x), diag s(x)^2)``, ``p(z) = N(0, I)``,
    ``p(x|z) = N(mu(z), sigma^2 I)``.

    Args:
        data_dim: dimension of the data vectors. latent_dim: dimension of ``z``.
        hidden, layers: width and depth of the encoder and decoder MLPs (SiLU).
        sigma: decoder standard deviation, a positive float (fixed) or ``None`` (learnable scalar,
            initialised at ``sigma_init``), in the units of the data.
        beta: weight of the KL term (``beta = 1``: the evidence lower bound).

    ``training_loss(x)`` is the negative ELBO per sample (reconstruction NLL with all constants
    + beta KL). ``sample(num_samples)`` draws ``x = mu(z) + sigma eps`` -- the model's actual distribution,
    which has a density in all of ``R^data_dim`` (correlation dimension ``data_dim`` below the
    scale ``sigma``); ``sample(num_samples, noise=False)`` returns the decoder means ``mu(z)``.

    Symmetry: none (a plain density model; the data define their own frame).

    Example::

        vae = VAE(3, latent_dim=2)
        vae.fit(x, steps=2000)
        y = vae.sample(1000, generator=torch.Generator().manual_seed(0))   # (1000, 3)
    """

    def __init__(self, data_dim: int, latent_dim: int = 2, *, hidden: int = 128, layers: int = 3,
                 sigma: float | None = None, sigma_init: float = 0.1, beta: float = 1.0, dtype=None, device=None):
        super().__init__()
        for name, v in (("data_dim", data_dim), ("latent_dim", latent_dim)):
            check_positive_int(v, name)
        check_positive_float(sigma, "sigma", allow_none=True)  # None: learnable
        check_positive_float(sigma_init, "sigma_init")
        beta = check_float(beta, "beta", min=0.0)
        self.data_dim, self.latent_dim, self.beta = data_dim, latent_dim, float(beta)
        self.event_shape = (data_dim,)
        self.config = {"data_dim": data_dim, "latent_dim": latent_dim, "hidden": hidden, "layers": layers,
                       "sigma": sigma, "sigma_init": sigma_init, "beta": beta}
        self.encoder = mlp(data_dim, 2 * latent_dim, hidden, layers, dtype=dtype, device=device)
        self.decoder = mlp(latent_dim, data_dim, hidden, layers, dtype=dtype, device=device)
        log_sigma = torch.tensor(math.log(sigma if sigma is not None else sigma_init), dtype=dtype, device=device)
        if sigma is None:
            self.log_sigma = torch.nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    @property
    def sigma(self) -> torch.Tensor:
        """Decoder standard deviation (a 0-d tensor)."""
        return self.log_sigma.exp()

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, log_var)`` of ``q(z|x)``, each ``(N, latent_dim)``."""
        h = self.encoder(check_input(x, "x", self, self.data_dim))
        return h[..., :self.latent_dim], h[..., self.latent_dim:].clamp(-12.0, 8.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder mean ``mu(z)``, ``(N, data_dim)``."""
        return self.decoder(check_input(z, "z", self, self.latent_dim))

    def training_loss(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> dict:
        m, logv = self.encode(x)
        eps = randn(m.shape, generator=generator, like=m)
        z = m + (0.5 * logv).exp() * eps
        mu = self.decoder(z)
        d = self.data_dim
        nll = (0.5 * ((x - mu) ** 2).sum(-1) / self.sigma ** 2 + d * self.log_sigma + 0.5 * d * math.log(2 * math.pi))
        kl = 0.5 * (m ** 2 + logv.exp() - 1.0 - logv).sum(-1)
        loss = (nll + self.beta * kl).mean()
        return {"loss": loss, "nll": nll.mean().detach(), "kl": kl.mean().detach(), "sigma": self.sigma.detach()}

    @renamed_kwargs(n="num_samples")
    @torch.no_grad()
    def sample(self, num_samples: int, *, generator: torch.Generator | None = None, cond=None,
               noise: bool = True) -> torch.Tensor:
        """``num_samples`` samples ``(num_samples, data_dim)``: ``mu(z) + sigma eps`` (``noise=False``: ``mu(z)``)."""
        if cond is not None:
            raise ValueError("VAE is unconditional: cond must be None")
        n = check_num_samples(num_samples)
        p = self._first_param()
        z = randn((n, self.latent_dim), generator=generator, like=p)
        mu = self.decode(z)
        if not noise:
            return mu
        eps = randn(mu.shape, generator=generator, like=p)
        return mu + self.sigma * eps
