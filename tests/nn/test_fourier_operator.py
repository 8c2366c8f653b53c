"""FourierOperator: recovering D (Fick's law) from snapshot pairs, conservation, symmetry, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from equigen.data.heat import fd_symbol_error, heat_exact, heat_pairs, random_smooth_fields
from equigen.experiments.fick import _naive_D
from equigen.groups import GridReflections, GridShifts
from equigen.nn import Conserving, FourierOperator, Free, IsotropicPolynomial, RealEven
from equigen.testing import EquivarianceError, assert_equivariant

F64 = torch.float64
D, DT, L2PI = 0.05, 0.2, 2 * math.pi


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def rel(a, b):
    return abs(float(a) / b - 1)


# ------------------------------------------------------------------ the accuracy targets
@pytest.mark.parametrize("N", [64, 128])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_noise_free_pair_gives_D_to_1e_6(N, seed):
    u0, u1 = heat_pairs(1, (N,), D=D, dt=DT, generator=gen(seed))
    op = FourierOperator.fit(u0, u1, dt=DT, length=L2PI, symbol="isotropic")
    assert rel(op.symbol.D, D) < 1e-6


@pytest.mark.parametrize("seed", range(5))
def test_one_percent_noise_sixteen_pairs_gives_D_to_2_percent(seed):
    u0, u1 = heat_pairs(16, (64,), D=D, dt=DT, noise=0.01, generator=gen(seed))
    op = FourierOperator.fit(u0, u1, dt=DT, length=L2PI, symbol="isotropic")
    assert rel(op.symbol.D, D) < 0.02


def test_naive_log_ratio_is_biased_at_one_percent_noise():
    """Why the estimator matters: the per-mode log-ratio average is off by tens of percent here."""
    u0, u1 = heat_pairs(16, (64,), D=D, dt=DT, noise=0.01, generator=gen(0))
    assert rel(_naive_D(u0, u1, DT), D) > 0.1
    assert rel(FourierOperator.fit(u0, u1, dt=DT, length=L2PI).symbol.D, D) < 0.02  # same data


@pytest.mark.parametrize("N", [64, 128])
def test_finite_difference_data_gives_D_to_the_solver_accuracy(N):
    """Data from an independent solver: D is recovered to its accuracy, and not better (not circular)."""
    u0, u1 = heat_pairs(4, (N,), D=D, dt=DT, source="fd", generator=gen(3))
    op = FourierOperator.fit(u0, u1, dt=DT, length=L2PI, symbol="isotropic")
    err = rel(op.symbol.D, D)
    h = L2PI / (4 * N)  # fine grid of the solver
    bound = fd_symbol_error(8.0, h)  # the 4th-order stencil's relative symbol error at |k| = 8
    assert 1e-10 < err < bound, (err, bound)
    exact = heat_exact(u0, DT, D, L2PI)
    one_step = float((u1 - exact).norm() / (exact - exact.mean(-1, keepdim=True)).norm())
    assert 1e-10 < one_step < 1e-5


@pytest.mark.parametrize("sizes,length", [((16, 12), (L2PI, 3.0)), ((8, 10, 12), (L2PI, 3.0, 4.0)), ((9, 7), 5.0)])
def test_fit_in_2d_and_3d_with_physical_lengths(sizes, length):
    u0, u1 = heat_pairs(1, sizes, D=D, dt=DT, length=length, generator=gen(4))
    op = FourierOperator.fit(u0, u1, dt=DT, length=length)
    assert rel(op.symbol.D, D) < 1e-9
    assert op.ndim == len(sizes)


def test_float32_fit():
    u0, u1 = heat_pairs(1, (64,), D=D, dt=DT, generator=gen(1), dtype=torch.float32)
    op = FourierOperator.fit(u0, u1, dt=DT, length=L2PI)
    assert op.symbol.coefficients.dtype == torch.float32
    assert rel(op.symbol.D, D) < 1e-5
    assert op.step(u0).dtype == torch.float32


@pytest.mark.parametrize("symbol", ["real_even", "conserving", "free"])
def test_table_symbols_recover_minus_D_k2_where_there_is_signal(symbol):
    N = 64
    u0, u1 = heat_pairs(2, (N,), D=D, dt=DT, generator=gen(5))
    op = FourierOperator.fit(u0, u1, dt=DT, length=L2PI, symbol=symbol)
    re, im = op.generator_values((N,))
    k = torch.arange(11, dtype=F64)
    torch.testing.assert_close(re[:11], -D * k**2, rtol=1e-8, atol=1e-10)
    if im is not None:
        assert float(im[:11].detach().abs().max()) < 1e-8
    # the fitted operator reproduces the data
    assert float((op.step(u0) - u1).detach().norm() / u1.norm()) < 1e-12


def test_euler_method_and_its_fit():
    true = FourierOperator(IsotropicPolynomial(1, init=[D], dtype=F64), dt=0.01, method="euler")
    u0 = random_smooth_fields(3, (32,), generator=gen(6))
    u1 = true.step(u0)
    # Euler is u + dt L u, computed independently here
    k2 = (torch.fft.rfftfreq(32, d=1 / 32, dtype=F64)) ** 2
    manual = torch.fft.irfft(torch.fft.rfft(u0) * (1 - 0.01 * D * k2), n=32)
    torch.testing.assert_close(u1, manual, rtol=0, atol=1e-13)
    op = FourierOperator.fit(u0, u1, dt=0.01, length=L2PI, method="euler")
    assert rel(op.symbol.D, D) < 1e-9


def test_exact_steps_compose():
    op = FourierOperator(IsotropicPolynomial(2, init=[D, 1e-4], dtype=F64), dt=DT)
    u = random_smooth_fields(2, (24,), generator=gen(7))
    torch.testing.assert_close(op.step(u, steps=5), op.rollout(u, 5)[-1], rtol=0, atol=1e-13)
    torch.testing.assert_close(op.step(u, dt=5 * DT), op.step(u, steps=5), rtol=0, atol=1e-13)


# ------------------------------------------------------------------ gradient training (nonlinear parameterisation)
@pytest.mark.parametrize("noise,tol", [(0.0, 1e-6), (0.01, 0.02)])
def test_gradient_training_of_a_degree_two_polynomial(noise, tol):
    u0, u1 = heat_pairs(16, (64,), D=D, dt=DT, noise=noise, generator=gen(0))
    op = FourierOperator(IsotropicPolynomial(2, init=[0.01, 0.0], dtype=F64), dt=DT)
    history = op.train_gradient(u0, u1, steps=10)
    assert history[-1] < history[0]
    assert rel(op.symbol.D, D) < tol
    assert abs(float(op.symbol.coefficients.detach()[0, 0, 1])) < 1e-4  # no hyperdiffusion in the data


def test_gradient_training_with_adam_on_a_table_symbol():
    u0, u1 = heat_pairs(8, (16,), D=D, dt=DT, generator=gen(1))
    op = FourierOperator(Conserving(RealEven(1, 1, 8, generator=gen(2), dtype=F64)), dt=DT)
    history = op.train_gradient(u0, u1, steps=100, optimizer="adam", lr=0.05)
    assert history[-1] < 0.05 * history[0]


# ------------------------------------------------------------------ conservation and symmetry
@pytest.mark.parametrize("symbol", ["isotropic", "conserving"])
def test_mass_drift_of_conserving_operators_is_rounding_level(symbol):
    u0, u1 = heat_pairs(16, (64,), D=D, dt=DT, noise=0.01, generator=gen(8))
    op = FourierOperator.fit(u0, u1, dt=DT, length=L2PI, symbol=symbol)
    u = random_smooth_fields(4, (64,), generator=gen(9))
    traj = op.rollout(u, 1000).detach()
    drift = float(((traj[-1].sum(-1) - u.sum(-1)).abs() / u.sum(-1).abs()).max())
    assert drift < 1e-13


def test_non_conserving_symbol_drifts():
    """The conservation check can fail: a RealEven symbol with L(0) != 0 changes the mass."""
    s = RealEven(1, 1, 32, dtype=F64)
    with torch.no_grad():
        s.weight.zero_()
        s.weight[0, 0, 0] = -1e-3
    op = FourierOperator(s, dt=DT)
    u = random_smooth_fields(2, (64,), generator=gen(10))
    traj = op.rollout(u, 1000).detach()
    assert float(((traj[-1].sum(-1) - u.sum(-1)).abs() / u.sum(-1)).max()) > 0.1
    fixed = FourierOperator(Conserving(s), dt=DT).rollout(u, 1000).detach()
    assert float((fixed[-1].sum(-1) - u.sum(-1)).abs().max()) < 1e-11


@pytest.mark.parametrize("symbol", ["isotropic", "conserving", "free"])
def test_fitted_operators_commute_with_grid_shifts_exactly(symbol):
    u0, u1 = heat_pairs(4, (33,), D=D, dt=DT, noise=0.01, generator=gen(11))
    op = FourierOperator.fit(u0, u1, dt=DT, length=L2PI, symbol=symbol)
    u = random_smooth_fields(3, (33,), generator=gen(12))
    assert_equivariant(op, (u,), GridShifts(1), "field", "field", trials=8, rtol=1e-13)
    if symbol != "free":
        assert_equivariant(op, (u,), GridShifts(1) * GridReflections(1), "field", "field", trials=8, rtol=1e-13)


def test_free_fit_on_noisy_data_is_not_reflection_symmetric():
    u0, u1 = heat_pairs(2, (32,), D=D, dt=DT, noise=0.05, generator=gen(13))
    op = FourierOperator.fit(u0, u1, dt=DT, length=L2PI, symbol="free")
    with pytest.raises(EquivarianceError):
        assert_equivariant(op, (random_smooth_fields(2, (32,), generator=gen(14)),), GridReflections(1),
                           "field", "field", rtol=1e-10)


def test_fit_accepts_a_symbol_instance_and_modes_must_match():
    u0, u1 = heat_pairs(2, (32,), D=D, dt=DT, generator=gen(15))
    op = FourierOperator.fit(u0, u1, dt=DT, length=L2PI, symbol=Free(1, 1, 16, dtype=F64))
    assert isinstance(op.symbol, Free)
    with pytest.raises(ValueError, match="modes"):
        FourierOperator.fit(u0, u1, dt=DT, length=L2PI, symbol=Free(1, 1, 8, dtype=F64))


# ------------------------------------------------------------------ bad input
def test_bad_input_raises_clear_errors():
    u0, u1 = heat_pairs(2, (16,), D=D, dt=DT, generator=gen(16))
    with pytest.raises(ValueError, match="dt"):
        FourierOperator.fit(u0, u1, dt=0.0, length=L2PI)
    with pytest.raises(ValueError, match="dt"):
        FourierOperator.fit(u0, u1, dt=-1.0, length=L2PI)
    with pytest.raises(ValueError, match="length"):
        FourierOperator.fit(u0, u1, dt=DT, length=0.0)
    with pytest.raises(ValueError, match="length"):
        FourierOperator.fit(u0, u1, dt=DT, length=-2.0)
    bad = u0.clone()
    bad[1, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        FourierOperator.fit(bad, u1, dt=DT, length=L2PI)
    with pytest.raises(ValueError, match="NaN"):
        FourierOperator.fit(u0, bad, dt=DT, length=L2PI)
    with pytest.raises(ValueError, match="pairs must match"):
        FourierOperator.fit(u0, u1[:1], dt=DT, length=L2PI)
    with pytest.raises(ValueError, match="complex"):
        FourierOperator.fit(u0.to(torch.complex128), u1, dt=DT, length=L2PI)
    with pytest.raises(ValueError, match="symbol"):
        FourierOperator.fit(u0, u1, dt=DT, length=L2PI, symbol="fancy")
    op = FourierOperator(IsotropicPolynomial(1, init=[D], dtype=F64))
    with pytest.raises(ValueError, match="dt"):
        op.step(u0)  # no stored dt
    with pytest.raises(ValueError, match="dt"):
        op.step(u0, dt=float("inf"))
    with pytest.raises(ValueError, match="method"):
        FourierOperator(IsotropicPolynomial(1), method="rk4")
    with pytest.raises(ValueError, match="1 -> 1"):
        FourierOperator(IsotropicPolynomial(1, 2, 2))
    with pytest.raises(TypeError, match="Symbol"):
        FourierOperator("isotropic")
    with pytest.raises(ValueError, match="NaN"):
        FourierOperator(IsotropicPolynomial(1, dtype=F64), dt=DT).train_gradient(bad, u1)
