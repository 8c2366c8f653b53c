"""Fixtures shared by equigen's tests, which mirror the package (``tests/<subpackage>/test_<module>.py``).

The hypothesis profiles (derandomized ``equigen-ci`` by default, heavier ones by ``EQUIGEN_HYPOTHESIS_PROFILE``)
come from equigen's pytest plugin (``equigen.testing.plugin``), which users' test suites get too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.support import ROOT


@pytest.fixture(params=[torch.float64, torch.float32], ids=["float64", "float32"])
def dtype(request) -> torch.dtype:
    """Both floating dtypes a symmetry claim is tested in (float64 to ~1e-10, float32 to ~1e-5)."""
    return request.param


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (docs/, tests/, equigen/)."""
    return ROOT


@pytest.fixture
def generator():
    """``generator(seed)``: a fresh seeded CPU ``torch.Generator``."""
    return lambda seed=0: torch.Generator().manual_seed(seed)
