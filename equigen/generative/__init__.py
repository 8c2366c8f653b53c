"""Generative models sharing ``fit(data, ...)`` / ``sample(n, *, generator=None)``.

See :mod:`equigen.generative.base` for the interface and :mod:`equigen.generative.diffusion`
for the diffusion core.
"""

from equigen.generative.base import GenerativeModel  # noqa: F401
from equigen.generative.gan import GAN  # noqa: F401
from equigen.generative.vae import VAE  # noqa: F401
