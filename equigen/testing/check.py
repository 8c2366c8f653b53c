"""Check a user's layer from a name: the engine behind ``equigen check``.

:func:`check_target` loads ``module:attribute`` (or ``path/to/file.py:attribute``), builds
inputs for the declared kinds, searches inputs and group elements with hypothesis in each
dtype and returns one :class:`CheckRow` per dtype: the largest error seen, the tolerance and,
on failure, the shrunk counterexample. A class with ``symmetry_example`` (equigen's protocol,
see :mod:`equigen.symmetry`) brings its own inputs and claimed symmetry.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import torch
from hypothesis import strategies as st

from equigen.geometry import radius_graph
from equigen.groups import (
    SE,
    SO,
    Dilations,
    E,
    GridReflections,
    GridShifts,
    Group,
    O,
    Permutations,
    Translations,
)
from equigen.kinds import normalize_kinds
from equigen.testing.assertions import EquivarianceError, assert_equivariant
from equigen.testing.search import check_equivariant
from equigen.testing.strategies import point_clouds

__all__ = ["CheckRow", "parse_group", "load_target", "check_target", "format_rows"]

_GROUPS = {"SO": SO, "O": O, "SE": SE, "E": E, "Translations": Translations, "Dilations": Dilations,
           "Permutations": Permutations, "GridShifts": GridShifts, "GridReflections": GridReflections}
_FACTOR = re.compile(r"^([A-Za-z]+?)\(?(\d*)\)?$")
_DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass
class CheckRow:
    """Outcome of one dtype: ``passed``, the largest relative ``error`` seen, its ``tolerance``,
    the number of checks, and the shrunk ``counterexample`` (text) on failure."""

    dtype: str
    passed: bool
    error: float
    tolerance: float
    checks: int
    counterexample: str = ""


def parse_group(spec: str) -> Group:
    """``"SE3"``, ``"E(2)"``, ``"O3*Permutations"``, ``"GridShifts2"`` ... -> a :class:`Group`.

    Factors are joined by ``*``; a trailing number is the dimension (grid groups: the number of
    grid axes; ``Permutations`` takes none).
    """
    factors = []
    for part in spec.replace(" ", "").split("*"):
        m = _FACTOR.match(part)
        if not m or m.group(1) not in _GROUPS:
            raise ValueError(f"group {part!r} in {spec!r} is unknown; use one of {', '.join(_GROUPS)} "
                             "with a dimension, e.g. SE3, E(2), O3*Permutations, GridShifts2")
        cls, digits = _GROUPS[m.group(1)], m.group(2)
        if cls is Permutations:
            if digits:
                raise ValueError(f"group {part!r}: Permutations takes no dimension")
            factors.append(cls())
        elif cls in (GridShifts, GridReflections):
            factors.append(cls(int(digits or 1)))
        else:
            factors.append(cls(dim=int(digits or 3)))
    group = factors[0]
    for f in factors[1:]:
        group = group * f
    return group


def load_target(target: str):
    """Import ``module.path:attr.sub`` or ``file.py:attr``; ``ValueError`` naming what is missing."""
    if ":" not in target:
        raise ValueError(f"target {target!r} must look like MODULE:CALLABLE (e.g. mypkg.layers:MyLayer) "
                         "or path/to/file.py:CALLABLE")
    where, attr = target.rsplit(":", 1)
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise ValueError(f"target {target!r}: file {path} does not exist")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(path.stem, module)
        spec.loader.exec_module(module)
    else:
        if "" not in sys.path:
            sys.path.insert(0, "")  # modules of the current directory, as `python -m` would see them
        try:
            module = importlib.import_module(where)
        except ImportError as err:
            raise ValueError(f"target {target!r}: cannot import module {where!r} ({err})") from err
    obj = module
    for name in attr.split("."):
        if not hasattr(obj, name):
            raise ValueError(f"target {target!r}: {where} has no attribute {attr!r}")
        obj = getattr(obj, name)
    if not callable(obj):
        raise ValueError(f"target {target!r} is not callable")
    return obj


def _instance(obj, dtype: torch.dtype):
    """A callable for one dtype: classes are instantiated without arguments, modules cast."""
    if inspect.isclass(obj):
        try:
            obj = obj()
        except TypeError as err:
            raise ValueError(f"{obj.__name__} cannot be built without arguments ({err}); give a "
                             "symmetry_example classmethod or a factory function instead") from err
    if isinstance(obj, torch.nn.Module):
        obj = obj.to(dtype).eval()
    return obj


@st.composite
def _inputs(draw, kinds: tuple, dtype: torch.dtype, dim: int, features: int, max_nodes: int):
    """Inputs for named kinds sharing one node count; edge_index from the first positions."""
    if "field" in kinds and any(k != "field" for k in kinds):
        raise ValueError("in_kinds mixing 'field' with node kinds is not supported by `equigen check`; "
                         "write a test with equigen.testing instead")
    if "field" in kinds:
        sizes = [draw(st.integers(1, 12)) for _ in range(dim)]
        gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
        return tuple(torch.randn(1, features, *sizes, generator=gen, dtype=torch.float64).to(dtype)
                     for _ in kinds)
    n = draw(st.integers(1, max_nodes))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    out, pos = [], None
    for kind in kinds:
        if kind == "positions":
            x = draw(point_clouds(min_points=n, max_points=n, dim=dim, dtype=dtype, scale=1.0))
            pos = x if pos is None else pos
        elif kind in ("vectors", "pseudovectors"):
            x = torch.randn(n, dim, generator=gen, dtype=torch.float64).to(dtype)
        elif kind in ("scalars", "nodes"):
            x = torch.randn(n, features, generator=gen, dtype=torch.float64).to(dtype)
        elif kind == "batch":
            x = torch.zeros(n, dtype=torch.long)
        elif kind == "edge_index":
            x = None  # filled below, once positions are known
        else:  # e3nn Irreps
            x = torch.randn(n, kind.dim, generator=gen, dtype=torch.float64).to(dtype)
        out.append(x)
    if "edge_index" in kinds:
        if pos is None:
            raise ValueError("in_kinds has 'edge_index' but no 'positions' to build the graph from")
        out[kinds.index("edge_index")] = radius_graph(pos, 1.5)
    return tuple(out)


def check_target(target, *, group: Group | None = None, in_kinds=None, out_kinds=None,
                 dtypes=("float64", "float32"), max_examples: int = 40, dim: int = 3, features: int = 4,
                 max_nodes: int = 12) -> list[CheckRow]:
    """Check ``target`` (a callable, a class, or a ``"module:attr"`` string) in each dtype.

    With ``group``/``in_kinds`` given, hypothesis draws inputs (``max_nodes`` nodes at most,
    ``features`` scalar channels, ``dim``-D vectors) and elements, ``max_examples`` per dtype,
    derandomized. A class with ``symmetry_example`` uses its own inputs and, unless overridden,
    its declared ``symmetry``; it is checked on the group's edge cases plus 8 Haar elements.
    ``out_kinds=None`` means invariant outputs.
    """
    obj = load_target(target) if isinstance(target, str) else target
    declared = getattr(obj, "symmetry", None)
    if declared is not None and hasattr(declared, "make_group"):
        group = group if group is not None else declared.make_group()
        in_kinds = in_kinds if in_kinds is not None else declared.in_kinds
        out_kinds = out_kinds if out_kinds is not None else declared.out_kinds
    if group is None or in_kinds is None:
        raise ValueError("give group and in_kinds (or a class declaring `symmetry`)")
    in_kinds = normalize_kinds(in_kinds, argument="in_kinds")
    out_kinds = None if out_kinds is None else normalize_kinds(out_kinds, argument="out_kinds")
    rows = []
    for name in dtypes:
        if name not in _DTYPES:
            raise ValueError(f"dtype {name!r} is not one of {list(_DTYPES)}")
        dtype = _DTYPES[name]
        reports: list = []
        example = getattr(obj, "symmetry_example", None)
        try:
            if example is not None and inspect.isclass(obj):
                fn, inputs = example(dtype=dtype, generator=torch.Generator().manual_seed(0))
                reports = assert_equivariant(fn, inputs, group, in_kinds, out_kinds, trials=8)
            else:
                fn = _instance(obj, dtype)
                settings = hypothesis.settings(max_examples=max_examples, derandomize=True, deadline=None,
                                               database=None, print_blob=False,
                                               suppress_health_check=list(hypothesis.HealthCheck))
                check_equivariant(fn, group, in_kinds, out_kinds,
                                  _inputs(in_kinds, dtype, dim, features, max_nodes),
                                  settings=settings, collect=reports)
            worst = max(reports, key=lambda r: r.error)
            rows.append(CheckRow(name, True, worst.error, worst.tolerance, len(reports)))
        except EquivarianceError as err:
            reports = reports or [err.report]
            worst = max((r for r in reports if r is not None), key=lambda r: r.error)
            rows.append(CheckRow(name, False, worst.error, worst.tolerance, len(reports), str(err)))
    return rows


def format_rows(rows: list[CheckRow]) -> str:
    """A plain-text table: dtype, checks, max error, tolerance, result; counterexamples below."""
    lines = [f"{'dtype':<8} {'checks':>6} {'max rel. error':>15} {'tolerance':>10}  result"]
    for r in rows:
        lines.append(f"{r.dtype:<8} {r.checks:>6} {r.error:>15.3e} {r.tolerance:>10.1e}  "
                     f"{'PASS' if r.passed else 'FAIL'}")
    for r in rows:
        if not r.passed:
            lines.append(f"\n{r.dtype} counterexample:\n  {r.counterexample}")
    return "\n".join(lines)
