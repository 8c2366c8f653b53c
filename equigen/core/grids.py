"""Fourier grid helpers: integer frequencies and squared wavenumbers of the ``fftn``/``rfftn`` layouts.

A periodic axis of ``n`` cells and period ``L`` carries the integer frequencies
``0, 1, ..., -2, -1`` (the ``fftn`` order; the ``rfftn`` last axis keeps ``0..n//2``) and the
wavenumbers ``k = 2 pi f / L`` (radians per unit length). This module imports only torch and
the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["normalize_lengths", "integer_frequencies", "grid_frequencies", "squared_wavenumbers"]


def normalize_lengths(length, ndim: int, *, argument: str = "length") -> tuple[float, ...]:
    """A positive length per spatial axis (a number is used for every axis)."""
    if isinstance(length, (int, float)) and not isinstance(length, bool):
        out = (float(length),) * ndim
    elif isinstance(length, Sequence) and len(length) == ndim:
        out = tuple(float(v) for v in length)
    else:
        raise ValueError(f"{argument}={length!r} must be a positive number or one per spatial axis ({ndim})")
    if not all(math.isfinite(v) and v > 0 for v in out):
        raise ValueError(f"{argument}={length!r} must be positive and finite (the period of each axis)")
    return out


def integer_frequencies(n: int, *, half: bool = False, dtype=None, device=None) -> torch.Tensor:
    """Integer frequencies ``(n,)`` of an ``fft`` axis of ``n`` cells (``(n // 2 + 1,)`` for ``rfft``: ``half``).

    The values are those of ``torch.fft.fftfreq(n) * n`` (resp. ``rfftfreq``), exact integers.
    """
    f = torch.arange(n // 2 + 1 if half else n, dtype=dtype, device=device)
    return f if half else torch.where(f >= (n + 1) // 2, f - n, f)


def grid_frequencies(sizes: Sequence[int], *, real: bool = True, dtype=None, device=None) -> list[torch.Tensor]:
    """Per-axis integer frequencies of the ``rfftn`` grid of ``sizes`` (``fftn`` grid when ``real=False``)."""
    nd = len(sizes)
    return [integer_frequencies(n, half=real and i == nd - 1, dtype=dtype, device=device) for i, n in enumerate(sizes)]


def _check_sizes(sizes):
    sizes = (sizes,) if isinstance(sizes, int) else tuple(sizes)
    if not 1 <= len(sizes) or any(not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"sizes={sizes!r} must be positive ints, one per spatial axis")
    return sizes


def squared_wavenumbers(sizes, length=2 * math.pi, *, real: bool = True, dtype=None, device=None) -> torch.Tensor:
    """``|k|^2`` on the ``rfftn`` grid of ``sizes`` (last axis halved; ``fftn`` grid if ``real=False``).

    ``k_i = 2 pi f_i / length_i`` with integer frequencies ``f_i``; units: 1 / length^2. The
    result is invariant under the sign flip of each frequency (reflection of the grid). ``dtype``
    defaults to float64.
    """
    sizes = _check_sizes(sizes)
    dtype = torch.float64 if dtype is None else dtype  # physics default (equigen.core.dtypes)
    lengths = normalize_lengths(length, len(sizes))
    k2 = torch.zeros((), dtype=dtype, device=device)
    for i, (f, L) in enumerate(zip(grid_frequencies(sizes, real=real, dtype=dtype, device=device), lengths)):
        shape = [1] * len(sizes)
        shape[i] = len(f)
        k2 = k2 + ((2 * math.pi / L) * f).reshape(shape) ** 2
    return k2
