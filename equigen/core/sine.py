"""Sine-transform (DST-I) helpers for fields on the node grid of a box with Dirichlet boundaries.

A node-grid field has ``N_i`` nodes per axis, the first and last on the boundary; its
``n_i = N_i - 2`` interior values are expanded in ``sin(pi k j / (n_i + 1))``, ``k = 1..n_i``.
This module imports only torch and the standard library.
"""

from __future__ import annotations

import math

import torch

__all__ = ["dst1", "idst1", "dst1n", "idst1n", "sine_matrix", "pad_boundary", "interior"]


def dst1(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Unnormalised DST-I along ``dim``: ``X_k = sum_{j=1..n} x_j sin(pi k j / (n + 1))``, ``k = 1..n``.

    Computed with one FFT of the odd extension (differentiable, any device). Its inverse is
    ``2 / (n + 1)`` times itself (:func:`idst1`).
    """
    dim = dim % x.dim()
    x = x.movedim(dim, -1)
    n = x.shape[-1]
    zero = x.new_zeros(x.shape[:-1] + (1,))
    ext = torch.cat([zero, x, zero, -x.flip(-1)], -1)
    X = -torch.fft.rfft(ext, dim=-1).imag[..., 1:n + 1] / 2
    return X.movedim(-1, dim)


def idst1(X: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Inverse of :func:`dst1`: ``x_j = (2 / (n + 1)) sum_k X_k sin(pi k j / (n + 1))``."""
    n = X.shape[dim]
    return dst1(X, dim) * (2.0 / (n + 1))


def dst1n(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """:func:`dst1` over the last ``ndim`` axes."""
    for d in range(x.dim() - ndim, x.dim()):
        x = dst1(x, d)
    return x


def idst1n(X: torch.Tensor, ndim: int) -> torch.Tensor:
    """:func:`idst1` over the last ``ndim`` axes."""
    for d in range(X.dim() - ndim, X.dim()):
        X = idst1(X, d)
    return X


def interior(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """The interior nodes ``x[..., 1:-1, 1:-1]`` of a node-grid field (boundary dropped)."""
    idx = (Ellipsis,) + (slice(1, -1),) * ndim
    return x[idx]


def pad_boundary(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """Interior values ``(..., *n)`` -> node-grid field ``(..., *(n + 2))`` with exact zeros on the boundary."""
    return torch.nn.functional.pad(x, (1, 1) * ndim)


def sine_matrix(n: int, m: int, *, dtype=None, device=None) -> torch.Tensor:
    """``S[j, k] = sin(pi (j + 1) (k + 1) / (n + 1))``, ``(n, m)``: first ``m`` sine modes on ``n`` interior nodes."""
    j = torch.arange(1, n + 1, dtype=torch.float64)
    k = torch.arange(1, m + 1, dtype=torch.float64)
    return torch.sin(math.pi * j[:, None] * k[None, :] / (n + 1)).to(dtype=dtype, device=device)
