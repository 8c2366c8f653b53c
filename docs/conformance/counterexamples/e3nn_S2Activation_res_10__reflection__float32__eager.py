"""Counterexample found by equigen's conformance suite.

model:    e3nn.S2Activation[res=10]
symmetry: reflection (Reflections(3))
dtype:    float32, eager
element:  reflection z -> -z
found:    element [reflection z -> -z] on inputs of shapes [(1, 9) float32]: relative error 8.104e-03 > tolerance 1.000e-05 in output 0.

Run from the repository root: ``python docs/conformance/counterexamples/e3nn_S2Activation_res_10__reflection__float32__eager.py``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter('e3nn.S2Activation[res=10]')
fn = adapter.function(dtype=torch.float32, seed=0, compiled=False)
inputs = (
    torch.tensor([[1.5409960746765137, -0.293428897857666, -2.1787893772125244, 0.5684312582015991, -1.0845223665237427, -1.3985954523086548, 0.40334683656692505, 0.8380263447761536, -0.7192575931549072]], dtype=torch.float64).to(torch.float32),
)
element = Element(EuclideanPart(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64).to(torch.float64), torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64).to(torch.float64), 1.0), label='reflection z -> -z')
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
