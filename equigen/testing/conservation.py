"""Conservation-law assertions for time-steppers."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ConservationReport", "ConservationError", "assert_conserves", "measure_conservation"]


@dataclass
class ConservationReport:
    """Relative deviation ``|Q_t - Q_0| / max(|Q_0|, floor)`` of a quantity along a run."""

    deviations: torch.Tensor  # (steps + 1,) float64
    max_deviation: float
    first_half: float
    second_half: float
    passed: bool
    message: str

    def __str__(self) -> str:
        return self.message


class ConservationError(AssertionError):
    """A conserved quantity changed more than allowed; carries the report."""

    def __init__(self, message: str, report: ConservationReport):
        super().__init__(message)
        self.report = report


def _finite(state) -> bool:
    tensors = state if isinstance(state, (tuple, list)) else (state,)
    return all(torch.isfinite(t).all() for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point())


def _dtype(state) -> torch.dtype:
    tensors = state if isinstance(state, (tuple, list)) else (state,)
    return next((t.dtype for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point()),
                torch.float64)


def measure_conservation(step, state, quantity, steps: int, *, mode: str = "drift", rtol=None,
                         trend_factor: float = 2.0, floor: float | None = None) -> ConservationReport:
    """Run ``state = step(state)`` ``steps`` times and measure ``quantity(state)``.

    ``mode="drift"``: passes when the largest relative change is ``<= rtol`` (default: 1e-10
    in float64, 1e-4 in float32), for exactly conserved quantities (momentum under a
    symplectic step). ``mode="bounded"``: also passes only without a secular trend, i.e. the
    largest deviation over the second half of the run is at most ``trend_factor`` times
    that over the first half (plus 1e3 machine epsilons); ``rtol`` defaults to 1e-3 (energy
    under a symplectic method oscillates with an amplitude set by the step size).
    ``floor`` is the absolute scale under which ``|Q_0|`` is not divided (default: tiny).
    """
    if mode not in ("drift", "bounded"):
        raise ValueError(f"mode={mode!r}: use 'drift' or 'bounded'")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps={steps!r} must be a positive integer")
    dtype = _dtype(state)
    eps = torch.finfo(dtype).eps
    if rtol is None:
        rtol = (1e-10 if dtype == torch.float64 else 1e-4) if mode == "drift" else 1e-3
    q0 = torch.as_tensor(quantity(state)).detach().double()
    scale = max(float(q0.norm()), floor if floor is not None else 1e-300)
    devs = [0.0]
    for t in range(1, steps + 1):
        state = step(state)
        if not _finite(state):
            raise AssertionError(f"the state became NaN/Inf at step {t} of {steps}")
        q = torch.as_tensor(quantity(state)).detach().double()
        if q.shape != q0.shape:
            raise ValueError(f"quantity changed shape from {tuple(q0.shape)} to {tuple(q.shape)} at step {t}")
        devs.append(float((q - q0).norm()) / scale)
    d = torch.tensor(devs, dtype=torch.float64)
    half = steps // 2
    first, second = float(d[: half + 1].max()), float(d[half + 1:].max()) if steps > 1 else 0.0
    worst = float(d.max())
    ok = worst <= rtol
    msg = f"max relative deviation {worst:.3e} (tolerance {rtol:.3e}) over {steps} steps"
    if mode == "bounded":
        trend_ok = second <= trend_factor * first + 1e3 * eps
        msg += (f"; first half {first:.3e}, second half {second:.3e} "
                f"({'no' if trend_ok else 'a'} secular trend at factor {trend_factor})")
        ok = ok and trend_ok
    at = int(torch.argmax(d))
    if not ok:
        msg = f"quantity not conserved: {msg}; worst at step {at}"
    return ConservationReport(d, worst, first, second, ok, msg)


def assert_conserves(step, state, quantity, steps: int, *, mode: str = "drift", rtol=None,
                     trend_factor: float = 2.0, floor: float | None = None) -> ConservationReport:
    """Assert that ``quantity`` is conserved by ``step`` (see :func:`measure_conservation`).

    ``step(state) -> state`` for any state (a tensor or a tuple such as ``(q, p)``);
    ``quantity(state) -> tensor`` (a scalar such as energy or a vector such as momentum).
    Returns the :class:`ConservationReport`; raises :class:`ConservationError`.
    """
    __tracebackhide__ = True
    report = measure_conservation(step, state, quantity, steps, mode=mode, rtol=rtol,
                                  trend_factor=trend_factor, floor=floor)
    if not report.passed:
        raise ConservationError(report.message, report)
    return report
