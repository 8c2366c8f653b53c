"""Markov chain Monte Carlo shared by every sampler of equigen: the Metropolis test and mixing diagnostics.

* :func:`metropolis_accept` is the accept/reject step of every Metropolis sampler on torch tensors
  (particles and Potts sequences): accept when ``log u < log p(proposal) - log p(current)``.
* :func:`adapt_step_size` is the burn-in rule that moves a proposal scale towards a target
  acceptance rate with a decaying gain.
* Diagnostics of a scalar trace (e.g. the energy) from many parallel chains: the split R-hat of
  Gelman & Rubin (:func:`split_rhat`), the chain-averaged autocorrelation (:func:`autocorrelation`,
  by FFT), the integrated autocorrelation time (:func:`integrated_autocorrelation_time`, with
  Sokal's self-consistent window or Geyer's initial positive sequence) and, in one dict,
  :func:`mcmc_diagnostics`.

Traces are ``(chains, steps)`` arrays for the functions that take ``series``;
:func:`mcmc_diagnostics` takes a ``(T, chains)`` trace (one row per sweep, as samplers record it).

Example::

    x = np.random.default_rng(0).standard_normal((8, 2000))   # 8 chains of white noise
    split_rhat(x), integrated_autocorrelation_time(x)          # ~1.00, ~1.0
    mcmc_diagnostics(torch.from_numpy(x.T))["ess"]              # ~16000
"""

from __future__ import annotations

import math

import numpy as np
import torch

from equigen.core.validation import check_finite

__all__ = ["metropolis_accept", "adapt_step_size", "autocorrelation", "integrated_autocorrelation_time",
           "split_rhat", "mcmc_diagnostics"]


def metropolis_accept(log_ratio: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The Metropolis test: a bool tensor shaped like ``log_ratio``, true where ``log u < log_ratio``.

    ``log_ratio`` is ``log p(proposal) - log p(current)`` (plus the log proposal ratio for
    asymmetric proposals); ``u`` is uniform on ``[0, 1)``, drawn from ``generator`` on the CPU in
    ``log_ratio.dtype`` and moved to ``log_ratio.device``.
    """
    u = torch.rand(log_ratio.shape, generator=generator, dtype=log_ratio.dtype).to(log_ratio.device)
    return torch.log(u) < log_ratio


def adapt_step_size(step: float, acceptance: float, target: float, iteration: int) -> float:
    """One update of a proposal scale towards ``target`` acceptance, with a gain decaying in ``iteration``:
    ``step * exp(0.5 (acceptance - target) / sqrt(1 + iteration / 50))``."""
    return step * math.exp(0.5 * (acceptance - target) / math.sqrt(1 + iteration / 50))


def autocorrelation(series: np.ndarray) -> np.ndarray | None:
    """Normalised autocorrelation ``rho(0..steps-1)`` of ``(chains, steps)`` series, averaged over chains.

    Each chain is centred on its own mean; the autocovariance is estimated by FFT (zero-padded to
    twice the length). Returns ``None`` for a series without variance.
    """
    x = check_finite(np.atleast_2d(np.asarray(series, dtype=np.float64)), "series")
    n = x.shape[1]
    x = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(x, n=2 * n, axis=1)
    acf = np.fft.irfft(f * np.conj(f), axis=1)[:, :n].mean(axis=0)
    if acf[0] <= 0:
        return None
    return acf / acf[0]


def integrated_autocorrelation_time(series: np.ndarray, *, c: float = 5.0, window: str = "sokal") -> float:
    """Integrated autocorrelation time ``tau = 1 + 2 sum_k rho(k)`` of ``(chains, steps)`` series, in steps.

    ``window="sokal"``: the sum runs to the smallest ``M`` with ``M >= c tau(M)`` (Sokal's
    self-consistent window; the result is at least 1). ``window="geyer"``: it adds the pairs
    ``rho(k) + rho(k + 1)``, ``k = 1, 3, ...`` up to the first negative one (Geyer's initial
    positive sequence). A series without variance gives 1 (Sokal) or NaN (Geyer).
    """
    if window not in ("sokal", "geyer"):
        raise ValueError(f"window={window!r} must be 'sokal' or 'geyer'")
    rho = autocorrelation(series)
    if rho is None:
        return 1.0 if window == "sokal" else float("nan")
    n = rho.shape[0]
    if window == "geyer":
        tau = 1.0
        for k in range(1, n - 1, 2):
            pair = float(rho[k] + rho[k + 1])
            if pair < 0:
                break
            tau += 2 * pair
        return tau
    taus = 2.0 * np.cumsum(rho) - 1.0
    big_enough = np.arange(n) >= c * taus
    m = int(np.argmax(big_enough)) if big_enough.any() else n - 1
    return float(max(taus[m], 1.0))


def split_rhat(series: np.ndarray) -> float:
    """Split R-hat (Gelman-Rubin) of ``(chains, steps)``: each chain cut in two halves; ~1.00 when the
    chains agree, above ~1.01-1.05 when they have not forgotten their starts (NaN without variance)."""
    x = np.asarray(series, dtype=np.float64)
    half = x.shape[1] // 2
    x = np.concatenate([x[:, :half], x[:, half:2 * half]], axis=0)
    m, n = x.shape
    within = x.var(axis=1, ddof=1).mean()
    between = n * x.mean(axis=1).var(ddof=1)
    var = (n - 1) / n * within + between / n
    return float(math.sqrt(var / within)) if within > 0 else float("nan")


def mcmc_diagnostics(trace: torch.Tensor) -> dict:
    """Mixing diagnostics of a scalar trace ``(T, chains)`` (e.g. the energy after each sweep).

    * ``r_hat``: :func:`split_rhat`;
    * ``tau_int``: :func:`integrated_autocorrelation_time` in sweeps, Geyer's initial positive
      sequence (NaN for a trace without variance);
    * ``ess``: effective sample size ``T * chains / tau_int``; ``sweeps`` ``T`` and ``chains``.
    """
    x = torch.as_tensor(trace, dtype=torch.float64)
    if x.ndim != 2 or x.shape[0] < 4:
        raise ValueError(f"trace must have shape (T >= 4, chains), got {tuple(x.shape)}")
    T, m = x.shape
    series = x.detach().cpu().numpy().T
    tau = integrated_autocorrelation_time(series, window="geyer")
    return {"r_hat": split_rhat(series), "tau_int": tau, "ess": T * m / tau, "sweeps": T, "chains": m}
