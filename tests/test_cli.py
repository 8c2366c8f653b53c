"""The CLI through its real entry point."""

import json
from pathlib import Path

import pytest

from tests.support import run_equigen


def _run(*args, cwd=None):
    return run_equigen(*args, cwd=cwd)


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


def test_check_passes_a_correct_layer():
    out = _run("check", "equigen.testing.reference_maps:pairwise_distances", "--group", "E3", "--in", "positions",
               "--invariant", "--examples", "10")
    assert out.returncode == 0, out.stdout + out.stderr
    results = [line.split()[-1] for line in out.stdout.splitlines() if line.startswith("float")]
    assert results == ["PASS", "PASS"], out.stdout


def test_check_fails_a_broken_layer_with_its_counterexample():
    out = _run("check", "equigen.testing.reference_maps:anisotropic_z", "--group", "SO3", "--in", "vectors",
               "--out", "vectors", "--dtype", "float64", "--examples", "10")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAIL" in out.stdout and "180 deg" in out.stdout


def test_check_a_module_class_from_a_file(tmp_path):
    layer = tmp_path / "my_layer.py"
    layer.write_text(
        "import torch\n"
        "class Centred(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.w = torch.nn.Linear(4, 1)\n"
        "    def forward(self, pos, h):\n"
        "        return (pos - pos.mean(0)) * self.w(h)\n")
    out = _run("check", f"{layer}:Centred", "--group", "SE3*Permutations", "--in", "positions,nodes",
               "--out", "vectors", "--examples", "10")
    assert out.returncode == 0, out.stdout + out.stderr
    out = _run("check", f"{layer}:Centred", "--group", "SE3*Permutations", "--in", "positions,nodes",
               "--out", "positions", "--examples", "10", "--dtype", "float64")
    assert out.returncode == 1 and "translation" in out.stdout, out.stdout + out.stderr


def test_check_import_failure_exits_3_and_sees_the_targets_folder(tmp_path):
    out = _run("check", "nope:x", "--group", "SE3", "--in", "positions", "--invariant")
    assert out.returncode == 3 and "cannot import" in out.stderr, out.stderr
    (tmp_path / "broken_layer.py").write_text("import torch\nraise RuntimeError('boom')\n")
    out = _run("check", f"{tmp_path / 'broken_layer.py'}:f", "--group", "SE3", "--in", "positions", "--invariant")
    assert out.returncode == 3 and "boom" in out.stderr, out.stderr
    # a target file importing its neighbour; the grid defaults to the group's one axis
    (tmp_path / "helpers.py").write_text("import torch\ndef smooth(u):\n"
                                         "    return 0.5 * u + 0.25 * (u.roll(1, -1) + u.roll(-1, -1))\n")
    (tmp_path / "fno.py").write_text("from helpers import smooth\ndef block(u):\n    return smooth(u)\n")
    out = _run("check", f"{tmp_path / 'fno.py'}:block", "--group", "GridShifts1*GridReflections1", "--in", "field",
               "--out", "field", "--examples", "10", "--min-size", "4", cwd=str(Path.home()))
    assert out.returncode == 0, out.stdout + out.stderr


def test_check_finds_a_bug_above_25_nodes_and_in_batches(tmp_path):
    """A layer on torch.cdist's default (a matrix-product formula above 25 points) fails a large
    translation; a batch-wide centroid fails per-graph motions; --rtol can accept a known error."""
    (tmp_path / "layers.py").write_text(
        "import torch\n"
        "def energy(pos):\n    d = torch.cdist(pos, pos)\n"
        "    return torch.where(d > 0, torch.exp(-d), 0.0).sum().reshape(1)  # self pairs: d == 0?\n"
        "def centred(pos, batch):\n    return pos - pos.mean(0)\n")
    out = _run("check", f"{tmp_path / 'layers.py'}:energy", "--group", "E3", "--in", "positions", "--invariant",
               "--examples", "10", "--dtype", "float64")
    assert out.returncode == 1, out.stdout + out.stderr
    out = _run("check", f"{tmp_path / 'layers.py'}:energy", "--group", "E3", "--in", "positions", "--invariant",
               "--examples", "10", "--dtype", "float64", "--rtol", "1")
    assert out.returncode == 0, out.stdout + out.stderr
    out = _run("check", f"{tmp_path / 'layers.py'}:centred", "--group", "E3", "--in", "positions,batch",
               "--out", "vectors", "--examples", "10", "--dtype", "float64")
    assert out.returncode == 1 and "FAIL" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("args, message", [
    (["equigen.testing.reference_maps:pairwise_distances", "--group", "SE9X", "--in", "positions",
      "--invariant"], "unknown"),
    (["equigen.testing.reference_maps:pairwise_distances", "--group", "E3", "--in", "spinors", "--invariant"],
     "in_kinds"),
    (["equigen.testing.reference_maps:pairwise_distances", "--group", "E3", "--in", "positions"], "--out"),
    (["equigen.testing.reference_maps", "--group", "E3"], "MODULE:CALLABLE"),
])
def test_check_usage_errors(args, message):
    out = _run("check", *args)
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_check_conformance_lists_public_models():
    out = _run("check", "--conformance", "--list")
    assert out.returncode == 0, out.stderr
    assert "pyg.SchNet" in out.stdout and "e3nn.Gate" in out.stdout and "equigen.EGNN" in out.stdout


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error without CUDA")
def test_bench_on_cuda_without_cuda_exits_2(tmp_path):
    out = _run("bench", "--only", "symmetry-kit", "--device", "cuda", "--out", str(tmp_path))
    assert out.returncode == 2 and "no CUDA device" in out.stderr
