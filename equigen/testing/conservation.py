"""Conservation-law assertions for time-steppers.

Two modes. ``"drift"``: an exactly conserved quantity (momentum under a symplectic, Newton's-
third-law step) may change by rounding only. ``"bounded"``: a quantity that oscillates but must
not drift (energy under a symplectic method): besides the tolerance, a straight line is fitted
to the deviation over the run, which is continued to ``extend`` times ``steps``; a secular
trend is one whose fitted change over the run exceeds ``trend_factor`` times the range of the
oscillation around it (and the rounding floor). Bounded oscillations give a fitted change of a
few percent of their range; RK4's energy loss and a leapfrog damped by 1e-6 per step exceed it.

Deviations are relative to ``max(|Q_0|, floor)``. The default ``floor`` is the quantity's size
at states of the same magnitude (``Q`` on the state with random signs): a quantity that is
exactly 0 at the initial state (momentum in the centre-of-mass frame) is judged against the
size it would have, not against 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import hypothesis
import torch
from hypothesis import strategies as st

__all__ = ["ConservationReport", "ConservationError", "assert_conserves", "measure_conservation",
           "check_conserves"]


@dataclass
class ConservationReport:
    """Relative deviation ``|Q_t - Q_0| / max(|Q_0|, floor)`` of a quantity along a run;
    ``trend``: fitted change over the run divided by the oscillation's range (bounded mode)."""

    deviations: torch.Tensor  # (steps + 1,) float64
    max_deviation: float
    first_half: float
    second_half: float
    passed: bool
    message: str
    trend: float = 0.0
    steps: int = 0

    def __str__(self) -> str:
        return self.message


class ConservationError(AssertionError):
    """A conserved quantity changed more than allowed; carries the report."""

    def __init__(self, message: str, report: ConservationReport):
        super().__init__(message)
        self.report = report


def _tensors(state):
    return state if isinstance(state, (tuple, list)) else (state,)


def _finite(state) -> bool:
    return all(torch.isfinite(t).all() for t in _tensors(state)
               if isinstance(t, torch.Tensor) and t.is_floating_point())


def _dtype(state) -> torch.dtype:
    return next((t.dtype for t in _tensors(state) if isinstance(t, torch.Tensor) and t.is_floating_point()),
                torch.float64)


def _value(quantity, state) -> torch.Tensor:
    return torch.as_tensor(quantity(state)).detach().double()


def natural_scale(quantity, state, *, seed: int = 0) -> float:
    """The size of ``quantity`` at states of the magnitude of ``state``: the largest
    ``|Q|`` over two copies of the state with random signs on every entry (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    best = 0.0
    for _ in range(2):
        flipped = [t * (2 * torch.randint(0, 2, t.shape, generator=gen) - 1).to(t.dtype)
                   if isinstance(t, torch.Tensor) and t.is_floating_point() else t for t in _tensors(state)]
        probe = type(state)(flipped) if isinstance(state, (tuple, list)) else flipped[0]
        try:
            value = _value(quantity, probe)
        except Exception:  # a quantity that cannot be evaluated there: the state's size instead
            value = torch.tensor([max((float(t.abs().max()) for t in flipped
                                       if isinstance(t, torch.Tensor) and t.numel()), default=0.0)])
        if torch.isfinite(value).all():
            best = max(best, float(value.norm()))
    return best


def _trend(d: torch.Tensor, noise: float) -> float:
    """Fitted change of ``d`` over the run divided by the range of the residuals (and noise)."""
    t = torch.arange(d.numel(), dtype=torch.float64)
    a = torch.stack([torch.ones_like(t), t], 1)
    coef = torch.linalg.lstsq(a, d[:, None]).solution.flatten()
    residual = d - a @ coef
    change = abs(float(coef[1])) * (d.numel() - 1)
    if change <= noise:
        return 0.0
    return change / (float(residual.max() - residual.min()) + noise)


def oscillation_periods(d: torch.Tensor) -> float:
    """How many periods of its oscillation ``d`` covers: half the number of crossings of the
    fitted line by the residuals (a rough count, for messages)."""
    t = torch.arange(d.numel(), dtype=torch.float64)
    a = torch.stack([torch.ones_like(t), t], 1)
    residual = d - a @ torch.linalg.lstsq(a, d[:, None]).solution.flatten()
    signs = torch.sign(residual[residual != 0])
    return float((signs[1:] != signs[:-1]).sum()) / 2


def measure_conservation(step, state, quantity, steps: int, *, mode: str = "drift", rtol=None,
                         trend_factor: float = 0.25, floor: float | None = None,
                         extend: int = 4) -> ConservationReport:
    """Run ``state = step(state)`` and measure ``quantity(state)`` (module doc for the rule).

    ``mode="drift"``: ``steps`` steps; passes when the largest relative change is ``<= rtol``
    (default: 1e-10 in float64, 1e-4 in float32). ``mode="bounded"``: ``extend * steps``
    steps; passes when the largest relative change is ``<= rtol`` (default 1e-3) and the
    fitted trend is at most ``trend_factor`` of the oscillation's range. ``floor``: the
    absolute scale under which ``|Q_0|`` is not divided (default: :func:`natural_scale`).
    """
    _check_run(mode, steps, extend, trend_factor)
    dtype = _dtype(state)
    if rtol is None:
        rtol = (1e-10 if dtype == torch.float64 else 1e-4) if mode == "drift" else 1e-3
    q0 = _value(quantity, state)
    base = natural_scale(quantity, state) if floor is None else float(floor)
    scale = max(float(q0.norm()), base, 1e-300)
    total = steps if mode == "drift" else extend * steps
    devs, signed_devs = _deviations(step, state, quantity, q0, scale, total)
    d = torch.tensor(devs, dtype=torch.float64)
    half = total // 2
    first, second = float(d[: half + 1].max()), float(d[half + 1:].max()) if total > 1 else 0.0
    worst = float(d.max())
    ok = worst <= rtol
    msg = f"max relative deviation {worst:.3e} (tolerance {rtol:.3e}) over {total} steps"
    trend = 0.0
    if mode == "bounded":
        trend, trend_ok, verdict = _secular_trend(signed_devs, torch.finfo(dtype).eps, trend_factor,
                                                  within_tolerance=worst <= rtol)
        msg += verdict
        ok = ok and trend_ok
    at = int(torch.argmax(d))
    if not ok:
        msg = f"quantity not conserved: {msg}; worst at step {at}"
    return ConservationReport(d, worst, first, second, ok, msg, trend, total)


def _check_run(mode: str, steps: int, extend: int, trend_factor: float) -> None:
    if mode not in ("drift", "bounded"):
        raise ValueError(f"mode={mode!r}: use 'drift' or 'bounded'")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps={steps!r} must be a positive integer")
    if not isinstance(extend, int) or extend < 1:
        raise ValueError(f"extend={extend!r} must be a positive integer (1: no extension)")
    if not trend_factor > 0:
        raise ValueError(f"trend_factor={trend_factor!r} must be positive")


def _deviations(step, state, quantity, q0: torch.Tensor, scale: float, total: int) -> tuple[list, list]:
    """Run ``total`` steps from ``state``: the relative deviations ``|Q_t - Q_0| / scale`` (0 at
    the start), and the signed ones ``sum(Q_t - Q_0) / scale`` for a scalar quantity (else the same)."""
    signed = q0.numel() == 1
    devs, signed_devs = [0.0], [0.0]
    for t in range(1, total + 1):
        state = step(state)
        if not _finite(state):
            raise AssertionError(f"the state became NaN/Inf at step {t} of {total}")
        q = _value(quantity, state)
        if q.shape != q0.shape:
            raise ValueError(f"quantity changed shape from {tuple(q0.shape)} to {tuple(q.shape)} at step {t}")
        devs.append(float((q - q0).norm()) / scale)
        signed_devs.append(float((q - q0).sum()) / scale if signed else devs[-1])
    return devs, signed_devs


def _secular_trend(signed_devs: list, eps: float, trend_factor: float, *, within_tolerance: bool):
    """Bounded mode: the fitted trend of the signed deviations (relative to the oscillation's
    range, above a rounding floor from ``eps``), whether it is at most ``trend_factor``, and the
    message's verdict (naming too short a run when the tolerance alone is met)."""
    total = len(signed_devs) - 1
    noise = 1e3 * eps * math.sqrt(total)
    trend = _trend(torch.tensor(signed_devs, dtype=torch.float64), noise) if total > 2 else 0.0
    trend_ok = trend <= trend_factor
    msg = (f"; fitted drift {trend:.3g} x the oscillation's range "
           f"({'no' if trend_ok else 'a'} secular trend at trend_factor {trend_factor})")
    if not trend_ok and within_tolerance:
        periods = oscillation_periods(torch.tensor(signed_devs, dtype=torch.float64))
        if periods < 3:
            msg += (f"; the run covers about {periods:g} periods of the quantity's oscillation, too few "
                    "to tell a bounded oscillation from a trend: use more steps (or a larger extend)")
    return trend, trend_ok, msg


def assert_conserves(step, state, quantity, steps: int, *, mode: str = "drift", rtol=None,
                     trend_factor: float = 0.25, floor: float | None = None,
                     extend: int = 4) -> ConservationReport:
    """Assert that ``quantity`` is conserved by ``step`` (see :func:`measure_conservation`).

    ``step(state) -> state`` for any state (a tensor or a tuple such as ``(q, p)``);
    ``quantity(state) -> tensor`` (a scalar such as energy or a vector such as momentum).
    Returns the :class:`ConservationReport`; raises :class:`ConservationError`.
    """
    __tracebackhide__ = True
    report = measure_conservation(step, state, quantity, steps, mode=mode, rtol=rtol,
                                  trend_factor=trend_factor, floor=floor, extend=extend)
    if not report.passed:
        raise ConservationError(report.message, report)
    return report


def check_conserves(step, states: st.SearchStrategy, quantity, steps: int, *, min_steps: int | None = None,
                    mode: str = "drift", rtol=None, trend_factor: float = 0.25, floor: float | None = None,
                    extend: int = 4, settings: hypothesis.settings | None = None) -> None:
    """Search initial states (a hypothesis strategy) and rollout lengths (``min_steps`` ..
    ``steps``, default from ``steps // 4``) for a violation of :func:`assert_conserves`;
    raises :class:`ConservationError` on the shrunk counterexample (``err.state``)."""
    __tracebackhide__ = True
    from equigen.testing.plugin import active_settings

    if not isinstance(states, st.SearchStrategy):
        raise TypeError("states must be a hypothesis strategy; for one state use assert_conserves")
    lo = max(1, steps // 4) if min_steps is None else int(min_steps)
    if not 1 <= lo <= steps:
        raise ValueError(f"min_steps={min_steps!r} must be between 1 and steps={steps}")
    failures = []

    def probe(state, n):
        report = measure_conservation(step, state, quantity, n, mode=mode, rtol=rtol,
                                      trend_factor=trend_factor, floor=floor, extend=extend)
        if not report.passed:
            failures.append((state, report))
            raise ConservationError(report.message, report)

    search = hypothesis.given(states, st.integers(lo, steps))(probe)
    base = settings if settings is not None else active_settings()
    try:
        hypothesis.settings(base, report_multiple_bugs=False)(search)()
    except ConservationError:
        state, report = failures[-1]
        err = ConservationError(f"minimal counterexample after a search of initial states: {report.message}",
                                report)
        err.state = state
        raise err from None
