"""Integrators: declared order, symplecticity and reversibility measured on textbook problems."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from equigen.dynamics import (
    METHODS,
    HamiltonianSystem,
    HenonHeiles,
    Kepler,
    NBodyGravity,
    Pendulum,
    angular_momentum,
    integrate,
    linear_momentum,
    methods,
    step,
    stepper,
)
from equigen.testing import (
    SymplecticityError,
    assert_conserves,
    assert_symplectic,
    measure_conservation,
    symplecticity_error,
)
from equigen.testing import strategies as gst

F64 = torch.float64
ALL = list(METHODS)
SYMPLECTIC = [m.name for m in methods(symplectic=True)]
REVERSIBLE = [m.name for m in methods(reversible=True)]


def kepler_error(method, T, n, e=0.6):
    q0, p0 = Kepler.initial_state(e)
    q, p = integrate(Kepler(), q0, p0, T / n, n, method=method, save_every=n)
    qe, pe = Kepler.exact_state(e, T)
    return float(torch.cat([q[-1] - qe, p[-1] - pe]).norm())


# Step counts chosen inside the asymptotic range of each method and above the rounding floor.
CONVERGENCE = {1: (2.0, (2000, 4000, 8000)), 2: (10.0, (500, 1000, 2000)), 4: (10.0, (1000, 2000, 4000)),
               6: (10.0, (250, 500, 1000))}


@pytest.mark.parametrize("method", ALL)
def test_global_error_converges_at_declared_order_on_kepler_e06(method):
    order = METHODS[method].order
    T, ns = CONVERGENCE[order]
    errs = [kepler_error(method, T, n) for n in ns]
    slopes = [math.log2(errs[i] / errs[i + 1]) for i in range(len(ns) - 1)]
    assert all(abs(s - order) < 0.25 for s in slopes), (method, errs, slopes)


def test_exact_kepler_solution_is_consistent():
    q, p = Kepler.exact_state(0.6, torch.linspace(0, 20, 50, dtype=F64))
    e = Kepler().energy(q, p)
    assert torch.allclose(e, torch.full_like(e, -0.5), atol=1e-14, rtol=0)  # H = -k / 2a
    q0, p0 = Kepler.initial_state(0.6)
    qe, pe = Kepler.exact_state(0.6, 0.0)
    assert torch.allclose(qe, q0, atol=1e-15) and torch.allclose(pe, p0, atol=1e-15)


def nbody_state(n=5, d=3, batch=(), seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(n, generator=g, dtype=F64) + 0.5
    q = torch.randn(*batch, n, d, generator=g, dtype=F64) * 2
    p = torch.randn(*batch, n, d, generator=g, dtype=F64) * 0.3
    return NBodyGravity(m.to(dtype), softening=0.1), q.to(dtype), p.to(dtype)


@pytest.mark.parametrize("method", REVERSIBLE)
@pytest.mark.parametrize("problem", ["kepler", "nbody"])
def test_reversible_methods_return_to_start(method, problem):
    if problem == "kepler":
        system, (q0, p0), dt, n = Kepler(), Kepler.initial_state(0.6), 0.01, 200
    else:
        (system, q0, p0), dt, n = nbody_state(), 1e-3, 200
    q, p = integrate(system, q0, p0, dt, n, method=method, save_every=n)
    qb, pb = integrate(system, q[-1], p[-1], -dt, n, method=method, save_every=n)
    scale = max(float(q0.abs().max()), float(p0.abs().max()))
    err = max(float((qb[-1] - q0).abs().max()), float((pb[-1] - p0).abs().max())) / scale
    assert err < 1e-13, err


@pytest.mark.parametrize("method", [m for m in ALL if m not in REVERSIBLE])
def test_irreversible_methods_do_not_return(method):
    q0, p0 = Kepler.initial_state(0.6)
    q, p = integrate(Kepler(), q0, p0, 0.05, 100, method=method, save_every=100)
    qb, pb = integrate(Kepler(), q[-1], p[-1], -0.05, 100, method=method, save_every=100)
    assert float((qb[-1] - q0).abs().max()) > 1e-6


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("problem", ["kepler", "nbody", "henon_heiles", "pendulum"])
def test_symplecticity_matches_declaration(method, problem):
    if problem == "kepler":
        system, state, dt = Kepler(), Kepler.initial_state(0.6), 0.1
    elif problem == "nbody":
        system, q, p = nbody_state(n=4)
        state, dt = (q, p), 0.2
    elif problem == "henon_heiles":
        system, dt = HenonHeiles(), 0.5
        state = (torch.tensor([0.1, -0.2], dtype=F64), torch.tensor([0.3, 0.25], dtype=F64))
    else:
        system, dt = Pendulum(), 0.5
        state = (torch.tensor([1.0, 2.5], dtype=F64), torch.tensor([0.5, -0.3], dtype=F64))
    fn = stepper(system, dt, method)
    if METHODS[method].is_symplectic:
        assert_symplectic(fn, state)
    else:
        with pytest.raises(SymplecticityError):
            assert_symplectic(fn, state)
        assert symplecticity_error(fn, state) > 1e-6  # visibly, not at the rounding level


def test_symplecticity_float32_and_batched_state():
    system, q, p = nbody_state(n=3, batch=(2,), dtype=torch.float32)
    assert_symplectic(stepper(system, 0.2, "yoshida4"), (q, p))  # float32 default tolerance 1e-5
    kepler32 = Kepler.initial_state(0.6, dtype=torch.float32)
    assert_symplectic(stepper(Kepler(), 0.1, "leapfrog"), kepler32)
    with pytest.raises(SymplecticityError):
        assert_symplectic(stepper(Kepler(), 0.1, "rk4"), kepler32)


@pytest.mark.parametrize("method", SYMPLECTIC)
@pytest.mark.parametrize("d", [2, 3])
def test_nbody_angular_and_linear_momentum_conserved_to_rounding(method, d):
    system, q, p = nbody_state(n=5, d=d)
    fn = stepper(system, 2e-3, method, check=False)
    assert_conserves(fn, (q, p), lambda s: angular_momentum(*s), 500, rtol=1e-13)
    assert_conserves(fn, (q, p), lambda s: linear_momentum(s[1]), 500, rtol=1e-13, floor=float(p.abs().sum()))


def test_non_symplectic_euler_drifts_angular_momentum():
    system, q, p = nbody_state(n=5)
    r = measure_conservation(stepper(system, 2e-3, "euler"), (q, p), lambda s: angular_momentum(*s), 500,
                             rtol=1e-13)
    assert not r.passed and r.max_deviation > 1e-6


def kepler_energy_run(method, steps, dt=0.05):
    k = Kepler()
    return measure_conservation(stepper(k, dt, method, check=False), Kepler.initial_state(0.6),
                                lambda s: k.energy(*s), steps, mode="bounded", rtol=0.05)


def test_leapfrog_energy_bounded_rk4_drifts_1e4_steps():
    lf = kepler_energy_run("leapfrog", 10_000)
    assert lf.passed
    assert lf.second_half <= 1.05 * lf.first_half  # oscillates, no trend
    rk = kepler_energy_run("rk4", 10_000)
    assert rk.second_half >= 1.8 * rk.first_half  # secular (linear) drift


@pytest.mark.slow
def test_leapfrog_energy_bounded_1e6_steps():
    lf = kepler_energy_run("leapfrog", 1_000_000)
    assert lf.passed and lf.second_half <= 1.05 * lf.first_half
    rk = kepler_energy_run("rk4", 1_000_000)
    assert rk.second_half >= 1.8 * rk.first_half and rk.max_deviation > lf.max_deviation


def test_stepper_matches_integrate_and_reuses_force():
    system, q, p = nbody_state(n=4)
    calls = {"n": 0}
    original = system.grad_potential

    def counted(x):
        calls["n"] += 1
        return original(x)

    system.grad_potential = counted
    qs, ps = integrate(system, q, p, 1e-2, 10, method="leapfrog")
    assert calls["n"] == 11  # one force evaluation per step (+1 at the start)
    calls["n"] = 0
    fn, state = stepper(system, 1e-2, "leapfrog"), (q, p)
    for t in range(10):
        state = fn(state)
        torch.testing.assert_close(state[0], qs[t + 1], rtol=0, atol=0)
    assert calls["n"] == 11


def test_batched_equals_individual_and_per_system_dt():
    system, q, p = nbody_state(n=4, batch=(3,))
    dt = torch.tensor([1e-3, 2e-3, -1e-3], dtype=F64).reshape(3, 1, 1)
    qs, ps = integrate(system, q, p, dt, 20, method="yoshida4", save_every=5)
    assert qs.shape == (5, 3, 4, 3)
    for b in range(3):
        qb, pb = integrate(system, q[b], p[b], float(dt[b]), 20, method="yoshida4", save_every=5)
        torch.testing.assert_close(qs[:, b], qb, rtol=1e-14, atol=1e-14)
        torch.testing.assert_close(ps[:, b], pb, rtol=1e-14, atol=1e-14)


def test_gradients_flow_through_integrate():
    q0, p0 = Kepler.initial_state(0.3)
    q0 = q0.clone().requires_grad_(True)

    def final(x):
        q, _ = integrate(Kepler(), x, p0, 0.05, 10, method="leapfrog", save_every=10)
        return q[-1]

    assert torch.autograd.gradcheck(final, (q0,))


class NonSeparable(HamiltonianSystem):
    """H = (1 + q^2)(1 + p^2) / 2: not separable, explicit splitting does not apply."""

    separable = False

    def energy(self, q, p):
        return (0.5 * (1 + q * q) * (1 + p * p)).sum(-1)


def test_implicit_midpoint_on_non_separable_hamiltonian():
    system = NonSeparable()
    q0, p0 = torch.tensor([0.3, -0.5], dtype=F64), torch.tensor([0.2, 0.1], dtype=F64)
    assert_symplectic(stepper(system, 0.1, "implicit_midpoint"), (q0, p0))
    assert_conserves(stepper(system, 0.05, "implicit_midpoint"), (q0, p0), lambda s: system.energy(*s), 400,
                     mode="bounded", rtol=1e-2)
    with pytest.raises(ValueError, match="separable"):
        integrate(system, q0, p0, 0.1, 3, method="leapfrog")


def test_method_table_is_data():
    assert {m: (METHODS[m].order, METHODS[m].is_symplectic, METHODS[m].is_reversible) for m in METHODS} == {
        "symplectic_euler": (1, True, False), "leapfrog": (2, True, True), "leapfrog_dkd": (2, True, True),
        "yoshida4": (4, True, True), "yoshida6": (6, True, True), "implicit_midpoint": (2, True, True),
        "rk4": (4, False, False), "euler": (1, False, False)}
    assert sum(METHODS["yoshida6"].weights) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("dt", [0.0, float("nan"), float("inf"), torch.tensor(0.0)])
def test_bad_dt(dt):
    q0, p0 = Kepler.initial_state(0.5)
    with pytest.raises(ValueError, match="dt"):
        integrate(Kepler(), q0, p0, dt, 5)
    with pytest.raises(ValueError, match="dt"):
        stepper(Kepler(), dt)


def test_bad_arguments():
    q0, p0 = Kepler.initial_state(0.5)
    with pytest.raises(ValueError, match="method"):
        integrate(Kepler(), q0, p0, 0.1, 5, method="verlet")
    with pytest.raises(ValueError, match="steps"):
        integrate(Kepler(), q0, p0, 0.1, 0)
    with pytest.raises(ValueError, match="save_every"):
        integrate(Kepler(), q0, p0, 0.1, 10, save_every=3)
    with pytest.raises(ValueError, match="shape"):
        integrate(Kepler(), q0, p0[:1], 0.1, 5)
    with pytest.raises(ValueError, match="NaN"):
        integrate(Kepler(), q0, torch.tensor([float("nan"), 1.0], dtype=F64), 0.1, 5)
    with pytest.raises(TypeError, match="dt"):
        step(Kepler(), q0, p0, "0.1")
    with pytest.raises(TypeError, match="q"):
        step(Kepler(), [1.0, 0.0], p0, 0.1)


@settings(max_examples=15)
@given(pos=gst.point_clouds(min_points=2, max_points=4, dtype=F64, min_separation=0.5, scale=1.0),
       seed=st.integers(0, 2**16), method=st.sampled_from(ALL))
def test_symplecticity_property_on_random_nbody_states(pos, seed, method):
    """Property: at any well-separated N-body state, J^T Omega J = Omega exactly for the symplectic
    methods and visibly not for the others (hypothesis draws positions, momenta and masses)."""
    g = torch.Generator().manual_seed(seed)
    n = pos.shape[0]
    system = NBodyGravity(torch.rand(n, generator=g, dtype=F64) + 0.5)
    p = 0.5 * torch.randn(n, 3, generator=g, dtype=F64)
    fn = stepper(system, 0.05, method)
    if METHODS[method].is_symplectic:
        assert_symplectic(fn, (pos, p))
    else:
        assert symplecticity_error(fn, (pos, p)) > 1e-9
