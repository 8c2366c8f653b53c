"""The kit's default checks catch graph, parameter and integrator bugs, and pass correct twins."""

import pytest
import torch
from hypothesis import strategies as st

from equigen.dynamics import Kepler, stepper
from equigen.groups import E3, Permutations
from equigen.testing import (
    ConservationError,
    EquivarianceError,
    assert_conserves,
    assert_equivariant,
    check_equivariant,
)
from equigen.testing import strategies as gst

KINDS = ("nodes", "positions", "edge_index", "batch")


def _graphs():
    return gst.graphs(num_features=2, max_points=12, with_batch=True, dtype=torch.float64)


def _mp(h, pos, e, batch, *, last_write=False):
    src, dst = e
    w = torch.exp(-((pos[dst] - pos[src]) ** 2).sum(-1, keepdim=True))
    if last_write:
        out = h.clone()
        out[dst] = w * h[src]  # BUG: index_put keeps one message per target
        return out
    return h.clone().index_add_(0, dst, w * h[src])


def _centre_batch_wide(h, pos, e, batch):
    return pos - pos.mean(0)  # BUG: one centroid for the whole batch


def _centre_per_graph(h, pos, e, batch):
    num = int(batch.max()) + 1
    mean = torch.zeros(num, pos.shape[1], dtype=pos.dtype).index_add_(0, batch, pos)
    return pos - (mean / torch.bincount(batch, minlength=num).clamp_min(1)[:, None].to(pos.dtype))[batch]


def _centre_sorted_batch(h, pos, e, batch):
    counts = torch.bincount(batch)  # BUG: assumes nodes of a graph are contiguous
    means = torch.stack([c.mean(0) for c in torch.split(pos, counts.tolist())])
    return pos - torch.repeat_interleave(means, counts, 0)


CASES = [
    ("message passing", lambda *a: _mp(*a), ("nodes",), True),
    ("last-write-wins scatter", lambda *a: _mp(*a, last_write=True), ("nodes",), False),
    ("per-graph centroid", _centre_per_graph, ("vectors",), True),
    ("batch-wide centroid", _centre_batch_wide, ("vectors",), False),
    ("sorted-batch assumption", _centre_sorted_batch, ("vectors",), False),
]


@pytest.mark.parametrize("name, fn, out_kinds, correct", CASES, ids=[c[0] for c in CASES])
def test_graph_defaults(name, fn, out_kinds, correct):
    if correct:
        check_equivariant(fn, E3() * Permutations(), KINDS, out_kinds, _graphs())
    else:
        with pytest.raises(EquivarianceError):
            check_equivariant(fn, E3() * Permutations(), KINDS, out_kinds, _graphs())


class _Shifted(torch.nn.Module):
    """Centroid-relative vectors plus a 'bias' vector initialised to zero: breaks rotations."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))

    def forward(self, pos):
        return pos - pos.mean(0) + self.bias


def test_zero_initialised_symmetry_breaking_parameter_is_caught_and_restored():
    layer = _Shifted()
    pos = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(EquivarianceError, match="perturbed"):
        assert_equivariant(layer, pos, E3(), "positions", "vectors")
    assert torch.equal(layer.bias, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(EquivarianceError):
        check_equivariant(layer, E3(), "positions", "vectors", gst.point_clouds(max_points=8))


def test_one_dtype_per_example_for_float32_modules():
    lin = torch.nn.Linear(2, 2, bias=False)  # float32 parameters
    check_equivariant(lambda h: lin(h), Permutations(), "nodes", "nodes",
                      st.tuples(gst.point_clouds(max_points=6, dim=2, dtype=torch.float64)))


def test_integrators_with_drift_are_caught_symplectic_ones_pass():
    k = Kepler()
    energy = lambda s: k.energy(*s)  # noqa: E731
    state = Kepler.initial_state(0.6)
    for method in ("leapfrog", "yoshida4"):
        assert_conserves(stepper(k, 0.05, method, check=False), state, energy, 1000, mode="bounded", rtol=0.05)
    with pytest.raises(ConservationError, match="secular trend"):
        assert_conserves(stepper(k, 0.05, "rk4", check=False), state, energy, 1000, mode="bounded", rtol=0.05)
    leapfrog = stepper(k, 0.05, "leapfrog", check=False)

    def damped(s):
        q, p = leapfrog(s)
        return q, p * (1 - 1e-6)

    with pytest.raises(ConservationError, match="secular trend"):
        assert_conserves(damped, state, energy, 1000, mode="bounded", rtol=0.05)


def test_zero_momentum_uses_the_natural_scale():
    gen = torch.Generator().manual_seed(0)
    q, p = torch.randn(5, 3, generator=gen, dtype=torch.float64), torch.randn(5, 3, generator=gen, dtype=torch.float64)
    p = p - p.mean(0)  # centre-of-mass frame: total momentum ~ 0

    def step(s, dt=0.05):
        q, p = s
        f = -(q.shape[0] * q - q.sum(0, keepdim=True))
        p = p + dt * f
        return q + dt * p, p

    report = assert_conserves(step, (q, p), lambda s: s[1].sum(0), 200)
    assert report.max_deviation < 1e-12
