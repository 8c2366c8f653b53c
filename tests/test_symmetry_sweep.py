"""One sweep over every public class that declares a `symmetry`: checked with the kit in float64 and
float32 on the group's edge cases and random elements. No list to maintain: new layers join by
declaring `symmetry` and `symmetry_example`."""

import importlib
import inspect
import pkgutil

import pytest
import torch

import equigen
from equigen.symmetry import Symmetry
from equigen.testing import assert_equivariant


def _declaring_classes():
    found = {}
    for info in pkgutil.walk_packages(equigen.__path__, "equigen."):
        if info.name.startswith(("equigen.cli", "equigen.experiments")):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if isinstance(getattr(cls, "symmetry", None), Symmetry) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


DECLARING = _declaring_classes()


def test_every_declaring_class_has_an_example():
    for name, cls in DECLARING.items():
        assert callable(getattr(cls, "symmetry_example", None)), f"{name} declares symmetry but no symmetry_example"


@pytest.mark.parametrize("name", sorted(DECLARING))
def test_declared_symmetry_holds(name, dtype):
    cls = DECLARING[name]
    fn, inputs = cls.symmetry_example(dtype=dtype, generator=torch.Generator().manual_seed(0))
    sym = cls.symmetry
    assert_equivariant(fn, inputs, sym.make_group(), sym.in_kinds, sym.out_kinds, trials=4)
