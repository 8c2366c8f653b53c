"""The kit itself: reference maps pass, broken twins are caught with simple counterexamples,
tolerances, per-graph elements, bad input, conservation, the pytest plugin."""

import math

import hypothesis
import pytest
import torch

from equigen.groups import E3, SE3, SO3, Element, EuclideanPart, GridShifts, Permutations, rotation_in_plane
from equigen.testing import (
    ConservationError,
    EquivarianceError,
    assert_conserves,
    assert_equivariant,
    assert_invariant,
    check_equivariant,
    check_invariant,
    default_rtol,
    equivariance_error,
    measure_equivariance,
)
from equigen.testing import strategies as gst
from equigen.testing.reference_maps import (
    broken_maps,
    correct_maps,
    get,
    leapfrog_harmonic,
    leapfrog_one_sided,
)
from equigen.testing.strategies import is_simple

CORRECT = correct_maps()
BROKEN = broken_maps()


def test_zoo_sizes():
    assert len(CORRECT) >= 8 and len(BROKEN) >= 8


@pytest.mark.parametrize("m", CORRECT, ids=lambda m: m.name)
def test_correct_map_passes_search(m):
    check_equivariant(m.fn, m.group(), m.in_kinds, m.out_kinds, m.inputs())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("m", CORRECT, ids=lambda m: m.name)
def test_correct_map_passes_edge_cases(m, dtype):
    reports = assert_equivariant(m.fn, m.example(dtype), m.group(), m.in_kinds, m.out_kinds, trials=4)
    assert len(reports) >= len(m.group().edge_cases()) + 4


@pytest.mark.parametrize("m", BROKEN, ids=lambda m: m.name)
def test_broken_map_is_caught_with_a_simple_counterexample(m):
    with pytest.raises(EquivarianceError) as info:
        check_equivariant(m.fn, m.group(), m.in_kinds, m.out_kinds, m.inputs())
    err = info.value
    assert is_simple(err.element), f"shrunk element not simple: {err.element}"
    assert not err.element.is_identity()
    assert err.error > err.tolerance
    assert str(err.element) in str(err) and "tolerance" in str(err)


@pytest.mark.parametrize("m", BROKEN, ids=lambda m: m.name)
def test_broken_map_fails_fixed_example(m):
    with pytest.raises(EquivarianceError):
        assert_equivariant(m.fn, m.example(torch.float64), m.group(), m.in_kinds, m.out_kinds)


def test_edge_case_only_breaks_are_invisible_to_random_elements():
    """The subtle maps pass generic checks: only the edge cases expose them."""
    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    d = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    frame = get("frame_antiparallel_fallback")
    for seed in range(5):
        g = SO3().sample(generator=torch.Generator().manual_seed(seed))
        assert measure_equivariance(frame.fn, (x, d), g, frame.in_kinds, frame.out_kinds).passed
    half_turn = Element(EuclideanPart(rotation_in_plane(3, 1, 2, math.pi)))
    assert not measure_equivariance(frame.fn, (x, d), half_turn, frame.in_kinds, frame.out_kinds).passed
    fft = get("smoothing_double_fftshift")
    shift = GridShifts(1).edge_cases()[1]
    even = torch.randn(1, 1, 8, dtype=torch.float64)
    odd = torch.randn(1, 1, 9, dtype=torch.float64)
    assert measure_equivariance(fft.fn, (even,), shift, ("field",), ("field",)).passed
    assert not measure_equivariance(fft.fn, (odd,), shift, ("field",), ("field",)).passed
    squeeze = get("centroid_relative_squeeze")
    g = E3().sample(generator=torch.Generator().manual_seed(0))
    assert measure_equivariance(squeeze.fn, (x,), g, ("positions",), ("vectors",)).passed
    assert not measure_equivariance(squeeze.fn, (x[:1],), g, ("positions",), ("vectors",)).passed


def test_tolerance_scales_with_dtype_and_translation():
    assert default_rtol(torch.float64) == 1e-10 and default_rtol(torch.float32) == 1e-5
    pos = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    far = Element(EuclideanPart(translation=torch.full((3,), 1e3, dtype=torch.float64)))
    centre = get("centroid_relative").fn
    rep = measure_equivariance(centre, (pos,), far, ("positions",), ("vectors",))
    assert rep.passed and rep.error > 1e-5  # float32 rounding at 1e3 exceeds 1e-5, tolerance scaled
    assert rep.tolerance >= 1e-5 * 100
    # a float64 run is held to float64 precision
    rep64 = measure_equivariance(centre, (pos.double(),), far, ("positions",), ("vectors",))
    assert rep64.passed and rep64.error < 1e-12


def test_zero_output_uses_input_floor():
    pos = torch.randn(4, 3, dtype=torch.float64)
    zero = lambda x: (x - x).sum(0)  # noqa: E731
    assert_invariant(zero, pos, SE3(), "positions")


def test_override_tolerances():
    pos = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    leak = get("energy_with_absolute_positions").fn
    err = equivariance_error(leak, pos, E3(), "positions")
    assert err > 1e-3
    assert_invariant(leak, pos, E3(), "positions", rtol=10 * err)


def test_per_graph_elements_in_assertions():
    pos, batch = torch.randn(7, 3, dtype=torch.float64), torch.tensor([0, 0, 0, 1, 1, 2, 2])

    def per_graph_centre(p, b):
        mean = torch.zeros(3, 3, dtype=p.dtype).index_add_(0, b, p) / torch.bincount(b)[:, None]
        return p - mean[b]

    assert_equivariant(per_graph_centre, (pos, batch), E3() * Permutations(), ("positions", "batch"),
                       ("vectors",), per_graph=True)
    with pytest.raises(EquivarianceError):  # a global centre is not per-graph equivariant
        assert_equivariant(lambda p, b: p - p.mean(0), (pos, batch), E3(), ("positions", "batch"), ("vectors",),
                           per_graph=True)


def test_user_given_inside_hypothesis():
    @hypothesis.given(x=gst.point_clouds(max_points=8), g=gst.elements(E3()))
    def inner(x, g):
        assert_equivariant(get("centroid_relative").fn, x, None, "positions", "vectors", element=g)

    inner()


def test_check_invariant_and_custom_elements():
    check_invariant(lambda x: torch.cdist(x, x), E3(), "positions", gst.point_clouds(max_points=6))
    with pytest.raises(EquivarianceError):
        check_equivariant(lambda x: x, SE3(), "positions", "vectors", gst.point_clouds(max_points=4),
                          elements=gst.elements(SE3()))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: assert_equivariant(lambda x: x, (torch.randn(3, 3),), SO3(), ("vectors", "vectors"), "vectors"),
     ValueError, "one kind per tensor"),
    (lambda: assert_equivariant(lambda x: x, torch.randn(3, 3), SO3(), "velocity", "vectors"), ValueError,
     "not a kind"),
    (lambda: assert_equivariant(lambda x: x, torch.ones(3, 3, dtype=torch.long), SO3(), "vectors", "vectors"),
     ValueError, "floating"),
    (lambda: assert_equivariant(lambda x: x, torch.randn(3, 2), SO3(), "vectors", "vectors"), ValueError,
     r"\(\.\.\., 3\)"),
    (lambda: assert_equivariant(lambda x: x, [1, 2], SO3(), "vectors", "vectors"), TypeError, "inputs"),
    (lambda: assert_equivariant(lambda x: x / 0 * 0, torch.randn(3, 3), SO3(), "vectors", "vectors"),
     AssertionError, "NaN"),
    (lambda: assert_equivariant(lambda x: (x, x), torch.randn(3, 3), SO3(), "vectors", "vectors"), ValueError,
     "out_kinds"),
    (lambda: assert_equivariant(lambda x: x, torch.randn(3, 3), "SO3", "vectors", "vectors"), TypeError, "Group"),
    (lambda: check_equivariant(lambda x: x, SO3(), "vectors", "vectors", torch.randn(3, 3)), TypeError, "strategy"),
    (lambda: assert_equivariant(lambda x: "no", torch.randn(3, 3), SO3(), "vectors", "vectors"), TypeError,
     "return a tensor"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ------------------------------------------------------------------ conservation


def _phase(n=5):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, generator=gen, dtype=torch.float64), torch.randn(n, 3, generator=gen, dtype=torch.float64)


def _momentum(state):
    return state[1].sum(0)


def _angular_momentum(state):
    q, p = state
    return torch.linalg.cross(q, p).sum(0)


def _energy(state):
    q, p = state
    diff = q[:, None] - q[None]
    return 0.5 * (p**2).sum() + 0.25 * (diff**2).sum()


def test_leapfrog_conserves_momenta_and_bounds_energy():
    step = lambda s: leapfrog_harmonic(*s)  # noqa: E731
    assert_conserves(step, _phase(), _momentum, 1000, mode="drift")
    assert_conserves(step, _phase(), _angular_momentum, 1000, mode="drift")
    rep = assert_conserves(step, _phase(), _energy, 2000, mode="bounded", rtol=1e-2)
    assert rep.max_deviation > 0


def test_one_sided_forces_break_momentum():
    with pytest.raises(ConservationError, match="not conserved"):
        assert_conserves(lambda s: leapfrog_one_sided(*s), _phase(), _momentum, 100, mode="drift")


def test_bounded_mode_detects_secular_drift():
    def euler(state, dt=0.05):  # explicit Euler: energy grows steadily
        q, p = state
        force = -(q.shape[0] * q - q.sum(0, keepdim=True))
        return q + dt * p, p + dt * force

    with pytest.raises(ConservationError, match="secular trend"):
        assert_conserves(euler, _phase(), _energy, 200, mode="bounded", rtol=1e9)


def test_conservation_bad_input():
    with pytest.raises(ValueError, match="mode"):
        assert_conserves(lambda s: s, torch.ones(1), lambda s: s, 3, mode="exact")
    with pytest.raises(ValueError, match="steps"):
        assert_conserves(lambda s: s, torch.ones(1), lambda s: s, 0)
    with pytest.raises(AssertionError, match="NaN"):
        assert_conserves(lambda s: s * float("nan"), torch.ones(1), lambda s: s, 3)


# ------------------------------------------------------------------ plugin


def test_ci_profile_is_active_and_derandomized():
    current = hypothesis.settings.default
    assert current.derandomize and current.deadline is None and current.database is None
    assert hypothesis.settings.get_profile("equigen-thorough").max_examples == 1000
