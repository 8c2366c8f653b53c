"""Every graph model accepts a PyG ``Data``/``Batch`` in place of ``(h, pos, edge_index[, batch])``.

The models are found by introspection: public classes of ``equigen.nn`` whose declared symmetry
takes an ``edge_index`` (plus the FlatMLP twin, which declares none).
"""

import inspect

import pytest
import torch
from torch_geometric.data import Batch, Data

import equigen.nn as enn
from equigen.geometry import radius_graph


def _graph_models():
    found = {}
    for name in enn.__all__:
        cls = getattr(enn, name)
        sym = getattr(cls, "symmetry", None)
        if inspect.isclass(cls) and sym is not None and hasattr(cls, "symmetry_example"):
            kinds = [k if isinstance(k, str) else "irreps" for k in sym.in_kinds]
            if "edge_index" in kinds and kinds[0] != "positions":
                found[name] = cls
    return found


GRAPH_MODELS = _graph_models()


def test_sweep_finds_the_graph_models():
    assert {"EGNN", "EGNNLayer", "TensorProductConv", "TensorProductNet", "RawMessagePassing", "EnergyModel",
            "ForceField"} <= set(GRAPH_MODELS)


def _same(a, b):
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(GRAPH_MODELS))
def test_data_and_batch_inputs(name):
    model, inputs = GRAPH_MODELS[name].symmetry_example(dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    h, pos, edge_index = inputs[:3]
    batch = inputs[3] if len(inputs) > 3 else None
    if batch is None:
        _same(model(h, pos, edge_index), model(Data(x=h, pos=pos, edge_index=edge_index)))
        # two copies of the graph in one Batch: each half equals the single-graph result
        one = model(h, pos, edge_index)
        two = model(Batch.from_data_list([Data(x=h, pos=pos, edge_index=edge_index)] * 2))
        first = two[0] if isinstance(two, tuple) else two
        ref = one[0] if isinstance(one, tuple) else one
        torch.testing.assert_close(first[: h.shape[0]], ref)
    else:
        graphs = [Data(x=h[batch == g], pos=pos[batch == g],
                       edge_index=radius_graph(pos[batch == g], 3.0)) for g in range(int(batch.max()) + 1)]
        data = Batch.from_data_list(graphs)
        ref = model(data.x, data.pos, data.edge_index, data.batch)
        _same(ref, model(data))


def test_flat_mlp_and_distance_mlp_take_batches():
    g = torch.Generator().manual_seed(1)
    graphs = []
    for _ in range(2):
        pos = torch.randn(4, 3, generator=g, dtype=torch.float64)
        graphs.append(Data(x=torch.ones(4, 1, dtype=torch.float64), pos=pos, edge_index=radius_graph(pos, 3.0)))
    data = Batch.from_data_list(graphs)
    flat = enn.FlatMLP(4, 1, 8, 2, num_layers=2, dtype=torch.float64)
    _same(flat(data.x, data.pos, data.edge_index, batch=data.batch), flat(data))
    dist = enn.DistanceMLP(6, 8, cutoff=3.0, dtype=torch.float64)
    _same(dist(data.pos, data.edge_index, data.batch), dist(data))


def test_data_without_fields_is_refused():
    model, _ = enn.EGNN.symmetry_example(dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="needs the fields x, pos and edge_index"):
        model(Data(pos=torch.zeros(3, 3)))
    with pytest.raises(ValueError, match="not both"):
        model(Data(x=torch.zeros(3, 3)), torch.zeros(3, 3))
