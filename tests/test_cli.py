"""The CLI through its real entry point."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args, cwd=None):
    exe = shutil.which("equigen")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "equigen.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)


def test_help_and_version():
    out = _run("--help")
    assert out.returncode == 0 and "bench" in out.stdout and "examples" in out.stdout
    out = _run("--version")
    assert out.returncode == 0 and "equigen" in out.stdout


def test_list():
    out = _run("list")
    assert out.returncode == 0 and "symmetry-kit" in out.stdout


def test_bench_only_writes_json_png_html(tmp_path: Path):
    out = _run("bench", "--quick", "--only", "symmetry-kit", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "results.json").read_text())
    exp = data["experiments"][0]
    assert exp["name"] == "symmetry-kit" and exp["metrics"]["broken_caught"] == exp["metrics"]["broken_maps"]
    assert exp["metrics"]["correct_passed"] == exp["metrics"]["correct_maps"]
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "symmetry-kit" in html
    assert (tmp_path / "report.md").exists()


@pytest.mark.parametrize("args", [["bench", "--only", "nope"], ["frobnicate"], ["bench", "--quick", "--full"]])
def test_bad_arguments_exit_nonzero(args, tmp_path):
    out = _run(*args, "--out", str(tmp_path)) if args[0] == "bench" and "nope" in args else _run(*args)
    assert out.returncode != 0
    assert out.stderr
