"""Layers with a symmetry built in, and their unconstrained twins.

* :class:`EGNN`, :class:`EGNNLayer`: E(n)-equivariant message passing in any dimension.
* :class:`TensorProductConv`, :class:`TensorProductNet`: e3nn tensor-product convolutions
  (E(3) by default, SE(3)-only with ``chiral=True``).
* Readouts: :class:`EnergyReadout`, :class:`VectorReadout`, :func:`conservative_forces`,
  :class:`ForceField`.
* Spectral: :class:`SpectralConv`, the symbols of :mod:`equigen.nn.symbols` and
  :class:`FourierOperator` (a linear evolution operator fitted from snapshot pairs);
  :class:`SineConv` (the sine-transform counterpart, for Dirichlet boxes).
* Atoms: :class:`Potential` (species embedding, per-species reference energies, energy/force
  normalisation, periodic triclinic cells, stress) around any of the graph backbones.
* :class:`FNO`: a Fourier neural operator model (lifting, SpectralConv blocks, projection).
* Unconstrained baselines: :class:`FlatMLP`, :class:`RawMessagePassing`, :class:`DistanceMLP`
  (graphs), :mod:`equigen.nn.baselines` (fields).
"""

from equigen.nn.egnn import EGNN, EGNNLayer
from equigen.nn.fno import FNO
from equigen.nn.fourier_operator import FourierOperator
from equigen.nn.graph_baselines import DistanceMLP, FlatMLP, RawMessagePassing, count_parameters, width_for_params
from equigen.nn.potential import Potential
from equigen.nn.readout import EnergyModel, EnergyReadout, ForceField, VectorReadout, conservative_forces
from equigen.nn.sine import SineConv
from equigen.nn.spectral import SpectralConv
from equigen.nn.symbols import Conserving, Free, IsotropicPolynomial, RealEven, Symbol
from equigen.nn.tensor_product import TensorProductConv, TensorProductNet

__all__ = ["EGNN", "EGNNLayer", "TensorProductConv", "TensorProductNet", "EnergyReadout", "VectorReadout",
           "EnergyModel", "ForceField", "conservative_forces",
           "SpectralConv", "SineConv", "FourierOperator",
           "Symbol", "Free", "RealEven", "Conserving", "IsotropicPolynomial",
           "FlatMLP", "RawMessagePassing", "DistanceMLP", "count_parameters", "width_for_params",
           "Potential", "FNO"]
