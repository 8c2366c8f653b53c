"""Check a user's layer from a name: the engine behind ``equigen check``.

:func:`check_target` loads ``module:attribute`` (or ``path/to/file.py:attribute``), builds
inputs for the declared kinds, searches inputs and group elements with hypothesis in each
dtype and returns one :class:`CheckRow` per dtype: the largest error seen, the tolerance and,
on failure, the shrunk counterexample. A class with ``symmetry_example`` (equigen's protocol,
see :mod:`equigen.symmetry`) brings its own inputs and claimed symmetry.

Drawn inputs: up to ``max_nodes`` nodes (default 40, beyond the 25 points above which
``torch.cdist`` switches to a matrix-product formula), several graphs per batch when ``batch``
is an input, grids of the group's dimension with sizes from ``min_size``; after the search,
one fixed input of exactly ``max_nodes`` nodes is checked on every edge case. Modules are
checked with their parameters as built and perturbed (see :func:`equigen.testing.check_equivariant`).
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

__all__ = ["CheckRow", "TargetError", "parse_group", "load_target", "check_target", "format_rows",
           "group_dim"]


class TargetError(ValueError):
    """The target cannot be imported or built (``equigen check`` exits with status 3)."""

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
    """Import ``module.path:attr.sub`` or ``file.py:attr``; :class:`TargetError` naming what is missing.

    A file's directory is put on ``sys.path`` (so it can import its neighbours), and so is the
    current directory for module targets, as ``python -m`` would do.
    """
    if ":" not in target:
        raise ValueError(f"target {target!r} must look like MODULE:CALLABLE (e.g. mypkg.layers:MyLayer) "
                         "or path/to/file.py:CALLABLE")
    where, attr = target.rsplit(":", 1)
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise TargetError(f"target {target!r}: file {path} does not exist")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(path.stem, module)
        try:
            spec.loader.exec_module(module)
        except Exception as err:
            raise TargetError(f"target {target!r}: importing {path} failed ({type(err).__name__}: {err})") from err
    else:
        if "" not in sys.path:
            sys.path.insert(0, "")  # modules of the current directory, as `python -m` would see them
        try:
            module = importlib.import_module(where)
        except Exception as err:
            raise TargetError(f"target {target!r}: cannot import module {where!r} "
                              f"({type(err).__name__}: {err})") from err
    obj = module
    for name in attr.split("."):
        if not hasattr(obj, name):
            raise TargetError(f"target {target!r}: {where} has no attribute {attr!r}")
        obj = getattr(obj, name)
    if not callable(obj):
        raise TargetError(f"target {target!r} is not callable")
    return obj


def _instance(obj, dtype: torch.dtype):
    """A callable for one dtype: classes are instantiated without arguments, modules cast."""
    if inspect.isclass(obj):
        try:
            obj = obj()
        except TypeError as err:
            raise TargetError(f"{obj.__name__} cannot be built without arguments ({err}); give a "
                             "symmetry_example classmethod or a factory function instead") from err
    if isinstance(obj, torch.nn.Module):
        obj = obj.to(dtype).eval()
    return obj


def group_dim(group: Group) -> int:
    """The dimension drawn inputs need: a Euclidean factor's space dimension, else the number
    of grid axes of a grid factor, else 3."""
    factors = getattr(group, "factors", (group,))
    for f in factors:
        if hasattr(f, "dim"):
            return int(f.dim)
    for f in factors:
        if hasattr(f, "ndim"):
            return int(f.ndim)
    return 3


def _build(kinds: tuple, dtype, dim: int, features: int, pos, sizes: list, gen) -> tuple:
    """Node inputs for ``kinds`` around positions ``pos`` (float64), graphs of ``sizes`` nodes."""
    n = pos.shape[0]
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes, dtype=torch.long))
    out, first_pos = [], None
    for kind in kinds:
        if kind == "positions":
            x = pos if first_pos is None else torch.randn(n, dim, generator=gen, dtype=torch.float64)
            first_pos = pos
        elif kind in ("vectors", "pseudovectors"):
            x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
        elif kind in ("scalars", "nodes"):
            x = torch.randn(n, features, generator=gen, dtype=torch.float64)
        elif kind == "batch":
            x = batch
        elif kind == "edge_index":
            x = None  # filled below, once positions are known
        elif kind == "edges":
            raise ValueError("in_kinds with 'edges' is not supported by `equigen check`; "
                             "write a test with equigen.testing instead")
        else:  # e3nn Irreps
            x = torch.randn(n, kind.dim, generator=gen, dtype=torch.float64)
        out.append(x.to(dtype) if x is not None and x.is_floating_point() else x)
    if "edge_index" in kinds:
        if "positions" not in kinds:
            raise ValueError("in_kinds has 'edge_index' but no 'positions' to build the graph from")
        out[kinds.index("edge_index")] = radius_graph(pos.to(dtype), 1.5,
                                                      batch=batch if "batch" in kinds else None)
    return tuple(out)


@st.composite
def _inputs(draw, kinds: tuple, dtype: torch.dtype, dim: int, features: int, max_nodes: int,
            min_size: int = 1, max_size: int = 12):
    """Inputs for named kinds sharing one node count (several graphs with a ``batch``);
    edge_index from the first positions; fields of ``dim`` axes of ``min_size..max_size``."""
    if "field" in kinds and any(k != "field" for k in kinds):
        raise ValueError("in_kinds mixing 'field' with node kinds is not supported by `equigen check`; "
                         "write a test with equigen.testing instead")
    if "field" in kinds:
        sizes = [draw(st.integers(min_size, max(min_size, max_size))) for _ in range(dim)]
        gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
        return tuple(torch.randn(1, features, *sizes, generator=gen, dtype=torch.float64).to(dtype)
                     for _ in kinds)
    n = draw(st.integers(1, max_nodes))
    sizes = [n]
    if "batch" in kinds and n >= 2:
        graphs = draw(st.integers(2, min(4, n)))
        cuts = sorted(draw(st.lists(st.integers(1, n - 1), min_size=graphs - 1, max_size=graphs - 1,
                                    unique=True)))
        sizes = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    pos = draw(point_clouds(min_points=n, max_points=n, dim=dim, dtype=torch.float64, scale=1.0))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)) + 1)
    return _build(kinds, dtype, dim, features, pos, sizes, gen)


def _large_input(kinds: tuple, dtype, dim: int, features: int, n: int) -> tuple:
    """One fixed input of ``n`` Gaussian points (two graphs with a ``batch``), seed 0."""
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(n, dim, generator=gen, dtype=torch.float64) * (n ** (1.0 / dim)) / 2
    sizes = [n - n // 2, n // 2] if "batch" in kinds and n >= 2 else [n]
    return _build(kinds, dtype, dim, features, pos, sizes, gen)


def check_target(target, *, group: Group | None = None, in_kinds=None, out_kinds=None,
                 dtypes=("float64", "float32"), max_examples: int = 40, dim: int | None = None,
                 features: int = 4, max_nodes: int = 40, min_size: int = 1, max_size: int | None = None,
                 rtol: float | None = None, atol: float | None = None) -> list[CheckRow]:
    """Check ``target`` (a callable, a class, or a ``"module:attr"`` string) in each dtype.

    With ``group``/``in_kinds`` given, hypothesis draws inputs (``max_nodes`` nodes at most,
    several graphs when ``batch`` is an input, ``features`` scalar channels, ``dim``-D vectors
    or ``dim`` grid axes of ``min_size..max_size`` points; ``dim`` defaults to the group's) and
    elements, ``max_examples`` per dtype, derandomized; then one input of ``max_nodes`` nodes is
    checked on the group's edge cases. A class with ``symmetry_example`` uses its own inputs
    and, unless overridden, its declared ``symmetry``; it is checked on the group's edge cases
    plus 8 Haar elements. ``out_kinds=None`` means invariant outputs. Modules are checked with
    perturbed parameters too.
    """
    obj = load_target(target) if isinstance(target, str) else target
    group, in_kinds, out_kinds = _claim(obj, group, in_kinds, out_kinds)
    for name, value in (("max_nodes", max_nodes), ("min_size", min_size), ("max_examples", max_examples),
                        ("features", features)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer")
    dim = group_dim(group) if dim is None else dim
    max_size = max(12, min_size) if max_size is None else max_size
    if max_size < min_size:
        raise ValueError(f"max_size={max_size} is below min_size={min_size}; give max_size >= min_size")
    in_kinds = normalize_kinds(in_kinds, argument="in_kinds")
    out_kinds = None if out_kinds is None else normalize_kinds(out_kinds, argument="out_kinds")
    rows = []
    for name in dtypes:
        if name not in _DTYPES:
            raise ValueError(f"dtype {name!r} is not one of {list(_DTYPES)}")
        reports: list = []
        try:
            _check_dtype(obj, _DTYPES[name], group, in_kinds, out_kinds, reports, max_examples=max_examples,
                         dim=dim, features=features, max_nodes=max_nodes, min_size=min_size, max_size=max_size,
                         rtol=rtol, atol=atol)
        except EquivarianceError as err:
            measured = [r for r in [*reports, err.report] if r is not None]
            worst = max(measured, key=lambda r: r.error) if measured else None
            rows.append(CheckRow(name, False, worst.error if worst else float("nan"),
                                 worst.tolerance if worst else float("nan"), len(measured), str(err)))
            continue
        worst = max(reports, key=lambda r: r.error)
        rows.append(CheckRow(name, True, worst.error, worst.tolerance, len(reports)))
    return rows


def _claim(obj, group, in_kinds, out_kinds) -> tuple:
    """The group and kinds to check: those given, else those ``obj`` declares as its ``symmetry``."""
    declared = getattr(obj, "symmetry", None)
    if declared is not None and hasattr(declared, "make_group"):
        group = group if group is not None else declared.make_group()
        in_kinds = in_kinds if in_kinds is not None else declared.in_kinds
        out_kinds = out_kinds if out_kinds is not None else declared.out_kinds
    if group is None or in_kinds is None:
        raise ValueError("give group and in_kinds (or a class declaring `symmetry`)")
    return group, in_kinds, out_kinds


def _check_dtype(obj, dtype, group: Group, in_kinds: tuple, out_kinds, reports: list, *, max_examples: int,
                 dim: int, features: int, max_nodes: int, min_size: int, max_size: int, rtol, atol) -> None:
    """The checks of one dtype (see :func:`check_target`), each report appended to ``reports``;
    raises :class:`EquivarianceError` on the first failure."""
    example = getattr(obj, "symmetry_example", None)
    if example is not None and inspect.isclass(obj):
        fn, inputs = example(dtype=dtype, generator=torch.Generator().manual_seed(0))
        reports += assert_equivariant(fn, inputs, group, in_kinds, out_kinds, trials=8, rtol=rtol, atol=atol)
        return
    fn = _instance(obj, dtype)
    settings = hypothesis.settings(max_examples=max_examples, derandomize=True, deadline=None,
                                   database=None, print_blob=False,
                                   suppress_health_check=list(hypothesis.HealthCheck))
    check_equivariant(fn, group, in_kinds, out_kinds,
                      _inputs(in_kinds, dtype, dim, features, max_nodes, min_size, max_size),
                      settings=settings, collect=reports, rtol=rtol, atol=atol)
    if "field" not in in_kinds and max_nodes > 1:
        reports += assert_equivariant(fn, _large_input(in_kinds, dtype, dim, features, max_nodes),
                                      group, in_kinds, out_kinds, trials=2, rtol=rtol, atol=atol)


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
