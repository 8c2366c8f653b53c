"""The heat (diffusion) equation ``du/dt = D lap u`` on periodic 1-D/2-D/3-D boxes.

Two independent solvers, so that a model fitted to one can be checked on data that did not
come from its own formula:

* :func:`heat_exact`: the exact solution ``u_hat(k, t) = exp(-D |k|^2 t) u_hat(k, 0)``
  (Fourier multiplier, ``k = 2 pi n / length``).
* :func:`heat_finite_difference`: a 4th-order (or 2nd-order) central-difference Laplacian
  on a grid ``refine`` times finer per axis, stepped with classical RK4 at small steps,
  then sampled back on the coarse grid. Its error relative to the exact solution is
  :func:`fd_symbol_error` (spatial) plus a negligible time error; measure it with
  ``heat_finite_difference(...) - heat_exact(...)``.

Initial conditions are random smooth fields (:func:`random_smooth_fields`, Gaussian
spectrum), band-limited far below the grid's Nyquist so the fine-grid interpolant is exact.
Units: ``length`` and time in the same arbitrary units; ``D`` in length^2/time.
Symmetry: both solvers commute with grid shifts and reflections and conserve the spatial
sum (mass) to rounding.

Example::

    >>> import torch
    >>> from equigen.data.heat import heat_pairs
    >>> u0, u1 = heat_pairs(4, (64,), D=0.05, dt=0.2, generator=torch.Generator().manual_seed(0))
    >>> u0.shape, u1.dtype
    (torch.Size([4, 64]), torch.float64)
"""

from __future__ import annotations

import math

import torch

from equigen.core.deprecation import renamed_kwargs
from equigen.core.dtypes import physics_dtype
from equigen.core.grids import normalize_lengths, squared_wavenumbers
from equigen.core.validation import check_finite, check_non_negative_float, check_positive_float, check_positive_int

__all__ = ["squared_wavenumbers", "random_smooth_fields", "heat_exact", "heat_finite_difference", "heat_pairs",
           "fd_symbol_error", "add_noise"]


def _lengths(length, ndim):
    return normalize_lengths(length, ndim)


def _check_positive(name, value):
    check_positive_float(value, name)


def _check_sizes(sizes):
    sizes = (sizes,) if isinstance(sizes, int) else tuple(sizes)
    if not 1 <= len(sizes) or any(not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"sizes={sizes!r} must be positive ints, one per spatial axis")
    return sizes


@renamed_kwargs(count="num_samples")
def random_smooth_fields(num_samples: int, sizes, *, scale: float = 4.0, mean: float = 1.0, generator=None,
                         dtype=None, device=None) -> torch.Tensor:
    """Random smooth periodic fields ``(num_samples, *sizes)``: Gaussian spectrum ``exp(-|n|^2 / (2 scale^2))``.

    Each field has spatial mean ``mean`` (the mass per cell) and unit standard deviation of
    its fluctuation. ``scale`` is in integer frequencies (cycles per box). ``dtype`` defaults to float64.
    """
    sizes = _check_sizes(sizes)
    check_positive_int(num_samples, "num_samples")
    _check_positive("scale", scale)
    nd = len(sizes)
    dims = tuple(range(1, nd + 1))
    white = torch.randn(num_samples, *sizes, generator=generator, dtype=torch.float64)
    n2 = squared_wavenumbers(sizes, tuple(2 * math.pi for _ in sizes))
    spec = torch.fft.rfftn(white, dim=dims) * torch.exp(-n2 / (2 * scale**2))
    u = torch.fft.irfftn(spec, s=sizes, dim=dims)
    u = u - u.mean(dim=dims, keepdim=True)
    u = u / u.pow(2).mean(dim=dims, keepdim=True).sqrt().clamp_min(1e-300)
    return (u + mean).to(dtype=physics_dtype(dtype), device=device)


def heat_exact(u0: torch.Tensor, t: float, D: float, length=2 * math.pi, *, ndim: int = 1) -> torch.Tensor:
    """Exact periodic heat flow of ``u0`` (..., *spatial) over time ``t``: ``exp(-D |k|^2 t)`` per mode."""
    _check_field(u0, ndim)
    _check_nonneg("t", t)
    _check_positive("D", D)
    sizes = tuple(u0.shape[-ndim:])
    dims = tuple(range(u0.dim() - ndim, u0.dim()))
    k2 = squared_wavenumbers(sizes, length, dtype=u0.dtype, device=u0.device)
    return torch.fft.irfftn(torch.fft.rfftn(u0, dim=dims) * torch.exp(-D * t * k2), s=sizes, dim=dims)


def fd_symbol_error(k: float, h: float, order: int = 4) -> float:
    """Relative error of the finite-difference Laplacian's symbol at wavenumber ``k``, spacing ``h``.

    ``|lambda_fd(k) / (-k^2) - 1|``: the relative error in ``D`` that a perfect fit to
    finite-difference data at that wavenumber would carry.
    """
    th = k * h
    if th == 0:
        return 0.0
    if order == 2:
        lam = (2 * math.cos(th) - 2) / h**2
    else:
        lam = (-2 * math.cos(2 * th) + 32 * math.cos(th) - 30) / (12 * h**2)
    return abs(lam / (-(k**2)) - 1)


def _laplacian(u, dims, hs, order):
    out = torch.zeros_like(u)
    for d, h in zip(dims, hs):
        if order == 2:
            out = out + (torch.roll(u, 1, d) + torch.roll(u, -1, d) - 2 * u) / h**2
        else:
            out = out + (-torch.roll(u, 2, d) + 16 * torch.roll(u, 1, d) - 30 * u + 16 * torch.roll(u, -1, d)
                         - torch.roll(u, -2, d)) / (12 * h**2)
    return out


def heat_finite_difference(u0: torch.Tensor, t: float, D: float, length=2 * math.pi, *, ndim: int = 1,
                           refine: int = 4, order: int = 4, safety: float = 0.5) -> torch.Tensor:
    """Heat flow by finite differences on a ``refine``-times finer grid with RK4 steps.

    ``u0`` (..., *spatial) is interpolated (Fourier zero-padding; exact for band-limited
    data) to the fine grid, stepped with a central ``order``-th order Laplacian (2 or 4) and
    RK4 at ``safety`` times the stability limit, and sampled back at the coarse points.
    Independent of :func:`heat_exact` except for the interpolation of the initial condition.
    """
    _check_field(u0, ndim)
    _check_nonneg("t", t)
    _check_positive("D", D)
    if order not in (2, 4):
        raise ValueError(f"order={order!r} must be 2 or 4")
    check_positive_int(refine, "refine")
    lengths = _lengths(length, ndim)
    sizes = tuple(u0.shape[-ndim:])
    fine = tuple(n * refine for n in sizes)
    dims = tuple(range(u0.dim() - ndim, u0.dim()))
    u = _interpolate(u0, sizes, fine, dims) if refine > 1 else u0.clone()
    hs = [L / n for L, n in zip(lengths, fine)]
    lam_max = D * sum((4.0 if order == 2 else 16.0 / 3.0) / h**2 for h in hs)
    steps = max(1, math.ceil(t * lam_max / (2.78 * safety)))
    dt = t / steps

    def rhs(v):
        return D * _laplacian(v, dims, hs, order)

    for _ in range(steps if t > 0 else 0):
        k1 = rhs(u)
        k2 = rhs(u + 0.5 * dt * k1)
        k3 = rhs(u + 0.5 * dt * k2)
        k4 = rhs(u + dt * k3)
        u = u + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    index = (slice(None),) * (u.dim() - ndim) + tuple(slice(None, None, refine) for _ in range(ndim))
    return u[index].contiguous()


def _interpolate(u, sizes, fine, dims):
    """Trigonometric interpolation, one axis at a time, by zero-padding the spectrum.

    An even size's Nyquist bin is split in half between ``+N/2`` and ``-N/2`` so real data stay real.
    """
    for d, n, nf in zip(dims, sizes, fine):
        if nf == n:
            continue
        U = torch.fft.fft(u, dim=d)
        half = (n + 1) // 2  # bins 0..half-1 are non-negative frequencies below Nyquist
        parts = [U.narrow(d, 0, half)]
        shape = list(U.shape)
        if n % 2 == 0:
            nyq = U.narrow(d, n // 2, 1) / 2
            shape[d] = nf - n - 1
            parts += [nyq, U.new_zeros(shape), nyq]
        else:
            shape[d] = nf - n
            parts.append(U.new_zeros(shape))
        count = n // 2 if n % 2 else n // 2 - 1  # strictly negative frequencies
        parts.append(U.narrow(d, n - count, count))
        u = torch.fft.ifft(torch.cat(parts, d), dim=d).real * (nf / n)
    return u


def add_noise(u: torch.Tensor, level: float, *, generator=None, ndim: int = 1) -> torch.Tensor:
    """``u`` plus Gaussian noise of standard deviation ``level`` times the rms fluctuation of ``u``.

    The rms is taken over the whole batch after removing each field's spatial mean.
    """
    if level < 0 or not math.isfinite(level):
        raise ValueError(f"noise level={level!r} must be >= 0 (0.01 means 1% of the field's rms fluctuation)")
    if level == 0:
        return u
    dims = tuple(range(u.dim() - ndim, u.dim()))
    rms = (u - u.mean(dim=dims, keepdim=True)).pow(2).mean().sqrt()
    noise = torch.randn(u.shape, generator=generator, dtype=u.dtype, device="cpu").to(u.device)
    return u + level * rms * noise


@renamed_kwargs(count="num_samples")
def heat_pairs(num_samples: int, sizes, *, D: float, dt: float, length=2 * math.pi, source: str = "exact",
               noise: float = 0.0, scale: float = 4.0, refine: int = 4, generator=None,
               dtype=None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Snapshot pairs ``(u0, u1)`` of shape ``(num_samples, *sizes)`` with ``u1 = heat flow of u0 over dt``.

    ``source`` is ``"exact"`` (Fourier solution) or ``"fd"`` (finite differences, see
    :func:`heat_finite_difference`). ``noise`` adds independent measurement noise to both
    snapshots (:func:`add_noise`, relative to the clean ``u0`` fluctuation). ``dtype`` defaults to float64.
    """
    sizes = _check_sizes(sizes)
    _check_positive("dt", dt)
    if source not in ("exact", "fd"):
        raise ValueError(f"source={source!r} must be 'exact' or 'fd'")
    nd = len(sizes)
    u0 = random_smooth_fields(num_samples, sizes, scale=scale, generator=generator, dtype=torch.float64)
    if source == "exact":
        u1 = heat_exact(u0, dt, D, length, ndim=nd)
    else:
        u1 = heat_finite_difference(u0, dt, D, length, ndim=nd, refine=refine)
    if noise:
        dims = tuple(range(1, nd + 1))
        rms = (u0 - u0.mean(dim=dims, keepdim=True)).pow(2).mean().sqrt()
        u0 = u0 + noise * rms * torch.randn(u0.shape, generator=generator, dtype=u0.dtype)
        u1 = u1 + noise * rms * torch.randn(u1.shape, generator=generator, dtype=u1.dtype)
    dtype = physics_dtype(dtype)
    return u0.to(dtype=dtype, device=device), u1.to(dtype=dtype, device=device)


def _check_field(u, ndim):
    if not isinstance(u, torch.Tensor) or not u.is_floating_point():
        raise ValueError(f"u0 must be a real floating tensor (..., *spatial), got "
                         f"{type(u).__name__ if not isinstance(u, torch.Tensor) else u.dtype}")
    if u.dim() < ndim:
        raise ValueError(f"u0 has shape {tuple(u.shape)} but ndim={ndim} spatial axes are needed")
    check_finite(u, "u0", fix="the initial field must be finite")


def _check_nonneg(name, value):
    check_non_negative_float(value, name)
