"""Structure of one-step maps: is a time-stepper symplectic?

A map ``(q, p) -> (Q, P)`` is symplectic when its Jacobian ``J = d(Q, P)/d(q, p)`` satisfies
``J^T Omega J = Omega`` with ``Omega = [[0, I], [-I, 0]]`` (on the flattened state). This is
the structure behind the long-time good behaviour of symplectic integrators (bounded
energy error, exactly conserved quadratic momentum maps). The check computes ``J`` by
autograd, so it works for any differentiable stepper: equigen's integrators, your own, or
a learned model's step.

Error measure::

    error = max|J^T Omega J - Omega| / max(1, max|J|)^2

i.e. relative to the size of the entries of ``J^T Omega J``; rounding makes it a few
hundred machine epsilons. Default tolerance: :func:`~equigen.testing.default_rtol` of the
state's dtype (1e-10 in float64, 1e-5 in float32).

Example::

    >>> from equigen.dynamics import Kepler, stepper
    >>> from equigen.testing import assert_symplectic, symplecticity_error
    >>> state = Kepler.initial_state(0.6)
    >>> report = assert_symplectic(stepper(Kepler(), 0.1, "leapfrog"), state)
    >>> symplecticity_error(stepper(Kepler(), 0.1, "rk4"), state) > 1e-8
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from equigen.testing.assertions import default_rtol

__all__ = ["SymplecticityReport", "SymplecticityError", "symplecticity_error", "measure_symplecticity",
           "assert_symplectic", "symplectic_form"]


@dataclass
class SymplecticityReport:
    """``error`` of ``J^T Omega J = Omega`` for one state; ``jacobian`` is ``(2n, 2n)``."""

    error: float
    tolerance: float
    passed: bool
    jacobian: torch.Tensor
    message: str

    def __str__(self) -> str:
        return self.message


class SymplecticityError(AssertionError):
    """A step map is not symplectic to the tolerance; carries the report."""

    def __init__(self, message: str, report: SymplecticityReport):
        super().__init__(message)
        self.report = report


def symplectic_form(n: int, *, dtype=None, device=None) -> torch.Tensor:
    """``Omega = [[0, I_n], [-I_n, 0]]``, shape ``(2n, 2n)``."""
    eye = torch.eye(n, dtype=dtype or torch.float64, device=device)
    zero = torch.zeros_like(eye)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


def _split(state):
    if isinstance(state, (tuple, list)):
        if len(state) != 2:
            raise ValueError(f"state must be a pair (q, p), got {len(state)} items")
        q, p = state
        if not (isinstance(q, torch.Tensor) and isinstance(p, torch.Tensor)) or q.shape != p.shape:
            raise ValueError("state (q, p) must be two tensors of equal shape")
        return q, p
    raise TypeError(f"state must be a pair (q, p) of tensors, got {type(state).__name__}")


def measure_symplecticity(step, state, *, rtol: float | None = None) -> SymplecticityReport:
    """Jacobian of ``step((q, p)) -> (q, p)`` at ``state`` by autograd, and its symplecticity error."""
    q, p = _split(state)
    if not (q.is_floating_point() and p.is_floating_point()):
        raise TypeError(f"state must be floating, got {q.dtype}/{p.dtype}")
    if not (torch.isfinite(q).all() and torch.isfinite(p).all()):
        raise ValueError("state contains NaN or Inf; pass a finite state")
    shape, n = q.shape, q.numel()
    if n == 0:
        raise ValueError("state is empty; the symplectic form needs at least one degree of freedom")
    z0 = torch.cat([q.detach().reshape(-1), p.detach().reshape(-1)])

    def flat_step(z):
        q1, p1 = step((z[:n].reshape(shape), z[n:].reshape(shape)))
        return torch.cat([q1.reshape(-1), p1.reshape(-1)])

    jac = torch.autograd.functional.jacobian(flat_step, z0)
    omega = symplectic_form(n, dtype=jac.dtype, device=jac.device)
    scale = max(1.0, float(jac.abs().max())) ** 2
    error = float((jac.T @ omega @ jac - omega).abs().max()) / scale
    tol = rtol if rtol is not None else default_rtol(q.dtype)
    ok = error <= tol
    msg = (f"{'symplectic' if ok else 'NOT symplectic'}: max|J^T Omega J - Omega| / max(1, max|J|)^2 = "
           f"{error:.3e} (tolerance {tol:.3e}, {2 * n} x {2 * n} Jacobian, {q.dtype})")
    return SymplecticityReport(error, tol, ok, jac, msg)


def symplecticity_error(step, state) -> float:
    """The measured error of :func:`measure_symplecticity` as a number (for tables and benchmarks)."""
    return measure_symplecticity(step, state).error


def assert_symplectic(step, state, *, rtol: float | None = None) -> SymplecticityReport:
    """Assert that the one-step map ``step((q, p)) -> (q, p)`` is symplectic at ``state``.

    ``q, p``: tensors of equal shape (any; flattened to ``n`` degrees of freedom). ``step``
    must be differentiable by autograd. Returns the report; raises :class:`SymplecticityError`.
    """
    __tracebackhide__ = True
    report = measure_symplecticity(step, state, rtol=rtol)
    if not report.passed:
        raise SymplecticityError(report.message, report)
    return report
