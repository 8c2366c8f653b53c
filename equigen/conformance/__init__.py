"""Conformance: equigen's testing kit run against public equivariant models it did not write.

* :class:`Adapter` / :class:`Output`: how a model is built, fed from a point cloud or irreps
  features, and what each output is (data, a few lines per model; see
  :mod:`equigen.conformance.models` for PyG, e3nn and MACE).
* :func:`run_conformance`: the table model x symmetry x dtype x eager/compiled, with every
  failure shrunk and saved as a reproducing script; :func:`main` is the command line
  (``python -m equigen.conformance --quick``).
* :func:`adapter_from_declared` / :func:`declared_adapters`: equigen's own layers, from the
  ``symmetry`` they declare.
"""

from equigen.conformance.adapters import (
    SYMMETRIES,
    Adapter,
    AdapterError,
    DeclaredAdapter,
    Output,
    Reflections,
    adapter_from_declared,
    declared_adapters,
    register,
)
from equigen.conformance.registry import adapters, get_adapter
from equigen.conformance.report import (
    Cell,
    ConformanceReport,
    e3nn_wigner_study,
    element_code,
    main,
    resolution_study,
    run_cell,
    run_conformance,
    write_script,
)

__all__ = [
    "Adapter",
    "AdapterError",
    "DeclaredAdapter",
    "Output",
    "Reflections",
    "SYMMETRIES",
    "register",
    "get_adapter",
    "adapters",
    "adapter_from_declared",
    "declared_adapters",
    "Cell",
    "ConformanceReport",
    "run_conformance",
    "run_cell",
    "write_script",
    "element_code",
    "resolution_study",
    "e3nn_wigner_study",
    "main",
]
