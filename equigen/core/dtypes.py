"""The two dtype defaults of equigen: ``dtype=None`` means float64 for physics, the torch default for learning.

* Physics (simulators, exact solvers, integrators, physical quantities, grids of wavenumbers,
  structures read from files): :func:`physics_dtype` -> ``torch.float64``.
* Learning (network parameters and the data a network is trained on as it comes out of a
  loader): :func:`learning_dtype` -> ``torch.get_default_dtype()`` (``torch.float32`` unless
  changed with ``torch.set_default_dtype``).
"""

from __future__ import annotations

import torch

__all__ = ["PHYSICS_DTYPE", "physics_dtype", "learning_dtype"]

PHYSICS_DTYPE = torch.float64


def physics_dtype(dtype: torch.dtype | None = None) -> torch.dtype:
    """``dtype``, or ``torch.float64`` when it is ``None``."""
    return PHYSICS_DTYPE if dtype is None else dtype


def learning_dtype(dtype: torch.dtype | None = None) -> torch.dtype:
    """``dtype``, or ``torch.get_default_dtype()`` when it is ``None``."""
    return torch.get_default_dtype() if dtype is None else dtype
