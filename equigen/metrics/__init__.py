"""Metrics for judging models and data: dimensions of point sets, distances between distributions."""

from equigen.metrics.dimension import CorrelationDimension, correlation_dimension, correlation_sum

__all__ = ["CorrelationDimension", "correlation_dimension", "correlation_sum"]
from equigen.metrics.distributions import mmd_rbf, sliced_wasserstein  # noqa: E402

__all__ += ["sliced_wasserstein", "mmd_rbf"]
