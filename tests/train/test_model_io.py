"""Saving a model with its constructor arguments and loading it back in one call, without pickle."""

import json

import pytest
import torch

from equigen.train import CheckpointError, configurable, load_model, save_model


@configurable
class Net(torch.nn.Module):
    def __init__(self, width=16, depth=2, activation="tanh", dtype=None, **extra):
        super().__init__()
        self.extra = extra
        layers, d = [], 3
        for _ in range(depth):
            layers.append(torch.nn.Linear(d, width, dtype=dtype))
            d = width
        self.body = torch.nn.ModuleList(layers)
        self.act = activation


class WithGetConfig(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.n = n
        self.w = torch.nn.Parameter(torch.randn(n))

    def get_config(self):
        return {"n": self.n}


def test_roundtrip_with_dtype_and_extra_kwargs(tmp_path):
    net = Net(8, depth=3, dtype=torch.float64, scale=[1, 2])
    path = save_model(net, tmp_path / "net.pt")
    back = load_model(path, classes=[Net])
    assert isinstance(back, Net) and len(back.body) == 3 and back.extra == {"scale": [1, 2]}
    assert back.body[0].weight.dtype == torch.float64
    for a, b in zip(net.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)
    payload = torch.load(path, weights_only=True)
    from equigen import __version__

    assert payload["equigen_version"] == __version__
    assert json.loads(payload["config_json"])["dtype"] == {"__torch_dtype__": "float64"}


def test_get_config_and_overrides(tmp_path):
    m = WithGetConfig(5)
    save_model(m, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt", classes=[WithGetConfig])
    assert torch.equal(back.w, m.w)
    with pytest.raises(CheckpointError, match="does not match the architecture"):
        load_model(tmp_path / "m.pt", classes=[WithGetConfig], n=6)


def test_class_outside_equigen_needs_to_be_named(tmp_path):
    save_model(Net(4), tmp_path / "net.pt")
    expected = r"not part of equigen; pass the class explicitly: load_model\(path, classes=\[Net\]"
    with pytest.raises(ValueError, match=expected):
        load_model(tmp_path / "net.pt")


def test_unrecorded_and_unserialisable_configs(tmp_path):
    with pytest.raises(ValueError, match="does not record its constructor arguments"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "x.pt")
    with pytest.raises(ValueError, match="cannot be stored as JSON"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "x.pt", config={"group": object()})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_model(Net(2), tmp_path / "missing" / "x.pt")


def test_malicious_or_wrong_files(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, (f"open({str(tmp_path / 'pwned')!r}, 'w').write('x')",))

    torch.save({"format": "equigen-model", "class": "x:Y", "config_json": "{}", "state_dict": Boom()},
               tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused to load"):
        load_model(tmp_path / "evil.pt", classes=[Net])
    assert not (tmp_path / "pwned").exists()
    torch.save({"w": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not an equigen model file"):
        load_model(tmp_path / "plain.pt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing.pt")
