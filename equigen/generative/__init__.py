"""Generative models assembled from equigen's layers (diffusion core: :mod:`equigen.generative.diffusion`)."""
