"""Looking adapters up: the built-in ones (:mod:`equigen.conformance.models`, registered on import),
those a user registers, and equigen's own layers declaring a symmetry."""

from __future__ import annotations

import equigen.conformance.models  # noqa: F401 - registers the built-in adapters
from equigen.conformance.adapters import Adapter, DeclaredAdapter, declared_adapters, registered

__all__ = ["get_adapter", "adapters"]


def get_adapter(name: str) -> Adapter | DeclaredAdapter:
    """The adapter called ``name``: registered (e.g. ``"pyg.SchNet"``) or an equigen layer declaring
    its symmetry (e.g. ``"equigen.EGNN"``)."""
    known = registered()
    if name in known:
        return known[name]
    declared = {a.name: a for a in declared_adapters()}
    if name not in declared:
        raise ValueError(f"no conformance adapter named {name!r}; known: "
                         f"{', '.join(sorted(known) + sorted(declared))}")
    return declared[name]


def adapters(*, include_controls: bool = True) -> list[Adapter]:
    """Every registered adapter, in registration order."""
    return [a for a in registered().values() if include_controls or not a.control]
