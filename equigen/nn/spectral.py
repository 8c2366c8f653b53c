"""SpectralConv: a translation-equivariant linear layer parameterised by its Fourier symbol.

``y = F^-1[ W(n) F x ]`` on periodic grids of 1, 2 or 3 (or more) axes: per retained
frequency ``n`` a ``(out, in)`` channel-mixing matrix ``W(n)`` given by a symbol
(:mod:`equigen.nn.symbols`); frequencies with ``|n_i| > m_i`` are dropped (FNO-style mode
truncation).

Conventions, chosen so that the layer is exactly a real, resolution-independent operator:

* ``modes = m`` keeps ``|n_i| <= m_i`` on every axis (``2 m_i + 1`` frequencies on full-FFT
  axes, ``m_d + 1`` on the last, real-FFT axis). Every spatial size must be ``>= 2 m_i``.
* The layer is the grid restriction of a map of band-limited functions: when ``N_i = 2 m_i``
  the Nyquist bin stands for ``+m_i`` and ``-m_i`` together and receives their average weight;
  the self-conjugate planes of the last axis (``n_d = 0`` and its Nyquist) are projected onto
  their Hermitian part. So a real input gives a real output for every size (odd or even), and
  the same weights on a finer grid give the same function.
* Channel mixing runs in real arithmetic (one batched real matmul; half of it for real symbols).

Shapes: ``(batch, in_channels, *spatial) -> (batch, out_channels, *spatial)``.
Symmetry: commutes with integer grid shifts of every axis, exactly (to rounding); with
reflections too when the symbol is even (:class:`~equigen.nn.symbols.RealEven`,
:class:`~equigen.nn.symbols.IsotropicPolynomial`).

Example::

    >>> import torch
    >>> from equigen.nn import SpectralConv
    >>> layer = SpectralConv(3, 5, modes=(6, 6))
    >>> layer(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 5, 32, 32])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from equigen.groups import GridShifts
from equigen.nn.symbols import Free, RealEven, Symbol, centred_frequencies, normalize_modes
from equigen.symmetry import Symmetry

__all__ = ["SpectralConv", "apply_symbol", "bin_weights", "check_field"]


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


def check_field(x, *, ndim: int, channels: int | None = None, modes=None, argument: str = "x",
                channel_axis: bool = True) -> None:
    """Validate a real periodic field ``(batch, C, *spatial)`` (or ``(..., *spatial)``)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{argument} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex():
        raise ValueError(f"{argument} has complex dtype {x.dtype}; this map takes real fields. Pass x.real "
                         "(or split real and imaginary parts into channels)")
    if not x.is_floating_point():
        raise ValueError(f"{argument} has dtype {x.dtype}; cast it with .double() or .float()")
    need = ndim + 2 if channel_axis else ndim
    if (channel_axis and x.dim() != need) or (not channel_axis and x.dim() < need):
        shape = "(batch, channels, *spatial)" if channel_axis else "(..., *spatial)"
        raise ValueError(f"{argument} has shape {tuple(x.shape)} but a {ndim}-D field must be {shape} "
                         f"with {ndim} spatial axes")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{argument} has {x.shape[1]} channels (axis 1, shape {tuple(x.shape)}) but the layer "
                         f"was built with in_channels={channels}")
    if modes is not None:
        sizes = x.shape[x.dim() - ndim:]
        for i, (n, m) in enumerate(zip(sizes, modes)):
            if n < 2 * m or n == 0:
                raise ValueError(f"{argument} has spatial size {n} on axis {i} (shape {tuple(x.shape)}), too small "
                                 f"for modes={m} (|n| <= {m} needs size >= {max(2 * m, 1)}); use a finer grid "
                                 f"or modes <= {n // 2}")


def _cat_slices(t, dim, parts):
    return torch.cat([p if isinstance(p, torch.Tensor) else t.narrow(dim, *p) for p in parts], dim)


def _hermitian_planes(re, im, modes, sizes):
    """Project the self-conjugate last-axis planes of centred-layout weights onto their Hermitian part."""
    nd = len(modes)
    full = tuple(range(re.dim() - nd, re.dim() - 1))
    planes = [0]
    if sizes[-1] == 2 * modes[-1] and modes[-1] > 0:
        planes.append(modes[-1])
    re_parts, im_parts, start = [], [], 0
    for p in planes:
        if p > start:
            re_parts.append(re.narrow(-1, start, p - start))
            im_parts.append(im.narrow(-1, start, p - start))
        r, i = re.narrow(-1, p, 1), im.narrow(-1, p, 1)
        rf, if_ = (r.flip(full), i.flip(full)) if full else (r, i)
        re_parts.append((r + rf) / 2)
        im_parts.append((i - if_) / 2)
        start = p + 1
    if start < re.shape[-1]:
        re_parts.append(re.narrow(-1, start, re.shape[-1] - start))
        im_parts.append(im.narrow(-1, start, im.shape[-1] - start))
    return torch.cat(re_parts, -1), torch.cat(im_parts, -1)


def _fold_axis(t, dim, m, n):
    """Centred layout ``-m..m`` -> bin layout ``[0..m, -m..-1]``; at ``n = 2m`` merge ``+-m`` (average)."""
    if n >= 2 * m + 1:
        return _cat_slices(t, dim, [(m, m + 1), (0, m)])
    nyq = (t.narrow(dim, 2 * m, 1) + t.narrow(dim, 0, 1)) / 2
    return torch.cat([t.narrow(dim, m, m), nyq, t.narrow(dim, 1, m - 1)], dim)


def bin_weights(re, im, modes, sizes, *, hermitian: bool = True):
    """Centred-layout symbol values ``(..., *S)`` -> per-bin weights of ``rfftn`` (retained bins only).

    ``hermitian=False`` skips the projection (valid when the symbol is real and even).
    """
    nd = len(modes)
    if im is not None and hermitian:
        re, im = _hermitian_planes(re, im, modes, sizes)
    for i in range(nd - 1):
        dim = re.dim() - nd + i
        re = _fold_axis(re, dim, modes[i], sizes[i])
        im = None if im is None else _fold_axis(im, dim, modes[i], sizes[i])
    return re, im


def _gather(X, modes, sizes):
    nd = len(modes)
    for i in range(nd - 1):
        dim, m, n = X.dim() - nd + i, modes[i], sizes[i]
        if n >= 2 * m + 1:
            X = _cat_slices(X, dim, [(0, m + 1), (n - m, m)])
    return X.narrow(-1, 0, modes[-1] + 1)


def _scatter(Y, modes, sizes):
    nd = len(modes)
    for i in range(nd - 1):
        dim, m, n = Y.dim() - nd + i, modes[i], sizes[i]
        if n >= 2 * m + 1:
            shape = list(Y.shape)
            shape[dim] = n - 2 * m - 1
            Y = torch.cat([Y.narrow(dim, 0, m + 1), Y.new_zeros(shape), Y.narrow(dim, m + 1, m)], dim)
    pad = sizes[-1] // 2 + 1 - (modes[-1] + 1)
    if pad:
        shape = list(Y.shape)
        shape[-1] = pad
        Y = torch.cat([Y, Y.new_zeros(shape)], -1)
    return Y


def _mix(Xs, re, im):
    """``Y[b, o, s] = sum_i W[o, i, s] X[b, i, s]`` in real arithmetic (one batched matmul)."""
    batch, cin = Xs.shape[:2]
    cout = re.shape[0]
    spatial = Xs.shape[2:]
    P = math.prod(spatial)
    xr = torch.view_as_real(Xs).reshape(batch, cin, P, 2)
    wr = re.reshape(cout, cin, P).permute(2, 1, 0)  # (P, in, out)
    if im is None:
        x = xr.permute(2, 0, 3, 1).reshape(P, 2 * batch, cin)  # batch of (re, im) rows
        y = torch.bmm(x, wr).reshape(P, batch, 2, cout)
    else:
        wi = im.reshape(cout, cin, P).permute(2, 1, 0)
        x = xr.permute(2, 0, 3, 1).reshape(P, batch, 2 * cin)  # [re | im]
        w = torch.cat([torch.cat([wr, wi], 2), torch.cat([-wi, wr], 2)], 1)  # (P, 2in, 2out)
        y = torch.bmm(x, w).reshape(P, batch, 2, cout)
    y = y.permute(1, 3, 0, 2).contiguous()
    return torch.view_as_complex(y).reshape(batch, cout, *spatial)


def apply_symbol(x, re, im, modes, *, hermitian: bool = True):
    """Apply centred-layout symbol values ``(out, in, *S)`` to a real field ``(B, in, *spatial)``."""
    nd = len(modes)
    sizes = tuple(x.shape[-nd:])
    dims = tuple(range(x.dim() - nd, x.dim()))
    re, im = bin_weights(re, im, modes, sizes, hermitian=hermitian)
    X = _gather(torch.fft.rfftn(x, dim=dims), modes, sizes)
    Y = _scatter(_mix(X, re, im), modes, sizes)
    return torch.fft.irfftn(Y, s=sizes, dim=dims)


class SpectralConv(torch.nn.Module):
    """Periodic spectral convolution ``(B, in, *spatial) -> (B, out, *spatial)`` with a symbol.

    Args:
        in_channels, out_channels: channel counts.
        modes: ``m`` (int, with ``ndim`` axes) or one per axis; keeps ``|n_i| <= m_i``.
        symbol: a :class:`~equigen.nn.symbols.Symbol` instance, ``"free"`` (default, FNO-like
            complex weights) or ``"real_even"``.
        ndim: number of spatial axes when ``modes`` is an int (default 1).
        length: physical period per axis (default ``2 pi``: wavenumber = integer frequency);
            used by physical symbols such as :class:`~equigen.nn.symbols.IsotropicPolynomial`.
        generator, dtype, device: initialisation of a symbol built here.

    Guarantees integer grid-shift equivariance (exact to rounding), real output for real
    input for every grid size, and resolution independence (weights are indexed by integer
    frequency, not by bin). Reflection symmetry when the symbol is even.
    """

    symmetry = Symmetry(lambda: GridShifts(2), ("field",), ("field",),
                        note="declared for the 2-D example with a Free symbol; reflections too with RealEven or "
                             "IsotropicPolynomial symbols")

    def __init__(self, in_channels: int, out_channels: int, modes, symbol: Symbol | str | None = None, *,
                 ndim: int | None = None, length=2 * math.pi, generator: torch.Generator | None = None,
                 dtype=None, device=None):
        super().__init__()
        if symbol is None or isinstance(symbol, str):
            self.modes = normalize_modes(modes, ndim)
            name = symbol or "free"
            makers = {"free": Free, "real_even": RealEven}
            if name not in makers:
                raise ValueError(f"symbol={symbol!r} is not known; use 'free', 'real_even' or a Symbol instance "
                                 "such as IsotropicPolynomial(1)")
            symbol = makers[name](in_channels, out_channels, self.modes, generator=generator, dtype=dtype,
                                  device=device)
        elif isinstance(symbol, Symbol):
            self.modes = normalize_modes(modes, ndim if ndim is not None else symbol.ndim)
            symbol.check_modes(self.modes)
        else:
            raise TypeError(f"symbol={symbol!r} must be a Symbol instance, 'free' or 'real_even'")
        if (symbol.in_channels, symbol.out_channels) != (in_channels, out_channels):
            raise ValueError(f"the symbol maps {symbol.in_channels} -> {symbol.out_channels} channels but the layer "
                             f"was asked for in_channels={in_channels}, out_channels={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.symbol = symbol
        self.ndim = len(self.modes)
        self.lengths = normalize_lengths(length, self.ndim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, ndim=self.ndim, channels=self.in_channels, modes=self.modes)
        freqs = centred_frequencies(self.modes, device=x.device)
        re, im = self.symbol.evaluate(freqs, self.lengths)
        if re.dtype != x.dtype:
            raise ValueError(f"x has dtype {x.dtype} but the layer's symbol is {re.dtype}; convert one of them "
                             f"(layer.to({x.dtype}) or x.to({re.dtype}))")
        hermitian = not (self.symbol.is_real and self.symbol.is_even)
        return apply_symbol(x, re, im, self.modes, hermitian=hermitian)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}, symbol={type(self.symbol).__name__}"

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        layer = cls(2, 3, (3, 4), generator=generator, dtype=dtype)
        return layer, (torch.randn(2, 2, 9, 8, generator=generator, dtype=dtype),)
