"""Systems and quantities: closed forms against autograd, symmetry, bad input."""

import pytest
import torch

from equigen.dynamics import (
    HamiltonianSystem,
    HarmonicOscillator,
    HenonHeiles,
    Kepler,
    NBodyGravity,
    Pendulum,
    angular_momentum,
    centre_of_mass,
    integrate,
    linear_momentum,
    relative_drift,
)
from equigen.dynamics.systems import grad
from equigen.groups import E3, Permutations
from equigen.testing import assert_invariant

F64 = torch.float64


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.mark.parametrize("system, shape", [
    (NBodyGravity(torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=F64)), (2, 4, 3)),
    (NBodyGravity(torch.tensor([1.0, 2.0, 0.5], dtype=F64), softening=0.2), (3, 2)),
    (Kepler(2.0), (5, 3)), (HarmonicOscillator(2.0, 3.0), (4, 2)), (Pendulum(1.5, 0.7, 9.8), (3,)),
    (HenonHeiles(), (6, 2)),
])
def test_closed_form_gradients_match_autograd(system, shape):
    q, p = rand(*shape, seed=1), rand(*shape, seed=2)
    torch.testing.assert_close(system.grad_potential(q), grad(system.potential, q), rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(system.grad_kinetic(p), grad(system.kinetic, p), rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(HamiltonianSystem.dH_dq(system, q, p), system.grad_potential(q))


def test_nbody_blocked_pairs_equal_dense_and_batched_masses():
    m = torch.rand(2, 7, dtype=F64, generator=torch.Generator().manual_seed(3)) + 0.1
    q = rand(2, 7, 3)
    dense, blocked = NBodyGravity(m), NBodyGravity(m, block_rows=3)
    torch.testing.assert_close(blocked.grad_potential(q), dense.grad_potential(q), rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(blocked.potential(q), dense.potential(q), rtol=1e-14, atol=1e-14)
    for b in range(2):
        torch.testing.assert_close(dense.potential(q)[b], NBodyGravity(m[b]).potential(q[b]))


@pytest.mark.parametrize("softening", [0.0, 0.3])
@pytest.mark.parametrize("shape, mshape, block_rows", [((6, 3), (6,), None), ((4, 9, 2), (9,), 4),
                                                        ((3, 5, 3), (3, 5), None), ((5, 3), (2, 5), 2)])
def test_nbody_inplace_rollout_path_equals_differentiable_path(softening, shape, mshape, block_rows):
    m = torch.rand(*mshape, dtype=F64, generator=torch.Generator().manual_seed(5)) + 0.2
    s = NBodyGravity(m, softening=softening, block_rows=block_rows)
    q = rand(*shape, seed=6)
    with torch.no_grad():
        fast = s.grad_potential(q)                      # cached in-place buffers
        again = s.grad_potential(q + 0.0)               # buffers reused
    slow = s.grad_potential(q.clone().requires_grad_(True))   # out of place, differentiable
    torch.testing.assert_close(fast, slow.detach(), rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(again, fast, rtol=0, atol=0)
    expected = grad(s.potential, q)                      # sums over the mass sets when they broadcast
    torch.testing.assert_close(fast if fast.shape == q.shape else fast.sum(0), expected, rtol=1e-12, atol=1e-13)


def test_two_body_energy_by_hand():
    s = NBodyGravity(torch.tensor([2.0, 3.0], dtype=F64), G=0.5)
    q = torch.tensor([[0.0, 0, 0], [0, 4.0, 0]], dtype=F64)
    p = torch.tensor([[2.0, 0, 0], [0, 0, 3.0]], dtype=F64)
    assert float(s.energy(q, p)) == pytest.approx(2.0 ** 2 / 4 + 3.0 ** 2 / 6 - 0.5 * 6 / 4, abs=1e-15)


def test_nbody_energy_is_e3_and_permutation_invariant(dtype):
    m = torch.tensor([1.0, 2.0, 0.5, 1.5, 3.0], dtype=dtype)

    def energy(q, p, masses):
        return NBodyGravity(masses, softening=0.05).energy(q, p)

    inputs = (rand(5, 3).to(dtype), rand(5, 3, seed=4).to(dtype), m)
    assert_invariant(energy, inputs, E3() * Permutations(), ("positions", "vectors", "nodes"))


def test_quantities():
    q = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]], dtype=F64)
    p = torch.tensor([[0.0, 1, 0], [0.0, -1, 0]], dtype=F64)
    assert angular_momentum(q, p).tolist() == [0.0, 0.0, 2.0]
    assert float(angular_momentum(q[:, :2], p[:, :2])) == 2.0
    assert linear_momentum(p).tolist() == [0.0, 0.0, 0.0]
    assert centre_of_mass(q, torch.tensor([1.0, 3.0])).tolist() == [-0.5, 0.0, 0.0]
    assert relative_drift(torch.tensor([2.0, 2.0, 3.0])).tolist() == [0.0, 0.0, 0.5]
    with pytest.raises(ValueError, match="d = 2 or 3"):
        angular_momentum(rand(3, 4), rand(3, 4))
    with pytest.raises(ValueError, match="masses"):
        centre_of_mass(q, torch.ones(3))


def test_harmonic_oscillator_exact():
    h = HarmonicOscillator(2.0, 8.0)
    q0, p0 = torch.tensor([1.0], dtype=F64), torch.tensor([0.5], dtype=F64)
    q, p = integrate(h, q0, p0, 1e-3, 1000, method="yoshida6", save_every=1000)
    qe, pe = h.exact_state(q0, p0, 1.0)
    torch.testing.assert_close(q[-1], qe, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(p[-1], pe, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("masses", [[1.0, 0.0], [1.0, -2.0], [1.0, float("nan")], [], 1.0])
def test_bad_masses(masses):
    with pytest.raises(ValueError, match="masses"):
        NBodyGravity(torch.tensor(masses, dtype=F64))


def test_bad_nbody_state_and_parameters():
    s = NBodyGravity(torch.ones(3, dtype=F64))
    q = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0]], dtype=F64)
    with pytest.raises(ValueError, match="same position.*softening"):
        integrate(s, q, torch.zeros_like(q), 0.1, 2)
    with pytest.raises(ValueError, match="same position.*softening"):
        s.grad_potential(q)
    qs, _ = integrate(NBodyGravity(torch.ones(3, dtype=F64), softening=0.1), q, torch.zeros_like(q), 0.1, 2)
    assert torch.isfinite(qs).all()
    with pytest.raises(ValueError, match="3 masses"):
        integrate(s, rand(4, 3), rand(4, 3), 0.1, 2)
    with pytest.raises(ValueError, match="broadcast"):
        integrate(NBodyGravity(torch.ones(2, 3, dtype=F64)), rand(5, 3, 3), rand(5, 3, 3), 0.1, 2)
    for kw in ({"G": 0.0}, {"G": -1.0}, {"softening": -0.1}, {"softening": float("inf")}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            NBodyGravity(torch.ones(3, dtype=F64), **kw)
    with pytest.raises(ValueError, match="singularity"):
        integrate(Kepler(), torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64), 0.1, 2)
    with pytest.raises(ValueError, match="eccentricity"):
        Kepler.initial_state(1.0)
