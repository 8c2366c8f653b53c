"""The shared Metropolis test and the mixing diagnostics of equigen.data.mcmc."""

import math

import numpy as np
import pytest
import torch

from equigen.data.mcmc import (
    adapt_step_size,
    autocorrelation,
    integrated_autocorrelation_time,
    mcmc_diagnostics,
    metropolis_accept,
    split_rhat,
)


def _ar1(phi, chains, n, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((chains, n))
    for k in range(1, n):
        x[:, k] = phi * x[:, k - 1] + rng.normal(size=chains)
    return x


def test_metropolis_accept_has_probability_min_one_ratio():
    g = torch.Generator().manual_seed(0)
    ratio = torch.tensor([math.log(0.3), math.log(0.8), 0.0, 2.0, -math.inf], dtype=torch.float64)
    acc = torch.stack([metropolis_accept(ratio, g) for _ in range(20000)]).double().mean(0)
    expected = torch.tensor([0.3, 0.8, 1.0, 1.0, 0.0], dtype=torch.float64)
    se = (expected * (1 - expected) / 20000).sqrt()
    assert bool(((acc - expected).abs() <= 5 * se + 1e-12).all()), acc
    assert metropolis_accept(ratio.float(), g).shape == ratio.shape


def test_metropolis_accept_is_reproducible_from_the_generator():
    ratio = torch.zeros(3, 7, dtype=torch.float64) - 0.5
    a = metropolis_accept(ratio, torch.Generator().manual_seed(4))
    b = metropolis_accept(ratio, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)


def test_adapt_step_size_moves_towards_the_target_with_decaying_gain():
    assert adapt_step_size(0.1, 0.9, 0.4, 0) > 0.1 > adapt_step_size(0.1, 0.1, 0.4, 0)
    assert adapt_step_size(0.1, 0.4, 0.4, 7) == 0.1
    early, late = adapt_step_size(1.0, 1.0, 0.4, 0), adapt_step_size(1.0, 1.0, 0.4, 5000)
    assert early > late > 1.0


def test_both_windows_estimate_the_ar1_time():
    phi = 0.8
    x = _ar1(phi, 16, 20000)
    exact = (1 + phi) / (1 - phi)  # 9
    for window in ("sokal", "geyer"):
        assert integrated_autocorrelation_time(x, window=window) == pytest.approx(exact, rel=0.1)
    rho = autocorrelation(x)
    assert rho[0] == 1.0 and rho[1] == pytest.approx(phi, abs=0.02)


def test_mcmc_diagnostics_is_split_rhat_and_geyer_on_the_transposed_trace():
    x = _ar1(0.5, 6, 3000, seed=1)
    d = mcmc_diagnostics(torch.from_numpy(x.T.copy()))
    assert d["r_hat"] == split_rhat(x)
    assert d["tau_int"] == integrated_autocorrelation_time(x, window="geyer")
    assert d["ess"] == 3000 * 6 / d["tau_int"] and d["sweeps"] == 3000 and d["chains"] == 6


def test_constant_series():
    assert autocorrelation(np.ones((3, 50))) is None
    assert integrated_autocorrelation_time(np.ones((3, 50))) == 1.0
    assert math.isnan(integrated_autocorrelation_time(np.ones((3, 50)), window="geyer"))
    assert math.isnan(split_rhat(np.ones((3, 50))))
    d = mcmc_diagnostics(torch.ones(50, 3))
    assert math.isnan(d["tau_int"]) and math.isnan(d["ess"])


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="window='fft'"):
        integrated_autocorrelation_time(np.zeros((2, 10)), window="fft")
    with pytest.raises(ValueError, match=r"trace must have shape \(T >= 4, chains\)"):
        mcmc_diagnostics(torch.zeros(3, 2))
