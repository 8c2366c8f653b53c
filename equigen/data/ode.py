"""Batched fixed-step integration of autonomous ODEs ``dy/dt = f(y)``, for sampling attractors.

Reusable for any vector field: pass ``f(y) -> dy/dt`` acting on arrays of shape ``(B, d)``. The
classical fourth-order Runge-Kutta scheme (global error ``O(dt^4)``) advances many initial
conditions at once, which is how attractor samples are produced quickly; an adaptive reference
(:func:`scipy.integrate.solve_ivp`, DOP853) is available for checking accuracy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from equigen.core.deprecation import renamed_kwargs
from equigen.core.validation import check_finite, check_float, check_positive_float

__all__ = ["rk4_step", "integrate", "integrate_reference", "sample_attractor"]


def rk4_step(f: Callable, y: np.ndarray, dt: float) -> np.ndarray:
    """One classical Runge-Kutta step of ``dy/dt = f(y)`` for a batch ``y`` of shape ``(B, d)``."""
    check_finite(y, "y", fix="pass a finite state")
    check_float(dt, "dt")
    k1 = f(y)
    k2 = f(y + 0.5 * dt * k1)
    k3 = f(y + 0.5 * dt * k2)
    k4 = f(y + dt * k3)
    return y + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def _check_positive(name, value):
    check_positive_float(value, name)


def integrate(f: Callable, y0, t: float, *, dt: float = 0.005, save_every: float | None = None) -> np.ndarray:
    """Integrate ``dy/dt = f(y)`` from ``y0`` (``(B, d)``) for time ``t`` with RK4 steps of ``dt``.

    Returns the final state ``(B, d)``, or, with ``save_every`` (a multiple of ``dt``), the states
    at times ``save_every, 2 save_every, ... <= t`` as ``(T, B, d)``.
    """
    _check_positive("t", t)
    _check_positive("dt", dt)
    y = np.array(y0, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"y0 must have shape (B, d), got {y.shape}")
    check_finite(y, "y0", fix="pass finite initial states")
    n_steps = int(round(t / dt))
    if save_every is None:
        for _ in range(n_steps):
            y = rk4_step(f, y, dt)
        return y
    _check_positive("save_every", save_every)
    stride = int(round(save_every / dt))
    if stride < 1 or abs(stride * dt - save_every) > 1e-9 * save_every:
        raise ValueError(f"save_every={save_every!r} must be a positive multiple of dt={dt!r}")
    out = []
    for k in range(1, n_steps + 1):
        y = rk4_step(f, y, dt)
        if k % stride == 0:
            out.append(y.copy())
    return np.stack(out)


def integrate_reference(f: Callable, y0, t: float, *, rtol: float = 1e-11, atol: float = 1e-11) -> np.ndarray:
    """Adaptive high-order reference (scipy DOP853) for one initial condition ``y0`` (``(d,)``)."""
    from scipy.integrate import solve_ivp

    sol = solve_ivp(lambda _t, y: f(y[None])[0], (0.0, float(t)), np.asarray(y0, dtype=np.float64),
                    method="DOP853", rtol=rtol, atol=atol)
    if not sol.success:  # pragma: no cover - scipy failure
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol.y[:, -1]


@renamed_kwargs(n="num_samples")
def sample_attractor(f: Callable, num_samples: int, y0_sampler: Callable, *, trajectories: int = 200,
                     transient: float = 50.0, dt: float = 0.005, sample_every: float = 0.25,
                     seed: int = 0) -> np.ndarray:
    """``num_samples`` points on the attractor of ``dy/dt = f(y)``, from ``trajectories`` independent orbits.

    Each orbit starts at ``y0_sampler(rng, trajectories)``, runs ``transient`` time units that are
    discarded, then is recorded every ``sample_every`` (well above the integration step, so
    consecutive samples of one orbit are far apart along it). Returns ``(num_samples, d)`` float64, rows
    interleaved over orbits and times in random order (seeded by ``seed``).
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    n = num_samples
    if isinstance(trajectories, bool) or not isinstance(trajectories, (int, np.integer)) or trajectories < 1:
        raise ValueError(f"trajectories must be a positive integer, got {trajectories!r}")
    _check_positive("transient", transient)
    _check_positive("dt", dt)
    _check_positive("sample_every", sample_every)
    rng = np.random.default_rng(seed)
    y = np.asarray(y0_sampler(rng, trajectories), dtype=np.float64)
    y = integrate(f, y, transient, dt=dt)
    per = -(-n // trajectories)
    traj = integrate(f, y, per * sample_every, dt=dt, save_every=sample_every)  # (per, B, d)
    pts = traj.reshape(-1, traj.shape[-1])
    pts = pts[rng.permutation(len(pts))[:n]]
    return pts
