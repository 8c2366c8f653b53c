"""Conformance suite: adapters drive public models (PyG, e3nn) through the testing kit."""

import functools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from equigen.conformance import (
    Adapter,
    AdapterError,
    Output,
    adapter_from_declared,
    adapters,
    e3nn_wigner_study,
    element_code,
    get_adapter,
    main,
    run_cell,
    run_conformance,
)
from equigen.conformance.models import pyg_radius_graph, triplets
from equigen.conformance.report import Cell, ConformanceReport
from equigen.groups import E3, SO3, Element, EuclideanPart, PermutationPart, Permutations
from equigen.symmetry import Symmetry
from equigen.testing import measure_equivariance

ROOT = Path(__file__).resolve().parents[2]


def _brute_triplets(edge_index):
    row, col = edge_index.tolist()
    out = set()
    for ji, (j, i) in enumerate(zip(row, col)):
        for kj, (k, j2) in enumerate(zip(row, col)):
            if j2 == j and k != i:
                out.add((i, j, k, kj, ji))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pure_torch_triplets_match_a_brute_force_enumeration(seed):
    gen = torch.Generator().manual_seed(seed)
    pos = torch.randn(9, 3, generator=gen, dtype=torch.float64)
    batch = torch.tensor([0] * 5 + [1] * 4)
    edge_index = pyg_radius_graph(pos, 1.8, batch=batch)
    i, j, idx_i, idx_j, idx_k, idx_kj, idx_ji = triplets(edge_index, 9)
    assert torch.equal(i, edge_index[1]) and torch.equal(j, edge_index[0])
    got = set(zip(idx_i.tolist(), idx_j.tolist(), idx_k.tolist(), idx_kj.tolist(), idx_ji.tolist()))
    assert len(got) == idx_i.numel()  # no duplicates
    assert got == _brute_triplets(edge_index) and len(got) > 0


def test_radius_graph_stand_in_has_pyg_semantics():
    gen = torch.Generator().manual_seed(3)
    pos = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    batch = torch.tensor([0] * 6 + [1] * 4)
    e = pyg_radius_graph(pos, 1.5, batch=batch, max_num_neighbors=32)
    want = {(s, t) for s in range(10) for t in range(10) if s != t and batch[s] == batch[t]
            and float((pos[s] - pos[t]).norm()) < 1.5}
    assert set(zip(e[0].tolist(), e[1].tolist())) == want
    loops = pyg_radius_graph(pos, 1.5, batch=batch, loop=True)
    assert loops.shape[1] == e.shape[1] + 10
    with pytest.raises(ValueError, match="flow"):
        pyg_radius_graph(pos, 1.5, flow="target_to_source")


def test_registry_covers_the_public_models():
    names = {a.name for a in adapters()}
    for want in ("pyg.SchNet", "pyg.DimeNet", "pyg.DimeNetPlusPlus", "pyg.ViSNet", "e3nn.Gate", "e3nn.BatchNorm",
                 "e3nn.NormActivation", "e3nn.FullyConnectedTensorProduct", "e3nn.Linear", "mace.MACE"):
        assert want in names
    assert any(n.startswith("e3nn.S2Activation") for n in names)
    assert any(n.startswith("e3nn.SO3Activation") for n in names)
    with pytest.raises(ValueError, match="no conformance adapter named 'nope'"):
        get_adapter("nope")


def test_quick_conformance_passes_for_schnet_and_e3nn_layers():
    report = run_conformance(["pyg.SchNet", "e3nn.Gate", "e3nn.FullyConnectedTensorProduct"],
                             trials=2, max_examples=3)
    assert not report.skipped
    assert len(report.cells) == (4 + 3 + 3) * 2
    for cell in report.cells:
        assert cell.status == "pass", cell
        assert cell.error <= cell.tolerance
        if cell.dtype == "float64" and cell.symmetry != "translation":
            assert cell.error < 1e-12, cell  # float64 rounding, far below the 1e-10 tolerance
    table = report.markdown()
    assert "| `pyg.SchNet` | rotation |" in table and "float32 eager" in table


@functools.cache
def _function(name, dtype=torch.float64):
    return get_adapter(name).function(dtype=dtype)


def _assert_not_trivially_constant(names):
    """A check that cannot fail proves nothing: energies and forces must depend on the geometry."""
    for name in names:
        adapter = get_adapter(name)
        fn = _function(name)
        z, pos, batch = adapter.example(dtype=torch.float64)
        energy, forces = fn(z, pos, batch)
        energy2, _ = fn(z, pos * 1.1, batch)
        assert energy.shape == (2, 1) and forces.shape == (9, 3)
        assert float((energy - energy2).abs().max()) > 1e-6, name
        assert float(forces.abs().max()) > 1e-6, name
        g = E3().sample(generator=torch.Generator().manual_seed(1))
        report = measure_equivariance(fn, (z, pos, batch), g, adapter.in_kinds, adapter.out_kinds)
        assert report.passed and report.error < 1e-12, (name, report)


def test_molecule_outputs_are_not_trivially_constant():
    _assert_not_trivially_constant(("pyg.SchNet", "pyg.ViSNet"))


@pytest.mark.slow
def test_dimenet_outputs_are_not_trivially_constant():
    _assert_not_trivially_constant(("pyg.DimeNet", "pyg.DimeNetPlusPlus"))  # ~10 s each to build (sympy)


def _run_script(script):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_WAIT_POLICY="PASSIVE")
    return subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


FIXTURE_SCRIPTS = ROOT / "tests" / "fixtures" / "conformance_counterexamples"


def test_committed_control_script_reproduces_its_failure():
    """The table's scripts are test data: the Gate control's still exits 1 with the recorded failure."""
    script = FIXTURE_SCRIPTS / "control_Gate_x_abs_x__rotation__float64__eager.py"
    run = _run_script(script)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "reproduced: FAILED" in run.stdout


def test_combine_with_scripts_outside_out_names_them_by_path(tmp_path):
    """``--scripts`` outside ``--out``: the scripts are copied there and the table names their paths (no links)."""
    source = FIXTURE_SCRIPTS / "control_Gate_x_abs_x__rotation__float64__eager.py"
    report = ConformanceReport(cells=[Cell(model="control.Gate", symmetry="rotation", dtype="float64", mode="eager",
                                           status="FAIL", error=0.16, tolerance=1e-10,
                                           script=source.relative_to(ROOT).as_posix())])
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "results.json").write_text(json.dumps(report.to_dict()))
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        assert main(["--combine", str(tmp_path / "in" / "results.json"), "--out", str(tmp_path / "docs"),
                     "--scripts", str(tmp_path / "data")]) == 0
    finally:
        os.chdir(cwd)
    copied = tmp_path / "data" / source.name
    assert copied.exists() and f"python {copied.as_posix()}" in copied.read_text()
    table = (tmp_path / "docs" / "table.md").read_text()
    assert f"(script `{copied.as_posix()}`)" in table and "](" not in table


def test_gate_control_fails_with_a_one_row_reproducing_script(tmp_path):
    adapter = get_adapter("control.Gate(x*abs(x))")
    cell = run_cell(adapter, "rotation", torch.float64, compiled=False, trials=1, max_examples=5, script_dir=tmp_path)
    assert cell.status == "FAIL" and cell.script
    text = Path(cell.script).read_text()
    assert text.count("\n    torch.tensor([[") == 1 and "], [" not in text.split("inputs = (")[1].split(")\n")[0]
    run = _run_script(cell.script)
    assert run.returncode == 1 and "reproduced" in run.stdout, run.stdout + run.stderr


@pytest.mark.slow
def test_control_fails_with_a_shrunk_reproducing_script(tmp_path):
    adapter = get_adapter("control.SchNet+absolute-x")
    cell = run_cell(adapter, "rotation", torch.float64, compiled=False, trials=2, max_examples=10,
                    script_dir=tmp_path)
    assert cell.status == "FAIL" and cell.error > 1e-4
    script = Path(cell.script)
    assert script.exists()
    pos_line = [ln for ln in script.read_text().splitlines() if ln.startswith("    torch.tensor([[")]
    assert len(pos_line) == 1 and pos_line[0].count("], [") <= 2  # shrunk to at most 3 atoms
    run = _run_script(script)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "reproduced" in run.stdout
    perm = run_cell(adapter, "permutation", torch.float64, compiled=False, trials=2, max_examples=4,
                    script_dir=tmp_path)
    assert perm.status == "pass"  # the broken term is permutation invariant: only what is broken fails


def test_gate_control_fails_rotation_but_passes_permutation():
    adapter = get_adapter("control.Gate(x*abs(x))")
    assert run_cell(adapter, "rotation", torch.float64, compiled=False, trials=2, max_examples=0).status == "FAIL"
    assert run_cell(adapter, "permutation", torch.float64, compiled=False, trials=2, max_examples=0).status == "pass"


class _Lin(torch.nn.Module):
    def forward(self, x):
        return x[:, :2]


def _bad(forward, outputs=(Output("features", "1x0e", per="node"),)):
    return Adapter(name="test.Bad", library="test", domain="features", build=lambda: torch.nn.Linear(1, 1),
                   forward=forward, irreps_in=("2x0e",), outputs=outputs)


def test_adapter_errors_name_the_model_and_the_output():
    x = torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(AdapterError, match=r"model test.Bad, output 'features' has shape \(4, 2\)"):
        _bad(lambda m, x: x).function()(x)
    with pytest.raises(AdapterError, match="model test.Bad returned dict"):
        _bad(lambda m, x: {"e": x}).function()(x)
    with pytest.raises(AdapterError, match="returned 2 outputs but its adapter declares 1"):
        _bad(lambda m, x: (x[:, :1], x)).function()(x)
    with pytest.raises(AdapterError, match="output 'features' is NoneType, not a tensor: the adapter cannot classify"):
        _bad(lambda m, x: (None,)).function()(x)
    with pytest.raises(AdapterError, match="first axis must be 4"):
        _bad(lambda m, x: x[:3, :1]).function()(x)
    with pytest.raises(AdapterError, match="dtype torch.int64"):
        _bad(lambda m, x: x[:, :1].long()).function()(x)
    with pytest.raises(ValueError, match=r"Output\('e'\).kind"):
        Output("e", "spinors")
    with pytest.raises(ValueError, match="per="):
        Output("e", "scalars", per="edge")
    with pytest.raises(ValueError, match="forces=True needs a molecule"):
        Adapter(name="t", library="t", domain="features", build=_Lin, forward=None, irreps_in=("1x0e",),
                outputs=(Output("e"),), forces=True)
    with pytest.raises(ValueError, match="symmetries"):
        Adapter(name="t", library="t", domain="features", build=_Lin, forward=None, irreps_in=("1x0e",),
                outputs=(Output("e", per="node"),), symmetries=("translation",))
    with pytest.raises(ValueError, match="domain"):
        Adapter(name="t", library="t", domain="grid", build=_Lin, forward=None, outputs=(Output("e"),))
    with pytest.raises(AdapterError, match="not a torch.nn.Module"):
        Adapter(name="t", library="t", domain="features", build=lambda: 3, forward=None, irreps_in=("1x0e",),
                outputs=(Output("e", per="node"),)).make_model()


def test_molecule_adapter_rejects_wrong_energy_shape():
    adapter = Adapter(name="test.PerNodeEnergy", library="test", domain="molecule", build=lambda: torch.nn.Identity(),
                      forward=lambda m, z, pos, batch: pos.sum(-1, keepdim=True), outputs=(Output("energy"),))
    z, pos, batch = adapter.example()
    with pytest.raises(AdapterError, match=r"test.PerNodeEnergy, output 'energy' has shape \(9, 1\); declared per "
                                           r"graph, so its first axis must be 2"):
        adapter.function()(z, pos, batch)
    cell = run_cell(adapter, "rotation", torch.float64, compiled=False, trials=1, max_examples=0)
    assert cell.status == "error" and "PerNodeEnergy" in cell.message


def test_visnet_float64_needs_the_default_dtype_workaround():
    """Upstream finding: PyG 2.8.1's ViSNet Distance allocates edge weights in the default dtype, so a
    float64 model fails unless the default dtype is float64. If this starts passing, PyG fixed it."""
    adapter = get_adapter("pyg.ViSNet")
    model = adapter.make_model(dtype=torch.float64)
    z, pos, batch = adapter.example(dtype=torch.float64)
    from equigen.conformance.adapters import _patched

    with _patched(adapter.patches), pytest.raises(RuntimeError, match="dtypes match"):
        model(z, pos, batch)
    energy, forces = adapter.function(dtype=torch.float64, model=model)(z, pos, batch)
    assert energy.dtype == torch.float64 and forces.shape == (9, 3)


class _DeclaredToy(torch.nn.Module):
    """A stand-in for an equigen layer: declares E(3) x permutation invariance."""

    symmetry = Symmetry(lambda: E3() * Permutations(), ("nodes", "positions"), ("nodes",))

    def forward(self, h, pos):
        d = torch.cdist(pos, pos)
        return h * torch.exp(-d).sum(-1, keepdim=True)

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        h = torch.randn(5, 2, generator=generator, dtype=torch.float64).to(dtype)
        pos = torch.randn(5, 3, generator=generator, dtype=torch.float64).to(dtype)
        return cls(), (h, pos)


def test_equigen_layers_join_in_one_line():
    adapter = adapter_from_declared(_DeclaredToy)
    assert adapter.symmetries == ("rotation", "reflection", "translation", "permutation")
    report = run_conformance([adapter], trials=2, max_examples=0)
    assert [c.status for c in report.cells] == ["pass"] * 8
    with pytest.raises(TypeError, match="does not declare"):
        adapter_from_declared(_Lin)


def test_element_code_round_trips():
    gen = torch.Generator().manual_seed(0)
    g = (E3().sample(generator=gen).compose(Element(PermutationPart("random", seed=5)))
         .compose(Element(PermutationPart("swap"))))
    h = Element(EuclideanPart(SO3().sample(generator=gen).part(EuclideanPart).rotation), label="a label")
    pos = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    namespace = {"torch": torch, "Element": Element, "EuclideanPart": EuclideanPart, "PermutationPart": PermutationPart}
    for element in (g, h):
        rebuilt = eval(element_code(element), namespace)  # noqa: S307 - our own generated source
        assert torch.equal(rebuilt.act(pos, "positions"), element.act(pos, "positions"))
    assert "a label" in repr(eval(element_code(h), namespace))  # noqa: S307


def test_e3nn_wigner_d_is_only_float32_accurate_and_the_kit_does_not_use_it():
    tp, lin = e3nn_wigner_study([get_adapter("e3nn.FullyConnectedTensorProduct"), get_adapter("e3nn.Linear")],
                                trials=2)
    assert tp["error_with_equigen_wigner_d"] < 1e-13
    assert 1e-10 < tp["error_with_e3nn_D"] < 1e-5  # e3nn's D makes the exact tensor product look broken
    # Linear mixes copies of one irrep: it commutes with any matrix applied to each copy, even an
    # inaccurate D, so it cannot show the error
    assert lin["error_with_e3nn_D"] < 1e-13 and lin["error_with_equigen_wigner_d"] < 1e-13


def test_e3nn_tensor_product_cast_to_float64_keeps_float32_coefficients():
    """Finding: built in float32 and cast with .double(), FullyConnectedTensorProduct is exact only to
    ~1e-9 in float64; built with the float64 default dtype (as e3nn documents) it is exact."""
    errors = {}
    for name in ("e3nn.FullyConnectedTensorProduct", "e3nn.FullyConnectedTensorProduct[cast]"):
        cell = run_cell(get_adapter(name), "rotation", torch.float64, compiled=False, trials=2, max_examples=0)
        errors[name] = cell.error
    assert errors["e3nn.FullyConnectedTensorProduct"] < 1e-13
    assert 1e-10 < errors["e3nn.FullyConnectedTensorProduct[cast]"] < 1e-6


def test_approximate_activation_error_shrinks_with_resolution():
    from equigen.conformance.models import s2_activation
    from equigen.conformance.report import _fixed

    errors = []
    for res in (10, 60):
        adapter = Adapter(name=f"t.S2[{res}]", library="e3nn", domain="features", build=lambda r=res: s2_activation(r),
                          forward=lambda m, x: m(x), irreps_in=("0e+1o+2e",), default_dtype=True,
                          outputs=(Output("f", "0e+1o+2e", per="node"),))
        worst, *_ = _fixed(adapter.function(), adapter.example(), adapter.group("rotation"), adapter.in_kinds,
                           adapter.out_kinds, 2, 0)
        errors.append(worst)
    assert errors[0] > 1e-4 and errors[1] < 1e-8, errors


def test_mace_row_is_skipped_with_a_reason_where_mace_does_not_import():
    adapter = get_adapter("mace.MACE")
    ok, why = adapter.available()
    if ok:
        pytest.skip("mace imports here: its row runs")
    report = run_conformance(["mace.MACE"], max_examples=0)
    assert report.cells == [] and "mace" in report.skipped["mace.MACE"]


def test_command_line(tmp_path, capsys):
    assert main(["--list"]) == 0
    assert "pyg.SchNet" in capsys.readouterr().out
    out = tmp_path / "out"
    code = main(["--quick", "--only", "e3nn.Linear", "--max-examples", "3", "--out", str(out),
                 "--markdown", str(tmp_path / "t.md")])
    assert code == 0
    assert (out / "results.json").exists() and "| `e3nn.Linear` | rotation |" in (tmp_path / "t.md").read_text()
    assert main(["--only", "nope", "--out", str(out)]) == 2
    threads = torch.get_num_threads()
    code = main(["--only", "control.Gate(x*abs(x))", "--max-examples", "0", "--dtypes", "float64", "--out", str(out)])
    assert code == 0  # controls are expected to fail; only a passing control or a failing model exits 1
    assert "**FAIL**" in (out / "table.md").read_text()
    assert torch.get_num_threads() == threads  # restored


@pytest.mark.slow
def test_compiled_schnet_and_linear_pass():
    report = run_conformance(["pyg.SchNet", "e3nn.Linear"], modes=("compiled",), trials=2, max_examples=0)
    for cell in report.cells:
        assert cell.status == "pass", cell
        assert not math.isnan(cell.error)


def test_activation_adapters_declare_the_irreps_e3nn_uses():
    from equigen.conformance.models import _S2_IRREPS, _SO3_IRREPS, e3nn_irreps, s2_activation, so3_activation

    assert e3nn_irreps(s2_activation(10)) == ((_S2_IRREPS,), _S2_IRREPS)
    x = torch.randn(2, _SO3_IRREPS.dim)
    assert so3_activation(6)(x).shape == (2, _SO3_IRREPS.dim)
