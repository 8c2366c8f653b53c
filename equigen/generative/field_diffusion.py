"""Conditional diffusion of fields: an FNO-style denoiser from spectral blocks, and constraint projections.

:class:`FieldDenoiser` maps ``(x_t, t, cond)`` to a prediction of ``x_t``'s shape. ``x_t``
``(B, C, *spatial)`` and ``cond`` ``(B, C_cond, *spatial)`` are concatenated along channels,
lifted pointwise, passed through ``depth`` blocks ``h <- gelu(film_t(K h + W h))`` (``K`` a
spectral convolution, ``W`` a pointwise linear map, ``film_t`` a per-channel scale and shift
from a sinusoidal embedding of ``t``) and projected pointwise. Layout is channels-last inside
(pointwise maps are ``torch.nn.Linear``).

``conv="fourier"``: ``K`` is :class:`~equigen.nn.spectral.SpectralConv` (periodic). Every
operation commutes with integer grid shifts, so the denoiser -- and with it the conditional
sampler -- is translation-equivariant on a periodic domain: shifting ``rho`` and the noise
shifts the sampled ``phi``. ``conv="sine"``: ``K`` is :class:`~equigen.nn.sine.SineConv`
(Dirichlet node grid) and the last layer is a :class:`SineConv` too, so the output is a sine
series: exactly zero on the boundary, unless ``free_boundary=True`` adds a pointwise linear map
beside it (the soft twin in the same basis: boundary values learned, not built in). ``positional=True``
is the unconstrained twin: two
coordinate channels ``(x, y)`` are appended to the input, which breaks translation
equivariance at the same size (+2 input channels).

Projections for :class:`~equigen.generative.diffusion.Diffusion`'s ``project`` (linear,
orthogonal, idempotent): :func:`zero_mean` (periodic gauge), :class:`FourierBandLimit`
(zero mean and ``|n_i| <= m``) and :class:`SineBandLimit` (sine modes ``k_i <= m``: zero on
the boundary). Used as ``project``, the whole chain lives in the subspace ("generation in the
basis") and every sample satisfies the constraint exactly.

Example::

    >>> import torch
    >>> from equigen.generative.field_diffusion import FieldDenoiser
    >>> net = FieldDenoiser(1, 1, width=16, modes=6, depth=2)
    >>> net(torch.randn(3, 1, 32, 32), torch.tensor([0, 10, 999]), torch.randn(3, 1, 32, 32)).shape
    torch.Size([3, 1, 32, 32])
"""

from __future__ import annotations

import math

import torch

from equigen._configurable import configurable
from equigen.core.grids import grid_frequencies
from equigen.core.validation import check_finite, check_non_negative_int, check_positive_float
from equigen.generative.diffusion import timestep_embedding
from equigen.groups import GridShifts
from equigen.nn.sine import BoxReflections, SineConv, dst1n, idst1n, interior, pad_boundary
from equigen.nn.spectral import SpectralConv
from equigen.nn.symbols import normalize_modes
from equigen.symmetry import Symmetry

__all__ = ["FieldDenoiser", "SineFieldDenoiser", "zero_mean", "FourierBandLimit", "SineBandLimit", "jacobi_sweeps"]


def zero_mean(x: torch.Tensor, ndim: int = 2) -> torch.Tensor:
    """Subtract the spatial mean of each field (the periodic Poisson gauge)."""
    return x - x.mean(dim=tuple(range(x.dim() - ndim, x.dim())), keepdim=True)


class FourierBandLimit:
    """Projection of periodic fields onto ``|n_i| <= m_i`` (integer frequencies), optionally zero mean.

    Orthogonal and shift-equivariant. ``modes`` one int or one per axis (the last ``ndim`` axes).
    """

    def __init__(self, modes, *, ndim: int = 2, zero_mean: bool = True):
        self.modes = normalize_modes(modes, ndim)
        self.ndim = ndim
        self.zero_mean = zero_mean

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        nd = self.ndim
        dims = tuple(range(x.dim() - nd, x.dim()))
        sizes = x.shape[x.dim() - nd:]
        X = torch.fft.rfftn(x, dim=dims)
        mask = torch.ones((), dtype=torch.bool, device=x.device)
        for i, (n, m, f) in enumerate(zip(sizes, self.modes, grid_frequencies(sizes, device=x.device))):
            keep = f.abs() < m + 0.5
            if n % 2 == 0 and m >= n // 2:  # keep the Nyquist bin whole: the projection stays real and idempotent
                keep = torch.ones_like(keep)
            shape = [1] * nd
            shape[i] = len(f)
            mask = mask & keep.reshape(shape)
        if self.zero_mean:
            mask = mask.clone()
            mask[(0,) * nd] = False
        return torch.fft.irfftn(X * mask, s=sizes, dim=dims)

    def __repr__(self) -> str:
        return f"FourierBandLimit(modes={self.modes}, zero_mean={self.zero_mean})"


class SineBandLimit:
    """Projection of node-grid fields onto sine modes ``1 <= k_i <= m_i``: exactly zero on the boundary.

    Orthogonal on the interior (DST-I is orthogonal up to a factor); boundary entries are written as 0.
    """

    def __init__(self, modes, *, ndim: int = 2):
        self.modes = normalize_modes(modes, ndim)
        self.ndim = ndim

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        nd = self.ndim
        inner = interior(x, nd)
        X = dst1n(inner, nd)
        for i, m in enumerate(self.modes):
            d = X.dim() - nd + i
            n = X.shape[d]
            if m < n:
                keep = torch.arange(n, device=x.device) < m
                shape = [1] * X.dim()
                shape[d] = n
                X = X * keep.reshape(shape)
        return pad_boundary(idst1n(X, nd), nd)

    def __repr__(self) -> str:
        return f"SineBandLimit(modes={self.modes})"


def jacobi_sweeps(phi: torch.Tensor, rho: torch.Tensor, boundary: str, sweeps: int, *, length: float = 1.0,
                  omega: float = 1.0) -> torch.Tensor:
    """``sweeps`` damped Jacobi (Richardson) sweeps on ``lap(phi) = rho`` with the spectral Laplacian.

    ``phi <- phi - omega (lap(phi) - rho) / |lambda_max|``: the error in a mode with Laplacian
    eigenvalue ``lambda`` shrinks by ``1 - omega |lambda| / |lambda_max|`` per sweep, so a few
    sweeps remove the high-frequency errors that dominate the PDE residual while leaving the
    low-frequency error (most of the L2 error) nearly untouched: a smoother, not a solver.
    ``|lambda_max|`` is the largest eigenvalue on the grid. Dirichlet: boundary kept at its values.
    """
    from equigen.data.poisson import laplacian

    check_non_negative_int(sweeps, "sweeps")
    omega = check_positive_float(omega, "omega")
    sizes = phi.shape[-2:]
    if boundary == "periodic":
        lam_max = sum((2 * math.pi * (n // 2) / length) ** 2 for n in sizes)
    else:
        lam_max = sum((math.pi * (n - 2) / length) ** 2 for n in sizes)
    for _ in range(sweeps):
        r = laplacian(phi, boundary, length) - rho
        if boundary == "dirichlet":
            r = pad_boundary(interior(r, 2), 2)
        else:
            r = zero_mean(r)
        phi = phi + omega * r / lam_max
    return phi


class _Block(torch.nn.Module):
    def __init__(self, width, modes, conv, emb_dim, generator, dtype, device):
        super().__init__()
        if conv == "fourier":
            self.spectral = SpectralConv(width, width, modes, generator=generator, dtype=dtype, device=device)
        else:
            self.spectral = SineConv(width, width, modes, generator=generator, dtype=dtype, device=device)
        self.pointwise = torch.nn.Linear(width, width, dtype=dtype, device=device)
        self.film = torch.nn.Linear(emb_dim, 2 * width, dtype=dtype, device=device)
        torch.nn.init.zeros_(self.film.weight)
        torch.nn.init.zeros_(self.film.bias)

    def forward(self, h, emb):  # h channels-last (B, *spatial, W)
        nd = h.dim() - 2
        k = self.spectral(h.movedim(-1, 1)).movedim(1, -1)
        scale, shift = self.film(emb).chunk(2, dim=-1)
        shape = (h.shape[0],) + (1,) * nd + (h.shape[-1],)
        y = (k + self.pointwise(h)) * (1 + scale.reshape(shape)) + shift.reshape(shape)
        return torch.nn.functional.gelu(y)


@configurable
class FieldDenoiser(torch.nn.Module):
    """FNO-style conditional denoiser ``(x_t (B, C, *S), t (B,), cond (B, C_c, *S)) -> (B, C, *S)``.

    Args:
        channels: channels of the diffused field ``x_t`` (and of the output).
        cond_channels: channels of ``cond`` (0: unconditional; ``cond`` must then be ``None``).
        width: hidden channels. modes: kept modes per axis (Fourier ``|n| <= m`` or sine ``k <= m``).
        depth: number of spectral blocks. ndim: spatial axes (default 2).
        conv: ``"fourier"`` (periodic, translation-equivariant) or ``"sine"`` (Dirichlet, zero boundary).
        num_steps: ``T`` of the diffusion (scales the time embedding). time_dim: embedding size.
        positional: append coordinate channels (the unconstrained twin; breaks shift equivariance).
        free_boundary: ``conv="sine"`` only: output ``SineConv(h) + Linear(h)`` instead of ``SineConv(h)``,
            so the boundary values are free (learned softly); ``width + channels`` extra parameters.
        generator, dtype, device: initialisation.

    Symmetry (``conv="fourier"``, ``positional=False``): integer grid shifts of ``x_t`` and
    ``cond`` shift the output, exactly. ``conv="sine"``: box reflections; output zero on the boundary.
    """

    symmetry = Symmetry(lambda: GridShifts(2), ("field", "field"), ("field",),
                        note="conv='fourier', positional=False; time step fixed. conv='sine': BoxReflections instead")

    def __init__(self, channels: int = 1, cond_channels: int = 1, *, width: int = 32, modes=12, depth: int = 4,
                 ndim: int = 2, conv: str = "fourier", num_steps: int = 1000, time_dim: int = 64,
                 positional: bool = False, free_boundary: bool = False, generator: torch.Generator | None = None,
                 dtype=None, device=None):
        super().__init__()
        for name, v, lo in (("channels", channels, 1), ("cond_channels", cond_channels, 0), ("width", width, 1),
                            ("depth", depth, 1), ("num_steps", num_steps, 1), ("time_dim", time_dim, 2)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name}={v!r} must be an int >= {lo}")
        if conv not in ("fourier", "sine"):
            raise ValueError(f"conv={conv!r} must be 'fourier' (periodic) or 'sine' (Dirichlet)")
        if time_dim % 2:
            raise ValueError(f"time_dim={time_dim!r} must be even")
        self.channels, self.cond_channels, self.width = channels, cond_channels, width
        self.modes = normalize_modes(modes, ndim)
        self.ndim, self.conv, self.num_steps, self.time_dim = ndim, conv, num_steps, time_dim
        self.positional = bool(positional)
        if not isinstance(free_boundary, bool) or (free_boundary and conv != "sine"):
            raise ValueError(f"free_boundary={free_boundary!r} must be a bool, and True only with conv='sine' "
                             f"(got conv={conv!r}): the Fourier output is already unconstrained")
        self.free_boundary = free_boundary
        kw = dict(dtype=dtype, device=device)
        if generator is not None:  # reproducible init of the Linear layers too
            state = torch.random.get_rng_state()
            torch.manual_seed(int(torch.randint(0, 2**62, (), generator=generator)))
        try:
            cin = channels + cond_channels + (ndim if positional else 0)
            self.lift = torch.nn.Linear(cin, width, **kw)
            self.time_mlp = torch.nn.Sequential(torch.nn.Linear(time_dim, time_dim, **kw), torch.nn.GELU(),
                                                torch.nn.Linear(time_dim, time_dim, **kw))
            self.blocks = torch.nn.ModuleList(_Block(width, self.modes, conv, time_dim, generator, dtype, device)
                                              for _ in range(depth))
            self.head = torch.nn.Linear(width, width, **kw)
            if conv == "sine":
                self.out = SineConv(width, channels, self.modes, generator=generator, **kw)
                if free_boundary:
                    self.out_pointwise = torch.nn.Linear(width, channels, **kw)
            else:
                self.out = torch.nn.Linear(width, channels, **kw)
        finally:
            if generator is not None:
                torch.random.set_rng_state(state)

    def _coords(self, x):
        sizes = x.shape[2:]
        axes = []
        for n in sizes:
            if self.conv == "fourier":
                axes.append(torch.arange(n, dtype=x.dtype, device=x.device) / n)
            else:
                axes.append(torch.arange(n, dtype=x.dtype, device=x.device) / max(n - 1, 1))
        grids = torch.meshgrid(*axes, indexing="ij")
        return torch.stack(grids, 0).expand(x.shape[0], self.ndim, *sizes)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(x_t, torch.Tensor) or x_t.dim() != self.ndim + 2 or x_t.shape[1] != self.channels:
            raise ValueError(f"x_t must be (batch, {self.channels}, *spatial) with {self.ndim} spatial axes, got "
                             f"{tuple(getattr(x_t, 'shape', ()))}")
        check_finite(x_t, "x_t")
        parts = [x_t]
        if self.cond_channels:
            if not isinstance(cond, torch.Tensor) or cond.shape != (x_t.shape[0], self.cond_channels,
                                                                     *x_t.shape[2:]):
                raise ValueError(f"cond must have shape {(x_t.shape[0], self.cond_channels, *x_t.shape[2:])} "
                                 f"(channels concatenated to x_t), got {tuple(getattr(cond, 'shape', ()))}")
            check_finite(cond, "cond")
            parts.append(cond.to(x_t.dtype))
        elif cond is not None:
            raise ValueError("cond given but the denoiser was built with cond_channels=0")
        if self.positional:
            parts.append(self._coords(x_t))
        if not isinstance(t, torch.Tensor) or t.shape != (x_t.shape[0],):
            raise ValueError(f"t must be a tensor of shape ({x_t.shape[0]},) (one time step per sample)")
        h = self.lift(torch.cat(parts, 1).movedim(1, -1))
        emb = self.time_mlp(timestep_embedding(t, self.time_dim, self.num_steps, dtype=x_t.dtype))
        for block in self.blocks:
            h = block(h, emb)
        h = torch.nn.functional.gelu(self.head(h))
        if self.conv == "sine":
            y = self.out(h.movedim(-1, 1))
            return y + self.out_pointwise(h).movedim(-1, 1) if self.free_boundary else y
        return self.out(h).movedim(-1, 1)

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        net = cls(1, 1, width=8, modes=(3, 4), depth=2, time_dim=8, generator=generator, dtype=dtype)
        t = torch.tensor([3, 700])

        def fn(x, cond):
            return net(x, t, cond)

        return fn, (torch.randn(2, 1, 9, 8, generator=generator, dtype=dtype),
                    torch.randn(2, 1, 9, 8, generator=generator, dtype=dtype))


@configurable
class SineFieldDenoiser(FieldDenoiser):
    """:class:`FieldDenoiser` with ``conv="sine"`` (Dirichlet node grid): output exactly 0 on the boundary.

    Symmetry: reflections of the box (node ``j -> N - 1 - j``) of ``x_t`` and ``cond``.
    """

    symmetry = Symmetry(lambda: BoxReflections(2), ("field", "field"), ("field",), note="time step fixed")

    def __init__(self, channels: int = 1, cond_channels: int = 1, **kwargs):
        kwargs["conv"] = "sine"
        super().__init__(channels, cond_channels, **kwargs)
