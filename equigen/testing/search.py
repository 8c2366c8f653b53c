"""Property search: hypothesis draws inputs *and* group elements, and shrinks a failure.

What one call of :func:`check_equivariant` checks, by default:

1. *Search*: hypothesis draws inputs and an element (shrinking toward simple ones) and
   compares ``fn(g.x)`` with ``g.fn(x)``. With a ``batch`` input of several graphs, the element
   is sometimes one independent element *per graph*; with an ``edge_index`` input, the output
   must not depend on the order of its columns; with a ``batch`` input, graphs must not see
   each other (see :func:`~equigen.testing.assertions.measure_batch_independence`). All
   floating inputs of one example share one dtype (that of the module's parameters when
   ``fn`` is a module, else the first floating input's).
2. *Forced edge cases*: the group's edge cases (identity, half turns, reflections, large
   translations, swaps, permutations across graphs, ...) are checked on a mid-size, generic
   input from the same strategy (the smallest one with 6+ nodes not collinear, planar or
   coincident, two graphs when there is a ``batch``; odd and even grids of 5+ points), with
   the parameters as they are and again perturbed (:func:`~equigen.testing.perturbed_parameters`).

Settings: the active hypothesis profile; outside pytest (a script, ``equigen check``) the
``equigen-ci`` profile unless another one was loaded (see :mod:`equigen.testing.plugin`).
"""

from __future__ import annotations

import builtins

import hypothesis
import torch
from hypothesis import strategies as st

from equigen.groups import Context, Element, Group, PermutationPart, per_graph
from equigen.kinds import is_node_indexed, normalize_kinds
from equigen.testing.assertions import (
    EquivarianceError,
    _measure,
    _num_graphs,
    assert_equivariant,
    callable_name,
    measure_batch_independence,
    modules_of,
)
from equigen.testing.plugin import active_settings
from equigen.testing.strategies import elements as element_strategy

__all__ = ["check_equivariant", "check_invariant", "one_dtype"]

# hypothesis reports several distinct failures as an exception group (Python 3.11+)
_GROUPS = tuple(getattr(builtins, name) for name in ("BaseExceptionGroup",) if hasattr(builtins, name))


def one_dtype(inputs: tuple, fn=None) -> tuple:
    """Cast the real floating tensors of one example to one dtype: the parameters' dtype when
    ``fn`` is (or holds) a module, else that of the first floating tensor."""
    dtype = None
    for m in modules_of(fn) if fn is not None else ():
        dtype = next((p.dtype for p in m.parameters() if p.is_floating_point()), None)
        if dtype is not None:
            break
    if dtype is None:
        dtype = next((t.dtype for t in inputs if t.is_floating_point()), None)
    if dtype is None:
        return inputs
    return tuple(t.to(dtype) if t.is_floating_point() else t for t in inputs)


def _generic(x: tuple, kinds: tuple, odd: bool | None, nodes: int, graphs: int) -> bool:
    """Is ``x`` a mid-size generic input: enough nodes and graphs, points in general position,
    a few edges, grid sizes of 5+ (all odd or all even)?"""
    ctx = Context.from_tensors(x, kinds)
    if ctx.num_nodes is not None and ctx.num_nodes < nodes:
        return False
    if ctx.batch is not None and torch.unique(ctx.batch).numel() < graphs:
        return False
    for t, kind in zip(x, kinds):
        if kind == "edge_index" and t.shape[1] < 2:
            return False
        if kind == "field":
            sizes = t.shape[-1:] if t.dim() < 3 else t.shape[2:]
            if min(sizes) < 5 or (odd is not None and any((s % 2 == 1) != odd for s in sizes)):
                return False
        if kind in ("positions", "vectors", "pseudovectors") and t.dim() == 2 and t.shape[0] >= 2:
            c = (t - t.mean(0)).double()
            if int(torch.linalg.matrix_rank(c)) < min(t.shape[1], t.shape[0] - 1):
                return False
            d = torch.cdist(c, c, compute_mode="donot_use_mm_for_euclid_dist")
            d = d + torch.eye(t.shape[0], dtype=d.dtype) * float(d.max() + 1)
            if float(d.min()) < 1e-3 * float(c.abs().max()):
                return False
    return True


def _forced_inputs(inputs: st.SearchStrategy, kinds: tuple) -> list:
    """The smallest generic inputs the strategy draws (see :func:`_generic`), deterministically."""
    quiet = hypothesis.settings(max_examples=300, derandomize=True, database=None, deadline=None,
                                suppress_health_check=list(hypothesis.HealthCheck), print_blob=False)
    found = []
    variants = [(True, 6, 2), (False, 6, 2)] if "field" in kinds else [(None, 6, 2)]
    variants += [(None, 3, 2), (None, 1, 1)]
    for odd, nodes, graphs in variants:
        def condition(x, odd=odd, nodes=nodes, graphs=graphs):
            x = x if isinstance(x, tuple) else (x,)
            try:
                return _generic(x, kinds, odd, nodes, graphs)
            except Exception:  # a strategy drawing something the condition cannot read
                return False
        try:
            x = hypothesis.find(inputs, condition, settings=quiet)
        except (hypothesis.errors.NoSuchExample, hypothesis.errors.Unsatisfiable):
            continue
        found.append(x if isinstance(x, tuple) else (x,))
        if len(found) == 2 or odd is None:
            break
    return found


def check_equivariant(fn, group: Group, in_kinds, out_kinds, inputs: st.SearchStrategy, *,
                      elements: st.SearchStrategy | None = None, settings: hypothesis.settings | None = None,
                      atol: float | None = None, rtol: float | None = None,
                      collect: list | None = None, per_graph_elements: bool = True,
                      graph_checks: bool = True, forced: bool = True, perturb: bool = True) -> None:
    """Search inputs and group elements for a violation of ``fn(g.x) == g.fn(x)``.

    Args:
        fn: the map under test, called as ``fn(*inputs)``.
        group: the claimed symmetry group.
        in_kinds, out_kinds: kinds of the inputs and outputs (``out_kinds=None``: invariant).
        inputs: a hypothesis strategy drawing a tensor or a tuple of tensors
            (see :mod:`equigen.testing.strategies`).
        elements: strategy for group elements; defaults to
            :func:`equigen.testing.strategies.elements` ``(group)``, which shrinks toward
            simple elements.
        settings: hypothesis settings; default: the active profile (``equigen-ci`` in
            equigen's own tests and outside pytest).
        collect: a list to which every measured :class:`EquivarianceReport` is appended
            (for the largest error seen, as ``equigen check`` reports it).
        per_graph_elements, graph_checks, forced, perturb: the default parts of the check
            (module doc): per-graph elements for batches; edge order and batch independence;
            forced edge cases on a mid-size input; perturbed parameters there. Turn one off
            only to measure what it adds.

    Raises :class:`EquivarianceError` with the *shrunk* counterexample: ``err.element`` (the
    simplest failing element found), ``err.inputs`` and the measured ``err.error``.
    Do not call it inside another ``@given`` test: use :func:`assert_equivariant` with
    ``element=`` there.
    """
    __tracebackhide__ = True
    if not isinstance(inputs, st.SearchStrategy):
        raise TypeError("inputs must be a hypothesis strategy; for fixed tensors use assert_equivariant")
    if not isinstance(group, Group):
        raise TypeError(f"group must be an equigen.groups.Group such as SE3(), got {group!r}")
    strategy = element_strategy(group) if elements is None else elements
    failures = []
    probe = _probe(fn, in_kinds, out_kinds, strategy, failures, batched=per_graph_elements and group.per_graph_sampling,
                   graph_checks=graph_checks, collect=collect, rtol=rtol, atol=atol)
    _search(probe, inputs, strategy, settings, failures, fn, group)
    if forced:
        _check_forced(fn, group, in_kinds, out_kinds, inputs, rtol=rtol, atol=atol, collect=collect,
                      per_graph_elements=per_graph_elements, graph_checks=graph_checks, perturb=perturb)


def _probe(fn, in_kinds, out_kinds, strategy, failures: list, *, batched: bool, graph_checks: bool,
           collect: list | None, rtol, atol):
    """The test hypothesis runs: ``probe(x, g, data)`` measures one drawn input ``x`` and element
    ``g`` (``data`` draws per-graph elements and edge shuffles), appends a failure to ``failures``
    and raises it.

    Hypothesis seeds the derandomized search from the source text of ``probe``: editing it (code,
    not comments) changes the drawn examples.
    """

    def probe(x, g, data):
        x = one_dtype(x if isinstance(x, tuple) else (x,), fn)
        kinds = normalize_kinds(in_kinds, len(x), argument="in_kinds")
        batch = Context.from_tensors(x, kinds).batch
        if batched and batch is not None and _num_graphs(batch) >= 2 and data.draw(st.booleans()):
            g = per_graph(data.draw(st.lists(strategy, min_size=_num_graphs(batch),
                                             max_size=_num_graphs(batch))),
                          label=None)
        try:
            reports = [_measure(fn, x, g, kinds, out_kinds, rtol=rtol, atol=atol)]
            if graph_checks and "edge_index" in kinds and x[kinds.index("edge_index")].shape[1] >= 2:
                seed = data.draw(st.integers(0, 2**16))
                shuffle = Element(PermutationPart("edges", seed=seed), label=f"shuffle of edge order (seed {seed})")
                reports.append(_measure(fn, x, shuffle, kinds, out_kinds, rtol=rtol, atol=atol))
                reports[-1].note = "edge order"
            if graph_checks:
                reports += measure_batch_independence(fn, x, kinds, out_kinds, rtol=rtol, atol=atol)
        except AssertionError as err:  # NaN/Inf or mismatched shapes: a counterexample too
            failures.append((None, x, g, str(err)))
            raise EquivarianceError(str(err), None, x) from err
        if collect is not None:
            collect.extend(reports)
        bad = [r for r in reports if not r.passed]
        if bad:
            failures.append((bad[0], x, g, ""))
            raise EquivarianceError(str(bad[0]), bad[0], x)

    return probe


def _search(probe, inputs, strategy, settings, failures: list, fn, group: Group) -> None:
    """Run the search; raise :class:`EquivarianceError` on the minimal counterexample."""
    __tracebackhide__ = True
    search = hypothesis.given(inputs, strategy, st.data())(probe)
    base = settings if settings is not None else active_settings()
    search = hypothesis.settings(base, report_multiple_bugs=False)(search)
    try:
        search()
    except (EquivarianceError, *_GROUPS) as raised:
        if not failures or (isinstance(raised, _GROUPS)
                            and not raised.subgroup(EquivarianceError)):
            raise
        # hypothesis replays the minimal example last
        raise _minimal_counterexample(fn, group, *failures[-1]) from None


def _minimal_counterexample(fn, group: Group, report, x, g, message: str) -> EquivarianceError:
    """The error for the search's minimal failure (``report=None``: NaN/Inf or a shape mismatch)."""
    shapes = _shapes(x)
    if report is None:
        err = EquivarianceError(
            f"{callable_name(fn)} failed on a {group} check. Minimal counterexample: "
            f"element [{g}] on inputs of shapes [{shapes}]: {message}", None, x)
        err.element = g
        return err
    what = f"{report.note}: " if report.note else ""
    return EquivarianceError(
        f"{callable_name(fn)} is not {group}-equivariant. Minimal counterexample: {what}"
        f"element [{report.element}] on inputs of shapes [{shapes}]: relative error "
        f"{report.error:.3e} > tolerance {report.tolerance:.3e} in output {report.worst_output}.",
        report, x)


def _check_forced(fn, group: Group, in_kinds, out_kinds, inputs: st.SearchStrategy, *, rtol, atol,
                  collect: list | None, per_graph_elements: bool, graph_checks: bool, perturb: bool) -> None:
    """The group's edge cases on the mid-size generic inputs of :func:`_forced_inputs` (inputs
    with nodes, graphs or fields only), parameters as they are and perturbed."""
    __tracebackhide__ = True
    kinds = normalize_kinds(in_kinds, argument="in_kinds")
    if not any(is_node_indexed(k) or k in ("field", "batch", "edge_index", "edges") for k in kinds):
        return
    for x in _forced_inputs(inputs, kinds):
        x = one_dtype(x, fn)
        try:
            reports = assert_equivariant(fn, x, group, kinds, out_kinds, trials=2, rtol=rtol, atol=atol,
                                         per_graph=None if per_graph_elements else False,
                                         graph_checks=graph_checks, perturb=perturb)
        except EquivarianceError as err:
            r = err.report
            note = f" [{r.note}]" if r.note else ""
            raise EquivarianceError(
                f"{callable_name(fn)} is not {group}-equivariant: forced edge case [{r.element}]{note} on a "
                f"mid-size input of shapes [{_shapes(x)}]: relative error {r.error:.3e} > tolerance "
                f"{r.tolerance:.3e} in output {r.worst_output}.", r, x) from None
        except AssertionError as err:
            raise EquivarianceError(
                f"{callable_name(fn)} failed on a {group} check on a mid-size input of shapes "
                f"[{_shapes(x)}]: {err}", None, x) from None
        if collect is not None:
            collect.extend(reports)


def _shapes(x) -> str:
    return ", ".join(f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}" for t in x)


def check_invariant(fn, group: Group, in_kinds, inputs: st.SearchStrategy, **kwargs) -> None:
    """:func:`check_equivariant` with every output declared invariant."""
    __tracebackhide__ = True
    check_equivariant(fn, group, in_kinds, None, inputs, **kwargs)
