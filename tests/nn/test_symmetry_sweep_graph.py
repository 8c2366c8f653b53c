"""Every public graph layer's declared symmetry, checked with the kit in float64 and float32.

(The project-wide sweep finds these classes too; this file keeps the graph layers covered on
their own branch.)
"""

import inspect

import pytest
import torch

import equigen.nn.egnn
import equigen.nn.graph_baselines
import equigen.nn.readout
import equigen.nn.tensor_product
from equigen.symmetry import Symmetry
from equigen.testing import assert_equivariant, default_rtol

MODULES = [equigen.nn.egnn, equigen.nn.tensor_product, equigen.nn.readout, equigen.nn.graph_baselines]
CLASSES = sorted({obj for m in MODULES for _, obj in inspect.getmembers(m, inspect.isclass)
                  if obj.__module__ == m.__name__ and not obj.__name__.startswith("_")}, key=lambda c: c.__name__)


def test_every_public_class_declares_symmetry():
    for cls in CLASSES:
        assert hasattr(cls, "symmetry"), cls
        if cls.symmetry is not None:
            assert isinstance(cls.symmetry, Symmetry), cls
            assert hasattr(cls, "symmetry_example"), cls


DECLARED = [c for c in CLASSES if getattr(c, "symmetry", None) is not None]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("cls", DECLARED, ids=lambda c: c.__name__)
def test_declared_symmetry_holds(cls, dtype):
    fn, inputs = cls.symmetry_example(dtype=dtype, generator=torch.Generator().manual_seed(0))
    sym = cls.symmetry
    reports = assert_equivariant(fn, inputs, sym.make_group(), sym.in_kinds, sym.out_kinds, trials=4)
    # The claim is tight: every element below the dtype's tolerance (amplified only by large translations).
    assert max(r.error for r in reports) < 1e3 * default_rtol(dtype)
    assert len(reports) >= 5


def test_flat_mlp_declares_no_symmetry_and_breaks_permutations():
    from equigen.groups import Permutations
    from equigen.nn.graph_baselines import FlatMLP
    from equigen.testing import EquivarianceError

    net = FlatMLP(5, 2, 16, 3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    h, pos = torch.randn(5, 2, generator=gen, dtype=torch.float64), torch.randn(5, 3, generator=gen,
                                                                                dtype=torch.float64)
    assert FlatMLP.symmetry is None
    with pytest.raises(EquivarianceError):
        assert_equivariant(lambda h, p: net(h, p), (h, pos), Permutations(), ("nodes", "positions"),
                           ("nodes", "positions"))
