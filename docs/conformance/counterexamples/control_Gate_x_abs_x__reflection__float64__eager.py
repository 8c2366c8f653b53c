"""Counterexample found by equigen's conformance suite.

model:    control.Gate(x*abs(x))
symmetry: reflection (Reflections(3))
dtype:    float64, eager
element:  improper: -(rotation 136.905 deg about (0.974, 0.122, 0.191))
found:    element [improper: -(rotation 136.905 deg about (0.974, 0.122, 0.191))] on inputs of shapes [(1, 20) float64]: relative error 3.584e-01 > tolerance 1.000e-10 in output 0.

Run from the repository root: ``python docs/conformance/counterexamples/control_Gate_x_abs_x__reflection__float64__eager.py``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter('control.Gate(x*abs(x))')
fn = adapter.function(dtype=torch.float64, seed=0, compiled=False)
inputs = (
    torch.tensor([[-2.310411800234176, -0.3732508612577643, -1.0608166785462863, 0.9995093547811761, -0.019964750907762653, 0.2102998901016947, 0.17718935139366584, -0.830510051008449, 0.23871805816817063, 0.7335283685272841, -1.3218818291421377, 1.3148113651971234, -0.6870036940435463, 1.4880743158106724, -0.4484158047114511, -0.8910030351707375, 0.6748575435940039, 1.0468653769814655, 0.15429517864658948, -0.7498915228391941]], dtype=torch.float64).to(torch.float64),
)
element = Element(EuclideanPart(torch.tensor([[-0.9111349510346967, -0.07513042357809954, -0.4052018268171752], [-0.33609273976809434, 0.7044631404441054, 0.6251186719582167], [-0.2384843208225159, -0.7057528626995457, 0.6671117788745896]], dtype=torch.float64).to(torch.float64), torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64).to(torch.float64), 1.0))
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
