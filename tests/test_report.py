"""The bench report: claim -> verdict table first, metrics as rows with units, captions, footer."""

import json
import re

import pytest

from equigen.experiments import Result
from equigen.experiments.base import Figure, versions
from equigen.report import claim_rows, format_value, metric_rows, write_report, write_results


def _png(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [1, 0])
    fig.savefig(path)
    plt.close(fig)
    return str(path)


@pytest.fixture
def results(tmp_path):
    a = Result("alpha", {"steps": 10}, 0, versions=versions())
    a.metrics.update({"force RMSE (eV/A)": 0.25, "train_s": 3.5, "D2": 2.05, "range": [0.04, 0.29]})
    a.units["D2"] = "dimensionless"
    a.tables["sweep"] = [{"model": "EGNN", "rmse": 0.25}, {"model": "MLP", "rmse": 1.5}]
    a.tables["wide"] = [{f"col{i}": i / 7 for i in range(12)}]
    a.add_claim("EGNN predicts forces better than the MLP twin.", "force RMSE (eV/A)", 0.25,
                {"MLP": 1.5, "MLP + rotation aug.": 0.9}, "reproduced", builtin_name="EGNN", detail="6x lower")
    a.add_claim("The pair model conserves energy better.", "energy drift (%)", 3.0, {"HNN": 1.0}, "not reproduced",
                detail="HNN drifts less")
    a.add_claim("Sampling reaches the reference.", "W1 (eV)", 2.5, {"MLP": 3.0}, "not converged",
                detail="not converged at quick scale; the full preset trains 20000 steps")
    a.figures.append(_png(tmp_path / "old-style.png"))
    a.add_figure(_png(tmp_path / "captioned.png"), "Look for: the EGNN curve falls below the MLP's.")
    a.notes.append("a note <with> markup")
    a.timings.update({"total_s": 12.0, "budget_s": 30.0})
    b = Result("beta", {}, 0, versions=versions())
    b.metrics["count"] = 3
    b.timings.update({"total_s": 50.0, "budget_s": 40.0})
    return [a, b]


META = {"preset": "quick", "seed": 0, "total_s": 62.0, "threads": "torch threads=2", "started": "2026-01-01 00:00 UTC",
        "descriptions": {"alpha": "EGNN vs MLP"}, "load_average_end": [1.5, 1.0, 0.5]}


def test_claim_rows_cover_every_claim_and_experiments_without_one(results):
    rows = claim_rows(results)
    assert [r["verdict"] for r in rows] == ["reproduced", "not reproduced", "not converged", "no claim recorded"]
    assert rows[-1]["experiment"] == "beta" and rows[0]["section"] == "alpha"
    assert claim_rows([r.to_dict() for r in results]) == rows  # dicts (results.json) work the same


def test_metric_rows_give_units():
    rows = {r["metric"]: r for r in metric_rows({"force RMSE (eV/A)": 1.0, "train_s": 2.0, "D2": 2.0, "n": 3},
                                                {"D2": "dimensionless"})}
    assert rows["force RMSE"]["unit"] == "eV/A" and rows["train_s"]["unit"] == "s"
    assert rows["D2"]["unit"] == "dimensionless" and rows["n"]["unit"] == ""
    assert format_value([0.123456, 2]) == "[0.1235, 2]"


def test_html_opens_with_the_claim_table(results, tmp_path):
    _, html_path = write_report(results, tmp_path, META)
    html = html_path.read_text()
    claims_at, first_section = html.index('<table class="claims">'), html.index('id="exp-alpha"')
    assert claims_at < first_section and claims_at < html.index("Run times")
    table = html[claims_at:html.index("</table>", claims_at)]
    assert table.count("<tr") == 5  # header + 3 claims + "no claim recorded"
    for text in ("EGNN predicts forces better", "0.25", "MLP + rotation aug.", "0.9", "lower is better",
                 "not reproduced", "not converged at quick scale", "no claim recorded", 'href="#exp-alpha"',
                 'href="#exp-beta"', 'force RMSE <span class="unit">(eV/A)</span>'):
        assert text in table, text
    assert "#dafbe1" in table and "#ffebe9" in table and "#fff8c5" in table  # verdict colours


def test_html_sections_metrics_tables_figures_footer(results, tmp_path):
    _, html_path = write_report(results, tmp_path, META)
    html = html_path.read_text()
    alpha = html[html.index('id="exp-alpha"'):html.index('id="exp-beta"')]
    assert "<th>metric</th><th>value</th><th>unit</th>" in alpha
    assert "<td>force RMSE</td><td>0.25</td><td>eV/A</td>" in alpha
    assert "<td>train_s</td><td>3.5</td><td>s</td>" in alpha
    wide = alpha[alpha.index("<h3>wide</h3>"):]
    wide = wide[:wide.index("</table>")]
    assert "<th>field</th><th>value</th>" in wide and wide.count("<tr>") == 13  # 12 columns became rows
    assert alpha.count("data:image/png;base64,") == 2  # old string entry and captioned entry
    assert "Look for: the EGNN curve falls below the MLP&#x27;s." in alpha
    assert "a note &lt;with&gt; markup" in alpha
    footer = html[html.index("<footer>"):]
    import torch

    assert torch.__version__ in footer and "load average" in footer and "[1.5, 1, 0.5]" in footer
    assert "torch threads=2" in footer


def test_markdown_mirrors_the_structure(results, tmp_path):
    md_path, _ = write_report(results, tmp_path, META)
    md = md_path.read_text()
    order = [md.index(s) for s in ("## Claims and verdicts", "## Run times", '<a id="exp-alpha">',
                                   '<a id="exp-beta">', "Environment:")]
    assert order == sorted(order)
    claims = md[order[0]:order[1]]
    assert "**reproduced**: 6x lower" in claims and "[alpha](#exp-alpha)" in claims and "no claim recorded" in claims
    assert "| force RMSE | 0.25 | eV/A |" in md
    assert "![Look for: the EGNN curve falls below the MLP's.](captioned.png)" in md
    assert "(old-style.png)" in md


def test_results_json_keeps_claims_units_and_captions(results, tmp_path):
    path = write_results(results, tmp_path, META)
    data = json.loads(path.read_text())
    alpha = data["experiments"][0]
    assert alpha["claims"][0]["twins"] == {"MLP": 1.5, "MLP + rotation aug.": 0.9}
    assert alpha["units"] == {"D2": "dimensionless"}
    assert alpha["figures"][1]["caption"].startswith("Look for")
    # a report can be written again from what results.json holds
    again = tmp_path / "again"
    again.mkdir()
    _, html_path = write_report(data["experiments"], again, data["meta"])
    assert re.search(r"EGNN predicts forces better", html_path.read_text())


def test_figure_entries_act_as_paths(tmp_path):
    import os

    f = Figure(str(tmp_path / "x.png"), "caption")
    assert os.fspath(f) == str(tmp_path / "x.png")


def test_records_must_be_results_or_dicts(tmp_path):
    with pytest.raises(TypeError, match="Result objects"):
        write_report([42], tmp_path, META)


def test_model_names_in_parentheses_are_not_units():
    rows = metric_rows({"steps GAN(d_z=3)": 10, "D2 [GAN(d_z=2)] (dimensionless)": 2.0})
    assert rows[0] == {"metric": "steps GAN(d_z=3)", "value": 10, "unit": ""}
    assert rows[1]["unit"] == "dimensionless" and rows[1]["metric"] == "D2 [GAN(d_z=2)]"
