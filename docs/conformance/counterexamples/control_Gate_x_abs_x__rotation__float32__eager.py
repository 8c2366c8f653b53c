"""Counterexample found by equigen's conformance suite.

model:    control.Gate(x*abs(x))
symmetry: rotation (SO(3))
dtype:    float32, eager
element:  rotation 90 deg about x
found:    element [rotation 90 deg about x] on inputs of shapes [(1, 20) float32]: relative error 1.584e-01 > tolerance 1.000e-05 in output 0.

Run from the repository root: ``python docs/conformance/counterexamples/control_Gate_x_abs_x__rotation__float32__eager.py``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter('control.Gate(x*abs(x))')
fn = adapter.function(dtype=torch.float32, seed=0, compiled=False)
inputs = (
    torch.tensor([[-2.3104116916656494, -0.3732508718967438, -1.0608166456222534, 0.999509334564209, -0.019964750856161118, 0.21029989421367645, 0.17718935012817383, -0.8305100798606873, 0.23871806263923645, 0.7335283756256104, -1.3218817710876465, 1.3148113489151, -0.6870036721229553, 1.4880743026733398, -0.4484158158302307, -0.8910030126571655, 0.6748575568199158, 1.0468653440475464, 0.1542951762676239, -0.7498915195465088]], dtype=torch.float64).to(torch.float32),
)
element = Element(EuclideanPart(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]], dtype=torch.float64).to(torch.float64), torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64).to(torch.float64), 1.0))
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
