"""Layers with a symmetry built in, and their unconstrained twins.

* :class:`EGNN`, :class:`EGNNLayer`: E(n)-equivariant message passing in any dimension.
* :class:`TensorProductConv`, :class:`TensorProductNet`: e3nn tensor-product convolutions
  (E(3) by default, SE(3)-only with ``chiral=True``).
* Readouts: :class:`EnergyReadout`, :class:`VectorReadout`, :func:`conservative_forces`,
  :class:`ForceField`.
* Spectral: :class:`SpectralConv`, the symbols of :mod:`equigen.nn.symbols` and
  :class:`FourierOperator` (a linear evolution operator fitted from snapshot pairs);
  :class:`~equigen.nn.sine.SineConv` for Dirichlet boxes.
* Unconstrained baselines: :class:`FlatMLP`, :class:`RawMessagePassing` (graphs),
  :mod:`equigen.nn.baselines` (fields); the invariant-feature baseline :class:`DistanceMLP`
  (an MLP on sorted pair distances).
"""

from equigen.nn.egnn import EGNN, EGNNLayer
from equigen.nn.fourier_operator import FourierOperator
from equigen.nn.graph_baselines import FlatMLP, RawMessagePassing, count_parameters, width_for_params
from equigen.nn.invariant_baselines import DistanceMLP
from equigen.nn.readout import EnergyModel, EnergyReadout, ForceField, VectorReadout, conservative_forces
from equigen.nn.spectral import SpectralConv
from equigen.nn.symbols import Conserving, Free, IsotropicPolynomial, RealEven, Symbol
from equigen.nn.tensor_product import TensorProductConv, TensorProductNet

__all__ = ["EGNN", "EGNNLayer", "TensorProductConv", "TensorProductNet", "EnergyReadout", "VectorReadout",
           "EnergyModel", "ForceField", "conservative_forces",
           "SpectralConv", "FourierOperator", "Symbol", "Free", "RealEven", "Conserving", "IsotropicPolynomial",
           "FlatMLP", "RawMessagePassing", "DistanceMLP", "count_parameters", "width_for_params"]
