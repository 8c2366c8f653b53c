"""The heat-equation data: two independent solvers, smooth random fields, noise; and the baselines."""

from __future__ import annotations

import math

import pytest
import torch

from equigen.data.heat import (
    add_noise,
    fd_symbol_error,
    heat_exact,
    heat_finite_difference,
    heat_pairs,
    random_smooth_fields,
    squared_wavenumbers,
)
from equigen.nn import FourierOperator
from equigen.nn.baselines import DenseLinearMap, MLPOperator

F64 = torch.float64
D, DT, L2PI = 0.05, 0.2, 2 * math.pi


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_random_fields_are_smooth_seeded_and_normalised():
    u = random_smooth_fields(5, (64,), generator=gen(0))
    assert u.shape == (5, 64) and u.dtype == F64
    torch.testing.assert_close(u.mean(-1), torch.ones(5, dtype=F64))
    torch.testing.assert_close((u - 1).pow(2).mean(-1), torch.ones(5, dtype=F64))
    torch.testing.assert_close(u, random_smooth_fields(5, (64,), generator=gen(0)), rtol=0, atol=0)
    U = torch.fft.rfft(u).abs()
    assert float(U[:, 25:].max() / U[:, :8].max()) < 1e-6  # band-limited far below Nyquist
    assert random_smooth_fields(2, (8, 6, 4), generator=gen(1)).shape == (2, 8, 6, 4)


def test_exact_solution_semigroup_mass_and_decay():
    u = random_smooth_fields(3, (32, 16), generator=gen(2))
    a = heat_exact(heat_exact(u, 0.3, D, ndim=2), 0.5, D, ndim=2)
    torch.testing.assert_close(a, heat_exact(u, 0.8, D, ndim=2), rtol=0, atol=1e-14)
    torch.testing.assert_close(a.sum((-1, -2)), u.sum((-1, -2)), rtol=1e-14, atol=0)
    # a single Fourier mode decays by exp(-D k^2 t)
    x = torch.arange(32, dtype=F64) * L2PI / 32
    wave = torch.cos(3 * x)
    torch.testing.assert_close(heat_exact(wave, 0.7, D), math.exp(-D * 9 * 0.7) * wave, rtol=0, atol=1e-15)
    # physical length: k = 2 pi n / length
    torch.testing.assert_close(heat_exact(wave, 0.7, D, length=4.0),
                               math.exp(-D * (2 * math.pi * 3 / 4.0) ** 2 * 0.7) * wave, rtol=0, atol=1e-15)


@pytest.mark.parametrize("sizes", [(32,), (64,), (16, 12), (8, 8, 6)])
def test_finite_differences_agree_with_the_exact_solution(sizes):
    nd = len(sizes)
    u = random_smooth_fields(2, sizes, scale=2.0, generator=gen(3))
    exact = heat_exact(u, DT, D, ndim=nd)
    fd = heat_finite_difference(u, DT, D, ndim=nd)
    fluct = (exact - exact.mean(tuple(range(1, nd + 1)), keepdim=True)).norm()
    err = float((fd - exact).norm() / fluct)
    assert 1e-12 < err < 1e-4  # close, and not the same formula
    torch.testing.assert_close(fd.sum(tuple(range(1, nd + 1))), u.sum(tuple(range(1, nd + 1))), rtol=1e-13, atol=0)


def test_fourth_order_beats_second_order_and_refinement_converges():
    u = random_smooth_fields(2, (32,), generator=gen(4))
    exact = heat_exact(u, DT, D)

    def err(**kw):
        return float((heat_finite_difference(u, DT, D, **kw) - exact).norm() / (exact - 1).norm())

    assert err(order=4) < 0.05 * err(order=2)
    e2, e4 = err(order=2, refine=2), err(order=2, refine=4)
    assert 3.0 < e2 / e4 < 5.0  # second order: halving h quarters the error
    assert fd_symbol_error(1.0, 0.1, order=2) > fd_symbol_error(1.0, 0.1, order=4) > 0


def test_squared_wavenumbers():
    k2 = squared_wavenumbers((4, 6), (L2PI, math.pi))
    assert k2.shape == (4, 4)
    torch.testing.assert_close(k2[1, 2], torch.tensor(1.0 + 16.0, dtype=F64))
    torch.testing.assert_close(k2[3, 0], torch.tensor(1.0, dtype=F64))  # frequency -1 on the full axis


def test_pairs_and_noise():
    u0, u1 = heat_pairs(4, (32,), D=D, dt=DT, generator=gen(5))
    torch.testing.assert_close(u1, heat_exact(u0, DT, D))
    n0, n1 = heat_pairs(4, (32,), D=D, dt=DT, noise=0.01, generator=gen(5))
    torch.testing.assert_close(n0, u0, rtol=0, atol=0.1)
    noise_rms = float((n0 - u0).pow(2).mean().sqrt())
    assert 0.007 < noise_rms < 0.013  # 1% of the unit fluctuation
    f0, f1 = heat_pairs(2, (16, 8), D=D, dt=DT, source="fd", generator=gen(6), dtype=torch.float32)
    assert f0.shape == (2, 16, 8) and f1.dtype == torch.float32
    x = random_smooth_fields(64, (32,), generator=gen(7))
    y = add_noise(x, 0.02, generator=gen(8))
    assert 0.017 < float((y - x).pow(2).mean().sqrt()) < 0.023
    assert add_noise(x, 0.0) is x


def test_heat_bad_input():
    u = random_smooth_fields(1, (8,), generator=gen(9))
    with pytest.raises(ValueError, match="dt"):
        heat_pairs(1, (8,), D=D, dt=0.0)
    with pytest.raises(ValueError, match="D="):
        heat_exact(u, DT, -1.0)
    with pytest.raises(ValueError, match="t="):
        heat_finite_difference(u, -1.0, D)
    with pytest.raises(ValueError, match="source"):
        heat_pairs(1, (8,), D=D, dt=DT, source="magic")
    with pytest.raises(ValueError, match="sizes"):
        heat_pairs(1, (0,), D=D, dt=DT)
    with pytest.raises(ValueError, match="order"):
        heat_finite_difference(u, DT, D, order=6)
    with pytest.raises(ValueError, match="length"):
        heat_exact(u, DT, D, length=0.0)
    with pytest.raises(ValueError, match="noise"):
        add_noise(u, -0.1)
    with pytest.raises(ValueError, match="num_samples"):
        random_smooth_fields(0, (8,))


# ------------------------------------------------------------------ unconstrained twins
def test_dense_map_needs_about_N_pairs_to_generalise():
    """The claim of the Fick experiment, on a small grid: memorising vs learning the law."""
    N = 32
    test = random_smooth_fields(4, (N,), generator=gen(10))
    truth = heat_exact(test, DT, D)
    fluct = (truth - truth.mean(-1, keepdim=True)).norm()
    errs = {}
    for P in (4, 2 * N):
        u0, u1 = heat_pairs(P, (N,), D=D, dt=DT, scale=8.0, generator=gen(11))
        dense = DenseLinearMap.fit(u0, u1)
        torch.testing.assert_close(dense.step(u0), u1, rtol=0, atol=1e-10)  # it fits its training data
        errs[P] = float((dense.step(test) - truth).detach().norm() / fluct)
        if P == 4:
            iso = FourierOperator.fit(u0, u1, dt=DT, length=L2PI)
            iso_err = float((iso.step(test) - truth).detach().norm() / fluct)
    assert errs[4] > 0.1 and iso_err < 1e-10
    assert errs[2 * N] < 1e-6
    assert DenseLinearMap.symmetry is None and MLPOperator.symmetry is None


def test_dense_map_is_not_translation_equivariant_with_few_pairs():
    u0, u1 = heat_pairs(3, (16,), D=D, dt=DT, generator=gen(12))
    dense = DenseLinearMap.fit(u0, u1)
    u = random_smooth_fields(2, (16,), generator=gen(13))
    err = (dense.step(torch.roll(u, 3, -1)) - torch.roll(dense.step(u), 3, -1)).norm() / dense.step(u).norm()
    assert float(err.detach()) > 1e-3


def test_mlp_learns_its_training_pairs():
    u0, u1 = heat_pairs(16, (16,), D=D, dt=DT, generator=gen(14))
    m0 = MLPOperator(16, hidden=32, generator=gen(15), dtype=F64)
    before = float((m0(u0) - u1).detach().pow(2).mean())
    m = MLPOperator.fit(u0, u1, hidden=32, steps=200, generator=gen(15))
    after = float((m(u0) - u1).detach().pow(2).mean())
    assert after < 0.2 * before
    assert m.step(u0, steps=3).shape == u0.shape and m.w1.dtype == F64
