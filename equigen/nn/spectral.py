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

import torch

from equigen._configurable import configurable
from equigen.core.grids import normalize_lengths
from equigen.core.spectral import apply_symbol, bin_weights, check_field
from equigen.groups import GridShifts
from equigen.nn.symbols import Free, RealEven, Symbol, normalize_modes
from equigen.symmetry import Symmetry

__all__ = ["SpectralConv", "apply_symbol", "bin_weights", "check_field"]


@configurable
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
        transform: how the retained modes are computed: ``"fft"`` (full ``rfftn``/``irfftn``),
            ``"dft"`` (matrix products over the retained modes only, faster when few modes are
            kept) or ``"auto"`` (default, a flop model picks per grid). Same operator either way.
        generator, dtype, device: initialisation of a symbol built here.

    Guarantees integer grid-shift equivariance (exact to rounding), real output for real
    input for every grid size, and resolution independence (weights are indexed by integer
    frequency, not by bin). Reflection symmetry when the symbol is even.
    """

    symmetry = Symmetry(lambda: GridShifts(2), ("field",), ("field",),
                        note="declared for the 2-D example with a Free symbol; reflections too with RealEven or "
                             "IsotropicPolynomial symbols")

    def __init__(self, in_channels: int, out_channels: int, modes, symbol: Symbol | str | None = None, *,
                 ndim: int | None = None, length=2 * math.pi, transform: str = "auto",
                 generator: torch.Generator | None = None, dtype=None, device=None):
        super().__init__()
        if transform not in ("auto", "fft", "dft"):
            raise ValueError(f"transform={transform!r} must be 'auto', 'fft' or 'dft'")
        self.transform = transform
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
        return self.symbol.apply(x, self.modes, self.lengths, transform=self.transform)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}, symbol={type(self.symbol).__name__}"

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        layer = cls(2, 3, (3, 4), generator=generator, dtype=dtype)
        return layer, (torch.randn(2, 2, 9, 8, generator=generator, dtype=dtype),)
