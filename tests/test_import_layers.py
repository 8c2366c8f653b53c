"""The import direction of equigen's subpackages, read from the source (module- and function-level imports).

Layers, bottom first; a module may import its own subpackage and any lower layer, nothing in its
own layer's other subpackages and nothing above. ``core`` is the bottom layer (it imports no other
part of equigen); ``data`` and ``metrics`` import only ``core``, ``kinds``, ``groups`` and ``geometry``.
Import cycles between modules are listed in ``KNOWN_CYCLES``: the list may only shrink (a new
cycle fails, and so does a listed one that has gone).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "equigen"

LAYERS = [
    {"core"},
    {"_configurable", "kinds"},
    {"groups"},
    {"symmetry", "__init__"},  # ``__init__``: the package root ``equigen`` itself (version, groups, kinds)
    {"geometry"},
    {"data", "metrics", "train", "testing"},
    {"nn", "dynamics", "io"},
    {"generative"},
    {"conformance", "experiments"},
    {"report"},
    {"cli"},
]
RESTRICTED = {name: {"core", "kinds", "groups", "geometry"} for name in ("data", "metrics")}

# (importing module, imported module) pairs that break the layer rule today.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()

# Groups of modules that import each other (none now: a new one fails the test).
KNOWN_CYCLES: set[frozenset[str]] = set()


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        is_pkg = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_pkg else parts)
        yield name, (name if is_pkg else name.rsplit(".", 1)[0]), path


def _imports(package: str, path: pathlib.Path) -> set[str]:
    """Every ``equigen`` name an import (statement or literal ``import_module``) anywhere in the file reaches."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            out.update(f"{module}.{a.name}" for a in node.names)  # a submodule, or a name in ``module``
        elif (isinstance(node, ast.Call) and node.args
              and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.add(node.args[0].value)  # ``importlib.import_module("equigen.x")`` with a literal name
    return {m for m in out if m == "equigen" or m.startswith("equigen.")}


def _graph() -> dict[str, set[str]]:
    """Module -> the equigen modules it imports (names resolved to existing modules)."""
    mods = {name: (pkg, path) for name, pkg, path in _modules()}
    graph = {}
    for name, (pkg, path) in mods.items():
        targets = set()
        for m in _imports(pkg, path):
            while m not in mods:  # ``equigen.x.Name`` (not a module): the module is ``equigen.x``
                m = m.rsplit(".", 1)[0]
            if m != name:
                targets.add(m)
        graph[name] = targets
    return graph


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _rank(unit: str) -> int:
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"subpackage {unit!r} is in no layer: add it to LAYERS in {__file__}")


def _allowed(src: str, dst: str) -> bool:
    if src == dst:
        return True
    if src in RESTRICTED:
        return dst in RESTRICTED[src]
    return _rank(dst) < _rank(src)


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return set(out)


def subpackage_graph() -> dict[str, set[str]]:
    """Top-level subpackage -> the other subpackages it imports (for reports)."""
    out: dict[str, set[str]] = {}
    for src, targets in _graph().items():
        out.setdefault(_unit(src), set()).update(_unit(t) for t in targets if _unit(t) != _unit(src))
    return out


def test_every_subpackage_has_a_layer():
    for unit in subpackage_graph():
        _rank(unit)


def test_import_direction():
    found = {(src, dst) for src, targets in _graph().items() for dst in targets
             if not _allowed(_unit(src), _unit(dst))}
    new = found - KNOWN_VIOLATIONS
    assert not new, f"imports against the layer order (lower layers may not import higher ones): {sorted(new)}"
    gone = KNOWN_VIOLATIONS - found
    assert not gone, f"listed violations no longer present; remove them from KNOWN_VIOLATIONS: {sorted(gone)}"


def test_core_imports_only_core():
    bad = {(src, dst) for src, targets in _graph().items() if _unit(src) == "core"
           for dst in targets if _unit(dst) != "core"}
    assert not bad, f"equigen.core must import nothing else of equigen: {sorted(bad)}"


def test_import_cycles_only_shrink():
    found = _cycles(_graph())
    new = found - KNOWN_CYCLES
    assert not new, f"new import cycles: {[sorted(c) for c in new]}"
    gone = KNOWN_CYCLES - found
    assert not gone, f"listed cycles no longer present; remove them from KNOWN_CYCLES: {[sorted(c) for c in gone]}"


@pytest.mark.parametrize("src, dst, ok", [("nn", "core", True), ("core", "nn", False), ("data", "nn", False),
                                           ("data", "geometry", True), ("nn", "dynamics", False),
                                           ("generative", "nn", True), ("nn", "generative", False)])
def test_rule_itself(src, dst, ok):
    assert _allowed(src, dst) is ok


if __name__ == "__main__":
    for unit, targets in sorted(subpackage_graph().items()):
        print(f"{unit:14s} -> {', '.join(sorted(targets))}")
    print("cycles:", [sorted(c) for c in _cycles(_graph())])
