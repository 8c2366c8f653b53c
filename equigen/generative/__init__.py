"""Generative models assembled from equigen layers."""
