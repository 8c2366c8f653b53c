"""Learned dynamics: the linear baseline, the Hamiltonian net (unconstrained twin) and the pair potential."""

import math
import shutil

import pytest
import torch

from equigen.dynamics import (
    HamiltonianNet,
    HarmonicOscillator,
    LinearDynamics,
    NBodyGravity,
    PairPotentialNet,
    angular_momentum,
    integrate,
    linear_momentum,
    stepper,
    train_one_step,
)
from equigen.dynamics.learned import count_parameters
from equigen.groups import E3, SO3, Permutations
from equigen.testing import (
    SymplecticityError,
    assert_conserves,
    assert_symplectic,
    equivariance_error,
    measure_conservation,
)

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def cluster(n=4, d=3, batch=(), seed=0, dtype=F64):
    g = gen(seed)
    q = torch.randn(*batch, n, d, generator=g, dtype=F64) * 1.5
    p = torch.randn(*batch, n, d, generator=g, dtype=F64) * 0.2
    return q.to(dtype), p.to(dtype)


def gravity_pairs(count=256, dt=0.05, seed=0):
    """Snapshot pairs (state, state dt later) of a softened 3-body system, from an accurate integration."""
    masses = torch.tensor([1.0, 0.7, 0.4], dtype=F64)
    system = NBodyGravity(masses, softening=0.3)
    q0, p0 = cluster(3, 3, batch=(count,), seed=seed)
    q, p = integrate(system, q0, p0, dt / 10, 10, method="yoshida6", save_every=10)
    return masses, system, (q[0], p[0], q[-1], p[-1])


# --------------------------------------------------------------------------- LinearDynamics

def test_linear_dynamics_recovers_an_exactly_linear_flow():
    h = HarmonicOscillator(2.0, 8.0)
    q0, p0 = cluster(2, 3, batch=(8,), seed=1)
    qs, ps = integrate(h, q0, p0, 0.01, 60, method="yoshida6", save_every=6)   # (11, 8, 2, 3)
    model = LinearDynamics(2, 3).fit(qs, ps)
    qe, pe = h.exact_state(q0, p0, 0.06)
    q1, p1 = model(q0, p0)
    torch.testing.assert_close(q1, qe, rtol=1e-9, atol=1e-9)   # yoshida6 data are exact to ~1e-12
    torch.testing.assert_close(p1, pe, rtol=1e-9, atol=1e-9)
    q, p = model.rollout(q0[:2], p0[:2], 5)
    assert q.shape == (6, 2, 2, 3) and torch.equal(q[0], q0[:2])


def test_linear_dynamics_drifts_angular_momentum_and_breaks_rotations():
    masses, system, _ = gravity_pairs(count=4)
    q0, p0 = cluster(3, 3, batch=(16,), seed=3)
    qs, ps = integrate(system, q0, p0, 0.05, 40, method="yoshida4")
    model = LinearDynamics(3, 3).fit(qs, ps, ridge=1e-8)
    qt, pt = cluster(3, 3, batch=(2,), seed=4)
    q, p = model.rollout(qt, pt, 40)
    L = angular_momentum(q, p)
    drift = float(((L - L[0]).norm(dim=-1) / L[0].norm(dim=-1)).max())
    assert drift > 1e-3, drift                # no symmetry: it drifts far above rounding
    err = equivariance_error(lambda a, b: model(a, b), (qt[0], pt[0]), SO3(), ("vectors", "vectors"),
                             ("vectors", "vectors"), trials=2)
    assert err > 1e-3, err


def test_linear_dynamics_bad_input():
    with pytest.raises(ValueError, match="num_bodies"):
        LinearDynamics(0, 3)
    model = LinearDynamics(2, 3)
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(3, 3, dtype=F64), torch.zeros(3, 3, dtype=F64))
    with pytest.raises(ValueError, match="trajectories"):
        model.fit(torch.zeros(1, 2, 3, dtype=F64), torch.zeros(1, 2, 3, dtype=F64))


# --------------------------------------------------------------------------- PairPotentialNet

@pytest.mark.parametrize("method", ["leapfrog", "leapfrog_dkd", "yoshida4"])
def test_pair_potential_float32_model_rolled_out_in_float64_conserves_momenta_to_rounding(method):
    model = PairPotentialNet(torch.tensor([1.0, 0.5, 2.0, 0.8]), hidden=16, generator=gen(1))
    assert next(model.parameters()).dtype == torch.float32        # learning default: float32
    model64 = model.double()
    q, p = cluster(4, 3, seed=2)
    fn = stepper(model64, 0.01, method, check=False)
    steps = 60 if method == "yoshida4" else 150
    assert_conserves(fn, (q, p), lambda s: angular_momentum(*s), steps, rtol=1e-13)
    assert_conserves(fn, (q, p), lambda s: linear_momentum(s[1]), steps, rtol=1e-13, floor=float(p.abs().sum()))


def test_pair_potential_forces_are_central_sum_to_zero_and_step_is_symplectic():
    model = PairPotentialNet(torch.tensor([1.0, 0.5, 2.0]), hidden=8, generator=gen(3)).double()
    q, p = cluster(3, 3, batch=(2,), seed=5)
    with torch.no_grad():
        f = -model.grad_potential(q)
    assert float(f.sum(-2).abs().max()) < 1e-14 * float(f.abs().max())         # Newton's third law
    assert float(torch.linalg.cross(q, f, dim=-1).sum(-2).abs().max()) < 1e-13 * float(f.abs().max())  # no torque
    assert_symplectic(stepper(model, 0.05, "leapfrog"), (q[0], p[0]))


def test_pair_potential_energy_equivariant_in_both_dtypes_and_2d():
    model = PairPotentialNet(torch.tensor([1.0, 0.5, 2.0, 0.7]), hidden=8, generator=gen(4))
    for dtype in (F64, torch.float32):
        m = model.to(dtype)
        q, _ = cluster(4, 3, seed=6, dtype=dtype)
        err = equivariance_error(m, (q, m.masses), E3() * Permutations(), ("positions", "nodes"), None, trials=4)
        assert err < (1e-10 if dtype == F64 else 1e-5), (dtype, err)
    q2, p2 = cluster(4, 2, seed=7)
    model64 = model.double()
    assert_conserves(stepper(model64, 0.01, check=False), (q2, p2), lambda s: angular_momentum(*s), 100, rtol=1e-13)


def test_pair_potential_bad_input():
    with pytest.raises(ValueError, match="masses"):
        PairPotentialNet(torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="hidden"):
        PairPotentialNet(torch.ones(3), hidden=0)
    model = PairPotentialNet(torch.ones(3), generator=gen()).double()
    with pytest.raises(ValueError, match="3 masses"):
        integrate(model, *cluster(4, 3), 0.1, 2)
    q = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0]], dtype=F64)
    with pytest.raises(ValueError, match="same position"):
        integrate(model, q, torch.zeros_like(q), 0.1, 2)


# --------------------------------------------------------------------------- HamiltonianNet (the twin)

def test_twin_has_comparable_size_and_same_interface():
    pair = PairPotentialNet(torch.tensor([1.0, 2e-3, 1e-3, 5e-4]), hidden=64, generator=gen())
    twin = pair.twin(3, generator=gen(1))
    assert isinstance(twin, HamiltonianNet) and twin.separable
    a, b = count_parameters(pair), count_parameters(twin)
    assert abs(a - b) / a < 0.1, (a, b)
    q, p = cluster(4, 3, batch=(2,))
    for model in (pair.double(), twin.double()):
        qs, ps = integrate(model, q, p, 0.01, 4)
        assert qs.shape == (5, 2, 4, 3) and model.energy(q, p).shape == (2,)


def test_hamiltonian_net_conserves_its_energy_but_not_angular_momentum():
    model = HamiltonianNet(4, 3, masses=torch.tensor([1.0, 0.5, 2.0, 0.8]), hidden=16, generator=gen(5)).double()
    q, p = cluster(4, 3, seed=8)
    fn = stepper(model, 0.01, "leapfrog", check=False)
    assert_symplectic(fn, (q, p))                                    # symplectic: structure is kept...

    def energy_error(dt, method):
        return measure_conservation(stepper(model, dt, method, check=False), (q, p), lambda s: model.energy(*s),
                                    round(2.0 / dt), rtol=1e-5).max_deviation

    e1, e2 = energy_error(0.02, "leapfrog"), energy_error(0.01, "leapfrog")
    assert e2 < 1e-5 and 3.0 < e1 / e2 < 5.0, (e1, e2)              # ...its own H: O(dt^2) error...
    assert energy_error(0.02, "euler") > 100 * e1                    # (explicit Euler drifts)
    L = measure_conservation(fn, (q, p), lambda s: angular_momentum(*s), 200, rtol=1e-13)
    assert not L.passed and L.max_deviation > 1e-6, L.message        # ...but no rotation symmetry: L drifts
    err = equivariance_error(lambda a, b: stepper(model, 0.01)((a, b)), (q, p), SO3(), ("vectors", "vectors"),
                             ("vectors", "vectors"), trials=2)
    assert err > 1e-4, err


def test_non_separable_hamiltonian_net_needs_implicit_midpoint():
    model = HamiltonianNet(2, 2, hidden=8, generator=gen(6)).double()
    assert not model.separable
    q, p = cluster(2, 2, seed=9)
    with pytest.raises(ValueError, match="separable"):
        integrate(model, q, p, 0.01, 2, method="leapfrog")
    assert_symplectic(stepper(model, 0.01, "implicit_midpoint"), (q, p))
    with pytest.raises(SymplecticityError):
        assert_symplectic(stepper(model, 0.2, "euler"), (q, p))


def test_hamiltonian_net_bad_input():
    with pytest.raises(ValueError, match="dim"):
        HamiltonianNet(3, 0)
    with pytest.raises(ValueError, match="masses"):
        HamiltonianNet(3, 3, masses=torch.ones(2))
    model = HamiltonianNet(3, 3, masses=torch.ones(3), generator=gen()).double()
    with pytest.raises(ValueError, match="shape"):
        integrate(model, *cluster(4, 3), 0.1, 2)


def test_models_are_reproducible_from_the_generator():
    a = PairPotentialNet(torch.ones(3), generator=gen(11))
    b = PairPotentialNet(torch.ones(3), generator=gen(11))
    c = PairPotentialNet(torch.ones(3), generator=gen(12))
    q = cluster(3, 3)[0].float()
    assert torch.equal(a(q), b(q)) and not torch.equal(a(q), c(q))


# --------------------------------------------------------------------------- training through the integrator

def test_training_through_leapfrog_learns_gravity_pair_potential():
    masses, system, (q_in, p_in, q_out, p_out) = gravity_pairs(count=256)
    model = PairPotentialNet(masses.float(), hidden=16, generator=gen(7))
    losses = train_one_step(model, q_in, p_in, q_out, p_out, 0.05, steps=150, batch_size=64,
                            lr=1e-2, generator=gen(8))
    assert len(losses) == 150 and all(math.isfinite(v) for v in losses)
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.05 * first, (first, last)
    # held-out pairs, the model rolled out in float64
    _, _, (qi, pi, qo, po) = gravity_pairs(count=64, seed=9)
    with torch.no_grad():
        q, p = integrate(model.double(), qi, pi, 0.05, 1)
    err = float((q[-1] - qo).norm() / (qo - qi).norm())
    assert err < 0.2, err


def test_train_one_step_bad_input():
    model = PairPotentialNet(torch.ones(3), generator=gen())
    x = torch.zeros(4, 3, 3)
    with pytest.raises(ValueError, match="equal shapes"):
        train_one_step(model, x, x, x, x[:2], 0.1, steps=1)


def test_train_one_step_resumes_exactly_from_checkpoints(tmp_path):
    masses, _, pairs = gravity_pairs(count=64)

    def run(out_dir, iterations):
        model = PairPotentialNet(masses.float(), hidden=8, generator=gen(7))
        losses = train_one_step(model, *pairs, 0.05, steps=iterations, batch_size=16, seed=3, out_dir=out_dir,
                                checkpoint_every=4)
        return model, losses

    straight, losses = run(tmp_path / "a", 12)
    # an interrupted run: the same directory as it was after step 8 (checkpoints at 4 and 8)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "checkpoints" / "ckpt-00000012.pt").unlink()
    resumed, tail = run(tmp_path / "b", 12)
    assert len(losses) == 12 and tail == losses[8:]
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
