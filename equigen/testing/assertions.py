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

Beyond the group's own elements, :func:`assert_equivariant` checks by default what every graph
layer and every learned layer must satisfy (``graph_checks``, ``perturb``):

* with a ``batch`` input of several graphs: one independent element *per graph* (through the
  ``batch`` vector), and *batch independence* -- the rows of graph ``b`` in the output of the
  whole batch equal the output of graph ``b`` evaluated alone (node rows, or the row ``b`` of
  a per-graph output);
* with an ``edge_index`` input: the output does not depend on the order of its columns;
* for a ``torch.nn.Module`` (also one held by a closure or a bound method): every check is
  repeated with small seeded noise added to all parameters, so that a symmetry-breaking
  parameter initialised to zero is seen; the parameters are restored afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass, field

import torch

from equigen.groups import Context, Element, Group, PermutationPart, per_graph
from equigen.kinds import INTEGER_KINDS, is_node_indexed, normalize_kinds

__all__ = [
    "default_rtol",
    "EquivarianceReport",
    "EquivarianceError",
    "measure_equivariance",
    "assert_equivariant",
    "assert_invariant",
    "equivariance_error",
    "measure_batch_independence",
    "perturbed_parameters",
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
    note: str = ""  # what else was special: perturbed parameters, a graph evaluated alone

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        note = f", {self.note}" if self.note else ""
        return (f"{verdict}: element [{self.element}] relative error {self.error:.3e} "
                f"(tolerance {self.tolerance:.3e}, worst output {self.worst_output}, {self.dtype}{note})")


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
        elif kind == "nodes" and not x.dtype.is_floating_point and x.dtype != torch.bool:
            continue  # integer node labels (atom types) are permuted with the rows, else invariant
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
    return _measure(fn, inputs, element, in_kinds, out_kinds, rtol=rtol, atol=atol)


def _outputs_finite(outs, which: str, what: str) -> None:
    for i, o in enumerate(outs):
        if (o.is_floating_point() or o.is_complex()) and not torch.isfinite(o).all():
            raise AssertionError(
                f"fn produced NaN/Inf in output {i} on the {which} inputs "
                f"({what}); a symmetry check needs finite outputs"
            )


def _measure(fn, inputs, element, in_kinds, out_kinds, *, rtol, atol) -> EquivarianceReport:
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
        _outputs_finite(outs, which, f"element [{element}]")
    out_ctx = Context(ctx.num_nodes if ctx.num_nodes is not None else
                      Context.from_tensors(out, out_kinds).num_nodes, ctx.batch)
    _check_rows(out, out_kinds, ctx.num_nodes, element)
    expected = element.act_all(out, out_kinds, context=out_ctx)

    dtype = _least_precise(inputs + out)
    rtol, atol = _tolerances(rtol, atol, dtype)
    m_in = _maxabs(inputs)
    amp = max(1.0, _maxabs(g_inputs) / m_in) if m_in > 0 else 1.0
    errors, tols, oks = [], [], []
    for i, (a, e, kind) in enumerate(zip(out_g, expected, out_kinds)):
        error, tol, ok = _compare(i, a, e, kind, element, m_in, amp, rtol, atol)
        errors.append(error)
        tols.append(tol)
        oks.append(ok)
    ratios = [err / tol if tol > 0 else (0.0 if err == 0 else math.inf) for err, tol in zip(errors, tols)]
    worst = max(range(len(ratios)), key=ratios.__getitem__) if ratios else 0
    worst_err = errors[worst] if errors else 0.0
    worst_tol = tols[worst] if tols else rtol
    passed = all(oks)
    return EquivarianceReport(element, worst_err, worst_tol, passed, errors, worst, dtype)


def _check_rows(out: tuple, out_kinds: tuple, num_nodes: int | None, element: Element) -> None:
    """Under a permutation, every node-indexed output needs one row per input node."""
    for i, (o, kind) in enumerate(zip(out, out_kinds)):
        rows = kind == "nodes" or (is_node_indexed(kind) and o.dim() >= 2)
        if rows and num_nodes is not None and o.shape[0] != num_nodes and element.part(PermutationPart):
            raise AssertionError(
                f"output {i} (kind {kind}) has {o.shape[0]} rows but the inputs have {num_nodes} nodes; "
                "a node-indexed output needs one row per node (a scatter without dim_size drops trailing "
                "nodes that receive nothing)")


def _tolerances(rtol, atol, dtype) -> tuple[float, float]:
    """``(rtol, atol)`` as floats: ``rtol`` defaults to :func:`default_rtol` of ``dtype`` (0 without
    a floating dtype), ``atol`` to 0."""
    if rtol is None:
        rtol = default_rtol(dtype) if dtype is not None else 0.0
    return float(rtol), 0.0 if atol is None else float(atol)


def _gap(actual: torch.Tensor, expected: torch.Tensor, m_in: float) -> tuple[float, float]:
    """``max|actual - expected|`` and the scale it is judged against, ``max(max|expected|, m_in)``
    (same shapes)."""
    diff = float((actual.detach() - expected.detach()).abs().max()) if expected.numel() else 0.0
    scale = max(float(expected.detach().abs().max()) if expected.numel() else 0.0, m_in, 1e-300)
    return diff, scale


def _compare(i: int, a, e, kind, element, m_in: float, amp: float, rtol: float, atol: float):
    """``(relative error, tolerance, passed)`` of output ``i``: ``a`` = f(g.x) against
    ``e`` = g.f(x); integer outputs (and ``edge_index`` as a set of columns) must match exactly."""
    if a.shape != e.shape:
        raise AssertionError(
            f"output {i} (kind {kind}) has shape {tuple(a.shape)} on transformed inputs but "
            f"{tuple(e.shape)} expected, under element [{element}]"
        )
    if kind in INTEGER_KINDS or not (a.is_floating_point() or a.is_complex()):
        same = torch.equal(_edge_set(a), _edge_set(e)) if kind == "edge_index" else torch.equal(a, e)
        return 0.0 if same else math.inf, 0.0, same
    diff, scale = _gap(a, e, m_in)
    return diff / scale, rtol * amp + atol / scale, diff <= atol + rtol * amp * scale


# ---------------------------------------------------------------- batch independence


def _num_graphs(batch: torch.Tensor) -> int:
    return int(batch.max()) + 1 if batch.numel() else 0


def _restrict(inputs: tuple, kinds: tuple, batch: torch.Tensor, b: int):
    """The inputs of graph ``b`` alone: its node rows, its edges relabelled, batch all 0."""
    mask = batch == b
    idx = torch.nonzero(mask).flatten()
    new_id = torch.cumsum(mask.long(), 0) - 1
    n = batch.shape[0]
    edge_mask = None
    out = []
    for x, kind in zip(inputs, kinds):
        if kind == "batch":
            out.append(torch.zeros(idx.numel(), dtype=x.dtype, device=x.device))
        elif kind == "edge_index":
            edge_mask = mask.to(x.device)[x[0]] if x.numel() else torch.zeros(0, dtype=torch.bool)
            out.append(new_id.to(x.device)[x[:, edge_mask]])
        elif (kind == "nodes" or is_node_indexed(kind)) and x.dim() >= 1 and x.shape[0] == n and (
                kind == "nodes" or x.dim() >= 2):
            out.append(x[idx.to(x.device)])
        else:
            out.append(x)
    if edge_mask is not None:
        out = [x[edge_mask.to(x.device)] if kind == "edges" else x for x, kind in zip(out, kinds)]
    return tuple(out), idx, edge_mask


def measure_batch_independence(fn, inputs, in_kinds, out_kinds=None, *, rtol: float | None = None,
                               atol: float | None = None, max_graphs: int = 3) -> list:
    """Check that the graphs of a batch do not see each other: ``fn`` on the whole batch,
    restricted to graph ``b``, equals ``fn`` on graph ``b`` alone.

    Compared outputs: node-indexed rows ``(N, ...)`` (rows of graph ``b``), per-graph rows
    ``(B, ...)`` (row ``b``) and ``edges`` rows; other outputs (a global sum) are skipped.
    The error measure and tolerance are those of :func:`measure_equivariance` (module doc).
    Returns one :class:`EquivarianceReport` per checked graph (the first ``max_graphs``
    non-empty graphs); an empty list without a ``batch`` input of two or more graphs.
    """
    __tracebackhide__ = True
    inputs = _as_tuple(inputs, "inputs")
    in_kinds = normalize_kinds(in_kinds, len(inputs), argument="in_kinds")
    if "batch" not in in_kinds:
        return []
    batch = inputs[in_kinds.index("batch")].detach().cpu()
    present = torch.unique(batch).tolist()
    if len(present) < 2:
        return []
    out = _call(fn, inputs, "on the whole batch")
    out_kinds = ("scalars",) * len(out) if out_kinds is None else normalize_kinds(
        out_kinds, len(out), argument="out_kinds")
    _outputs_finite(out, "whole-batch", "batch independence")
    reports = []
    for b in present[:max_graphs]:
        report = _graph_alone(fn, inputs, in_kinds, out, out_kinds, batch, b, len(present), rtol, atol)
        if report is not None:
            reports.append(report)
    return reports


def _graph_alone(fn, inputs, in_kinds, out, out_kinds, batch, b: int, graphs: int, rtol, atol):
    """The report of graph ``b`` (of ``graphs`` present): the whole-batch outputs ``out``,
    restricted to it, against ``fn`` on the graph alone; None when no output is compared."""
    num_edges = None
    if "edge_index" in in_kinds:
        num_edges = inputs[in_kinds.index("edge_index")].shape[1]
    sub, idx, edge_mask = _restrict(inputs, in_kinds, batch, b)
    alone = _call(fn, sub, f"on graph {b} alone")
    _outputs_finite(alone, f"graph-{b}-alone", "batch independence")
    dtype = _least_precise(sub + alone)
    r, a = _tolerances(rtol, atol, dtype)
    m_in = _maxabs(sub)
    n, num_graphs = batch.shape[0], _num_graphs(batch)
    errors, oks = [], []
    for o, s, kind in zip(out, alone, out_kinds):
        part = _part_of_graph(o, s, kind, b, idx, edge_mask, n, num_graphs, num_edges)
        if part is None:
            continue
        if part.shape != s.shape:
            errors.append(math.inf)
            oks.append(False)
            continue
        diff, scale = _gap(part, s, m_in)
        errors.append(diff / scale)
        oks.append(diff <= a + r * scale)
    if not errors:
        return None
    worst = max(range(len(errors)), key=errors.__getitem__)
    label = f"graph {b} of a batch of {graphs} evaluated alone"
    return EquivarianceReport(Element(PermutationPart("identity"), label=label), errors[worst], r,
                              all(oks), errors, worst, dtype,
                              note="batch independence: the graphs of a batch leak into each other"
                              if not all(oks) else "batch independence")


def _part_of_graph(o, s, kind, b: int, idx, edge_mask, n: int, num_graphs: int, num_edges: int | None):
    """The rows of whole-batch output ``o`` that graph ``b``'s own output ``s`` is compared with:
    its node rows (``n`` nodes in the batch), row ``b`` of a per-graph output, or its edge rows;
    None for outputs that are not compared (integer, 0-d, global)."""
    if not (o.is_floating_point() or o.is_complex()) or o.dim() == 0:
        return None
    if o.shape[0] == n and (is_node_indexed(kind) or kind == "scalars") and s.shape[0] == idx.numel():
        return o[idx.to(o.device)]
    if o.shape[0] == num_graphs and s.shape[0] == 1:
        return o[b:b + 1]
    if kind == "edges" and num_edges is not None and o.shape[0] == num_edges and edge_mask is not None:
        return o[edge_mask.to(o.device)]
    return None


# ---------------------------------------------------------------- parameters


def modules_of(fn) -> list:
    """The ``torch.nn.Module`` objects behind ``fn``: itself, a bound method's owner,
    ``functools.partial`` arguments, and modules held by its closure (two levels deep)."""
    found, seen = [], set()

    def visit(obj, depth):
        if id(obj) in seen or depth > 2:
            return
        seen.add(id(obj))
        if isinstance(obj, torch.nn.Module):
            found.append(obj)
            return
        if isinstance(obj, functools.partial):
            for a in (obj.func, *obj.args, *obj.keywords.values()):
                visit(a, depth + 1)
            return
        owner = getattr(obj, "__self__", None)
        if owner is not None and not isinstance(owner, type):
            visit(owner, depth + 1)
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                visit(cell.cell_contents, depth + 1)
            except ValueError:  # an empty cell
                continue

    visit(fn, 0)
    return found


@contextlib.contextmanager
def perturbed_parameters(fn, *, seed: int = 0, scale: float = 0.05, floor: float = 0.02):
    """Add seeded Gaussian noise to every floating parameter of the modules behind ``fn``
    (:func:`modules_of`) for the duration of the ``with`` block, then restore them exactly.

    Noise standard deviation per tensor: ``scale * rms(p) + floor``, so zero-initialised
    parameters move too. Yields the number of perturbed tensors (0: nothing to perturb).
    """
    params, seen = [], set()
    for m in modules_of(fn):
        for p in m.parameters():
            if id(p) not in seen and (p.is_floating_point() or p.is_complex()) and p.numel():
                seen.add(id(p))
                params.append(p)
    saved = [p.detach().clone() for p in params]
    gen = torch.Generator().manual_seed(int(seed))
    try:
        with torch.no_grad():
            for p in params:
                rms = float(p.detach().abs().pow(2).mean().sqrt())
                noise = torch.randn(p.shape, generator=gen, dtype=torch.float64)
                if p.is_complex():
                    noise = torch.complex(noise, torch.randn(p.shape, generator=gen, dtype=torch.float64))
                p.add_((noise * (scale * rms + floor)).to(dtype=p.dtype, device=p.device))
        yield len(params)
    finally:
        with torch.no_grad():
            for p, v in zip(params, saved):
                p.copy_(v)


# ---------------------------------------------------------------- elements


def _per_graph_sample(group: Group, num_graphs: int, generator) -> Element:
    if not group.per_graph_sampling:
        raise ValueError(f"per_graph=True needs a Euclidean group (or a product with one), got {group}")
    return group.sample(generator=generator, num_graphs=num_graphs)


def _per_graph_edge_cases(group: Group, num_graphs: int) -> list:
    """Two elements giving each graph a different edge case (identity for one, a half turn or
    a reflection for the next, ...)."""
    cases = group.edge_cases()
    if len(cases) < 2:
        return []
    return [per_graph([cases[(b * step + 1) % len(cases)] if b else cases[0] for b in range(num_graphs)],
                      label=f"a different edge case per graph ({num_graphs} graphs)") for step in (1, 2)]


def _elements(group: Group, element, trials: int, seed: int, per_graph_mode, inputs, in_kinds):
    if element is not None:
        if not isinstance(element, Element):
            raise TypeError(f"element must be an equigen.groups.Element, got {type(element).__name__}")
        return [element]
    if not isinstance(group, Group):
        raise TypeError(f"group must be an equigen.groups.Group such as SE3(), got {group!r}")
    if per_graph_mode not in (None, True, False):
        raise ValueError(f"per_graph={per_graph_mode!r}: use None (automatic), True or False")
    gen = torch.Generator().manual_seed(seed)
    batch = Context.from_tensors(inputs, in_kinds).batch
    if per_graph_mode:
        if batch is None:
            raise ValueError("per_graph=True needs a 'batch' input among in_kinds")
        num_graphs = _num_graphs(batch) or 1
        return [_per_graph_sample(group, num_graphs, gen) for _ in range(max(trials, 1))]
    out = list(group.edge_cases()) + [group.sample(generator=gen) for _ in range(trials)]
    if per_graph_mode is None and batch is not None and group.per_graph_sampling and _num_graphs(batch) >= 2:
        num_graphs = _num_graphs(batch)
        out += _per_graph_edge_cases(group, num_graphs)
        out += [_per_graph_sample(group, num_graphs, gen) for _ in range(max(2, trials // 2))]
    return out


def _graph_reports(fn, inputs, in_kinds, out_kinds, rtol, atol, seed) -> list:
    reports = []
    if "edge_index" in in_kinds and inputs[in_kinds.index("edge_index")].shape[1] >= 2:
        shuffle = Element(PermutationPart("edges", seed=seed + 1), label="shuffle of edge order only")
        rep = _measure(fn, inputs, shuffle, in_kinds, out_kinds, rtol=rtol, atol=atol)
        rep.note = "edge order"
        reports.append(rep)
    reports += measure_batch_independence(fn, inputs, in_kinds, out_kinds, rtol=rtol, atol=atol)
    return reports


def _run(fn, inputs, group, in_kinds, out_kinds, element, trials, rtol, atol, seed, per_graph_mode,
         graph_checks=False, perturb=False):
    inputs = _as_tuple(inputs, "inputs")
    in_kinds = normalize_kinds(in_kinds, len(inputs), argument="in_kinds")
    elements = _elements(group, element, trials, seed, per_graph_mode, inputs, in_kinds)

    def once(note=""):
        reps = [_measure(fn, inputs, g, in_kinds, out_kinds, rtol=rtol, atol=atol) for g in elements]
        if graph_checks:
            reps += _graph_reports(fn, inputs, in_kinds, out_kinds, rtol, atol, seed)
        for r in reps:
            r.note = ", ".join(w for w in (r.note, note) if w)
        return reps

    reports = once()
    if perturb:
        with perturbed_parameters(fn, seed=seed) as count:
            if count:
                reports += once(f"parameters perturbed (seed {seed})")
    return inputs, reports


def _failure(fn, failed: list, reports: list, inputs) -> EquivarianceError:
    first = failed[0]
    others = "".join(f"\n  also [{r.element}]: error {r.error:.3e}" + (f" ({r.note})" if r.note else "")
                     for r in failed[1:6])
    note = f" [{first.note}]" if first.note else ""
    return EquivarianceError(
        f"{callable_name(fn)} is not equivariant under [{first.element}]{note}: relative error "
        f"{first.error:.3e} > tolerance {first.tolerance:.3e} in output {first.worst_output} "
        f"({first.dtype}); {len(failed)} of {len(reports)} checks failed.{others}",
        first, inputs)


def assert_equivariant(fn, inputs, group: Group | None, in_kinds, out_kinds, *,
                       element: Element | None = None, trials: int = 4, atol: float | None = None,
                       rtol: float | None = None, seed: int = 0, per_graph: bool | None = None,
                       graph_checks: bool = True, perturb: bool = True) -> list:
    """Assert ``fn(g.x) == g.fn(x)`` for edge-case elements and ``trials`` random ones.

    Args:
        fn: callable taking the tensors of ``inputs`` positionally, returning a tensor or tuple.
        inputs: a tensor or tuple of tensors.
        group: a :class:`~equigen.groups.Group` (may be ``None`` when ``element`` is given).
        in_kinds, out_kinds: one kind per input / output (see :mod:`equigen.kinds`).
        element: check only this element (use inside your own hypothesis ``@given`` test).
        trials: random (Haar) elements from a generator seeded with ``seed``, after the
            group's edge cases (identity, half turns, reflections, large translations...).
        per_graph: ``None`` (default): with a ``batch`` input of several graphs, also
            elements that move each graph differently (edge cases and Haar samples);
            ``True``: only ``trials`` per-graph samples; ``False``: none.
        graph_checks: also check that the order of ``edge_index`` columns does not matter and
            that the graphs of a batch are independent (see the module doc).
        perturb: repeat every check with seeded noise on the parameters of the modules
            behind ``fn`` (see :func:`perturbed_parameters`).

    With ``element`` given, only that element is checked (no graph checks, no perturbation).
    Returns the list of :class:`EquivarianceReport`; raises :class:`EquivarianceError`
    naming the element, the measured error and the tolerance.
    """
    __tracebackhide__ = True
    single = element is not None
    inputs, reports = _run(fn, inputs, group, in_kinds, out_kinds, element, trials, rtol, atol,
                           seed, per_graph, graph_checks and not single, perturb and not single)
    failed = [r for r in reports if not r.passed]
    if failed:
        raise _failure(fn, failed, reports, inputs)
    return reports


def assert_invariant(fn, inputs, group: Group | None, in_kinds, *, element: Element | None = None,
                     trials: int = 4, atol: float | None = None, rtol: float | None = None,
                     seed: int = 0, per_graph: bool | None = None, graph_checks: bool = True,
                     perturb: bool = True) -> list:
    """:func:`assert_equivariant` with every output declared invariant (kind "scalars")."""
    __tracebackhide__ = True
    return assert_equivariant(fn, inputs, group, in_kinds, None, element=element, trials=trials,
                              atol=atol, rtol=rtol, seed=seed, per_graph=per_graph,
                              graph_checks=graph_checks, perturb=perturb)


def equivariance_error(fn, inputs, group: Group | None, in_kinds, out_kinds=None, *,
                       element: Element | None = None, trials: int = 4, seed: int = 0,
                       per_graph: bool | None = None) -> float:
    """The largest relative error (module doc) over edge cases and ``trials`` random elements
    (per-graph elements too, as in :func:`assert_equivariant`); parameters as they are."""
    _, reports = _run(fn, inputs, group, in_kinds, out_kinds, element, trials, None, None, seed,
                      per_graph)
    return max(r.error for r in reports)
