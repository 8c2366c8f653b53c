"""Equivariance assertions: one error measure and one tolerance rule, defined here once.

For a function ``f``, inputs ``x`` and a group element ``g``, the kit compares
``actual = f(g.x)`` with ``expected = g.f(x)``. For each output ``o``::

    scale_o = max(max|expected_o|, M_in)            # M_in: max |.| over floating inputs
    error_o = max|actual_o - expected_o| / scale_o    # relative to the output's scale
    pass    iff  max|actual_o - expected_o| <= atol + rtol * amp * scale_o

``M_in`` is the absolute floor: an output that is exactly 0 is judged against the size of
the numbers that went into it. ``amp = max(1, M(g.x) / M_in)`` accounts for rounding of
transformed inputs that are larger than the originals (a 1e3 translation in float32 cannot
be exact to 1e-5). ``rtol`` defaults to :func:`default_rtol` of the least precise floating
dtype among inputs and outputs; ``atol`` defaults to 0. Integer outputs (``edge_index``,
``batch``) must match exactly; the columns of ``edge_index`` are compared as a set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from equigen.groups import Context, Element, EuclideanGroup, Group, ProductGroup
from equigen.kinds import INTEGER_KINDS, normalize_kinds

__all__ = [
    "default_rtol",
    "EquivarianceReport",
    "EquivarianceError",
    "measure_equivariance",
    "assert_equivariant",
    "assert_invariant",
    "equivariance_error",
]

_RTOL = {torch.float64: 1e-10, torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 2e-2,
         torch.complex128: 1e-10, torch.complex64: 1e-5}


def default_rtol(dtype: torch.dtype) -> float:
    """Default relative tolerance of a dtype: 1e-10 (float64), 1e-5 (float32), 1e-2 (half).

    These sit about 5e5 (float64) and 80 (float32) times above machine epsilon, room for
    the rounding of a few hundred operations.
    """
    if dtype not in _RTOL:
        raise ValueError(f"no default tolerance for dtype {dtype}; pass rtol explicitly")
    return _RTOL[dtype]


@dataclass
class EquivarianceReport:
    """The measured error of one element on one input: ``passed``, ``error`` (relative)."""

    element: Element
    error: float
    tolerance: float
    passed: bool
    output_errors: list = field(default_factory=list)
    worst_output: int = 0
    dtype: torch.dtype | None = None

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return (f"{verdict}: element [{self.element}] relative error {self.error:.3e} "
                f"(tolerance {self.tolerance:.3e}, worst output {self.worst_output}, {self.dtype})")


class EquivarianceError(AssertionError):
    """An equivariance check failed; carries the element, inputs and measured error."""

    def __init__(self, message: str, report: EquivarianceReport | None = None, inputs=None):
        super().__init__(message)
        self.report = report
        self.inputs = inputs
        self.element = report.element if report else None
        self.error = report.error if report else None
        self.tolerance = report.tolerance if report else None


def callable_name(fn) -> str:
    """A short name for messages: the function's name, or the class name of a module/object."""
    return getattr(fn, "__name__", None) or type(fn).__name__


def _as_tuple(x, argument: str) -> tuple:
    if isinstance(x, torch.Tensor):
        return (x,)
    if isinstance(x, (tuple, list)):
        for i, t in enumerate(x):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{argument}[{i}] must be a torch.Tensor, got {type(t).__name__}")
        return tuple(x)
    raise TypeError(f"{argument} must be a tensor or a tuple of tensors, got {type(x).__name__}")


def _check_inputs(inputs: tuple, kinds: tuple) -> None:
    for i, (x, kind) in enumerate(zip(inputs, kinds)):
        if kind in INTEGER_KINDS:
            if x.dtype != torch.long:
                raise ValueError(f"inputs[{i}] has kind '{kind}' and must be torch.long, got {x.dtype}")
        elif not (x.is_floating_point() or x.is_complex()):
            raise ValueError(
                f"inputs[{i}] of kind {kind} must be a floating tensor, got {x.dtype}; "
                "cast it with .double() or .float()"
            )


def _maxabs(tensors) -> float:
    vals = [float(t.detach().abs().max()) for t in tensors
            if (t.is_floating_point() or t.is_complex()) and t.numel() > 0]
    return max(vals, default=0.0)


def _call(fn, inputs: tuple, which: str) -> tuple:
    out = fn(*inputs)
    if isinstance(out, torch.Tensor):
        return (out,)
    if isinstance(out, (tuple, list)) and all(isinstance(o, torch.Tensor) for o in out):
        return tuple(out)
    raise TypeError(f"fn must return a tensor or a tuple of tensors ({which}), got {type(out).__name__}")


def _least_precise(tensors) -> torch.dtype | None:
    floats = [t.dtype for t in tensors if t.is_floating_point() or t.is_complex()]
    if not floats:
        return None
    return max(floats, key=lambda d: _RTOL.get(d, 1.0))


def _edge_set(e: torch.Tensor) -> torch.Tensor:
    if e.numel() == 0:
        return e
    key = e[0] * (int(e.max()) + 1) + e[1]
    return e[:, torch.argsort(key)]


def measure_equivariance(fn, inputs, element: Element, in_kinds, out_kinds=None, *,
                         rtol: float | None = None, atol: float | None = None) -> EquivarianceReport:
    """Measure ``f(g.x)`` against ``g.f(x)`` for one element (see the module doc for the rule).

    ``out_kinds=None`` declares every output invariant ("scalars").
    """
    __tracebackhide__ = True
    inputs = _as_tuple(inputs, "inputs")
    in_kinds = normalize_kinds(in_kinds, len(inputs), argument="in_kinds")
    _check_inputs(inputs, in_kinds)
    ctx = Context.from_tensors(inputs, in_kinds)
    g_inputs = element.act_all(inputs, in_kinds, context=ctx)
    out = _call(fn, inputs, "on the original inputs")
    out_g = _call(fn, g_inputs, "on the transformed inputs")
    if out_kinds is None:
        out_kinds = ("scalars",) * len(out)
    out_kinds = normalize_kinds(out_kinds, len(out), argument="out_kinds")
    if len(out_g) != len(out):
        raise AssertionError(f"fn returned {len(out)} outputs, but {len(out_g)} on transformed inputs")
    for which, outs in (("original", out), ("transformed", out_g)):
        for i, o in enumerate(outs):
            if (o.is_floating_point() or o.is_complex()) and not torch.isfinite(o).all():
                raise AssertionError(
                    f"fn produced NaN/Inf in output {i} on the {which} inputs "
                    f"(element [{element}]); a symmetry check needs finite outputs"
                )
    out_ctx = Context(ctx.num_nodes if ctx.num_nodes is not None else
                      Context.from_tensors(out, out_kinds).num_nodes, ctx.batch)
    expected = element.act_all(out, out_kinds, context=out_ctx)

    dtype = _least_precise(inputs + out)
    if rtol is None:
        rtol = default_rtol(dtype) if dtype is not None else 0.0
    rtol = float(rtol)
    atol = 0.0 if atol is None else float(atol)
    m_in = _maxabs(inputs)
    amp = max(1.0, _maxabs(g_inputs) / m_in) if m_in > 0 else 1.0
    errors, tols, oks = [], [], []
    for i, (a, e, kind) in enumerate(zip(out_g, expected, out_kinds)):
        if a.shape != e.shape:
            raise AssertionError(
                f"output {i} (kind {kind}) has shape {tuple(a.shape)} on transformed inputs but "
                f"{tuple(e.shape)} expected, under element [{element}]"
            )
        if kind in INTEGER_KINDS or not (a.is_floating_point() or a.is_complex()):
            same = torch.equal(_edge_set(a), _edge_set(e)) if kind == "edge_index" else torch.equal(a, e)
            errors.append(0.0 if same else math.inf)
            tols.append(0.0)
            oks.append(same)
            continue
        diff = float((a.detach() - e.detach()).abs().max()) if a.numel() else 0.0
        scale = max(float(e.detach().abs().max()) if e.numel() else 0.0, m_in, 1e-300)
        errors.append(diff / scale)
        tols.append(rtol * amp + atol / scale)
        oks.append(diff <= atol + rtol * amp * scale)
    ratios = [err / tol if tol > 0 else (0.0 if err == 0 else math.inf) for err, tol in zip(errors, tols)]
    worst = max(range(len(ratios)), key=ratios.__getitem__) if ratios else 0
    worst_err = errors[worst] if errors else 0.0
    worst_tol = tols[worst] if tols else rtol
    passed = all(oks)
    return EquivarianceReport(element, worst_err, worst_tol, passed, errors, worst, dtype)


def _per_graph_sample(group: Group, num_graphs: int, generator) -> Element:
    if isinstance(group, EuclideanGroup):
        return group.sample(generator=generator, num_graphs=num_graphs)
    if isinstance(group, ProductGroup):
        parts = [_per_graph_sample(f, num_graphs, generator) if isinstance(f, EuclideanGroup)
                 else f.sample(generator=generator) for f in group.factors]
        result = parts[0]
        for p in parts[1:]:
            result = result.compose(p)
        return result
    raise ValueError(f"per_graph=True needs a Euclidean group (or a product with one), got {group}")


def _elements(group: Group, element, trials: int, seed: int, per_graph: bool, inputs, in_kinds):
    if element is not None:
        if not isinstance(element, Element):
            raise TypeError(f"element must be an equigen.groups.Element, got {type(element).__name__}")
        return [element]
    if not isinstance(group, Group):
        raise TypeError(f"group must be an equigen.groups.Group such as SE3(), got {group!r}")
    gen = torch.Generator().manual_seed(seed)
    if per_graph:
        batch = Context.from_tensors(inputs, in_kinds).batch
        if batch is None:
            raise ValueError("per_graph=True needs a 'batch' input among in_kinds")
        num_graphs = int(batch.max()) + 1 if batch.numel() else 1
        return [_per_graph_sample(group, num_graphs, gen) for _ in range(max(trials, 1))]
    return list(group.edge_cases()) + [group.sample(generator=gen) for _ in range(trials)]


def _run(fn, inputs, group, in_kinds, out_kinds, element, trials, rtol, atol, seed, per_graph):
    inputs = _as_tuple(inputs, "inputs")
    in_kinds = normalize_kinds(in_kinds, len(inputs), argument="in_kinds")
    elements = _elements(group, element, trials, seed, per_graph, inputs, in_kinds)
    return inputs, [measure_equivariance(fn, inputs, g, in_kinds, out_kinds, rtol=rtol, atol=atol)
                    for g in elements]


def assert_equivariant(fn, inputs, group: Group | None, in_kinds, out_kinds, *,
                       element: Element | None = None, trials: int = 4, atol: float | None = None,
                       rtol: float | None = None, seed: int = 0, per_graph: bool = False) -> list:
    """Assert ``fn(g.x) == g.fn(x)`` for edge-case elements and ``trials`` random ones.

    Args:
        fn: callable taking the tensors of ``inputs`` positionally, returning a tensor or tuple.
        inputs: a tensor or tuple of tensors.
        group: a :class:`~equigen.groups.Group` (may be ``None`` when ``element`` is given).
        in_kinds, out_kinds: one kind per input / output (see :mod:`equigen.kinds`).
        element: check only this element (use inside your own hypothesis ``@given`` test).
        trials: random (Haar) elements from a generator seeded with ``seed``, after the
            group's edge cases (identity, half turns, reflections, large translations...).
        per_graph: one random element per graph of the ``batch`` input.

    Returns the list of :class:`EquivarianceReport`; raises :class:`EquivarianceError`
    naming the element, the measured error and the tolerance.
    """
    __tracebackhide__ = True
    inputs, reports = _run(fn, inputs, group, in_kinds, out_kinds, element, trials, rtol, atol,
                           seed, per_graph)
    failed = [r for r in reports if not r.passed]
    if failed:
        first = failed[0]
        others = "".join(f"\n  also [{r.element}]: error {r.error:.3e}" for r in failed[1:6])
        raise EquivarianceError(
            f"{callable_name(fn)} is not equivariant under [{first.element}]: relative error "
            f"{first.error:.3e} > tolerance {first.tolerance:.3e} in output {first.worst_output} "
            f"({first.dtype}); {len(failed)} of {len(reports)} elements failed.{others}",
            first, inputs)
    return reports


def assert_invariant(fn, inputs, group: Group | None, in_kinds, *, element: Element | None = None,
                     trials: int = 4, atol: float | None = None, rtol: float | None = None,
                     seed: int = 0, per_graph: bool = False) -> list:
    """:func:`assert_equivariant` with every output declared invariant (kind "scalars")."""
    __tracebackhide__ = True
    return assert_equivariant(fn, inputs, group, in_kinds, None, element=element, trials=trials,
                              atol=atol, rtol=rtol, seed=seed, per_graph=per_graph)


def equivariance_error(fn, inputs, group: Group | None, in_kinds, out_kinds=None, *,
                       element: Element | None = None, trials: int = 4, seed: int = 0,
                       per_graph: bool = False) -> float:
    """The largest relative error (module doc) over edge cases and ``trials`` random elements."""
    _, reports = _run(fn, inputs, group, in_kinds, out_kinds, element, trials, None, None, seed,
                      per_graph)
    return max(r.error for r in reports)
