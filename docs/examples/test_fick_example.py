"""Rediscover Fick's law from one pair of snapshots (runs as part of the test suite)."""

import math

import torch

from equigen.data.heat import heat_pairs
from equigen.nn import FourierOperator, IsotropicPolynomial, SpectralConv


def test_fit_D_from_snapshots():
    # snapshot pairs (u0, u1) of the heat equation on a periodic box of length 2 pi, D = 0.05, dt = 0.2,
    # from a fine-grid finite-difference solver (not the model's own formula), with 1% measurement noise
    g = torch.Generator().manual_seed(0)
    u0, u1 = heat_pairs(16, (64,), D=0.05, dt=0.2, source="fd", noise=0.01, generator=g)
    op = FourierOperator.fit(u0, u1, dt=0.2, length=2 * math.pi, symbol=IsotropicPolynomial(1))
    assert abs(float(op.symbol.D) / 0.05 - 1) < 0.02  # c_1 of L(k) = -c_1 k^2 is D
    # the fitted law evolves new fields and keeps their mass
    u = torch.rand(3, 64, generator=g, dtype=torch.float64)
    assert torch.allclose(op.step(u, steps=1000).sum(-1), u.sum(-1), rtol=1e-13, atol=0)


def test_spectral_conv_layer():
    layer = SpectralConv(3, 8, modes=(12, 12))  # FNO-style: |n_i| <= 12 kept, complex weights per mode
    x = torch.randn(4, 3, 64, 64)
    assert layer(x).shape == (4, 8, 64, 64)
    assert layer(torch.randn(4, 3, 128, 128)).shape == (4, 8, 128, 128)  # same weights, finer grid
