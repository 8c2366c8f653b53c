"""Property search: hypothesis draws inputs *and* group elements, and shrinks a failure."""

from __future__ import annotations

import hypothesis
from hypothesis import strategies as st

from equigen.groups import Group
from equigen.testing.assertions import EquivarianceError, callable_name, measure_equivariance
from equigen.testing.strategies import elements as element_strategy

__all__ = ["check_equivariant", "check_invariant"]


def check_equivariant(fn, group: Group, in_kinds, out_kinds, inputs: st.SearchStrategy, *,
                      elements: st.SearchStrategy | None = None, settings: hypothesis.settings | None = None,
                      atol: float | None = None, rtol: float | None = None,
                      collect: list | None = None) -> None:
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
            equigen's own tests).
        collect: a list to which every measured :class:`EquivarianceReport` is appended
            (for the largest error seen, as ``equigen check`` reports it).

    Raises :class:`EquivarianceError` with the *shrunk* counterexample: ``err.element`` (the
    simplest failing element found), ``err.inputs`` and the measured ``err.error``.
    Do not call it inside another ``@given`` test: use :func:`assert_equivariant` with
    ``element=`` there.
    """
    __tracebackhide__ = True
    if not isinstance(inputs, st.SearchStrategy):
        raise TypeError("inputs must be a hypothesis strategy; for fixed tensors use assert_equivariant")
    strategy = element_strategy(group) if elements is None else elements
    failures = []

    def probe(x, g):
        x = x if isinstance(x, tuple) else (x,)
        report = measure_equivariance(fn, x, g, in_kinds, out_kinds, rtol=rtol, atol=atol)
        if collect is not None:
            collect.append(report)
        if not report.passed:
            failures.append((report, x))
            raise EquivarianceError(str(report), report, x)

    search = hypothesis.given(inputs, strategy)(probe)
    if settings is not None:
        search = settings(search)
    try:
        search()
    except EquivarianceError:
        report, x = failures[-1]  # hypothesis replays the minimal example last
        shapes = ", ".join(f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}" for t in x)
        raise EquivarianceError(
            f"{callable_name(fn)} is not {group}-equivariant. Minimal counterexample: "
            f"element [{report.element}] on inputs of shapes [{shapes}]: relative error "
            f"{report.error:.3e} > tolerance {report.tolerance:.3e} in output {report.worst_output}.",
            report, x) from None


def check_invariant(fn, group: Group, in_kinds, inputs: st.SearchStrategy, **kwargs) -> None:
    """:func:`check_equivariant` with every output declared invariant."""
    __tracebackhide__ = True
    check_equivariant(fn, group, in_kinds, None, inputs, **kwargs)
