"""Adapters: how the testing kit drives a model that equigen did not write.

An :class:`Adapter` says, as data, how a public model is built (seeded weights), how its inputs
are made from a point cloud or from irreps features, what each of its outputs is (an invariant
per-graph energy, per-node force vectors, irreps features) and which symmetries it claims. It
turns the model into a plain function ``fn(*inputs) -> tuple of tensors`` for
:func:`equigen.testing.measure_equivariance` and :func:`equigen.testing.check_equivariant`, and
checks every output's type and shape, naming the model and the output when something is wrong.

Two input domains cover the public models:

* ``"molecule"``: inputs ``(z, pos, batch)``: atom types ``(N,)`` long (kind "nodes"),
  positions ``(N, 3)`` (kind "positions", any length unit), graph index ``(N,)`` long (kind
  "batch"). Symmetries: rotation, reflection, translation, permutation (within graphs).
* ``"features"``: inputs are e3nn irreps features ``(N, irreps.dim)``, one tensor per entry of
  ``irreps_in``. Symmetries: rotation, reflection, permutation of the rows.

Adding a model is a few lines (see :mod:`equigen.conformance.models`)::

    register(Adapter(
        name="pyg.SchNet", library="torch_geometric", domain="molecule",
        build=lambda: SchNet(hidden_channels=16, cutoff=3.0),
        forward=lambda model, z, pos, batch: model(z, pos, batch),
        outputs=(Output("energy", "scalars", per="graph"),), forces=True))

equigen's own layers join through :func:`adapter_from_declared`, which reads the ``symmetry``
and ``symmetry_example`` every public layer declares (one line per layer, or none with
:func:`declared_adapters`).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from e3nn import o3
from hypothesis import assume
from hypothesis import strategies as st

from equigen.groups import (
    O3,
    SO3,
    Element,
    EuclideanPart,
    Group,
    Permutations,
    Translations,
    haar_orthogonal,
)
from equigen.kinds import normalize_kind
from equigen.nn.tensor_product import default_dtype
from equigen.testing import strategies as gst

__all__ = [
    "Output",
    "Adapter",
    "AdapterError",
    "Reflections",
    "SYMMETRIES",
    "register",
    "registered",
    "adapter_from_declared",
    "declared_adapters",
]


class AdapterError(ValueError):
    """A model's outputs do not match what its adapter declares (count, type or shape)."""


class Reflections(Group):
    """The improper elements of O(3) (det = -1), so a reflection column tests reflections only.

    Not a subgroup (two reflections make a rotation); a set of elements to check. Edge cases:
    the three coordinate mirrors and the inversion ``-I``; samples: ``-R`` for Haar ``R``.
    """

    name = "Reflections(3)"

    def identity(self) -> Element:
        return Element(EuclideanPart(dim=3), label="identity")

    def sample(self, *, generator=None, dtype=None, device=None) -> Element:
        r = haar_orthogonal(3, proper=True, generator=generator)
        return Element(EuclideanPart(-r))

    def edge_cases(self) -> list[Element]:
        out = []
        for k, axis in enumerate("xyz"):
            m = torch.eye(3, dtype=torch.float64)
            m[k, k] = -1
            out.append(Element(EuclideanPart(m), label=f"reflection {axis} -> -{axis}"))
        out.append(Element(EuclideanPart(-torch.eye(3, dtype=torch.float64)), label="inversion -I"))
        return out


#: The symmetry columns of the conformance table: name -> group factory.
SYMMETRIES: dict[str, Callable[[], Group]] = {
    "rotation": SO3,
    "reflection": Reflections,
    "translation": lambda: Translations(3),
    "permutation": Permutations,
}

_DOMAIN_SYMMETRIES = {
    "molecule": ("rotation", "reflection", "translation", "permutation"),
    "features": ("rotation", "reflection", "permutation"),
}


@dataclass(frozen=True)
class Output:
    """One output of a model: ``name``, ``kind`` ("scalars", "vectors", "pseudovectors" or an
    e3nn Irreps) and ``per`` ("graph": leading axis = graphs; "node": leading axis = nodes)."""

    name: str
    kind: object = "scalars"
    per: str = "graph"

    def __post_init__(self):
        object.__setattr__(self, "kind", normalize_kind(self.kind, argument=f"Output({self.name!r}).kind"))
        if self.per not in ("graph", "node"):
            raise ValueError(f"Output({self.name!r}).per={self.per!r}: use 'graph' or 'node'")


@contextlib.contextmanager
def _patched(patches):
    """Temporarily replace module attributes: ``(("pkg.mod", "name", value), ...)``."""
    saved = []
    try:
        for module, attr, value in patches:
            mod = importlib.import_module(module)
            saved.append((mod, attr, getattr(mod, attr)))
            setattr(mod, attr, value)
        yield
    finally:
        for mod, attr, value in reversed(saved):
            setattr(mod, attr, value)


def _default_dtype(dtype, enabled: bool):
    return default_dtype(dtype) if enabled else contextlib.nullcontext()


@dataclass
class Adapter:
    """How the kit drives one model (see the module doc).

    Args:
        name: ``"library.Model"``, unique in the registry.
        library: the package the model comes from (its version is reported).
        domain: "molecule" or "features".
        build: ``() -> torch.nn.Module``; called under a seeded RNG, then cast to the dtype.
        forward: ``(model, *inputs) -> tensor or tuple``; the model's own call convention.
        outputs: one :class:`Output` per tensor ``forward`` returns.
        forces: append ``-dE/dpos`` (autograd, per node, kind "vectors") of the first output.
        irreps_in: for "features": one Irreps per input tensor.
        symmetries: the claimed columns; default: every column of the domain.
        patches: module attributes replaced during the call (e.g. the radius graph function a
            model calls, when its own needs an extension that is not installed).
        default_dtype: run the call with ``torch.set_default_dtype(dtype)`` (a workaround for
            models that allocate tensors in the default dtype).
        atom_types: atomic numbers drawn for "molecule" inputs.
        min_distance: the closest two atoms may be in generated inputs (length unit of pos).
        requires: modules that must import for the model to run (else the row is skipped).
        control: a deliberately broken twin that shows the kit can fail on this kind of model.
        note: what the adapter changes or assumes, printed in the table.
    """

    name: str
    library: str
    domain: str
    build: Callable[[], torch.nn.Module]
    forward: Callable
    outputs: tuple
    forces: bool = False
    irreps_in: tuple = ()
    symmetries: tuple | None = None
    patches: tuple = ()
    default_dtype: bool = False
    atom_types: tuple = (1, 6, 7, 8)
    min_distance: float = 0.5
    max_atoms: int = 8
    requires: tuple = ()
    control: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.domain not in _DOMAIN_SYMMETRIES:
            raise ValueError(f"adapter {self.name}: domain={self.domain!r}; use 'molecule' or 'features'")
        if not self.outputs:
            raise ValueError(f"adapter {self.name}: declare at least one Output")
        for i, o in enumerate(self.outputs):
            if not isinstance(o, Output):
                raise TypeError(f"adapter {self.name}: outputs[{i}] must be an Output, got {type(o).__name__}")
        self.irreps_in = tuple(o3.Irreps(i) for i in self.irreps_in)
        if self.domain == "features" and not self.irreps_in:
            raise ValueError(f"adapter {self.name}: a 'features' adapter needs irreps_in")
        allowed = _DOMAIN_SYMMETRIES[self.domain]
        if self.symmetries is None:
            self.symmetries = allowed
        bad = [s for s in self.symmetries if s not in allowed]
        if bad:
            raise ValueError(f"adapter {self.name}: symmetries {bad} do not apply to domain {self.domain} "
                             f"(use {allowed})")
        if self.forces and (self.domain != "molecule" or self.outputs[0].kind != "scalars"):
            raise ValueError(f"adapter {self.name}: forces=True needs a molecule model whose first output "
                             "is a scalar energy")

    # ---------------------------------------------------------------------------------
    @property
    def in_kinds(self) -> tuple:
        if self.domain == "molecule":
            return ("nodes", "positions", "batch")
        return self.irreps_in

    @property
    def all_outputs(self) -> tuple:
        extra = (Output("forces", "vectors", per="node"),) if self.forces else ()
        return tuple(self.outputs) + extra

    @property
    def out_kinds(self) -> tuple:
        return tuple(o.kind for o in self.all_outputs)

    def available(self) -> tuple[bool, str]:
        """``(True, "")``, or ``(False, why)`` when a required module does not import."""
        for module in self.requires:
            try:
                importlib.import_module(module)
            except Exception as err:  # ImportError, or a broken install raising anything
                return False, f"{module} does not import: {type(err).__name__}: {err}"
        return True, ""

    def group(self, symmetry: str) -> Group:
        if symmetry not in SYMMETRIES:
            raise ValueError(f"symmetry={symmetry!r}; use one of {tuple(SYMMETRIES)}")
        return SYMMETRIES[symmetry]()

    # ---------------------------------------------------------------------------------
    def make_model(self, *, dtype=torch.float64, device=None, seed: int = 0) -> torch.nn.Module:
        """Build the model with weights drawn from ``seed`` (global RNG state is restored)."""
        with torch.random.fork_rng(devices=[]), _default_dtype(dtype, self.default_dtype):
            torch.manual_seed(seed)
            model = self.build()
        if not isinstance(model, torch.nn.Module):
            raise AdapterError(f"adapter {self.name}: build() returned {type(model).__name__}, not a torch.nn.Module")
        return model.to(dtype=dtype, device=device)

    def function(self, *, dtype=torch.float64, device=None, seed: int = 0, compiled: bool = False,
                 model: torch.nn.Module | None = None) -> Callable:
        """The model as ``fn(*inputs) -> tuple of tensors`` (outputs in :attr:`all_outputs` order).

        ``compiled=True`` wraps the model in ``torch.compile`` (forces still by autograd).
        """
        model = self.make_model(dtype=dtype, device=device, seed=seed) if model is None else model
        target = torch.compile(model) if compiled else model

        def fn(*inputs):
            inputs = tuple(x.detach().clone() for x in inputs)
            with _patched(self.patches), _default_dtype(dtype, self.default_dtype):
                if self.forces:
                    inputs[1].requires_grad_(True)
                    with torch.enable_grad():
                        out = self._check(self.forward(target, *inputs), inputs)
                        (grad,) = torch.autograd.grad(out[0].sum(), inputs[1])
                    return tuple(o.detach() for o in out) + (-grad.detach(),)
                out = self._check(self.forward(target, *inputs), inputs)
            return tuple(o.detach() for o in out)

        fn.__name__ = self.name + (" (compiled)" if compiled else "")
        return fn

    def _check(self, out, inputs) -> tuple:
        """Check count, type and shape of every output; raise AdapterError naming it."""
        if isinstance(out, torch.Tensor):
            out = (out,)
        if not isinstance(out, (tuple, list)):
            raise AdapterError(f"model {self.name} returned {type(out).__name__}; its adapter needs a tensor "
                               f"or a tuple of {len(self.outputs)} tensors ({self._names()})")
        if len(out) != len(self.outputs):
            raise AdapterError(f"model {self.name} returned {len(out)} outputs but its adapter declares "
                               f"{len(self.outputs)} ({self._names()})")
        n_nodes = inputs[0].shape[0]
        n_graphs = (int(inputs[2].max()) + 1 if inputs[2].numel() else 0) if self.domain == "molecule" else None
        for o, spec in zip(out, self.outputs):
            where = f"model {self.name}, output '{spec.name}'"
            if not isinstance(o, torch.Tensor):
                raise AdapterError(f"{where} is {type(o).__name__}, not a tensor: the adapter cannot classify it "
                                   f"(declared kind {spec.kind}, per {spec.per})")
            if not o.is_floating_point():
                raise AdapterError(f"{where} has dtype {o.dtype}; a declared {spec.kind} output must be floating")
            lead = n_nodes if spec.per == "node" else n_graphs
            if lead is not None and (o.dim() == 0 or o.shape[0] != lead):
                raise AdapterError(f"{where} has shape {tuple(o.shape)}; declared per {spec.per}, so its first "
                                   f"axis must be {lead} ({'nodes' if spec.per == 'node' else 'graphs'})")
            if spec.kind == "scalars":
                continue
            width = spec.kind.dim if isinstance(spec.kind, o3.Irreps) else 3
            if o.shape[-1] != width or (spec.per == "node" and o.dim() != 2):
                raise AdapterError(f"{where} has shape {tuple(o.shape)}; kind {spec.kind} per {spec.per} needs "
                                   f"({'N' if spec.per == 'node' else 'B'}, {width})")
        return tuple(out)

    def _names(self) -> str:
        return ", ".join(f"{o.name}: {o.kind}" for o in self.outputs)

    # ---------------------------------------------------------------------------------
    def example(self, *, dtype=torch.float64, seed: int = 0) -> tuple:
        """Fixed inputs: two molecules (5 and 4 atoms) or 6 rows of irreps features."""
        gen = torch.Generator().manual_seed(seed)
        if self.domain == "features":
            return tuple(torch.randn(6, ir.dim, generator=gen, dtype=torch.float64).to(dtype)
                         for ir in self.irreps_in)
        sizes = (5, 4)
        pos = _spread(torch.randn(sum(sizes), 3, generator=gen, dtype=torch.float64), self.min_distance)
        batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
        types = torch.tensor(self.atom_types)
        z = types[torch.randint(0, len(types), (sum(sizes),), generator=gen)]
        return z, pos.to(dtype), batch

    def inputs(self, dtype) -> st.SearchStrategy:
        """Hypothesis strategy for inputs: molecules (1-2 graphs, gaussian, collinear, planar or
        clustered layouts, atoms at least ``min_distance`` apart) or irreps features (1-8 rows)."""
        if self.domain == "features":
            seeds = st.lists(st.integers(0, 2**32 - 1), min_size=len(self.irreps_in), max_size=len(self.irreps_in))
            return st.tuples(st.integers(1, 8), seeds).map(lambda ns: tuple(
                torch.randn(ns[0], ir.dim, generator=torch.Generator().manual_seed(s), dtype=torch.float64).to(dtype)
                for ir, s in zip(self.irreps_in, ns[1])))
        return _molecules(self, dtype)

    def __repr__(self) -> str:
        return f"Adapter({self.name})"


def _distances(pos: torch.Tensor) -> torch.Tensor:
    """Pairwise distances by differences: ``torch.cdist``'s default switches to a matrix-product
    formula above 25 points, whose rounding (``sqrt`` of cancellation) is not rigid-motion invariant."""
    return torch.cdist(pos, pos, compute_mode="donot_use_mm_for_euclid_dist")


def _spread(pos: torch.Tensor, min_distance: float) -> torch.Tensor:
    """Scale a cloud so that its closest pair is at least ``min_distance`` apart."""
    if pos.shape[0] < 2:
        return pos
    d = _distances(pos) + torch.eye(pos.shape[0], dtype=pos.dtype) * 1e300
    closest = float(d.min())
    return pos * (min_distance / closest) if 0 < closest < min_distance else pos


@st.composite
def _molecules(draw, adapter: Adapter, dtype):
    layout = st.sampled_from(["gaussian", "collinear", "planar", "clustered"])
    pos, batch = draw(gst.point_clouds(min_points=2, max_points=adapter.max_atoms, dtype=torch.float64, scale=1.5,
                                       layout=layout, with_batch=True, max_graphs=2))
    same = batch[:, None] == batch[None, :]
    d = _distances(pos)[same & ~torch.eye(pos.shape[0], dtype=torch.bool)]
    assume(d.numel() == 0 or float(d.min()) >= adapter.min_distance)
    seed = draw(st.integers(0, 2**32 - 1))
    types = torch.tensor(adapter.atom_types)
    z = types[torch.randint(0, len(types), (pos.shape[0],), generator=torch.Generator().manual_seed(seed))]
    return z, pos.to(dtype), batch


# -------------------------------------------------------------------------------------
# Registry
# -------------------------------------------------------------------------------------

_REGISTRY: dict[str, Adapter] = {}


def registered() -> dict[str, Adapter]:
    """The adapters registered so far, by name (:mod:`equigen.conformance.registry` adds the built-in ones)."""
    return dict(_REGISTRY)


def register(adapter: Adapter) -> Adapter:
    """Add an adapter to the registry (its name must be new)."""
    if not isinstance(adapter, Adapter):
        raise TypeError(f"register() needs an Adapter, got {type(adapter).__name__}")
    if adapter.name in _REGISTRY:
        raise ValueError(f"an adapter named {adapter.name!r} is already registered")
    _REGISTRY[adapter.name] = adapter
    return adapter


# -------------------------------------------------------------------------------------
# equigen's own layers (they declare `symmetry` and `symmetry_example`)
# -------------------------------------------------------------------------------------


#: A declared factor gets a column when it includes this group (reflections: all of O(3)).
_COLUMN_SUBGROUPS: dict[str, Callable[[], Group]] = {
    "rotation": SO3,
    "reflection": O3,
    "translation": lambda: Translations(3),
    "permutation": Permutations,
}


def _columns_of(group: Group) -> tuple:
    """The conformance columns a declared group claims, factor by factor (:meth:`Group.includes`)."""
    subgroups = {col: make() for col, make in _COLUMN_SUBGROUPS.items()}
    return tuple(col for f in group.factors for col, sub in subgroups.items() if f.includes(sub))


@dataclass
class DeclaredAdapter:
    """An equigen layer driven through its own ``symmetry`` / ``symmetry_example`` declaration.

    Only fixed-input checks (edge cases and Haar samples) apply: the example supplies the inputs.
    """

    cls: type
    name: str = ""
    control: bool = False
    note: str = "equigen layer (declared symmetry)"
    library: str = "equigen"
    domain: str = "declared"

    def __post_init__(self):
        self.name = self.name or f"equigen.{self.cls.__qualname__}"
        sym = self.cls.symmetry
        self.symmetries = _columns_of(sym.make_group())
        self.in_kinds = sym.in_kinds
        self.out_kinds = sym.out_kinds

    def available(self):
        return True, ""

    def group(self, symmetry: str) -> Group:
        return SYMMETRIES[symmetry]()

    def function_and_example(self, *, dtype, seed=0, compiled=False):
        fn, inputs = self.cls.symmetry_example(dtype=dtype, generator=torch.Generator().manual_seed(seed))
        if compiled:
            fn = torch.compile(fn)
        return fn, inputs


def adapter_from_declared(cls) -> DeclaredAdapter:
    """Adapter for an equigen class that declares ``symmetry`` and ``symmetry_example``."""
    from equigen.symmetry import Symmetry

    if not isinstance(getattr(cls, "symmetry", None), Symmetry) or not callable(getattr(cls, "symmetry_example", None)):
        raise TypeError(f"{getattr(cls, '__name__', cls)} does not declare `symmetry` and `symmetry_example`")
    return DeclaredAdapter(cls)


def declared_adapters() -> list[DeclaredAdapter]:
    """Adapters for every equigen class declaring a symmetry with a 3-D Euclidean or permutation
    factor (found the way ``tests/test_symmetry_sweep.py`` finds them)."""
    import inspect
    import pkgutil

    import equigen
    from equigen.symmetry import Symmetry

    found = []
    for info in pkgutil.walk_packages(equigen.__path__, "equigen."):
        if info.name.startswith(("equigen.cli", "equigen.experiments", "equigen.conformance")):
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception:  # an optional dependency missing: that module's layers are skipped
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if isinstance(getattr(cls, "symmetry", None), Symmetry) and cls.__module__ == module.__name__:
                adapter = adapter_from_declared(cls)
                if adapter.symmetries:
                    found.append(adapter)
    return found



