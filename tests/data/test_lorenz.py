"""Lorenz data: accurate integration, transient discarded, standardisation, reproducibility, bad input."""

import numpy as np
import pytest
import torch

from equigen.data import (
    integrate,
    integrate_reference,
    lorenz_attractor,
    lorenz_dataset,
    lorenz_vector_field,
    sample_attractor,
)


def test_rk4_matches_adaptive_reference():
    f = lorenz_vector_field()
    y0 = np.array([[1.0, 1.0, 20.0]])
    ref = integrate_reference(f, y0[0], 0.5)
    errors = [np.max(np.abs(integrate(f, y0, 0.5, dt=dt)[0] - ref)) for dt in (0.01, 0.005, 0.0025)]
    assert errors[1] < 2e-5  # the step the attractor samples use
    # fourth order: halving dt divides the error by about 2^4 = 16
    for coarse, fine in zip(errors, errors[1:]):
        assert 12 < coarse / fine < 20, errors


def test_save_every_and_harmonic_oscillator():
    """A generic ODE: the harmonic oscillator, exact solution (cos t, -sin t)."""
    traj = integrate(lambda y: np.stack([y[:, 1], -y[:, 0]], 1), np.array([[1.0, 0.0]]), 1.0, dt=0.01,
                     save_every=0.25)
    t = np.arange(1, 5) * 0.25
    np.testing.assert_allclose(traj[:, 0, 0], np.cos(t), atol=1e-9)
    np.testing.assert_allclose(traj[:, 0, 1], -np.sin(t), atol=1e-9)


def test_attractor_samples_lie_on_the_attractor():
    x = lorenz_attractor(4000, trajectories=50, seed=1)
    assert x.shape == (4000, 3) and x.dtype == np.float64
    # after the transient: z within the attractor's band, |x|, |y| bounded, both wings visited
    assert x[:, 2].min() > 0 and x[:, 2].max() < 50 and np.abs(x[:, :2]).max() < 30
    assert 0.3 < (x[:, 0] > 0).mean() < 0.7
    np.testing.assert_array_equal(x, lorenz_attractor(4000, trajectories=50, seed=1))
    assert not np.array_equal(x, lorenz_attractor(4000, trajectories=50, seed=2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dataset_standardised(dtype):
    d = lorenz_dataset(3000, 1000, seed=0, dtype=dtype, trajectories=50)
    assert d.train.shape == (3000, 3) and d.test.shape == (1000, 3) and d.train.dtype == dtype
    torch.testing.assert_close(d.train.mean(0), torch.zeros(3, dtype=dtype), atol=1e-5, rtol=0)
    torch.testing.assert_close(d.train.std(0, unbiased=False), torch.ones(3, dtype=dtype), atol=1e-5, rtol=0)
    raw = d.unstandardise(d.train)
    assert 20 < float(raw[:, 2].mean()) < 26  # mean z of the Lorenz attractor is about 23.5
    assert float(d.test.mean(0).abs().max()) < 0.15  # held-out orbits, same distribution


def test_bad_input():
    f = lorenz_vector_field()
    with pytest.raises(ValueError, match="dt"):
        integrate(f, np.zeros((1, 3)), 1.0, dt=0.0)
    with pytest.raises(ValueError, match="y0"):
        integrate(f, np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="save_every"):
        integrate(f, np.zeros((1, 3)), 1.0, dt=0.01, save_every=0.015)
    with pytest.raises(ValueError, match="num_samples must"):
        sample_attractor(f, 0, lambda rng, b: rng.normal(size=(b, 3)))
    with pytest.raises(ValueError, match="num_test"):
        lorenz_dataset(10, -1)
