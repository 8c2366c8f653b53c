"""Counterexample found by equigen's conformance suite.

model:    control.SchNet+absolute-x
symmetry: translation (Translations(3))
dtype:    float32, eager
element:  translation (1, 0, 0)
found:    element [translation (1, 0, 0)] on inputs of shapes [(2,) int64, (2, 3) float32, (2,) int64]: relative error 6.120e-04 > tolerance 1.013e-05 in output 0.

Run from the repository root: ``python docs/conformance/counterexamples/control_SchNet_absolute_x__translation__float32__eager.py``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter('control.SchNet+absolute-x')
fn = adapter.function(dtype=torch.float32, seed=0, compiled=False)
inputs = (
    torch.tensor([1, 8], dtype=torch.int64),
    torch.tensor([[2.3114941120147705, -0.440143346786499, -3.268184185028076], [0.8526468873023987, -1.6267834901809692, -2.097892999649048]], dtype=torch.float64).to(torch.float32),
    torch.tensor([0, 0], dtype=torch.int64),
)
element = Element(EuclideanPart(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64).to(torch.float64), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64).to(torch.float64), 1.0))
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
