"""Worked example: check your own integrator and a learned model with equigen.testing (runs as a test)."""

import pytest
import torch

from equigen.dynamics import Kepler, NBodyGravity, PairPotentialNet, angular_momentum, integrate, stepper
from equigen.testing import (
    ConservationError,
    SymplecticityError,
    assert_conserves,
    assert_symplectic,
    measure_conservation,
)


def my_position_verlet(system, dt):
    """A user-written one-step map (q, p) -> (q, p): drift-kick-drift."""

    def step(state):
        q, p = state
        q = q + 0.5 * dt * system.grad_kinetic(p)
        p = p - dt * system.grad_potential(q)
        return q + 0.5 * dt * system.grad_kinetic(p), p

    return step


def my_broken_verlet(system, dt):
    """The same with a bug: the kick uses the force at the old position. Not symplectic."""

    def step(state):
        q0, p = state
        q = q0 + 0.5 * dt * system.grad_kinetic(p)
        p = p - dt * system.grad_potential(q0)
        return q + 0.5 * dt * system.grad_kinetic(p), p

    return step


def test_my_integrator_is_symplectic_and_keeps_energy_bounded():
    kepler, state = Kepler(), Kepler.initial_state(0.6)          # float64 by default
    assert_symplectic(my_position_verlet(kepler, 0.1), state)   # J^T Omega J = Omega by autograd
    assert_conserves(my_position_verlet(kepler, 0.05), state, lambda s: kepler.energy(*s), 2000,
                     mode="bounded", rtol=0.05)                  # oscillates, no secular drift
    with pytest.raises(SymplecticityError):
        assert_symplectic(my_broken_verlet(kepler, 0.1), state)


def test_noether_for_a_learned_pair_potential():
    masses = torch.tensor([1.0, 0.5, 0.3])
    model = PairPotentialNet(masses, hidden=16, generator=torch.Generator().manual_seed(0))  # float32 weights
    q = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 1.5, 0.2]], dtype=torch.float64)
    p = torch.tensor([[0.0, -0.1, 0], [0, 0.6, 0], [-0.3, 0, 0.1]], dtype=torch.float64)
    step = stepper(model.double(), 0.01, "leapfrog")             # rolled out in float64
    assert_conserves(step, (q, p), lambda s: angular_momentum(*s), 200, rtol=1e-13)   # exact, by symmetry


def test_a_non_symplectic_method_drifts():
    system = NBodyGravity(torch.tensor([1.0, 0.5, 0.3], dtype=torch.float64), softening=0.1)
    q = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 1.5, 0.2]], dtype=torch.float64)
    p = torch.tensor([[0.0, -0.1, 0], [0, 0.6, 0], [-0.3, 0, 0.1]], dtype=torch.float64)
    report = measure_conservation(stepper(system, 0.01, "euler"), (q, p), lambda s: angular_momentum(*s), 200)
    assert not report.passed                                      # explicit Euler: L drifts
    with pytest.raises(ConservationError):
        assert_conserves(stepper(system, 0.01, "euler"), (q, p), lambda s: angular_momentum(*s), 200)
    qs, ps = integrate(system, q, p, 0.01, 200, method="yoshida4", save_every=50)   # (5, 3, 3) trajectories
    assert qs.shape == (5, 3, 3)
