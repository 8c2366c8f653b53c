"""Symbols of translation-invariant linear maps on periodic grids, as values.

A linear map of periodic fields that commutes with grid shifts is diagonal in Fourier space:
it is its *symbol* ``L(n)``, one ``(out_channels, in_channels)`` matrix per integer frequency
vector ``n`` (physical wavenumber ``k_i = 2 pi n_i / length_i``). Physical principles are
constraints on the symbol, and each class here builds one in:

==========================  ===============================================  ===========================
symbol                      form                                             guarantees (besides shifts)
==========================  ===============================================  ===========================
:class:`Free`               any complex ``L(n)`` per retained mode (FNO)     real in, real out
:class:`RealEven`           real, ``L(n)`` depends on ``|n_1|, ..., |n_d|``  reflections of every axis;
                                                                             self-adjoint
:class:`Conserving`         wraps a symbol, forces ``L(0) = 0``              zero-sum output (mass)
:class:`IsotropicPolynomial` ``-(c_1 |k|^2 + c_2 |k|^4 + ...)``              reflections, rotations of
                                                                             the lattice; ``c_1 = D``
==========================  ===============================================  ===========================

A symbol is evaluated on a rectangular set of integer frequencies in the *centred layout*:
``n_i = -m_i..m_i`` on every axis but the last and ``n_d = 0..m_d`` on the last (real-FFT)
axis; negative last-axis frequencies are implied by ``L(-n) = conj(L(n))`` (real fields).
:class:`~equigen.nn.spectral.SpectralConv` and :class:`~equigen.nn.fourier_operator.FourierOperator`
apply symbols to fields.

Example::

    >>> import torch
    >>> from equigen.nn import SpectralConv, IsotropicPolynomial
    >>> layer = SpectralConv(1, 1, modes=8, symbol=IsotropicPolynomial(1, init=[0.1]))
    >>> layer(torch.randn(2, 1, 32, dtype=torch.float64)).shape
    torch.Size([2, 1, 32])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch

from equigen._configurable import configurable
from equigen.core.grids import normalize_lengths
from equigen.core.spectral import apply_symbol
from equigen.core.validation import InputTypeError, check_positive_int
from equigen.groups import GridReflections, GridShifts
from equigen.symmetry import Symmetry

__all__ = ["Symbol", "Free", "RealEven", "Conserving", "IsotropicPolynomial", "normalize_modes",
           "centred_frequencies"]


def normalize_modes(modes, ndim: int | None = None, *, argument: str = "modes") -> tuple[int, ...]:
    """``modes`` (an int, or one non-negative int per spatial axis) as a tuple of ``ndim`` ints.

    An int with ``ndim=None`` means one spatial axis.
    """
    if isinstance(modes, bool):
        raise TypeError(f"{argument}={modes!r} must be an int or a tuple of ints, not a bool")
    if isinstance(modes, int):
        ndim = 1 if ndim is None else ndim
        out = (modes,) * ndim
    elif isinstance(modes, Sequence) and all(isinstance(m, int) and not isinstance(m, bool) for m in modes):
        out = tuple(int(m) for m in modes)
        if ndim is not None and len(out) != ndim:
            raise ValueError(f"{argument}={modes!r} gives {len(out)} axes but ndim={ndim}; give one entry per "
                             "spatial axis or a single int")
    else:
        raise TypeError(f"{argument}={modes!r} must be an int or a tuple of ints (one per spatial axis)")
    if len(out) == 0 or any(m < 0 for m in out):
        raise ValueError(f"{argument}={modes!r} must be non-negative with at least one axis; "
                         "modes=m keeps frequencies |n| <= m")
    return out


def centred_frequencies(modes: tuple[int, ...], device=None) -> tuple[torch.Tensor, ...]:
    """Integer frequencies of the centred layout: ``-m..m`` per axis, ``0..m`` on the last axis."""
    out = [torch.arange(-m, m + 1, device=device) for m in modes[:-1]]
    out.append(torch.arange(0, modes[-1] + 1, device=device))
    return tuple(out)


def _field_example(make_symbol, *, dtype, generator):
    """A symbol applied to a 2-D field (modes (3, 4), grid 9 x 8: odd size and an even Nyquist)."""
    symbol = make_symbol()
    x = torch.randn(2, symbol.in_channels, 9, 8, generator=generator, dtype=dtype)
    return functools.partial(symbol.apply, modes=(3, 4)), (x,)


class Symbol(torch.nn.Module):
    """Base class: a symbol maps integer frequencies to ``(out, in)`` matrices.

    Subclasses set ``in_channels``, ``out_channels``, ``modes`` (a tuple, or ``None`` when the
    symbol can be evaluated at any frequency), ``is_real`` (imaginary part zero) and
    ``is_even`` (``L(n)`` unchanged by flipping the sign of any ``n_i``), and implement
    :meth:`evaluate`.
    """

    in_channels: int = 1
    out_channels: int = 1
    modes: tuple[int, ...] | None = None
    is_real: bool = False
    is_even: bool = False
    conserving: bool = False

    def evaluate(self, freqs: Sequence[torch.Tensor], lengths: Sequence[float]
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Real and imaginary parts ``(out, in, *S)`` at the centred-layout ``freqs``.

        ``freqs[i]`` holds integer frequencies of axis ``i``; ``lengths[i]`` the physical
        length of that axis. The imaginary part is ``None`` for real symbols.
        """
        raise NotImplementedError

    def check_modes(self, modes: tuple[int, ...]) -> None:
        """Raise ``ValueError`` if this symbol's table does not fit ``modes``."""
        if self.modes is not None and tuple(self.modes) != tuple(modes):
            raise ValueError(f"the symbol {type(self).__name__} was built for modes={self.modes} but is used "
                             f"with modes={tuple(modes)}; build it with the layer's modes")

    @property
    def ndim(self) -> int | None:
        return None if self.modes is None else len(self.modes)

    def apply(self, x: torch.Tensor, modes, lengths=None, *, transform: str = "auto") -> torch.Tensor:
        """``F^-1[L(n) F x]`` on a real periodic field ``(B, in, *spatial) -> (B, out, *spatial)``.

        ``modes``: one int per spatial axis (frequencies ``|n_i| <= m_i`` are kept); ``lengths``:
        the period of each axis (default ``2 pi``); ``transform`` as in
        :func:`equigen.core.spectral.apply_symbol`. Commutes with integer grid shifts (and with
        reflections for an even symbol).
        """
        modes = normalize_modes(modes)
        lengths = normalize_lengths(2 * math.pi if lengths is None else lengths, len(modes))
        re, im = self.evaluate(centred_frequencies(modes, device=x.device), lengths)
        if re.dtype != x.dtype:
            raise InputTypeError(f"x has dtype {x.dtype} but the layer's symbol is {re.dtype}; convert one of them "
                                 f"(layer.to({x.dtype}) or x.to({re.dtype}))")
        return apply_symbol(x, re, im, modes, hermitian=not (self.is_real and self.is_even), transform=transform)


def _init_table(shape, scale, generator, dtype, device):
    """Uniform ``(-scale, scale)`` table of logical shape ``(out, in, *S)``, stored mode-major.

    The memory order is ``(*S, in, out)`` (a permuted view): the spectral layers then read one
    ``(in, out)`` matrix per mode without copying the weights, and gradients land in place.
    """
    dtype = dtype if dtype is not None else torch.get_default_dtype()
    t = (torch.rand(*shape, generator=generator, dtype=dtype) * 2 - 1) * scale
    nd = len(shape) - 2
    store = torch.empty(tuple(shape[2:]) + (shape[1], shape[0]), dtype=dtype, device=device)
    view = store.permute((nd + 1, nd) + tuple(range(nd)))
    view.copy_(t)
    return view


@configurable
class Free(Symbol):
    """Any complex symbol per retained mode (the FNO spectral weights).

    Parameters ``weight_real``, ``weight_imag`` of shape ``(out, in, 2 m_1 + 1, ...,
    2 m_{d-1} + 1, m_d + 1)``. Real input still gives real output: the layer projects the
    self-conjugate planes (``n_d = 0`` and the last-axis Nyquist plane) onto their Hermitian
    part. Guarantees integer grid-shift equivariance only.

    Example::

        >>> Free(3, 4, modes=(4, 4)).weight_real.shape
        torch.Size([4, 3, 9, 5])
    """

    symmetry = Symmetry(lambda: GridShifts(2), ("field",), ("field",),
                        note="declared for the 2-D example; holds for any ndim. Not reflection-symmetric.")

    def __init__(self, in_channels: int, out_channels: int, modes, *, ndim: int | None = None,
                 generator: torch.Generator | None = None, dtype=None, device=None):
        super().__init__()
        _check_channels(in_channels, out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.modes = normalize_modes(modes, ndim)
        shape = (out_channels, in_channels) + tuple(2 * m + 1 for m in self.modes[:-1]) + (self.modes[-1] + 1,)
        scale = 1.0 / math.sqrt(in_channels)
        self.weight_real = torch.nn.Parameter(_init_table(shape, scale, generator, dtype, device))
        self.weight_imag = torch.nn.Parameter(_init_table(shape, scale, generator, dtype, device))

    def evaluate(self, freqs, lengths):
        self.check_modes(tuple(len(f) // 2 for f in freqs[:-1]) + (len(freqs[-1]) - 1,))
        return self.weight_real, self.weight_imag

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        return _field_example(lambda: cls(2, 3, (3, 4), generator=generator, dtype=dtype),
                              dtype=dtype, generator=generator)


@configurable
class RealEven(Symbol):
    """A real symbol that depends only on ``|n_1|, ..., |n_d|``: reflection-symmetric, self-adjoint.

    Parameter ``weight`` of shape ``(out, in, m_1 + 1, ..., m_d + 1)``, indexed by the absolute
    frequency on each axis. The map commutes with integer shifts and with the reflection
    ``x[i] -> x[-i mod N]`` of any axis; with ``in = out`` and a symmetric ``weight[:, :, ...]``
    it is self-adjoint.

    Example::

        >>> RealEven(1, 1, modes=8).weight.shape
        torch.Size([1, 1, 9])
    """

    is_real = True
    is_even = True
    symmetry = Symmetry(lambda: GridShifts(2) * GridReflections(2), ("field",), ("field",),
                        note="declared for the 2-D example; holds for any ndim")

    def __init__(self, in_channels: int, out_channels: int, modes, *, ndim: int | None = None,
                 generator: torch.Generator | None = None, dtype=None, device=None):
        super().__init__()
        _check_channels(in_channels, out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.modes = normalize_modes(modes, ndim)
        shape = (out_channels, in_channels) + tuple(m + 1 for m in self.modes)
        self.weight = torch.nn.Parameter(_init_table(shape, 1.0 / math.sqrt(in_channels), generator, dtype, device))

    def evaluate(self, freqs, lengths):
        self.check_modes(tuple(len(f) // 2 for f in freqs[:-1]) + (len(freqs[-1]) - 1,))
        nd = len(freqs)
        w = self.weight.permute(tuple(range(2, 2 + nd)) + (1, 0))  # mode-major, as stored
        for i, f in enumerate(freqs):
            w = torch.index_select(w, i, f.abs().to(w.device))
        return w.permute((nd + 1, nd) + tuple(range(nd))), None

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        return _field_example(lambda: cls(2, 3, (3, 4), generator=generator, dtype=dtype),
                              dtype=dtype, generator=generator)


@configurable
class Conserving(Symbol):
    """Wraps a symbol and forces ``L(0) = 0``: the output has zero spatial sum (mass is conserved).

    As a generator ``du/dt = L u`` the spatial sum (mass) of ``u`` is constant; as a layer, the
    output sums to zero over space. Keeps every other guarantee of the wrapped symbol (its
    ``is_real``/``is_even`` flags are inherited).

    Example::

        >>> Conserving(RealEven(1, 1, modes=8)).modes
        (8,)
    """

    conserving = True
    symmetry = Symmetry(lambda: GridShifts(2) * GridReflections(2), ("field",), ("field",),
                        note="the example wraps RealEven; Conserving adds L(0)=0 and keeps the wrapped "
                             "symbol's symmetry (only shifts when it wraps Free)")

    def __init__(self, inner: Symbol):
        super().__init__()
        if not isinstance(inner, Symbol):
            raise TypeError(f"inner={inner!r} must be a Symbol (Free, RealEven, IsotropicPolynomial, ...)")
        self.inner = inner
        self.in_channels, self.out_channels = inner.in_channels, inner.out_channels
        self.modes = inner.modes
        self.is_real, self.is_even = inner.is_real, inner.is_even

    def evaluate(self, freqs, lengths):
        re, im = self.inner.evaluate(freqs, lengths)
        mask = torch.ones(tuple(len(f) for f in freqs), dtype=re.dtype, device=re.device)
        zero = tuple(int(torch.nonzero(f == 0)[0]) for f in freqs)
        mask[zero] = 0
        return re * mask, (None if im is None else im * mask)

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        return _field_example(lambda: cls(RealEven(2, 3, (3, 4), generator=generator, dtype=dtype)),
                              dtype=dtype, generator=generator)


@configurable
class IsotropicPolynomial(Symbol):
    """``L(k) = -(c_1 |k|^2 + c_2 |k|^4 + ... + c_p |k|^{2p})`` with ``k = 2 pi n / length``.

    The coefficients are physical constants: for diffusion ``c_1 = D`` (units length^2 /
    time); ``c_2`` is a hyperdiffusion constant (length^4 / time). ``coefficients`` has shape
    ``(out, in, degree)``; with one channel ``symbol.D`` is ``c_1``. A function of ``|k|``
    only: commutes with shifts and reflections of every axis (and with lattice rotations
    when the lengths agree); ``L(0) = 0``, so it also conserves mass.

    Example::

        >>> s = IsotropicPolynomial(1, init=[0.1])
        >>> float(s.D)
        0.1
    """

    is_real = True
    is_even = True
    conserving = True
    symmetry = Symmetry(lambda: GridShifts(2) * GridReflections(2), ("field",), ("field",),
                        note="declared for the 2-D example; holds for any ndim")

    def __init__(self, degree: int = 1, in_channels: int = 1, out_channels: int = 1, *, init=None,
                 generator: torch.Generator | None = None, dtype=None, device=None):
        super().__init__()
        check_positive_int(degree, "degree")
        _check_channels(in_channels, out_channels)
        self.degree, self.in_channels, self.out_channels = degree, in_channels, out_channels
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        if init is None:
            c = torch.rand(out_channels, in_channels, degree, generator=generator, dtype=dtype) * 0.1
        else:
            c = torch.as_tensor(init, dtype=dtype).expand(out_channels, in_channels, degree).clone()
        self.coefficients = torch.nn.Parameter(c.to(device))

    @property
    def D(self) -> torch.Tensor:
        """The diffusion constant ``c_1`` (detached; a 0-d tensor with one channel, else ``(out, in)``)."""
        c = self.coefficients[..., 0].detach()
        return c.reshape(()) if c.numel() == 1 else c

    def evaluate(self, freqs, lengths):
        c = self.coefficients
        k2 = torch.zeros((), dtype=c.dtype, device=c.device)
        for i, (f, length) in enumerate(zip(freqs, lengths)):
            shape = [1] * len(freqs)
            shape[i] = len(f)
            k2 = k2 + ((2 * math.pi / length) * f.to(c.dtype)).reshape(shape) ** 2
        powers = torch.stack([k2 ** (p + 1) for p in range(self.degree)], dim=-1)  # (*S, degree)
        return -torch.einsum("oip,...p->oi...", c, powers), None

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        return _field_example(lambda: cls(2, 2, 3, generator=generator, dtype=dtype),
                              dtype=dtype, generator=generator)


def _check_channels(in_channels, out_channels):
    for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
        check_positive_int(v, name)
