"""Layers with a symmetry built in, and their unconstrained twins.

* :class:`EGNN`, :class:`EGNNLayer`: E(n)-equivariant message passing in any dimension.
* :class:`TensorProductConv`, :class:`TensorProductNet`: e3nn tensor-product convolutions
  (E(3) by default, SE(3)-only with ``chiral=True``).
* Readouts: :class:`EnergyReadout`, :class:`VectorReadout`, :func:`conservative_forces`,
  :class:`ForceField`.
* Unconstrained baselines: :class:`FlatMLP`, :class:`RawMessagePassing`.
"""

from equigen.nn.egnn import EGNN, EGNNLayer
from equigen.nn.readout import EnergyModel, EnergyReadout, ForceField, VectorReadout, conservative_forces
from equigen.nn.tensor_product import TensorProductConv, TensorProductNet

__all__ = ["EGNN", "EGNNLayer", "TensorProductConv", "TensorProductNet", "EnergyReadout", "VectorReadout",
           "EnergyModel", "ForceField", "conservative_forces"]
