"""Counterexample found by equigen's conformance suite.

model:    e3nn.SO3Activation[res=6]
symmetry: reflection (Reflections(3))
dtype:    float32, eager
element:  improper: -(rotation 136.905 deg about (0.974, 0.122, 0.191))
found:    element [improper: -(rotation 136.905 deg about (0.974, 0.122, 0.191))] on inputs of shapes [(1, 35) float32]: relative error 3.921e-05 > tolerance 1.000e-05 in output 0.

Run from the repository root: ``python docs/conformance/counterexamples/e3nn_SO3Activation_res_6__reflection__float32__eager.py``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter('e3nn.SO3Activation[res=6]')
fn = adapter.function(dtype=torch.float32, seed=0, compiled=False)
inputs = (
    torch.tensor([[-2.3104116916656494, -0.3732508718967438, -1.0608166456222534, 0.999509334564209, -0.884024977684021, -1.275546908378601, -0.6232245564460754, -0.8664416074752808, -1.2956271171569824, 1.5236315727233887, 0.32366055250167847, 2.017725944519043, 1.1357423067092896, -1.2268813848495483, 0.07138846814632416, 0.33801740407943726, 0.15351884067058563, -0.6332746148109436, -1.2609246969223022, -1.217687726020813, -1.265465259552002, -1.119535207748413, 1.1664856672286987, 0.9262324571609497, 0.7970100045204163, 0.21166418492794037, 0.13557113707065582, 1.8727763891220093, -0.3099149763584137, 0.24018023908138275, -1.3487610816955566, 0.24439910054206848, -0.013720701448619366, -0.1996082216501236, -1.656424641609192]], dtype=torch.float64).to(torch.float32),
)
element = Element(EuclideanPart(torch.tensor([[-0.9111349510346967, -0.07513042357809954, -0.4052018268171752], [-0.33609273976809434, 0.7044631404441054, 0.6251186719582167], [-0.2384843208225159, -0.7057528626995457, 0.6671117788745896]], dtype=torch.float64).to(torch.float64), torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64).to(torch.float64), 1.0))
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
