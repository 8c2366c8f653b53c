"""Generative models built from equigen's layers, sharing ``fit(data, ...)`` and ``sample(num_samples, ...)``.

See :mod:`equigen.generative.base` for the interface and :mod:`equigen.generative.diffusion` for the
diffusion core (schedules, objectives, DDPM/DDIM samplers).
"""

from equigen.generative.base import GenerativeModel  # noqa: F401
from equigen.generative.gan import GAN  # noqa: F401
from equigen.generative.vae import VAE  # noqa: F401
