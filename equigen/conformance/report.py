"""The conformance report: every adapter x symmetry x dtype x eager/compiled, measured by the kit.

For each cell:

1. *Fixed inputs*: the adapter's example (two molecules, or 6 rows of irreps features) under the
   group's edge cases (half and quarter turns, mirrors, inversion, 1e3 translations, swaps...)
   and ``trials`` random elements; the largest relative error of
   :func:`equigen.testing.measure_equivariance` is the cell's number.
2. *Search* (eager only): :func:`equigen.testing.check_equivariant` draws inputs (molecules with
   gaussian, collinear, planar and clustered layouts; 1-8 feature rows) and group elements with
   hypothesis and shrinks any failure to a minimal counterexample.

A cell passes when both find nothing above the dtype tolerance (1e-10 float64, 1e-5 float32,
relative, see :mod:`equigen.testing.assertions`). Every failure (a violation, a NaN/Inf output
or an exception) is saved as a standalone script that rebuilds the model, the inputs and the
group element and exits 1 while the failure reproduces.

Entry points: :func:`run_conformance` (library), :func:`main` (command line:
``python -m equigen.conformance`` or ``benchmarks/conformance.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import hypothesis
import torch

from equigen.conformance.adapters import Adapter, DeclaredAdapter, declared_adapters
from equigen.conformance.registry import adapters, get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import EquivarianceError, check_equivariant, default_rtol, measure_equivariance

__all__ = ["Cell", "ConformanceReport", "run_conformance", "write_script", "element_code", "resolution_study",
           "e3nn_wigner_study", "main"]

DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass
class Cell:
    """One measured cell of the table."""

    model: str
    symmetry: str
    dtype: str
    mode: str  # "eager" | "compiled"
    status: str  # "pass" | "FAIL" | "non-finite" | "error" | "skipped"
    error: float = math.nan  # largest relative error, fixed inputs
    tolerance: float = math.nan
    elements: int = 0
    search_examples: int = 0
    counterexample: str = ""  # the element, in words
    script: str = ""  # path of the reproducing script
    message: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass
class ConformanceReport:
    cells: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)  # model -> why it could not run
    notes: dict = field(default_factory=dict)  # model -> adapter note
    controls: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    studies: dict = field(default_factory=dict)

    def failures(self, *, include_controls: bool = False) -> list:
        return [c for c in self.cells if c.status != "pass" and (include_controls or c.model not in self.controls)]

    def to_dict(self) -> dict:
        return {"cells": [asdict(c) for c in self.cells], "skipped": self.skipped, "notes": self.notes,
                "controls": self.controls, "meta": self.meta, "studies": self.studies}

    def markdown(self, link_base: str | None = "counterexamples") -> str:
        """The table (model x symmetry rows; dtype x mode columns) plus skipped models and studies.

        Script links are ``link_base/<file>`` (``None``: the script's path as code, not a link: for
        scripts kept outside the directory of the table, e.g. test data next to a docs page)."""
        return _markdown(self, link_base)

    @classmethod
    def from_dict(cls, data: dict) -> ConformanceReport:
        """Inverse of :meth:`to_dict` (reads a ``results.json``)."""
        fields = {k: data.get(k) for k in ("skipped", "notes", "controls", "meta", "studies")}
        return cls(cells=[Cell(**c) for c in data.get("cells", [])], **{k: v for k, v in fields.items() if v})

    def merge(self, other: ConformanceReport) -> ConformanceReport:
        """Cells of both (``other`` wins on the same model/symmetry/dtype/mode); notes, skips, studies joined."""
        key = lambda c: (c.model, c.symmetry, c.dtype, c.mode)  # noqa: E731
        theirs = {key(c) for c in other.cells}
        cells = [c for c in self.cells if key(c) not in theirs] + list(other.cells)
        order = {m: i for i, m in enumerate(dict.fromkeys([c.model for c in self.cells + other.cells]))}
        cells.sort(key=lambda c: order[c.model])
        skipped = {**self.skipped, **other.skipped}
        for c in cells:  # a model that ran somewhere is not "not run"
            skipped.pop(c.model, None)
        meta = dict(self.meta)
        for k, v in other.meta.items():  # differing values: the list of distinct ones
            if k not in meta or meta[k] == v:
                meta[k] = v
                continue
            values = meta[k] if isinstance(meta[k], list) else [meta[k]]
            meta[k] = values + ([v] if v not in values else [])
        return ConformanceReport(cells, skipped, {**self.notes, **other.notes},
                                 list(dict.fromkeys(self.controls + other.controls)), meta,
                                 {**self.studies, **other.studies})


# -------------------------------------------------------------------------------------
# Counterexample scripts
# -------------------------------------------------------------------------------------


def _tensor_code(t: torch.Tensor) -> str:
    dtype = str(t.dtype).replace("torch.", "torch.")
    if t.is_floating_point():  # float64 repr round-trips; float32 values are exact in float64
        return f"torch.tensor({t.detach().double().cpu().tolist()!r}, dtype=torch.float64).to({dtype})"
    return f"torch.tensor({t.detach().cpu().tolist()!r}, dtype={dtype})"


def element_code(element: Element) -> str:
    """Python source that rebuilds ``element`` (Euclidean and permutation parts)."""
    parts = []
    for p in element.parts:
        if isinstance(p, EuclideanPart):
            parts.append(f"EuclideanPart({_tensor_code(p.rotation)}, {_tensor_code(p.translation)}, "
                         f"{p.scale!r})")
        elif isinstance(p, PermutationPart):
            steps = ", ".join(f"({r!r}, {s!r}, {None if perm is None else _tensor_code(perm)}, {inv!r})"
                              for r, s, perm, inv in p.steps)
            parts.append(f"PermutationPart(_steps=({steps},))")
        else:
            raise TypeError(f"cannot write a {type(p).__name__} into a script")
    label = f", label={element.label!r}" if element.label else ""
    return f"Element({', '.join(parts)}{label})"


_SCRIPT = '''"""Counterexample found by equigen's conformance suite.

model:    {model}
symmetry: {symmetry} ({group})
dtype:    {dtype}, {mode}
element:  {element_text}
found:    {message}

Run from the repository root: ``python {path}``. Exit status 1: the failure reproduces
(prints the measured error); 0: it does not (fixed upstream, or a different environment).
"""
import sys

import torch

from equigen.conformance import get_adapter
from equigen.groups import Element, EuclideanPart, PermutationPart
from equigen.testing import measure_equivariance

torch.set_num_threads(1)
adapter = get_adapter({model!r})
fn = adapter.function(dtype={dtype_code}, seed={seed}, compiled={compiled})
inputs = (
{inputs}
)
element = {element}
try:
    report = measure_equivariance(fn, inputs, element, adapter.in_kinds, adapter.out_kinds)
except Exception as err:  # NaN/Inf outputs, or the model raised
    print("reproduced:", type(err).__name__, err)
    sys.exit(1)
print(("reproduced: " if not report.passed else "not reproduced: ") + str(report))
sys.exit(0 if report.passed else 1)
'''


def write_script(directory, adapter: Adapter, symmetry: str, dtype: torch.dtype, compiled: bool, inputs,
                 element: Element, message: str, *, seed: int = 0) -> Path:
    """Write a reproducing script for one failure; returns its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    slug = "".join(ch if ch.isalnum() else "_" for ch in adapter.name).strip("_")
    dname = str(dtype).replace("torch.", "")
    mode = "compiled" if compiled else "eager"
    path = directory / f"{slug}__{symmetry}__{dname}__{mode}.py"
    text = _SCRIPT.format(model=adapter.name, symmetry=symmetry, group=adapter.group(symmetry), dtype=dname,
                          mode=mode, element_text=str(element), message=message.replace('"""', "'''")[:600],
                          path=path.as_posix(), dtype_code=f"torch.{dname}", seed=seed, compiled=compiled,
                          inputs="\n".join(f"    {_tensor_code(t)}," for t in inputs),
                          element=element_code(element))
    path.write_text(text)
    return path


# -------------------------------------------------------------------------------------
# Running cells
# -------------------------------------------------------------------------------------


_MODEL_RAISED = "the model raised"


def _elements(group, trials: int, seed: int) -> list:
    gen = torch.Generator().manual_seed(seed)
    return list(group.edge_cases()) + [group.sample(generator=gen) for _ in range(trials)]


def _short(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip().replace("\n", " ")
    return text if len(text) < 300 else text[:297] + "..."


def _fixed(fn, inputs, group, in_kinds, out_kinds, trials, seed):
    """Largest error over the fixed elements; the first failing (element, message) if any."""
    worst, tol, first, count = 0.0, math.nan, None, 0
    for g in _elements(group, trials, seed):
        count += 1
        try:
            r = measure_equivariance(fn, inputs, g, in_kinds, out_kinds)
        except AssertionError as err:
            return math.nan, tol, (g, _short(err), "non-finite"), count
        if r.error >= worst:
            worst, tol = r.error, r.tolerance
        if not r.passed and first is None:
            first = (g, f"relative error {r.error:.3e} > tolerance {r.tolerance:.3e} in output {r.worst_output}",
                     "FAIL")
    return worst, tol, first, count


def run_cell(adapter, symmetry: str, dtype: torch.dtype, *, compiled: bool, fn=None, trials: int = 4,
             max_examples: int = 20, seed: int = 0, script_dir=None) -> Cell:
    """Measure one cell (see the module doc). ``fn`` reuses an already built model function."""
    start = time.perf_counter()
    dname = str(dtype).replace("torch.", "")
    cell = Cell(adapter.name, symmetry, dname, "compiled" if compiled else "eager", "pass")
    group = adapter.group(symmetry)
    declared = isinstance(adapter, DeclaredAdapter)
    try:
        fn, inputs = _model_and_example(adapter, dtype, seed, compiled, fn)
        worst, tol, first, count = _fixed(fn, inputs, group, adapter.in_kinds, adapter.out_kinds, trials, seed)
    except Exception as err:  # the model itself raised: reported, not hidden
        cell.status, cell.message = "error", _short(err)
        cell.seconds = time.perf_counter() - start
        return cell
    cell.error, cell.tolerance, cell.elements = worst, tol if not math.isnan(tol) else default_rtol(dtype), count
    failure = None
    if first is not None:
        g, message, status = first
        cell.status, cell.message, cell.counterexample = status, message, str(g)
        failure = (inputs, g, message)
    if not compiled and not declared and max_examples > 0:
        found = _search_cell(cell, fn, adapter, group, dtype, max_examples)
        failure = found if found is not None else failure  # shrunk inputs: prefer them
    if failure is not None and script_dir is not None and not declared:
        try:
            cell.script = str(write_script(script_dir, adapter, symmetry, dtype, compiled, failure[0], failure[1],
                                           failure[2], seed=seed))
        except TypeError as err:
            cell.message += f" (no script: {err})"
    cell.seconds = time.perf_counter() - start
    return cell


def _model_and_example(adapter, dtype: torch.dtype, seed: int, compiled: bool, fn=None) -> tuple:
    """The model function (``fn`` when already built) and the adapter's fixed example inputs."""
    if isinstance(adapter, DeclaredAdapter):
        return adapter.function_and_example(dtype=dtype, seed=seed, compiled=compiled)
    fn = fn or adapter.function(dtype=dtype, seed=seed, compiled=compiled)
    return fn, adapter.example(dtype=dtype, seed=seed)


def _guarded(fn, name: str):
    """``fn`` whose exceptions are counterexamples too (an ``AssertionError``, so that the search
    keeps the inputs that raised)."""
    def guarded(*x):
        try:
            return fn(*x)
        except Exception as err:
            raise AssertionError(f"{_MODEL_RAISED} {_short(err)}") from err

    guarded.__name__ = getattr(fn, "__name__", name)
    return guarded


def _search_cell(cell: Cell, fn, adapter, group, dtype: torch.dtype, max_examples: int):
    """The hypothesis search of an eager cell (module doc); records what it finds in ``cell`` and
    returns the shrunk failure ``(inputs, element, message)``, or None."""
    settings = hypothesis.settings(max_examples=max_examples, derandomize=True, deadline=None, database=None,
                                   suppress_health_check=list(hypothesis.HealthCheck), print_blob=False)
    cell.search_examples = max_examples
    guarded = _guarded(fn, adapter.name)
    try:
        check_equivariant(guarded, group, adapter.in_kinds, adapter.out_kinds, adapter.inputs(dtype),
                          settings=settings)
    except EquivarianceError as err:
        message = str(err).split("Minimal counterexample: ", 1)[-1]
        if cell.status == "pass":
            cell.status = ("error" if _MODEL_RAISED in message else "non-finite") if err.report is None else "FAIL"
        cell.message = message if not cell.message else f"{cell.message}; search: {message}"
        cell.counterexample = str(err.element)
        return err.inputs, err.element, message
    except Exception as err:  # hypothesis could not generate, or the model raised
        cell.status, cell.message = "error", _short(err)
    return None


def run_conformance(selected=None, *, dtypes=("float64", "float32"), modes=("eager",), trials: int = 4,
                    max_examples: int = 20, seed: int = 0, script_dir=None, include_declared: bool = True,
                    progress=None, checkpoint=None) -> ConformanceReport:
    """Run the table for ``selected`` adapters (names or Adapter objects; default: all registered).

    Args:
        dtypes: subset of ("float64", "float32").
        modes: subset of ("eager", "compiled"); compiled cells use fixed inputs only.
        trials: random group elements per cell after the edge cases.
        max_examples: hypothesis examples per eager cell (0: fixed inputs only).
        script_dir: where reproducing scripts of failures are written (None: not written).
        include_declared: also run equigen's own layers that declare a symmetry.
        progress: ``callable(str)`` for progress lines.
        checkpoint: ``callable(report)`` called after each adapter (e.g. to save partial results).
    """
    if selected is None:
        chosen = adapters() + (declared_adapters() if include_declared else [])
    else:
        chosen = [get_adapter(a) if isinstance(a, str) else a for a in selected]
    for d in dtypes:
        if d not in DTYPES:
            raise ValueError(f"dtypes: {d!r} is not one of {tuple(DTYPES)}")
    for m in modes:
        if m not in ("eager", "compiled"):
            raise ValueError(f"modes: {m!r}; use 'eager' and/or 'compiled'")
    report = ConformanceReport(meta={"torch": torch.__version__, "threads": torch.get_num_threads(),
                                     "trials": trials, "max_examples": max_examples, "seed": seed,
                                     "versions": _versions()})
    for adapter in chosen:
        ok, why = adapter.available()
        report.notes[adapter.name] = adapter.note
        if adapter.control:
            report.controls.append(adapter.name)
        if not ok:
            report.skipped[adapter.name] = why
            continue
        for mode in modes:
            for dname in dtypes:
                _run_cells(report, adapter, mode, dname, trials=trials, max_examples=max_examples, seed=seed,
                           script_dir=script_dir, progress=progress)
        if checkpoint:
            checkpoint(report)
    return report


def _run_cells(report: ConformanceReport, adapter, mode: str, dname: str, *, trials: int, max_examples: int,
               seed: int, script_dir, progress) -> None:
    """Append the cells of one adapter in one mode and dtype to ``report`` (one model built for
    all its symmetries; an error cell per symmetry when it cannot be built)."""
    dtype, compiled = DTYPES[dname], mode == "compiled"
    fn = None
    if not isinstance(adapter, DeclaredAdapter):
        try:
            fn = adapter.function(dtype=dtype, seed=seed, compiled=compiled)
        except Exception as err:
            for sym in adapter.symmetries:
                report.cells.append(Cell(adapter.name, sym, dname, mode, "error", message=_short(err)))
            return
    for sym in adapter.symmetries:
        cell = run_cell(adapter, sym, dtype, compiled=compiled, fn=fn, trials=trials,
                        max_examples=max_examples, seed=seed, script_dir=script_dir)
        report.cells.append(cell)
        if progress:
            progress(f"{cell.model:38s} {sym:12s} {dname} {mode:8s} {cell.status:10s} "
                     f"{cell.error:.2e} ({cell.seconds:.1f} s)")


def _versions() -> dict:
    out = {}
    for name in ("e3nn", "torch_geometric", "mace"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "?")
        except Exception:
            out[name] = "not installed"
    return out


# -------------------------------------------------------------------------------------
# Studies: approximate activations vs resolution; e3nn's D vs equigen's
# -------------------------------------------------------------------------------------


def resolution_study(*, trials: int = 4, seed: int = 0) -> list:
    """float64 error of e3nn's S2Activation / SO3Activation under rotations and reflections
    (edge cases + ``trials`` Haar elements) for each grid resolution."""
    from equigen.conformance.adapters import Adapter, Output
    from equigen.conformance.models import (
        _S2_IRREPS,
        _SO3_IRREPS,
        S2_RESOLUTIONS,
        SO3_RESOLUTIONS,
        s2_activation,
        so3_activation,
    )

    rows = []
    for layer, irreps, resolutions, build in (("S2Activation", _S2_IRREPS, S2_RESOLUTIONS, s2_activation),
                                              ("SO3Activation", _SO3_IRREPS, SO3_RESOLUTIONS, so3_activation)):
        for res in resolutions:
            adapter = Adapter(name=f"e3nn.{layer}[res={res}]", library="e3nn", domain="features",
                              build=lambda b=build, r=res: b(r), forward=lambda m, x: m(x), irreps_in=(irreps,),
                              outputs=(Output("features", irreps, per="node"),), default_dtype=True)
            row = {"layer": layer, "resolution": res}
            for dname in ("float64", "float32"):
                dtype = DTYPES[dname]
                fn = adapter.function(dtype=dtype, seed=seed)
                inputs = adapter.example(dtype=dtype, seed=seed)
                errs = []
                for sym in ("rotation", "reflection"):
                    worst, _, _, _ = _fixed(fn, inputs, adapter.group(sym), adapter.in_kinds, adapter.out_kinds,
                                            trials, seed)
                    errs.append(worst)
                row[f"error_{dname}"] = max(errs)
            rows.append(row)
    return rows


def e3nn_wigner_study(selected=None, *, trials: int = 4, seed: int = 0) -> list:
    """float64 error of each exact e3nn layer measured with e3nn's ``Irreps.D_from_matrix`` and with
    :func:`equigen.groups.wigner_d`, same elements (rotation and reflection edge cases + Haar)."""
    from e3nn import o3

    from equigen.conformance.adapters import SYMMETRIES

    rows = []
    chosen = selected or [a for a in adapters(include_controls=False)
                          if a.domain == "features" and "Activation[" not in a.name and "[cast]" not in a.name]
    for adapter in chosen:
        fn = adapter.function(dtype=torch.float64, seed=seed)
        inputs = adapter.example(dtype=torch.float64, seed=seed)
        out_irreps = [o3.Irreps(o.kind) for o in adapter.all_outputs]
        elements = _elements(SYMMETRIES["rotation"](), trials, seed) + _elements(SYMMETRIES["reflection"](),
                                                                                  trials, seed)
        worst_e3nn, worst_equigen = 0.0, 0.0
        for g in elements:
            rot = g.part(EuclideanPart).rotation
            r = measure_equivariance(fn, inputs, g, adapter.in_kinds, adapter.out_kinds)
            worst_equigen = max(worst_equigen, r.error)
            d_in = [ir.D_from_matrix(rot) for ir in adapter.irreps_in]
            d_out = [ir.D_from_matrix(rot) for ir in out_irreps]
            actual = fn(*(x @ d.T.to(x.dtype) for x, d in zip(inputs, d_in)))
            expected = [o @ d.T.to(o.dtype) for o, d in zip(fn(*inputs), d_out)]
            m_in = max(float(x.abs().max()) for x in inputs)
            for a, e in zip(actual, expected):
                scale = max(float(e.abs().max()), m_in)
                worst_e3nn = max(worst_e3nn, float((a - e).abs().max()) / scale)
        rows.append({"layer": adapter.name, "error_with_e3nn_D": worst_e3nn,
                     "error_with_equigen_wigner_d": worst_equigen, "tolerance": default_rtol(torch.float64),
                     "elements": len(elements)})
    return rows


# -------------------------------------------------------------------------------------
# Markdown
# -------------------------------------------------------------------------------------


def _fmt(cell: Cell | None, link_base: str | None) -> str:
    if cell is None:
        return "n/a"
    if cell.status == "error":
        text = f"**error**: {cell.message[:80]}"
    else:
        num = "NaN/Inf" if math.isnan(cell.error) else f"{cell.error:.1e}"
        mark = {"pass": "pass", "FAIL": "**FAIL**", "non-finite": "**NaN/Inf**", "skipped": "skipped"}[cell.status]
        text = f"{num} {mark}"
    if cell.script:
        if link_base is None:
            text += f" (script `{Path(cell.script).as_posix()}`)"
        else:
            text += f" ([script]({link_base}/{Path(cell.script).name}))"
    return text.replace("|", "\\|")


def _markdown(report: ConformanceReport, link_base: str | None = "counterexamples") -> str:
    modes = sorted({c.mode for c in report.cells}, key=["eager", "compiled"].index)
    dtypes = sorted({c.dtype for c in report.cells}, key=["float64", "float32"].index)
    cols = [(d, m) for m in modes for d in dtypes]
    lines = ["| model | symmetry | " + " | ".join(f"{d} {m}" for d, m in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    index = {(c.model, c.symmetry, c.dtype, c.mode): c for c in report.cells}
    seen = []
    for c in report.cells:
        if (c.model, c.symmetry) not in seen:
            seen.append((c.model, c.symmetry))
    for model, sym in seen:
        name = f"{model} (control)" if model in report.controls else model
        lines.append(f"| `{name}` | {sym} | " + " | ".join(_fmt(index.get((model, sym, d, m)), link_base)
                                                         for d, m in cols) + " |")
    out = ["\n".join(lines)]
    if report.skipped:
        out.append("**Not run here:**\n\n" + "\n".join(f"- `{k}`: {v}" for k, v in report.skipped.items()))
    notes = {k: v for k, v in report.notes.items() if v}
    if notes:
        out.append("**Adapter notes:**\n\n" + "\n".join(f"- `{k}`: {v}" for k, v in notes.items()))
    fails = report.failures()
    if fails:
        out.append("**Failures (non-control):**\n\n" + "\n".join(
            f"- `{c.model}` {c.symmetry} {c.dtype} {c.mode}: {c.status}, element [{c.counterexample}]: "
            f"{c.message[:300]}" for c in fails))
    study = report.studies.get("resolution")
    if study:
        rows = ["| layer | resolution | float64 error | float32 error |", "|---|---|---|---|"]
        rows += [f"| {r['layer']} | {r['resolution']} | {r['error_float64']:.1e} | {r['error_float32']:.1e} |"
                 for r in study]
        out.append("**Approximate e3nn activations: error vs grid resolution** (rotations and reflections, "
                   "edge cases + Haar samples, fixed inputs):\n\n" + "\n".join(rows))
    study = report.studies.get("e3nn_wigner")
    if study:
        rows = ["| layer | error with e3nn `D_from_matrix` | error with equigen `wigner_d` | float64 tolerance |",
                "|---|---|---|---|"]
        rows += [f"| {r['layer']} | {r['error_with_e3nn_D']:.1e} | {r['error_with_equigen_wigner_d']:.1e} | "
                 f"{r['tolerance']:.0e} |" for r in study]
        out.append("**The same float64 checks with e3nn's own Wigner D** (`Irreps.D_from_matrix`):\n\n"
                   + "\n".join(rows))
    meta = report.meta
    out.append(f"Measured with torch {meta.get('torch')}, {meta.get('versions')}, {meta.get('threads')} thread(s); "
               f"{meta.get('trials')} random elements after the edge cases per cell, {meta.get('max_examples')} "
               "hypothesis examples per eager cell.")
    return "\n\n".join(out) + "\n"


# -------------------------------------------------------------------------------------
# Command line
# -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="equigen-conformance",
                                description="Run equigen's testing kit against public equivariant models.")
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--quick", action="store_true", help="CI scale: eager only, 10 examples per cell")
    scale.add_argument("--full", action="store_true", help="eager and compiled, 40 examples per cell, studies")
    p.add_argument("--only", nargs="+", metavar="MODEL", help="adapter names (see --list)")
    p.add_argument("--list", action="store_true", help="list the adapters and exit")
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=list(DTYPES))
    p.add_argument("--modes", nargs="+", choices=["eager", "compiled"], help="override the preset")
    p.add_argument("--max-examples", type=int, help="hypothesis examples per eager cell (override)")
    p.add_argument("--trials", type=int, default=4, help="random elements per cell after the edge cases")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-studies", action="store_true", help="skip the resolution and Wigner-D studies")
    p.add_argument("--studies", action="store_true", help="run the studies even with --only")
    p.add_argument("--out", default="conformance-out", help="directory for results.json, table.md, scripts")
    p.add_argument("--scripts", help="directory for the counterexample scripts (default: OUT/counterexamples); "
                                     "outside OUT the table names them by path instead of linking them")
    p.add_argument("--markdown", help="also write the table (markdown) to this path")
    p.add_argument("--combine", nargs="+", metavar="RESULTS_JSON",
                   help="merge results.json files of earlier runs (e.g. eager, compiled, MACE's environment) "
                        "into --out, copying their counterexample scripts; runs nothing")
    return p


def _script_dir(args) -> Path:
    return Path(args.scripts) if args.scripts else Path(args.out) / "counterexamples"


def _link_base(args) -> str | None:
    """``counterexamples`` (relative links) when the scripts sit in OUT/counterexamples, else None (paths)."""
    scripts, out = _script_dir(args).resolve(), Path(args.out).resolve()
    return "counterexamples" if scripts == out / "counterexamples" else None


def _combine(args) -> int:
    out, scripts = Path(args.out), _script_dir(args)
    out.mkdir(parents=True, exist_ok=True)
    scripts.mkdir(parents=True, exist_ok=True)
    report = None
    for path in args.combine:
        part = ConformanceReport.from_dict(json.loads(Path(path).read_text()))
        for cell in part.cells:
            if cell.script:
                source = Path(cell.script)
                if not source.is_absolute() and not source.exists():
                    source = Path(path).parent / "counterexamples" / source.name
                target = scripts / source.name
                if source.resolve() != target.resolve():
                    text = source.read_text().replace(str(cell.script), target.as_posix())
                    target.write_text(text)
                cell.script = target.as_posix()
        report = part if report is None else report.merge(part)
    _write(report, out, args.markdown, _link_base(args))
    return 0


def _write(report: ConformanceReport, out: Path, markdown: str | None,
           link_base: str | None = "counterexamples") -> str:
    text = report.markdown(link_base)
    (out / "table.md").write_text(text)
    (out / "results.json").write_text(json.dumps(report.to_dict(), indent=1, default=str))
    if markdown:
        Path(markdown).write_text(text)
    return text


def main(argv=None) -> int:
    """``equigen check --conformance`` entry: run, print the table, write results; exit 1 on a
    non-control failure (controls must fail: exit 1 too if one passes)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _main(args)
    finally:
        torch.set_num_threads(threads)


def _main(args) -> int:
    if args.list:
        for a in adapters() + declared_adapters():
            ok, why = a.available()
            print(f"{a.name:40s} {a.library:16s} {'ok' if ok else 'unavailable: ' + why}")
        return 0
    if args.combine:
        return _combine(args)
    full = bool(args.full)
    modes = args.modes or (["eager", "compiled"] if full else ["eager"])
    max_examples = args.max_examples if args.max_examples is not None else (40 if full else 10)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        report = run_conformance(args.only, dtypes=tuple(args.dtypes), modes=tuple(modes), trials=args.trials,
                                 max_examples=max_examples, seed=args.seed, script_dir=_script_dir(args),
                                 progress=lambda s: print(s, flush=True),
                                 checkpoint=lambda r: _write(r, out, None, _link_base(args)))
    except ValueError as err:
        print(f"equigen conformance: {err}", file=sys.stderr)
        return 2
    if args.studies or (not args.no_studies and args.only is None):
        report.studies["resolution"] = resolution_study(trials=args.trials, seed=args.seed)
        report.studies["e3nn_wigner"] = e3nn_wigner_study(trials=args.trials, seed=args.seed)
    report.meta["total_s"] = time.perf_counter() - start
    report.meta["load"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    text = _write(report, out, args.markdown, _link_base(args))
    print(text)
    controls_passed = [c for c in report.cells if c.model in report.controls and c.passed
                       and c.symmetry in ("rotation", "translation")]
    return 1 if report.failures() or controls_passed else 0
