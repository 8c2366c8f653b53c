"""Time integrators for Hamiltonian systems, each declaring its order and structure as data.

Every method advances a phase-space state ``(q, p)`` (tensors of equal shape, usually
``(..., N, d)``; leading axes batch independent systems) of a Hamiltonian system (see
:mod:`equigen.dynamics.systems`) by a step ``dt``. A method is a :class:`Method` value::

    =====================  =====  ==========  ==========  ==========================================
    name                   order  symplectic  reversible  scheme
    =====================  =====  ==========  ==========  ==========================================
    ``symplectic_euler``   1      yes         no          kick then drift (needs separable H)
    ``leapfrog``           2      yes         yes         kick-drift-kick, velocity Verlet
    ``leapfrog_dkd``       2      yes         yes         drift-kick-drift (REBOUND's leapfrog)
    ``yoshida4``           4      yes         yes         triple jump of leapfrog (Yoshida 1990)
    ``yoshida6``           6      yes         yes         7-stage composition, solution A of Yoshida 1990
    ``implicit_midpoint``  2      yes         yes         implicit, any (non-separable) H
    ``rk4``                4      no          no          classical Runge-Kutta (reference)
    ``euler``              1      no          no          explicit Euler (reference)
    =====================  =====  ==========  ==========  ==========================================

Explicit splitting methods need a *separable* ``H = T(p) + V(q)`` and evaluate the force once
per leapfrog stage: the force at the end of a kick-drift-kick stage is reused at the start of
the next one (1 evaluation per ``leapfrog`` step, 3 per ``yoshida4``, 7 per ``yoshida6``).

Everything is plain differentiable torch: gradients flow through ``integrate`` to the initial
state, ``dt`` and the parameters of a learned Hamiltonian. Physics defaults to float64: the
integrators keep the dtype of ``q`` and ``p``.

Symmetry: these maps commute with any symmetry of the Hamiltonian (a rotation-invariant
``H`` gives a rotation-equivariant step), and the symplectic ones conserve the momentum
maps of linear symmetries exactly up to rounding (Noether; e.g. angular momentum under
:class:`~equigen.dynamics.systems.NBodyGravity`).

Example::

    >>> import torch
    >>> from equigen.dynamics import Kepler, integrate
    >>> q0, p0 = Kepler.initial_state(0.6)
    >>> q, p = integrate(Kepler(), q0, p0, dt=0.01, steps=100, method="yoshida4")
    >>> q.shape                                  # (steps + 1, 2): initial state included
    torch.Size([101, 2])
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from equigen.core.validation import InputTypeError, check_finite, check_positive_int
from equigen.groups import E3, Permutations
from equigen.symmetry import Symmetry

__all__ = ["Method", "METHODS", "methods", "get_method", "integrate", "step", "stepper"]


@dataclass(frozen=True)
class Method:
    """An integrator's declared properties, as data tests can sweep.

    ``order``: global error ``O(dt**order)``. ``is_symplectic``: the one-step map preserves
    the symplectic form. ``is_reversible``: stepping by ``-dt`` undoes a step by ``dt``.
    ``needs_separable``: requires ``H = T(p) + V(q)``. ``force_evaluations``: evaluations of
    ``dV/dq`` (or of the vector field) per step, with the reuse described in the module.
    ``weights``: composition weights of leapfrog stages (splitting methods only).

    Symmetry (class attribute ``symmetry``): for a Hamiltonian invariant under E(3) and
    particle permutations, every built-in one-step map is E(3) x permutation equivariant
    (positions ``q`` rotate and translate, momenta ``p`` rotate). The sweep test checks all
    methods at once on :class:`~equigen.dynamics.systems.NBodyGravity` (outputs stacked on
    axis 1: ``(N, len(METHODS), 3)``).
    """

    symmetry: ClassVar[Symmetry] = Symmetry(
        lambda: E3() * Permutations(), ("positions", "vectors", "nodes"), ("positions", "vectors"),
        note="one step of every method in METHODS on NBodyGravity(masses, softening=0.05); needs an invariant H")

    name: str
    order: int
    is_symplectic: bool
    is_reversible: bool
    needs_separable: bool
    force_evaluations: int
    description: str
    weights: tuple = ()

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        from equigen.dynamics.systems import NBodyGravity

        masses = (torch.rand(5, generator=generator, dtype=torch.float64) + 0.5).to(dtype)
        q = (2 * torch.randn(5, 3, generator=generator, dtype=torch.float64)).to(dtype)
        p = (0.3 * torch.randn(5, 3, generator=generator, dtype=torch.float64)).to(dtype)

        def all_steps(q, p, masses):
            system = NBodyGravity(masses, softening=0.05)
            out = [_advance(system, m, q, p, 0.05, None)[:2] for m in METHODS.values()]
            return torch.stack([o[0] for o in out], 1), torch.stack([o[1] for o in out], 1)

        return all_steps, (q, p, masses)


_CBRT2 = 2.0 ** (1.0 / 3.0)
_Y4 = (1.0 / (2.0 - _CBRT2), -_CBRT2 / (2.0 - _CBRT2), 1.0 / (2.0 - _CBRT2))
# Yoshida (1990), Phys. Lett. A 150, 262, solution A of the 6th-order symmetric composition
# (coefficients as tabulated by Hairer, Lubich & Wanner, Geometric Numerical Integration, V.3).
_W1, _W2, _W3 = -1.17767998417887100695, 0.235573213359358133684, 0.784513610477557263820
_W0 = 1.0 - 2.0 * (_W1 + _W2 + _W3)
_Y6 = (_W3, _W2, _W1, _W0, _W1, _W2, _W3)

METHODS: dict[str, Method] = {m.name: m for m in (
    Method("symplectic_euler", 1, True, False, True, 1, "kick p by -dt dV/dq(q), then drift q by dt dT/dp(p)"),
    Method("leapfrog", 2, True, True, True, 1, "kick-drift-kick (velocity Verlet), force reused", (1.0,)),
    Method("leapfrog_dkd", 2, True, True, True, 1, "drift-kick-drift (position Verlet, REBOUND's leapfrog)"),
    Method("yoshida4", 4, True, True, True, 3, "triple-jump composition of leapfrog (Yoshida 1990)", _Y4),
    Method("yoshida6", 6, True, True, True, 7, "7-stage symmetric composition, Yoshida 1990 solution A", _Y6),
    Method("implicit_midpoint", 2, True, True, False, 0,
           "z1 = z0 + dt f((z0 + z1) / 2), solved by fixed-point iteration to rounding"),
    Method("rk4", 4, False, False, False, 4, "classical 4-stage Runge-Kutta (non-symplectic reference)"),
    Method("euler", 1, False, False, False, 1, "explicit Euler (non-symplectic reference)"),
)}


def methods(*, symplectic: bool | None = None, reversible: bool | None = None) -> list[Method]:
    """All methods, optionally only those with the given structure (for sweeping tests)."""
    return [m for m in METHODS.values()
            if (symplectic is None or m.is_symplectic == symplectic)
            and (reversible is None or m.is_reversible == reversible)]


def get_method(method: str | Method) -> Method:
    """The :class:`Method` named ``method``; ``ValueError`` lists the known names."""
    if isinstance(method, Method):
        return method
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method={method!r} is not an integrator; use one of {', '.join(METHODS)}")
    return METHODS[method]


# --------------------------------------------------------------------------------------------
# checks at the boundary
# --------------------------------------------------------------------------------------------

def _check_dt(dt):
    if isinstance(dt, torch.Tensor):
        if not dt.is_floating_point():
            raise TypeError(f"dt must be a real number or floating tensor, got a {dt.dtype} tensor")
        d = dt.detach()
        if not torch.isfinite(d).all() or (d == 0).any():
            raise ValueError(f"dt={d.tolist() if d.numel() < 8 else d} must be finite and non-zero "
                             "(a negative dt integrates backward in time)")
        return dt
    if isinstance(dt, bool) or not isinstance(dt, (int, float)):
        raise TypeError(f"dt={dt!r} must be a real number (or a floating tensor)")
    if not math.isfinite(dt) or dt == 0:
        raise ValueError(f"dt={dt!r} must be finite and non-zero (a negative dt integrates backward in time)")
    return float(dt)


def _check_state(system, q, p, names=("q", "p")):
    nq, np_ = names
    for name, x in ((nq, q), (np_, p)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}; use torch.as_tensor")
        if not x.is_floating_point():
            raise TypeError(f"{name} has dtype {x.dtype}; use a floating dtype (float64 for physics)")
    if q.shape != p.shape:
        raise ValueError(f"{nq} has shape {tuple(q.shape)} but {np_} has shape {tuple(p.shape)}; they must be equal")
    if q.dtype != p.dtype:
        raise InputTypeError(f"{nq} is {q.dtype} but {np_} is {p.dtype}; cast both to one dtype with .to({q.dtype})")
    for name, x in ((nq, q), (np_, p)):
        check_finite(x.detach(), name, fix="pass a finite initial state")
    check = getattr(system, "check_state", None)
    if check is not None:
        check(q, p)


def _check_method_for(system, m: Method):
    if m.needs_separable and not getattr(system, "separable", True):
        raise ValueError(f"method={m.name!r} needs a separable Hamiltonian H = T(p) + V(q), but "
                         f"{type(system).__name__} is not separable; use 'implicit_midpoint' "
                         "(symplectic) or 'rk4'")


# --------------------------------------------------------------------------------------------
# one step of each method; `force` is dV/dq at q (reused between leapfrog stages) or None
# --------------------------------------------------------------------------------------------

def _axpy(x, a, y):
    """``x + a * y``; one fused operation when ``a`` is a number."""
    return torch.add(x, y, alpha=a) if isinstance(a, float) else x + a * y


def _kdk(system, q, p, dt, weights, grad_v):
    g = grad_v if grad_v is not None else system.grad_potential(q)
    for w in weights:
        h = w * dt
        p = _axpy(p, -0.5 * h, g)
        q = _axpy(q, h, system.grad_kinetic(p))
        g = system.grad_potential(q)
        p = _axpy(p, -0.5 * h, g)
    return q, p, g


def _dkd(system, q, p, dt):
    q = _axpy(q, 0.5 * dt, system.grad_kinetic(p))
    p = _axpy(p, -dt, system.grad_potential(q))
    q = _axpy(q, 0.5 * dt, system.grad_kinetic(p))
    return q, p


def _symplectic_euler(system, q, p, dt):
    p = p - dt * system.grad_potential(q)
    q = q + dt * system.grad_kinetic(p)
    return q, p


def _field(system, q, p):
    return system.dH_dp(q, p), -system.dH_dq(q, p)


def _euler(system, q, p, dt):
    dq, dp = _field(system, q, p)
    return q + dt * dq, p + dt * dp


def _rk4(system, q, p, dt):
    k1q, k1p = _field(system, q, p)
    k2q, k2p = _field(system, q + 0.5 * dt * k1q, p + 0.5 * dt * k1p)
    k3q, k3p = _field(system, q + 0.5 * dt * k2q, p + 0.5 * dt * k2p)
    k4q, k4p = _field(system, q + dt * k3q, p + dt * k3p)
    return (q + (dt / 6) * (k1q + 2 * k2q + 2 * k3q + k4q),
            p + (dt / 6) * (k1p + 2 * k2p + 2 * k3p + k4p))


def _implicit_midpoint(system, q, p, dt, *, max_iter: int = 100):
    """Fixed-point iteration z1 <- z0 + dt f((z0 + z1)/2) until the update stops shrinking.

    Converges for ``dt * Lipschitz(f) < 2``; iterates to rounding (the update no longer
    decreases, or is below 4 ulps of the state), unrolled so autograd differentiates it.
    """
    dq, dp = _field(system, q, p)
    q1, p1 = q + dt * dq, p + dt * dp
    eps = torch.finfo(q.dtype).eps
    scale = max(float(q.detach().abs().max()), float(p.detach().abs().max()), 1e-300) if q.numel() else 1.0
    prev = math.inf
    for _ in range(max_iter):
        dq, dp = _field(system, 0.5 * (q + q1), 0.5 * (p + p1))
        nq, np_ = q + dt * dq, p + dt * dp
        change = max(float((nq - q1).detach().abs().max()), float((np_ - p1).detach().abs().max())) \
            if q.numel() else 0.0
        q1, p1 = nq, np_
        if change <= 4 * eps * scale or (change >= prev and change <= 1e3 * eps * scale):
            return q1, p1
        prev = change
    warnings.warn(f"implicit_midpoint: fixed-point iteration did not converge in {max_iter} iterations "
                  f"(last change {change:.3e}); reduce dt", RuntimeWarning, stacklevel=3)
    return q1, p1


def _advance(system, m: Method, q, p, dt, grad_v):
    """One step; returns (q, p, grad_v) where grad_v is dV/dq at the new q when known."""
    if m.weights:
        return _kdk(system, q, p, dt, m.weights, grad_v)
    if m.name == "leapfrog_dkd":
        return (*_dkd(system, q, p, dt), None)
    if m.name == "symplectic_euler":
        return (*_symplectic_euler(system, q, p, dt), None)
    if m.name == "implicit_midpoint":
        return (*_implicit_midpoint(system, q, p, dt), None)
    if m.name == "rk4":
        return (*_rk4(system, q, p, dt), None)
    if m.name == "euler":
        return (*_euler(system, q, p, dt), None)
    raise ValueError(f"method {m.name!r} has no implementation")  # a custom Method without weights


# --------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------

def step(system, q: torch.Tensor, p: torch.Tensor, dt, method: str | Method = "leapfrog"):
    """Advance ``(q, p)`` by one step ``dt`` of ``method``; returns the new ``(q, p)``.

    Shapes as given (``(..., N, d)`` for particle systems). Differentiable. See :func:`stepper`
    for the ``step(state) -> state`` form that :func:`equigen.testing.assert_conserves` takes.
    """
    m = get_method(method)
    dt = _check_dt(dt)
    _check_state(system, q, p)
    _check_method_for(system, m)
    q1, p1, _ = _advance(system, m, q, p, dt, None)
    return q1, p1


def stepper(system, dt, method: str | Method = "leapfrog", *, check: bool = True) -> Callable:
    """A one-step map ``step((q, p)) -> (q, p)`` of ``system`` with step ``dt``.

    Plugs into :func:`equigen.testing.assert_conserves` and
    :func:`equigen.testing.assert_symplectic`. For kick-drift-kick methods the force at the
    returned ``q`` is remembered and reused when that same (unmodified) tensor comes back.
    ``check=False`` skips the finiteness checks of each incoming state (faster loops).

    Example::

        >>> from equigen.dynamics import Kepler, stepper
        >>> from equigen.testing import assert_conserves
        >>> kepler = Kepler()
        >>> report = assert_conserves(stepper(kepler, 0.01), Kepler.initial_state(0.5),
        ...                           lambda s: kepler.energy(*s), 1000, mode="bounded")
    """
    m = get_method(method)
    dt = _check_dt(dt)
    _check_method_for(system, m)
    cache = {"q": None, "version": None, "g": None}

    def one_step(state):
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"state must be a pair (q, p) of tensors, got {type(state).__name__}")
        q, p = state
        if check:
            _check_state(system, q, p)
        g = cache["g"] if (cache["q"] is q and cache["version"] == q._version) else None
        q1, p1, g1 = _advance(system, m, q, p, dt, g)
        cache.update(q=q1, version=q1._version, g=g1)
        return q1, p1

    one_step.method = m
    one_step.dt = dt
    return one_step


def integrate(system, q0: torch.Tensor, p0: torch.Tensor, dt, steps: int, method: str | Method = "leapfrog",
              save_every: int = 1):
    """Integrate ``steps`` steps of size ``dt`` from ``(q0, p0)``; returns trajectories ``(q, p)``.

    Output shapes ``(steps // save_every + 1, *q0.shape)``: the leading time axis holds the
    initial state and every ``save_every``-th state. ``dt < 0`` integrates backward in
    time; ``dt`` may be a tensor broadcastable to ``q0`` (one step size per system of a
    batch). Differentiable with respect to ``q0``, ``p0``, ``dt`` and the parameters of the
    system. Units: whatever the system's (``dt`` in the system's time unit).

    Raises ``ValueError`` for ``dt`` zero or non-finite, non-finite or mismatched states,
    ``steps`` not a positive multiple of ``save_every``, or an explicit splitting method on
    a non-separable Hamiltonian.
    """
    m = get_method(method)
    dt = _check_dt(dt)
    for name, v in (("steps", steps), ("save_every", save_every)):
        check_positive_int(v, name)
    if steps % save_every:
        raise ValueError(f"steps={steps} is not a multiple of save_every={save_every}; "
                         f"use steps={steps - steps % save_every or save_every}")
    _check_state(system, q0, p0, ("q0", "p0"))
    _check_method_for(system, m)
    qs, ps = [q0], [p0]
    q, p, g = q0, p0, None
    for t in range(1, steps + 1):
        q, p, g = _advance(system, m, q, p, dt, g)
        if t % save_every == 0:
            qs.append(q)
            ps.append(p)
    return torch.stack(qs), torch.stack(ps)
