"""Counterexample found by equigen's conformance suite.

model:    control.SchNet+absolute-x
symmetry: rotation (SO(3))
dtype:    float64, compiled
element:  rotation 180 deg about y
found:    relative error 1.643e-03 > tolerance 1.000e-10 in output 0

Run from the repository root: ``python docs/conformance/counterexamples/control_SchNet_absolute_x__rotation__float64__compiled.py``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter('control.SchNet+absolute-x')
fn = adapter.function(dtype=torch.float64, seed=0, compiled=True)
inputs = (
    torch.tensor([6, 6, 8, 7, 8, 8, 7, 7, 8], dtype=torch.int64),
    torch.tensor([[-2.310411800234176, -0.3732508612577643, -1.0608166785462863], [0.9995093547811761, -0.8840250045832653, -1.2755469302148053], [-0.623224579866079, -0.8664416019125772, -1.2956271403277857], [1.52363162310635, 0.3236605664983738, 1.3148113651971234], [-1.4874956356507338, -0.7135753396468577, 0.519998663178938], [-0.9528856397032842, -0.09174174090816388, 0.5563227724483105], [-0.009446277892507904, -0.7498915228391941, -0.7233897004977882], [0.08636989238234997, -1.746404903728242, 1.041012457033509], [0.6539244967350809, 0.14821544548810084, -1.1461092231976013]], dtype=torch.float64).to(torch.float64),
    torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=torch.int64),
)
element = Element(EuclideanPart(torch.tensor([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-0.0, 0.0, -1.0]], dtype=torch.float64).to(torch.float64), torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64).to(torch.float64), 1.0), label='rotation 180 deg about y')
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
