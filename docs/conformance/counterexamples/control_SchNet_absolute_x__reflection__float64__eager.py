"""Counterexample found by equigen's conformance suite.

model:    control.SchNet+absolute-x
symmetry: reflection (Reflections(3))
dtype:    float64, eager
element:  reflection x -> -x
found:    element [reflection x -> -x] on inputs of shapes [(2,) int64, (2, 3) float64, (2,) int64]: relative error 1.936e-03 > tolerance 1.000e-10 in output 0.

Run from the repository root: ``python docs/conformance/counterexamples/control_SchNet_absolute_x__reflection__float64__eager.py``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter('control.SchNet+absolute-x')
fn = adapter.function(dtype=torch.float64, seed=0, compiled=False)
inputs = (
    torch.tensor([1, 8], dtype=torch.int64),
    torch.tensor([[2.311494162366065, -0.44014335864141957, -3.2681840731118363], [0.8526469159210017, -1.6267835136360314, -2.097893093056315]], dtype=torch.float64).to(torch.float64),
    torch.tensor([0, 0], dtype=torch.int64),
)
element = Element(EuclideanPart(torch.tensor([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64).to(torch.float64), torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64).to(torch.float64), 1.0), label='reflection x -> -x')
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
