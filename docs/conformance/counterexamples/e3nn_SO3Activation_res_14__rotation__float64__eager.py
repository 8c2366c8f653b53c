"""Counterexample found by equigen's conformance suite.

model:    e3nn.SO3Activation[res=14]
symmetry: rotation (SO(3))
dtype:    float64, eager
element:  rotation 90 deg about x
found:    element [rotation 90 deg about x] on inputs of shapes [(1, 35) float64]: relative error 2.727e-09 > tolerance 1.000e-10 in output 0.

Run from the repository root: ``python docs/conformance/counterexamples/e3nn_SO3Activation_res_14__rotation__float64__eager.py``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter('e3nn.SO3Activation[res=14]')
fn = adapter.function(dtype=torch.float64, seed=0, compiled=False)
inputs = (
    torch.tensor([[-2.310411800234176, -0.3732508612577643, -1.0608166785462863, 0.9995093547811761, -0.8840250045832653, -1.2755469302148053, -0.623224579866079, -0.8664416019125772, -1.2956271403277857, 1.52363162310635, 0.3236605664983738, 2.0177260314861085, 1.1357423400213507, -1.226881339001083, 0.07138847120511693, 0.3380174030507378, 0.15351883531544036, -0.6332746088675096, -1.2609246557194385, -1.21768777910687, -1.2654653080284903, -1.1195351830271254, 1.1664857205254855, 0.9262324572968778, 0.7970100169250297, 0.21166418145300325, 0.13557114260567418, 1.8727763768553416, -0.30991497424174674, 0.24018023403782535, -1.3487610270963772, 0.2443990933828689, -0.013720701456433322, -0.19960822763281003, -1.6564246944540333]], dtype=torch.float64).to(torch.float64),
)
element = Element(EuclideanPart(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]], dtype=torch.float64).to(torch.float64), torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64).to(torch.float64), 1.0))
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
