"""torch.compile: strict compilation (no silent eager fall-back), the Trainer's ``compile=`` option,
and the core layers (EGNN, TensorProductConv, SpectralConv) compiled with ``fullgraph=True`` and
checked for equivariance with the kit.

Compiling is slow on 2 cores, so everything that compiles is marked ``slow`` (run with ``-m slow``).
The layer tests skip when the layer is not in this checkout of ``equigen.nn`` yet.
"""

import pytest
import torch
import torch._dynamo

from equigen.testing import assert_equivariant
from equigen.train import Trainer, compile_strict

CORE_LAYERS = ("EGNN", "TensorProductConv", "SpectralConv")


def test_compile_strict_argument_checks(monkeypatch):
    with pytest.raises(ValueError, match="fullgraph=True"):
        compile_strict(torch.nn.Linear(2, 2), fullgraph=False)
    with pytest.raises(TypeError, match="inplace=True needs a torch.nn.Module"):
        compile_strict(lambda x: x, inplace=True)
    with pytest.raises(TypeError, match="fn must be"):
        compile_strict(3)
    monkeypatch.setattr(torch._dynamo.config, "suppress_errors", True)
    with pytest.raises(RuntimeError, match="silently fall back"):
        compile_strict(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="compile must be"):
        Trainer(torch.nn.Linear(2, 1), lambda m, b: m(b).sum(), compile="yes")


def _branchy(x):
    if float(x.sum()) > 0:  # data-dependent Python control flow: a graph break
        return x * 2
    return x - 1


@pytest.mark.slow
def test_graph_break_is_an_error_not_a_fallback():
    torch._dynamo.reset()
    x = torch.randn(5)
    with pytest.raises(torch._dynamo.exc.TorchDynamoException):
        compile_strict(_branchy)(x)
    torch._dynamo.reset()  # dynamo caches per code object: start clean for the control
    assert torch.equal(torch.compile(_branchy)(x), _branchy(x))  # plain torch.compile silently splits the graph


def _mse(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x), y)


class _Net(torch.nn.Module):
    """A user-defined module (torch's own containers such as nn.Sequential are in dynamo's skip list, so
    compiling one in place finds no frame of user code and fullgraph=True refuses it)."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(3, 32, dtype=torch.float64)
        self.b = torch.nn.Linear(32, 1, dtype=torch.float64)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


@pytest.mark.slow
def test_trainer_with_compile_matches_eager():
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g, dtype=torch.float64)
    y = x[:, :1] * x[:, 1:2]

    def model():
        torch.manual_seed(1)
        return _Net()

    eager, compiled = model(), model()
    Trainer(eager, _mse, lr=1e-2, progress=False).fit((x, y), steps=8, batch_size=16)
    t = Trainer(compiled, _mse, lr=1e-2, progress=False, compile=True)
    t.fit((x, y), steps=8, batch_size=16)
    assert set(compiled.state_dict()) == set(eager.state_dict())  # names unchanged: checkpoints interchangeable
    for k, v in eager.state_dict().items():
        torch.testing.assert_close(compiled.state_dict()[k], v, rtol=1e-10, atol=1e-12)
    assert not all(torch.equal(compiled.state_dict()[k], v) for k, v in model().state_dict().items())
    assert counters["stats"]["unique_graphs"] >= 1  # the forward really ran compiled


def _layer_class(name):
    nn = pytest.importorskip("equigen.nn")
    cls = getattr(nn, name, None)
    if cls is None:
        pytest.skip(f"equigen.nn.{name} is not in this checkout")
    return cls


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", CORE_LAYERS)
def test_core_layer_compiles_fullgraph_and_stays_equivariant(name, dtype):
    from torch._dynamo.utils import counters

    cls = _layer_class(name)
    fn, inputs = cls.symmetry_example(dtype=dtype, generator=torch.Generator().manual_seed(0))
    torch._dynamo.reset()
    counters.clear()
    compiled = compile_strict(fn)
    got, expected = _as_tuple(compiled(*inputs)), _as_tuple(fn(*inputs))
    assert counters["stats"]["unique_graphs"] >= 1  # it really compiled
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, **tol)
    sym = cls.symmetry
    assert_equivariant(compiled, inputs, sym.make_group(), sym.in_kinds, sym.out_kinds, trials=4)
