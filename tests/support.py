"""Helpers shared by equigen's test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def equigen_command() -> list[str]:
    """The ``equigen`` console script if installed, else ``python -m equigen.cli``."""
    exe = shutil.which("equigen")
    return [exe] if exe else [sys.executable, "-m", "equigen.cli"]


def run_equigen(*args: str, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``equigen ARGS`` in a subprocess; stdout and stderr captured as text."""
    return subprocess.run([*equigen_command(), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
