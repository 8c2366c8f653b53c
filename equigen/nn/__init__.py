"""Layers with a symmetry built in, and their unconstrained twins.

Spectral part: :class:`SpectralConv`, the symbols of :mod:`equigen.nn.symbols` and
:class:`FourierOperator` (a linear evolution operator fitted from snapshot pairs).
"""

from equigen.nn.fourier_operator import FourierOperator
from equigen.nn.spectral import SpectralConv
from equigen.nn.symbols import Conserving, Free, IsotropicPolynomial, RealEven, Symbol

__all__ = ["SpectralConv", "FourierOperator", "Symbol", "Free", "RealEven", "Conserving", "IsotropicPolynomial"]
