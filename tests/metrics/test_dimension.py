"""Correlation dimension: known sets, exact counts, invariances, bad input."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from scipy.spatial.distance import pdist

from equigen.groups import E3, Dilations
from equigen.metrics import CorrelationDimension, correlation_dimension, correlation_sum
from equigen.testing import assert_invariant
from equigen.testing.strategies import elements

N = 20000


def henon(n, a=1.4, b=0.3):
    x, y = 0.1, 0.1
    out = np.empty((n + 1000, 2))
    for i in range(n + 1000):
        x, y = 1.0 - a * x * x + y, b * x
        out[i] = x, y
    return out[1000:]


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(1234)


# Tolerances: the cube's estimate is biased low by edge effects (a point within r of a face sees
# fewer neighbours; the slope at radius r is about 3 - 1.5 r for the unit cube), about 0.05 in the
# fitted range; the Henon attractor's local slopes oscillate by +-0.07 (lacunarity) around 1.21-1.22;
# the Lorenz attractor's published value is 2.05 +- 0.01 and 2e4 samples carry ~0.03 statistical error.
@pytest.mark.parametrize("name, expected, tol", [
    ("cube", 3.0, 0.1), ("square", 2.0, 0.05), ("circle", 1.0, 0.03), ("henon", 1.22, 0.06), ("lorenz", 2.05, 0.06),
])
def test_known_sets(name, expected, tol, rng):
    if name == "cube":
        x = rng.random((N, 3))
    elif name == "square":  # a unit square embedded in 3-D, tilted
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        x = np.c_[rng.random((N, 2)), np.zeros(N)] @ q.T
    elif name == "circle":
        th = rng.uniform(0, 2 * np.pi, N)
        x = np.c_[np.cos(th), np.sin(th), np.zeros(N)]
    elif name == "henon":
        x = henon(N)
    else:
        from equigen.data import lorenz_attractor

        x = lorenz_attractor(N, trajectories=100, seed=3)
    d = correlation_dimension(x)
    assert isinstance(d, CorrelationDimension)
    assert abs(float(d) - expected) < tol, (name, float(d), d.fit_range)
    lo, hi = d.fit_range
    assert hi / lo >= 10 ** 0.8 * 0.999
    assert d.radii.shape == d.C.shape == d.slopes.shape == (48,)
    assert np.all(np.diff(d.C) >= 0)
    assert 0 < d.C[d.fit_mask].max() <= 0.03


def test_correlation_sum_matches_brute_force(rng):
    x = rng.normal(size=(400, 3))
    x = np.r_[x, x[:5]]  # coincident distinct points count as pairs at distance 0
    radii = np.array([0.05, 0.2, 0.5, 1.0, 3.0])
    C, pairs, m = correlation_sum(x, radii, num_reference=None)
    d = pdist(x)
    n = len(x)
    expect = np.array([2 * np.sum(d <= r) for r in radii], dtype=float)
    np.testing.assert_array_equal(pairs, expect)
    np.testing.assert_allclose(C, expect / (n * (n - 1)), rtol=1e-15)
    assert m == n


def test_subsampled_counts_are_unbiased(rng):
    """Reference subsets and the pair budget change the noise of C(r), not its value."""
    x = rng.random((6000, 3))
    exact = correlation_dimension(x, 0.02, 0.3, num_reference=None, pair_budget=1e12)
    cheap = correlation_dimension(x, 0.02, 0.3, num_reference=1000, pair_budget=1e5, seed=5)
    np.testing.assert_allclose(cheap.C, exact.C, rtol=0.08)
    assert abs(float(cheap) - float(exact)) < 0.05


def test_given_range_and_slope_between(rng):
    th = rng.uniform(0, 2 * np.pi, 5000)
    x = np.c_[np.cos(th), np.sin(th)]
    d = correlation_dimension(x, r_min=0.01, r_max=0.1)
    assert d.fit_range == pytest.approx((0.01, 0.1))
    assert d.fit_mask.all()
    assert abs(float(d) - 1.0) < 0.03
    assert abs(d.slope_between(0.02, 0.08) - 1.0) < 0.03
    with pytest.raises(ValueError, match="fewer than two"):
        d.slope_between(5.0, 6.0)
    out = d.to_dict()
    assert out["dimension"] == float(d) and len(out["radii"]) == 48


def test_accepts_tensors_and_1d(rng):
    x = rng.random(3000)
    d1 = correlation_dimension(x, min_decades=0.5)
    d2 = correlation_dimension(torch.tensor(x[:, None], dtype=torch.float32), min_decades=0.5)
    assert abs(float(d1) - 1.0) < 0.05 and abs(float(d2) - 1.0) < 0.05


def _d2(pos):
    d = correlation_dimension(pos, num_reference=1000, min_pairs=200, min_decades=0.5)
    return torch.tensor(float(d), dtype=pos.dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("group", [E3(), Dilations(0.01, 100.0)], ids=["E3", "Dilations"])
def test_invariance(group, dtype):
    """D2 is a function of pair distances, and the automatic grid scales with the set."""
    g = torch.Generator().manual_seed(0)
    pos = torch.rand(3000, 3, generator=g, dtype=torch.float64)
    pos[:, 2] *= 0.05  # a slab: D2 varies with scale, so a mis-scaled grid would show
    assert_invariant(_d2, (pos.to(dtype),), group, ("positions",), trials=3)


def test_dilation_scales_fit_range(rng):
    x = rng.random((4000, 3))
    a = correlation_dimension(x, min_decades=0.5)
    b = correlation_dimension(x * 7.5, min_decades=0.5)
    assert float(a) == pytest.approx(float(b), rel=1e-12)
    assert b.fit_range[0] == pytest.approx(7.5 * a.fit_range[0], rel=1e-12)


@pytest.mark.parametrize("points, kwargs, match", [
    (np.zeros((2, 3)), {}, "at least 3 points"),
    (np.ones((100, 3)), {}, "identical"),
    (np.r_[np.zeros((50, 3)), np.ones((50, 3))], {}, "duplicate"),
    (np.r_[np.random.default_rng(0).random((50, 3)), [[np.nan, 0, 0]]], {}, "NaN"),
    (np.random.default_rng(0).random((100, 3)), {}, "decades|min_pairs"),
    (np.random.default_rng(0).random((100, 3)), {"r_min": 1e-9, "r_max": 1e-8}, "no pairs"),
    (np.random.default_rng(0).random((100, 3)), {"r_min": 0.1}, "both r_min and r_max"),
    (np.random.default_rng(0).random((100, 3)), {"r_min": 0.5, "r_max": 0.1}, "r_min < r_max"),
    (np.random.default_rng(0).random((10, 3, 2)), {}, "shape"),
])
def test_bad_input(points, kwargs, match):
    with pytest.raises(ValueError, match=match):
        correlation_dimension(points, **kwargs)


def test_bad_types():
    with pytest.raises(TypeError, match="points"):
        correlation_dimension(np.array([["a", "b"]] * 10))
    with pytest.raises(ValueError, match="num_reference"):
        correlation_dimension(np.random.default_rng(0).random((100, 3)), num_reference=1)


def test_float_and_repr():
    x = np.random.default_rng(0).random((5000, 2))
    d = correlation_dimension(x)
    assert math.isclose(float(d), d.dimension)
    assert "dimension" in repr(d)


_SLAB = torch.rand(2000, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * torch.tensor(
    [1.0, 1.0, 0.05], dtype=torch.float64)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(element=elements(E3() * Dilations(0.01, 100.0)))
def test_invariance_property(element):
    """Hypothesis searches E(3) x dilations (shrinking toward simple elements) for a change of D2."""
    assert_invariant(_d2, (_SLAB,), None, ("positions",), element=element)


def test_automatic_window_lies_in_the_first_longest_admissible_run():
    from equigen.metrics.dimension import _longest_run

    assert _longest_run(np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 1], dtype=bool)) == (3, 6)  # ties: the first
    assert _longest_run(np.ones(4, dtype=bool)) == (0, 4)
    x = np.random.default_rng(2).random((6000, 2))
    d = correlation_dimension(x, min_decades=0.5)
    admissible = (d.pairs >= 1000) & (d.C <= 0.03)
    a, b = _longest_run(admissible)
    assert d.fit_mask.sum() >= 2 and admissible[d.fit_mask].all()
    assert a <= np.flatnonzero(d.fit_mask)[0] and np.flatnonzero(d.fit_mask)[-1] < b


def test_renamed_keywords_warn_and_give_the_same_result():
    x = np.random.default_rng(3).random((400, 2))
    new = correlation_dimension(x, 0.05, 0.5, num_radii=8, num_reference=100)
    with pytest.warns(DeprecationWarning, match="use num_radii="):
        old = correlation_dimension(x, 0.05, 0.5, n_radii=8, n_reference=100)
    assert old.dimension == new.dimension and old.num_reference == new.num_reference == 100
