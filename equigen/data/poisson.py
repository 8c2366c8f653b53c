"""Poisson's equation ``lap(phi) = rho`` on a square (or any box): exact spectral solvers and random sources.

Two boundary conditions, two grids:

* ``"periodic"``: cell grid ``x_j = j L / N``, ``j = 0..N-1`` per axis. Solvable only for a
  zero-mean ``rho`` (the integral of ``lap(phi)`` over a period vanishes); ``phi`` is fixed
  in the zero-mean gauge. Solved with the FFT: ``phi_hat(k) = -rho_hat(k) / |k|^2``,
  ``k = 2 pi n / L`` (:func:`solve_periodic`).
* ``"dirichlet"``: node grid *including the boundary*, ``x_j = j L / (N - 1)``,
  ``j = 0..N-1``; ``phi = 0`` on the boundary nodes. The interior is expanded in
  ``sin(pi k x / L)`` (DST-I, ``scipy.fft``): ``phi_k = -rho_k / |pi k / L|^2``
  (:func:`solve_dirichlet`). Values of ``rho`` on boundary nodes do not enter.

``laplacian="spectral"`` (default) inverts the Laplacian of the band-limited interpolant,
exact for every Fourier / sine mode the grid resolves (so ``rho = sin(2 pi x) sin(4 pi y)``
gives ``phi = -rho / (20 pi^2)`` to rounding); ``laplacian="fd"`` inverts the 5-point
(2nd-order finite-difference) Laplacian instead, exact for the discrete equation.

Metrics used by the Poisson experiment: :func:`laplacian` (the same spectral operator, in
torch), :func:`pde_residual` ``||lap(phi) - rho|| / ||rho||`` (interior nodes for Dirichlet),
:func:`boundary_violation` ``max |phi|`` on the boundary nodes.

Sources: :func:`gaussian_random_field` (power-law spectrum) and :func:`random_blobs` (sums
of Gaussian bumps), both zero-mean for the periodic box; :func:`poisson_pairs` draws
``(rho, phi)`` pairs of shape ``(num_samples, 1, N, N)``.

Units: lengths in units of ``L`` (default ``length=1``), ``rho`` arbitrary, ``phi`` in
``rho * length^2``. Symmetry: the periodic solver commutes with grid shifts and
reflections; the Dirichlet solver with the reflections of the box. Float64 by default.

Example::

    >>> import torch
    >>> from equigen.data.poisson import poisson_pairs, pde_residual
    >>> rho, phi = poisson_pairs(4, 32, "periodic", generator=torch.Generator().manual_seed(0))
    >>> rho.shape, bool(pde_residual(phi, rho, "periodic").max() < 1e-12)
    (torch.Size([4, 1, 32, 32]), True)
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import torch

from equigen.core.deprecation import renamed_kwargs
from equigen.core.dtypes import physics_dtype
from equigen.core.grids import grid_frequencies, integer_frequencies
from equigen.core.sine import dst1n, idst1n, interior, pad_boundary
from equigen.core.validation import check_finite, check_float, check_int, check_positive_int

__all__ = ["BOUNDARIES", "solve_periodic", "solve_dirichlet", "solve", "laplacian", "pde_residual",
           "boundary_violation", "gaussian_random_field", "random_blobs", "poisson_pairs", "grid_coordinates"]

BOUNDARIES = ("periodic", "dirichlet")


def _check_boundary(boundary):
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary={boundary!r} must be 'periodic' or 'dirichlet'")


def _check_length(length):
    if isinstance(length, bool) or not isinstance(length, (int, float)) or not math.isfinite(length) or length <= 0:
        raise ValueError(f"length={length!r} must be a positive finite number (the side of the box)")
    return float(length)


def _check_rho(rho, ndim, argument="rho", min_size=1):
    if not isinstance(rho, torch.Tensor):
        raise TypeError(f"{argument} must be a torch.Tensor, got {type(rho).__name__}")
    if not rho.is_floating_point():
        raise ValueError(f"{argument} has dtype {rho.dtype}; pass a real floating tensor (.double())")
    check_positive_int(ndim, "ndim")
    if rho.dim() < ndim:
        raise ValueError(f"{argument} has shape {tuple(rho.shape)}: it needs {ndim} spatial axes (last axes), "
                         f"e.g. (N, N) or (batch, 1, N, N)")
    if any(n < min_size for n in rho.shape[rho.dim() - ndim:]):
        raise ValueError(f"{argument} has shape {tuple(rho.shape)}: every spatial size must be >= {min_size}")
    check_finite(rho, argument)


def _check_laplacian(laplacian):
    if laplacian not in ("spectral", "fd"):
        raise ValueError(f"laplacian={laplacian!r} must be 'spectral' (exact for every resolved mode) or 'fd' "
                         "(5-point finite differences)")


def _periodic_symbol(sizes, length, laplacian, dtype, device):
    """Symbol of the Laplacian on the rfftn grid: ``-|k|^2`` (spectral) or the 5-point one."""
    lam = torch.zeros((), dtype=dtype, device=device)
    nd = len(sizes)
    for i, (n, f) in enumerate(zip(sizes, grid_frequencies(sizes, dtype=dtype, device=device))):
        if laplacian == "spectral":
            v = -(2 * math.pi * f / length) ** 2
        else:
            h = length / n
            v = -(4 / h**2) * torch.sin(math.pi * f / n) ** 2
        shape = [1] * nd
        shape[i] = len(f)
        lam = lam + v.reshape(shape)
    return lam


def _sine_symbol(sizes, length, laplacian, dtype, device):
    """Symbol of the Laplacian on sine modes ``k = 1..n`` of an interior of sizes ``n``."""
    lam = torch.zeros((), dtype=dtype, device=device)
    nd = len(sizes)
    for i, n in enumerate(sizes):
        k = torch.arange(1, n + 1, dtype=dtype, device=device)
        if laplacian == "spectral":
            v = -(math.pi * k / length) ** 2
        else:
            h = length / (n + 1)
            v = -(4 / h**2) * torch.sin(math.pi * k / (2 * (n + 1))) ** 2
        shape = [1] * nd
        shape[i] = n
        lam = lam + v.reshape(shape)
    return lam


def solve_periodic(rho: torch.Tensor, length: float = 1.0, *, ndim: int = 2, mean: str = "error",
                   laplacian: str = "spectral") -> torch.Tensor:
    """Exact periodic solution of ``lap(phi) = rho`` in the zero-mean gauge (FFT).

    Args:
        rho: ``(..., *spatial)`` real, finite, on the cell grid; its mean over the spatial axes
            must vanish (relative to ``max|rho|``, tolerance ``1e3 * eps``).
        length: side of the periodic box.
        ndim: number of spatial (last) axes.
        mean: ``"error"`` (default) raises ``ValueError`` for a non-zero-mean ``rho``;
            ``"project"`` subtracts the mean first (solves for ``rho - mean(rho)``).
        laplacian: ``"spectral"`` or ``"fd"`` (module doc).

    Returns ``phi`` of ``rho``'s shape and dtype, with zero mean.
    """
    _check_rho(rho, ndim)
    length = _check_length(length)
    _check_laplacian(laplacian)
    if mean not in ("error", "project"):
        raise ValueError(f"mean={mean!r} must be 'error' or 'project'")
    dims = tuple(range(rho.dim() - ndim, rho.dim()))
    avg = rho.mean(dim=dims, keepdim=True)
    scale = float(rho.abs().max()) if rho.numel() else 0.0
    eps = torch.finfo(rho.dtype).eps
    if mean == "error" and float(avg.abs().max()) > 1e3 * eps * max(scale, 1e-300):
        raise ValueError(f"rho has non-zero mean (up to {float(avg.abs().max()):.3e}, max|rho| = {scale:.3e}): a "
                         "periodic Poisson problem is solvable only for zero-mean sources. Subtract the mean, or "
                         "pass mean='project' to solve for rho - mean(rho)")
    rho = rho - avg
    sizes = tuple(rho.shape[d] for d in dims)
    lam = _periodic_symbol(sizes, length, laplacian, rho.dtype, rho.device)
    R = torch.fft.rfftn(rho, dim=dims)
    lam = torch.where(lam == 0, torch.ones_like(lam), lam)
    P = R / lam
    P[(Ellipsis,) + (0,) * ndim] = 0
    return torch.fft.irfftn(P, s=sizes, dim=dims)


def solve_dirichlet(rho: torch.Tensor, length: float = 1.0, *, ndim: int = 2,
                    laplacian: str = "spectral") -> torch.Tensor:
    """Exact solution of ``lap(phi) = rho`` with ``phi = 0`` on the boundary (DST-I with ``scipy.fft``).

    Args:
        rho: ``(..., *spatial)`` on the node grid including boundary nodes (every size >= 3);
            boundary values are ignored.
        length: side of the box (node spacing ``length / (N - 1)``).
        ndim: number of spatial (last) axes.
        laplacian: ``"spectral"`` or ``"fd"`` (module doc).

    Returns ``phi`` of ``rho``'s shape and dtype, exactly 0 on the boundary nodes. Computed on
    the CPU in float64 by ``scipy.fft.dstn`` and returned on ``rho``'s device.
    """
    _check_rho(rho, ndim, min_size=3)
    length = _check_length(length)
    _check_laplacian(laplacian)
    inner = interior(rho, ndim).detach().cpu().to(torch.float64).numpy()
    axes = tuple(range(inner.ndim - ndim, inner.ndim))
    sizes = inner.shape[inner.ndim - ndim:]
    lam = _sine_symbol(sizes, length, laplacian, torch.float64, "cpu").numpy()
    coeff = scipy.fft.dstn(inner, type=1, axes=axes)
    phi = scipy.fft.idstn(coeff / lam, type=1, axes=axes)
    out = torch.from_numpy(np.ascontiguousarray(phi)).to(dtype=rho.dtype, device=rho.device)
    return pad_boundary(out, ndim)


def solve(rho: torch.Tensor, boundary: str, length: float = 1.0, *, ndim: int = 2, **kwargs) -> torch.Tensor:
    """:func:`solve_periodic` or :func:`solve_dirichlet` by name."""
    _check_boundary(boundary)
    if boundary == "periodic":
        return solve_periodic(rho, length, ndim=ndim, **kwargs)
    return solve_dirichlet(rho, length, ndim=ndim, **kwargs)


def laplacian(phi: torch.Tensor, boundary: str, length: float = 1.0, *, ndim: int = 2) -> torch.Tensor:
    """Spectral Laplacian in torch (differentiable, any device), consistent with the solvers.

    Periodic: ``-|k|^2`` in Fourier space on the whole grid. Dirichlet: ``-|pi k / L|^2`` on
    the sine coefficients of the interior values (boundary values ignored; the result is 0 on
    the boundary nodes). ``laplacian(solve(rho)) == rho`` to rounding (zero-mean / interior).
    """
    _check_boundary(boundary)
    _check_rho(phi, ndim, argument="phi", min_size=3 if boundary == "dirichlet" else 1)
    length = _check_length(length)
    if boundary == "periodic":
        dims = tuple(range(phi.dim() - ndim, phi.dim()))
        sizes = phi.shape[phi.dim() - ndim:]
        lam = _periodic_symbol(sizes, length, "spectral", phi.dtype, phi.device)
        return torch.fft.irfftn(torch.fft.rfftn(phi, dim=dims) * lam, s=sizes, dim=dims)
    inner = interior(phi, ndim)
    lam = _sine_symbol(inner.shape[inner.dim() - ndim:], length, "spectral", phi.dtype, phi.device)
    return pad_boundary(idst1n(dst1n(inner, ndim) * lam, ndim), ndim)


def _flat(x, ndim):
    return x.reshape(*x.shape[:x.dim() - ndim], -1)


def pde_residual(phi: torch.Tensor, rho: torch.Tensor, boundary: str, length: float = 1.0, *,
                 ndim: int = 2) -> torch.Tensor:
    """Relative PDE residual ``||lap(phi) - rho||_2 / ||rho||_2`` per field (shape ``phi.shape[:-ndim]``).

    Periodic: over the grid, against the zero-mean part of ``rho``. Dirichlet: over the
    interior nodes (boundary errors are :func:`boundary_violation`).
    """
    if not isinstance(rho, torch.Tensor) or rho.shape != phi.shape:
        raise ValueError(f"rho must be a tensor of phi's shape {tuple(phi.shape)}, got "
                         f"{tuple(rho.shape) if isinstance(rho, torch.Tensor) else type(rho).__name__}")
    lap = laplacian(phi, boundary, length, ndim=ndim)
    if boundary == "periodic":
        dims = tuple(range(rho.dim() - ndim, rho.dim()))
        target = rho - rho.mean(dim=dims, keepdim=True)
    else:
        lap, target = interior(lap, ndim), interior(rho, ndim)
    return _flat(lap - target, ndim).norm(dim=-1) / _flat(target, ndim).norm(dim=-1).clamp_min(1e-300)


def boundary_violation(phi: torch.Tensor, *, ndim: int = 2) -> torch.Tensor:
    """``max |phi|`` over the boundary nodes of a node-grid field, per field (shape ``phi.shape[:-ndim]``)."""
    if not isinstance(phi, torch.Tensor) or phi.dim() < ndim:
        raise ValueError(f"phi must be a tensor with {ndim} spatial axes")
    mask = torch.ones(phi.shape[phi.dim() - ndim:], dtype=torch.bool, device=phi.device)
    mask[(slice(1, -1),) * ndim] = False
    return phi.abs()[..., mask].amax(dim=-1)


def grid_coordinates(size: int, boundary: str, length: float = 1.0, *, dtype=None, device=None):
    """Node coordinates along one axis: ``j L / N`` (periodic) or ``j L / (N - 1)`` (Dirichlet); float64 by default."""
    _check_boundary(boundary)
    check_int(size, "size", min=1 if boundary == "periodic" else 2)
    length = _check_length(length)
    step = length / size if boundary == "periodic" else length / (size - 1)
    return torch.arange(size, dtype=physics_dtype(dtype), device=device) * step


def _check_num_samples_size(num_samples, size, boundary):
    check_positive_int(num_samples, "num_samples")
    if isinstance(size, bool) or not isinstance(size, int) or size < (4 if boundary == "dirichlet" else 2):
        raise ValueError(f"size={size!r} must be an int >= {4 if boundary == 'dirichlet' else 2} (nodes per side)")


def _normalise(x, boundary):
    dims = (-2, -1)
    if boundary == "periodic":
        x = x - x.mean(dim=dims, keepdim=True)
    return x / x.pow(2).mean(dim=dims, keepdim=True).sqrt().clamp_min(1e-300)


@renamed_kwargs(count="num_samples")
def gaussian_random_field(num_samples: int, size: int, boundary: str, *, alpha: float = 3.0, tau: float = 3.0,
                          length: float = 1.0, generator=None, dtype=None, device=None) -> torch.Tensor:
    """Random 2-D sources ``(num_samples, size, size)``: Gaussian, spectrum ``(|n|^2 + tau^2)^(-alpha)``.

    ``n`` are integer frequencies (periodic) or sine mode numbers (Dirichlet, ``k / 2``
    comparable to ``n``). Each field is normalised to unit RMS; periodic fields have zero mean.
    """
    _check_boundary(boundary)
    _check_num_samples_size(num_samples, size, boundary)
    length = _check_length(length)
    alpha, tau = check_float(alpha, "alpha", min=0.0), check_float(tau, "tau", min=0.0)
    if boundary == "periodic":
        f = integer_frequencies(size, dtype=torch.float64)
        n2 = f[:, None] ** 2 + f[None, :] ** 2
        amp = (n2 + tau**2) ** (-alpha / 2)
        amp[0, 0] = 0.0
        z = torch.complex(torch.randn(num_samples, size, size, generator=generator, dtype=torch.float64),
                          torch.randn(num_samples, size, size, generator=generator, dtype=torch.float64))
        x = torch.fft.ifft2(z * amp).real
    else:
        n = size - 2
        k = torch.arange(1, n + 1, dtype=torch.float64) / 2
        amp = (k[:, None] ** 2 + k[None, :] ** 2 + tau**2) ** (-alpha / 2)
        z = torch.randn(num_samples, n, n, generator=generator, dtype=torch.float64)
        x = pad_boundary(idst1n(z * amp, 2), 2)
    return _normalise(x, boundary).to(dtype=physics_dtype(dtype), device=device)


@renamed_kwargs(count="num_samples")
def random_blobs(num_samples: int, size: int, boundary: str, *, num_blobs=(2, 6), width=(0.04, 0.12),
                 length: float = 1.0, generator=None, dtype=None, device=None) -> torch.Tensor:
    """Random 2-D sources ``(num_samples, size, size)``: sums of Gaussian bumps of random sign, size and width.

    ``num_blobs`` (min, max) bumps per field, ``width`` (min, max) standard deviation in units of
    ``length``. Periodic: bumps wrapped around the box, then the mean subtracted; Dirichlet:
    centres kept 2 widths from the walls. Normalised to unit RMS.
    """
    _check_boundary(boundary)
    _check_num_samples_size(num_samples, size, boundary)
    length = _check_length(length)
    lo, hi = int(num_blobs[0]), int(num_blobs[1])
    if not 1 <= lo <= hi:
        raise ValueError(f"num_blobs={num_blobs!r} must be (min, max) with 1 <= min <= max")
    w0, w1 = float(width[0]), float(width[1])
    if not 0 < w0 <= w1:
        raise ValueError(f"width={width!r} must be (min, max) with 0 < min <= max")
    x = grid_coordinates(size, boundary, 1.0)
    out = torch.zeros(num_samples, size, size, dtype=torch.float64)
    for b in range(num_samples):
        m = int(torch.randint(lo, hi + 1, (), generator=generator))
        for _ in range(m):
            w = w0 + (w1 - w0) * float(torch.rand((), generator=generator, dtype=torch.float64))
            c = torch.rand(2, generator=generator, dtype=torch.float64)
            sign = 1.0 if float(torch.rand((), generator=generator)) < 0.5 else -1.0
            a = sign * (0.5 + float(torch.rand((), generator=generator, dtype=torch.float64)))
            if boundary == "periodic":
                d = [torch.remainder(x - ci + 0.5, 1.0) - 0.5 for ci in c]
            else:
                c = 2 * w + (1 - 4 * w) * c
                d = [x - ci for ci in c]
            out[b] += a * torch.exp(-(d[0][:, None] ** 2 + d[1][None, :] ** 2) / (2 * w * w))
    if boundary == "dirichlet":
        out[:, 0], out[:, -1], out[:, :, 0], out[:, :, -1] = 0, 0, 0, 0
    return _normalise(out, boundary).to(dtype=physics_dtype(dtype), device=device)


@renamed_kwargs(count="num_samples")
def poisson_pairs(num_samples: int, size: int, boundary: str = "periodic", *, source: str = "mixed",
                  length: float = 1.0, laplacian: str = "spectral", generator=None, dtype=None,
                  device=None, **source_kwargs):
    """``(rho, phi)`` pairs, each ``(num_samples, 1, size, size)``, with ``phi`` the exact solution.

    ``source``: ``"grf"`` (:func:`gaussian_random_field`), ``"blobs"`` (:func:`random_blobs`)
    or ``"mixed"`` (half each, interleaved). Extra keyword arguments go to the source.
    """
    _check_boundary(boundary)
    _check_num_samples_size(num_samples, size, boundary)
    if source == "grf":
        rho = gaussian_random_field(num_samples, size, boundary, length=length, generator=generator, **source_kwargs)
    elif source == "blobs":
        rho = random_blobs(num_samples, size, boundary, length=length, generator=generator, **source_kwargs)
    elif source == "mixed":
        n_grf = (num_samples + 1) // 2
        a = gaussian_random_field(n_grf, size, boundary, length=length, generator=generator)
        parts = [a]
        if num_samples - n_grf:
            parts.append(random_blobs(num_samples - n_grf, size, boundary, length=length, generator=generator))
        rho = torch.cat(parts)
        inter = torch.empty(num_samples, dtype=torch.long)  # grf, blobs, grf, blobs, ...
        inter[0::2] = torch.arange(0, n_grf)
        inter[1::2] = torch.arange(n_grf, num_samples)
        rho = rho[inter]
    else:
        raise ValueError(f"source={source!r} must be 'grf', 'blobs' or 'mixed'")
    rho = rho.unsqueeze(1)
    phi = solve(rho, boundary, length, laplacian=laplacian) if boundary == "dirichlet" else \
        solve_periodic(rho, length, mean="project", laplacian=laplacian)
    dtype = physics_dtype(dtype)
    return rho.to(dtype=dtype, device=device), phi.to(dtype=dtype, device=device)
