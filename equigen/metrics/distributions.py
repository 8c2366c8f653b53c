"""Distances between two samples of points: sliced Wasserstein and an RBF-kernel MMD."""

from __future__ import annotations

import math

import torch

from equigen.core.validation import check_finite, check_float, check_int, check_positive_int

__all__ = ["sliced_wasserstein", "mmd_rbf"]


def _pair(x, y, argument_x="x", argument_y="y"):
    for name, a in ((argument_x, x), (argument_y, y)):
        if not isinstance(a, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape (N, d), got {type(a).__name__}")
        if a.dim() != 2 or len(a) < 1:
            raise ValueError(f"{name} must have shape (N, d) with N >= 1, got {tuple(a.shape)}")
        check_finite(a, name)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[1]} and {y.shape[1]}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    return x.to(dtype), y.to(x.device, dtype)


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, *, projections: int = 256, p: int = 2,
                       generator: torch.Generator | None = None) -> float:
    """Sliced ``p``-Wasserstein distance between samples ``x`` ``(N, d)`` and ``y`` ``(M, d)``.

    ``(E_theta W_p^p(theta.x, theta.y))^(1/p)`` over ``projections`` random directions theta
    (uniform on the sphere, drawn from ``generator``); 1-D distances from quantiles (the two samples
    are compared at ``max(N, M)`` evenly spaced quantile levels). Units: those of the points.
    Invariant under rotating/translating both samples together (up to the random directions).
    """
    x, y = _pair(x, y)
    check_positive_int(projections, "projections")
    p = check_float(p, "p", min=1.0)  # finite p >= 1: the mean of |diff|^p over quantiles
    dev = generator.device if generator is not None else x.device
    theta = torch.randn(x.shape[1], projections, generator=generator, dtype=x.dtype, device=dev).to(x.device)
    theta = theta / theta.norm(dim=0, keepdim=True)
    px, _ = torch.sort(x @ theta, dim=0)
    py, _ = torch.sort(y @ theta, dim=0)
    k = max(len(px), len(py))
    q = (torch.arange(k, dtype=x.dtype, device=x.device) + 0.5) / k

    def quant(s):
        idx = torch.clamp((q * len(s)).long(), max=len(s) - 1)
        return s[idx]

    diff = (quant(px) - quant(py)).abs() ** p
    return float(diff.mean() ** (1.0 / p))


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, *, bandwidth: float | None = None, max_points: int = 4000,
            generator: torch.Generator | None = None) -> float:
    """Unbiased squared MMD with a Gaussian kernel ``exp(-|a-b|^2 / (2 h^2))`` (``h``: median pair distance
    of the pooled sample when ``bandwidth`` is None). At most ``max_points`` random points of each sample are used.
    """
    x, y = _pair(x, y)
    check_int(max_points, "max_points", min=2)

    def sub(a):
        if len(a) <= max_points:
            return a
        dev = generator.device if generator is not None else a.device
        return a[torch.randperm(len(a), generator=generator, device=dev)[:max_points].to(a.device)]

    x, y = sub(x), sub(y)
    if len(x) < 2 or len(y) < 2:
        raise ValueError("mmd_rbf needs at least 2 points in each sample")
    if bandwidth is None:
        z = torch.cat([x, y])[:2000]
        bandwidth = float(torch.pdist(z).median())
    if not bandwidth > 0 or not math.isfinite(bandwidth):
        raise ValueError(f"bandwidth must be positive, got {bandwidth!r}")

    def k(a, b):
        # differences, not cdist's matrix-product formula (used above 25 points), which loses
        # accuracy for samples far from the origin and so depends on where they are placed
        d = torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
        return torch.exp(-d ** 2 / (2 * bandwidth ** 2))

    n, m = len(x), len(y)
    kxx = (k(x, x).sum() - n) / (n * (n - 1))
    kyy = (k(y, y).sum() - m) / (m * (m - 1))
    return float(kxx + kyy - 2 * k(x, y).mean())
