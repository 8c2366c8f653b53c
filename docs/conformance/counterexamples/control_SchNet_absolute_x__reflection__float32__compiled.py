"""Counterexample found by equigen's conformance suite.

model:    control.SchNet+absolute-x
symmetry: reflection (Reflections(3))
dtype:    float32, compiled
element:  reflection x -> -x
found:    relative error 1.643e-03 > tolerance 1.000e-05 in output 0

Run from the repository root: ``python docs/conformance/counterexamples/control_SchNet_absolute_x__reflection__float32__compiled.py``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter('control.SchNet+absolute-x')
fn = adapter.function(dtype=torch.float32, seed=0, compiled=True)
inputs = (
    torch.tensor([6, 6, 8, 7, 8, 8, 7, 7, 8], dtype=torch.int64),
    torch.tensor([[-2.3104116916656494, -0.3732508718967438, -1.0608166456222534], [0.999509334564209, -0.884024977684021, -1.275546908378601], [-0.6232245564460754, -0.8664416074752808, -1.2956271171569824], [1.5236315727233887, 0.32366055250167847, 1.3148113489151], [-1.4874956607818604, -0.7135753631591797, 0.5199986696243286], [-0.952885627746582, -0.09174174070358276, 0.5563227534294128], [-0.009446278214454651, -0.7498915195465088, -0.7233896851539612], [0.08636989444494247, -1.7464048862457275, 1.0410124063491821], [0.6539245247840881, 0.14821544289588928, -1.1461092233657837]], dtype=torch.float64).to(torch.float32),
    torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=torch.int64),
)
element = Element(EuclideanPart(torch.tensor([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64).to(torch.float64), torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64).to(torch.float64), 1.0), label='reflection x -> -x')
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
