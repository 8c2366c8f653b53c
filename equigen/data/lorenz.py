"""The Lorenz system and samples of its attractor (sigma=10, rho=28, beta=8/3 by default).

``dx/dt = sigma (y - x)``, ``dy/dt = x (rho - z) - y``, ``dz/dt = x y - beta z``. Its attractor has
correlation dimension about 2.05 (Grassberger & Procaccia 1983).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from equigen.core.deprecation import renamed_kwargs
from equigen.core.dtypes import learning_dtype
from equigen.core.validation import check_float, check_positive_int
from equigen.data.ode import sample_attractor

__all__ = ["lorenz_vector_field", "lorenz_attractor", "LorenzData", "lorenz_dataset"]


def lorenz_vector_field(sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0):
    """The Lorenz vector field ``f(y)`` for states ``y`` of shape ``(B, 3)`` (numpy)."""
    sigma, rho, beta = (check_float(v, name) for v, name in ((sigma, "sigma"), (rho, "rho"), (beta, "beta")))

    def f(y: np.ndarray) -> np.ndarray:
        x, yy, z = y[:, 0], y[:, 1], y[:, 2]
        return np.stack([sigma * (yy - x), x * (rho - z) - yy, x * yy - beta * z], axis=1)

    return f


def _lorenz_initial(rng: np.random.Generator, b: int) -> np.ndarray:
    return rng.normal(0.0, 1.0, (b, 3)) * np.array([8.0, 8.0, 8.0]) + np.array([0.0, 0.0, 25.0])


@renamed_kwargs(n="num_samples")
def lorenz_attractor(num_samples: int, *, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0,
                     trajectories: int = 200, transient: float = 50.0, dt: float = 0.005, sample_every: float = 0.25,
                     seed: int = 0) -> np.ndarray:
    """``num_samples`` points ``(num_samples, 3)`` on the Lorenz attractor, in the system's own units (float64 numpy).

    ``trajectories`` orbits from random initial conditions (seeded by ``seed``), RK4 with step
    ``dt``, a discarded ``transient``, then one sample per ``sample_every`` time units.
    """
    return sample_attractor(lorenz_vector_field(sigma, rho, beta), num_samples, _lorenz_initial,
                            trajectories=trajectories, transient=transient, dt=dt, sample_every=sample_every, seed=seed)


@dataclass
class LorenzData:
    """Standardised Lorenz samples: ``train`` / ``test`` tensors ``(N, 3)``, and the scaling used.

    Points are ``(raw - mean) / std`` per coordinate (mean and std of the training split);
    :meth:`unstandardise` maps back to the system's units.
    """

    train: torch.Tensor
    test: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def unstandardise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std.to(x) + self.mean.to(x)


@renamed_kwargs(n_train="num_train", n_test="num_test")
def lorenz_dataset(num_train: int, num_test: int = 0, *, seed: int = 0, dtype=None, device=None,
                   **kwargs) -> LorenzData:
    """Train and held-out test samples of the Lorenz attractor, standardised with the train statistics.

    ``dtype`` defaults to ``torch.get_default_dtype()`` (learning data); ``kwargs`` go to
    :func:`lorenz_attractor`. Train and test come from disjoint orbits.
    """
    if isinstance(num_test, bool) or not isinstance(num_test, (int, np.integer)) or num_test < 0:
        raise ValueError(f"num_test must be a non-negative integer, got {num_test!r}")
    check_positive_int(num_train, "num_train")
    dtype = learning_dtype(dtype)
    train = lorenz_attractor(num_train, seed=seed, **kwargs)
    test = lorenz_attractor(num_test, seed=seed + 7_777_777, **kwargs) if num_test else np.zeros((0, 3))
    mean, std = train.mean(axis=0), train.std(axis=0)

    def t(a):
        return torch.as_tensor(a, dtype=dtype, device=device)

    return LorenzData(t((train - mean) / std), t((test - mean) / std), t(mean), t(std))
