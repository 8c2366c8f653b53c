"""Counterexample found by equigen's conformance suite.

model:    e3nn.S2Activation[res=10]
symmetry: reflection (Reflections(3))
dtype:    float64, eager
element:  reflection z -> -z
found:    element [reflection z -> -z] on inputs of shapes [(1, 9) float64]: relative error 8.104e-03 > tolerance 1.000e-10 in output 0.

Run from the repository root: ``python docs/conformance/counterexamples/e3nn_S2Activation_res_10__reflection__float64__eager.py``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter('e3nn.S2Activation[res=10]')
fn = adapter.function(dtype=torch.float64, seed=0, compiled=False)
inputs = (
    torch.tensor([[1.5409961082440433, -0.2934289057609464, -2.1787893820745574, 0.5684312772806678, -1.084522342424021, -1.3985953953708767, 0.4033468476292993, 0.8380263329976598, -0.7192575784693592]], dtype=torch.float64).to(torch.float64),
)
element = Element(EuclideanPart(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64).to(torch.float64), torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64).to(torch.float64), 1.0), label='reflection z -> -z')
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
