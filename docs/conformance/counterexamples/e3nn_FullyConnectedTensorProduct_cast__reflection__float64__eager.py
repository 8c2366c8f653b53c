"""Counterexample found by equigen's conformance suite.

model:    e3nn.FullyConnectedTensorProduct[cast]
symmetry: reflection (Reflections(3))
dtype:    float64, eager
element:  improper: -(rotation 136.905 deg about (0.974, 0.122, 0.191))
found:    element [improper: -(rotation 136.905 deg about (0.974, 0.122, 0.191))] on inputs of shapes [(1, 13) float64, (1, 7) float64]: relative error 5.644e-09 > tolerance 1.093e-10 in output 0.

Run from the repository root: ``python docs/conformance/counterexamples/e3nn_FullyConnectedTensorProduct_cast__reflection__float64__eager.py``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter('e3nn.FullyConnectedTensorProduct[cast]')
fn = adapter.function(dtype=torch.float64, seed=0, compiled=False)
inputs = (
    torch.tensor([[1.5409961082440433, -0.2934289057609464, -2.1787893820745574, 0.5684312772806678, -1.084522342424021, -1.3985953953708767, 0.4033468476292993, 0.8380263329976598, -0.7192575784693592, -0.40334352493217457, -0.5966353626151273, 0.18203648506130554, -0.8566745932963743]], dtype=torch.float64).to(torch.float64),
    torch.tensor([[1.5409961082440433, -0.2934289057609464, -2.1787893820745574, 0.5684312772806678, -1.084522342424021, -1.3985953953708767, 0.4033468476292993]], dtype=torch.float64).to(torch.float64),
)
element = Element(EuclideanPart(torch.tensor([[-0.9111349510346967, -0.07513042357809954, -0.4052018268171752], [-0.33609273976809434, 0.7044631404441054, 0.6251186719582167], [-0.2384843208225159, -0.7057528626995457, 0.6671117788745896]], dtype=torch.float64).to(torch.float64), torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64).to(torch.float64), 1.0))
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
