"""The tutorials in docs/tutorials run as written: their code blocks are extracted and executed in order.

``python`` blocks run in one shared namespace, ``bash`` blocks are ``equigen ...`` command lines
(run through :func:`equigen.cli.main`, which must return 0), and a block with a ``title="name"``
(the YAML config) is written to that file first. The checks below read what the page's own
code computed.
"""

import re
import shlex
from pathlib import Path

import pytest

from equigen.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks(page: str):
    """``(language, title or None, code)`` of every fenced block of ``page`` (a file in docs/tutorials)."""
    text = (DOCS / page).read_text()
    out = []
    for lang, info, code in FENCE.findall(text):
        title = re.search(r'title="([^"]+)"', info)
        out.append((lang, title.group(1) if title else None, code))
    return out


def run_page(page: str, workdir: Path, *, edit=None) -> dict:
    """Execute the code of ``page`` in ``workdir``; ``edit(title, text) -> text`` may change titled files."""
    namespace = {"__name__": "__tutorial__"}
    ran = []
    for lang, title, code in blocks(page):
        if title is not None:
            (workdir / title).write_text(edit(title, code) if edit else code)
        elif lang == "python":
            exec(compile(code, f"{page}:python", "exec"), namespace)
        elif lang == "bash":
            for line in code.strip().splitlines():
                argv = shlex.split(line)
                assert argv[0] == "equigen", f"{page}: only equigen commands run in the tests, got {line!r}"
                assert main(argv[1:]) == 0, f"{page}: {line!r} failed"
        else:
            continue
        ran.append(lang)
    return {"namespace": namespace, "ran": ran}


def _check_own_data(run, capsys):
    ns = run["namespace"]
    assert run["ran"].count("python") == 3 and run["ran"].count("bash") == 2
    out = capsys.readouterr().out
    # MD with the trained model: total energy conserved to well under a meV per atom over 100 steps
    assert abs(ns["drift"]) / ns["n_atoms"] < 1e-3 and ns["max_dev"] / ns["n_atoms"] < 1e-3, out
    rows = {r["model"]: r for r in ns["rows"]}
    assert list(rows) == ["egnn", "flat-mlp", "distance-mlp"]
    # train and compare report the same figure for the same seed and budget
    assert rows["egnn"]["force_mae"] == pytest.approx(ns["trained"], rel=1e-12)
    # the trained force field has learned the forces: well below predicting zero (0.83 eV/Angstrom)
    assert rows["egnn"]["force_mae"] < 0.5
    assert all(r["steps"] == rows["egnn"]["steps"] for r in rows.values())
    return rows, out


def test_own_data_tutorial(tmp_path, monkeypatch, capsys):
    pytest.importorskip("ase")
    monkeypatch.chdir(tmp_path)
    run = run_page("own-data.md", tmp_path)
    rows, _ = _check_own_data(run, capsys)
    assert rows["egnn"]["steps"] == 150
    assert (tmp_path / "cu-compare" / "report.html").exists()


@pytest.mark.slow
def test_own_data_tutorial_full_budget(tmp_path, monkeypatch, capsys):
    """The same page with a four times larger training budget (the 'raise steps' advice of the page)."""
    pytest.importorskip("ase")
    monkeypatch.chdir(tmp_path)
    run = run_page("own-data.md", tmp_path,
                   edit=lambda title, text: re.sub(r"steps: \d+", "steps: 600", text))
    rows, out = _check_own_data(run, capsys)
    assert rows["egnn"]["steps"] == 600
    with capsys.disabled():
        print(out)
