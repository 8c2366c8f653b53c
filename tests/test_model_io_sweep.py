"""Every public model survives save_model -> load_model (weights-only) with its dtype, and plain pickling.

The models are found by introspection (public ``torch.nn.Module`` classes in equigen's ``__all__``
lists); a class brings its own example through ``symmetry_example``, or has one in ``EXAMPLES``
below. A new public model without either fails ``test_every_public_model_has_an_example``.
"""

import functools
import importlib
import inspect
import io
import pkgutil

import pytest
import torch

import equigen
from equigen.nn import SpectralConv
from equigen.nn.symbols import Symbol
from equigen.train import load_model, save_model


def _public_models():
    found = {}
    for info in pkgutil.walk_packages(equigen.__path__, "equigen."):
        if info.name.startswith(("equigen.cli", "equigen.experiments", "equigen.conformance", "equigen.testing")):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            cls = getattr(module, name, None)
            if inspect.isclass(cls) and issubclass(cls, torch.nn.Module) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def _graph(dtype, generator, n=6, f=2):
    from equigen.geometry import radius_graph

    pos = torch.randn(n, 3, generator=generator, dtype=dtype)
    return torch.randn(n, f, generator=generator, dtype=dtype), pos, radius_graph(pos, 2.5)


def _water(dtype, g):
    from torch_geometric.data import Batch, Data

    return Batch.from_data_list([Data(z=torch.tensor([8, 1, 1]), pos=torch.randn(3, 3, generator=g, dtype=dtype))
                                 for _ in range(2)])


def _field_inputs(dtype, g):
    x = torch.randn(2, 1, 9, 8, generator=g, dtype=dtype)
    return x, torch.tensor([3, 7]), torch.randn(2, 1, 9, 8, generator=g, dtype=dtype)


def _examples():
    from equigen.dynamics.learned import HamiltonianNet, LinearDynamics
    from equigen.generative.equivariant_diffusion import EGNNDenoiser, MLPDenoiser, PointDiffusion
    from equigen.generative.field_diffusion import FieldDenoiser, SineFieldDenoiser
    from equigen.generative.gan import GAN
    from equigen.generative.sequence import AutoregressiveTransformer, MaskedTransformer
    from equigen.generative.vae import VAE
    from equigen.geometry import BesselBasis
    from equigen.nn import FNO, DistanceMLP, FlatMLP, Potential
    from equigen.nn.baselines import DenseLinearMap, FieldMLP, MLPOperator

    def point(dtype, g):
        return torch.randn(3, 4, 2, generator=g, dtype=dtype), torch.tensor([1, 5, 9])

    return {
        DenseLinearMap: lambda dtype, g: (DenseLinearMap(8, dtype=dtype),
                                          (torch.randn(3, 8, dtype=dtype, generator=g),)),
        MLPOperator: lambda dtype, g: (MLPOperator(8, 16, generator=g, dtype=dtype),
                                       (torch.randn(3, 8, dtype=dtype, generator=g),)),
        FlatMLP: lambda dtype, g: (FlatMLP(6, 2, 8, 3, num_layers=2, dtype=dtype), _graph(dtype, g)),
        LinearDynamics: lambda dtype, g: (LinearDynamics(3, 2, dtype=dtype),
                                          (torch.randn(3, 2, dtype=dtype, generator=g),
                                           torch.randn(3, 2, dtype=dtype, generator=g))),
        HamiltonianNet: lambda dtype, g: (HamiltonianNet(3, 2, hidden=8, dtype=dtype, generator=g),
                                          (torch.randn(3, 2, dtype=dtype, generator=g),
                                           torch.randn(3, 2, dtype=dtype, generator=g))),
        BesselBasis: lambda dtype, g: (BesselBasis(3.0, 4), (torch.rand(5, dtype=dtype, generator=g) * 3,)),
        VAE: lambda dtype, g: (VAE(3, 2, hidden=8, layers=2, dtype=dtype), None),
        GAN: lambda dtype, g: (GAN(3, 2, hidden=8, layers=2, dtype=dtype), None),
        AutoregressiveTransformer: lambda dtype, g: (AutoregressiveTransformer(5, "AB", width=8, depth=1, heads=2,
                                                                               dtype=dtype), None),
        MaskedTransformer: lambda dtype, g: (MaskedTransformer(5, "AB", width=8, depth=1, heads=2, dtype=dtype), None),
        MLPDenoiser: lambda dtype, g: (MLPDenoiser(4, 2, num_steps=10, hidden=8, num_layers=2, dtype=dtype),
                                       point(dtype, g)),
        PointDiffusion: lambda dtype, g: (PointDiffusion(4, 2, num_steps=10, hidden=8, num_layers=2, dtype=dtype),
                                          None),
        EGNNDenoiser: lambda dtype, g: (EGNNDenoiser(3, num_steps=10, hidden=8, num_layers=2, dtype=dtype),
                                        (torch.randn(2, 5, 3, generator=g, dtype=dtype), torch.tensor([3, 7]))),
        FieldDenoiser: lambda dtype, g: (FieldDenoiser(1, 1, width=8, modes=(3, 4), depth=2, time_dim=8, generator=g,
                                                       dtype=dtype), _field_inputs(dtype, g)),
        SineFieldDenoiser: lambda dtype, g: (SineFieldDenoiser(1, 1, width=8, modes=(3, 4), depth=2, time_dim=8,
                                                               generator=g, dtype=dtype), _field_inputs(dtype, g)),
        DistanceMLP: lambda dtype, g: DistanceMLP.symmetry_example(dtype=dtype, generator=g),
        Potential: lambda dtype, g: (Potential([1, 8], cutoff=3.0, hidden=8, num_layers=2, num_radial=4,
                                               dtype=dtype), (_water(dtype, g),)),
        FNO: lambda dtype, g: FNO.symmetry_example(dtype=dtype, generator=g),
        FieldMLP: lambda dtype, g: (FieldMLP(2, 1, (4, 3), hidden=8, dtype=dtype),
                                    (torch.randn(2, 2, 4, 3, generator=g, dtype=dtype),)),
    }


MODELS = _public_models()
ABSTRACT = {"equigen.generative.base.GenerativeModel", "equigen.nn.symbols.Symbol",
            "equigen.generative.sequence.SequenceTransformer"}


def _example(cls, dtype):
    g = torch.Generator().manual_seed(0)
    table = _examples()
    if cls in table:
        return table[cls](dtype, g)
    model, inputs = cls.symmetry_example(dtype=dtype, generator=g)
    if isinstance(model, functools.partial) and isinstance(model.func.__self__, Symbol):
        # a symbol's example applies it to a field: save and load it inside the layer that carries it
        symbol = model.func.__self__
        model = SpectralConv(symbol.in_channels, symbol.out_channels, modes=model.keywords["modes"], symbol=symbol,
                             dtype=dtype)
    return model, inputs


def test_every_public_model_has_an_example():
    table = _examples()
    missing = [n for n, c in MODELS.items() if n not in ABSTRACT and c not in table
               and not callable(getattr(c, "symmetry_example", None))]
    assert not missing, f"public models without an example for the save/load sweep: {missing}"


def _outputs(model, inputs):
    if inputs is None:
        return []
    out = model(*inputs)
    if isinstance(out, dict):
        return list(out.values())
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("name", sorted(set(MODELS) - ABSTRACT))
def test_save_load_roundtrip(name, dtype, tmp_path):
    model, inputs = _example(MODELS[name], dtype)
    assert isinstance(model, torch.nn.Module), f"{name}: give it an entry in _examples() that returns the module"
    torch.manual_seed(1)
    with torch.no_grad():  # perturb every weight so the test sees trained (non-initial) values
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = save_model(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)  # plain data only
    assert payload["format"] == "equigen-model"
    back = load_model(path)
    assert type(back) is type(model)
    ref, new = model.state_dict(), back.state_dict()
    assert ref.keys() == new.keys()
    for k in ref:
        assert ref[k].dtype == new[k].dtype, k
        assert torch.equal(ref[k], new[k]), k
    floats = [p.dtype for p in back.parameters() if p.is_floating_point()]
    assert all(d == dtype for d in floats), (name, set(floats))
    model.eval()
    back.eval()
    for a, b in zip(_outputs(model, inputs), _outputs(back, inputs)):
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    buf = io.BytesIO()
    torch.save(model, buf)  # the full module pickles too (no lambdas held by instances)
