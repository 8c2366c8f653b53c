"""Write a bench run to ``results.json``, ``report.md`` and a self-contained ``report.html``.

The report opens with the claim -> verdict table built from every result's ``claims`` (the claim in
one sentence, the built-in model's figure, each twin's figure, the verdict and a link to the
evidence), then the run times, then one section per experiment: metrics as rows (name, value,
unit), tables (wide ones transposed), figures with their captions, notes; a footer gives versions,
machine, torch threads and load average. ``results`` may be :class:`~equigen.experiments.Result`
objects or their ``to_dict()`` form (e.g. read back from ``results.json``).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from pathlib import Path

__all__ = ["write_results", "write_report", "format_value", "claim_rows", "metric_rows"]

VERDICT_STYLE = {  # verdict -> (text colour, background)
    "reproduced": ("#116329", "#dafbe1"),
    "not reproduced": ("#a40e26", "#ffebe9"),
    "not converged": ("#7d4e00", "#fff8c5"),
    "no claim recorded": ("#57606a", "#f0f1f3"),
    "failed": ("#ffffff", "#a40e26"),
}
MACHINE_KEYS = ("equigen", "torch", "e3nn", "numpy", "scipy", "python", "platform", "cpu_count",
                "omp_wait_policy", "cuda_device")
_UNIT_IN_NAME = re.compile(r"^(.*\S)\s+\(([^()]+)\)\s*$")  # "force RMSE (eV/A)"; not "GAN(d_z=3)"
TRANSPOSE_COLUMNS = 7  # tables with more columns than this (and few rows) are shown transposed
TRANSPOSE_MAX_ROWS = 8


def format_value(v) -> str:
    """Numbers to 4 significant digits (lists and dicts element-wise); everything else as text."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {format_value(x)}" for k, x in v.items())
    return str(v)


def _json_default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "__fspath__"):
        return os.fspath(o)
    return str(o)


def _record(r) -> dict:
    """A result as a plain dict (``Result.to_dict()`` or an already-loaded dict)."""
    if isinstance(r, dict):
        return r
    if hasattr(r, "to_dict"):
        return r.to_dict()
    raise TypeError(f"results must hold Result objects or their to_dict() dicts, got {type(r).__name__}")


def write_results(results: list, out_dir: Path, meta: dict) -> Path:
    """``results.json``: run metadata plus every experiment's :meth:`Result.to_dict`."""
    path = Path(out_dir) / "results.json"
    payload = {"meta": meta, "experiments": [_record(r) for r in results]}
    path.write_text(json.dumps(payload, indent=2, default=_json_default, allow_nan=True))
    return path


# --------------------------------------------------------------------------------------------- content
def _anchor(name: str) -> str:
    return "exp-" + re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-")


def _unit(name: str, units: dict) -> tuple[str, str]:
    """``(display name, unit)`` of a metric: the ``units`` dict, a trailing ``(unit)``, or ``_s`` = seconds."""
    if name in units:
        return name, str(units[name])
    m = _UNIT_IN_NAME.match(name)
    if m:
        return m.group(1), m.group(2)
    if name.endswith("_s"):
        return name, "s"
    return name, ""


def metric_rows(metrics: dict, units: dict | None = None) -> list:
    """Metrics as rows ``{"metric", "value", "unit"}`` (units from ``units`` or derived from the name)."""
    rows = []
    for name, value in metrics.items():
        shown, unit = _unit(str(name), units or {})
        rows.append({"metric": shown, "value": value, "unit": unit})
    return rows


def claim_rows(results: list) -> list:
    """One row per claim of every result; a result without claims gives one "no claim recorded" row,
    and one that failed adds a "failed" row naming the stage and the error."""
    rows = []
    for r in map(_record, results):
        claims = r.get("claims") or []
        if r.get("error"):
            rows.append({"experiment": r["name"], "statement": "the experiment runs to the end", "metric": "",
                         "better": "", "builtin": None, "builtin_name": "", "twins": {}, "verdict": "failed",
                         "detail": f"failed in stage {r['error']}", "section": r["name"]})
        if not claims and not r.get("error"):
            rows.append({"experiment": r["name"], "statement": "", "metric": "", "better": "", "builtin": None,
                         "builtin_name": "", "twins": {}, "verdict": "no claim recorded",
                         "detail": "this experiment records no claim yet; its measurements are in its section",
                         "section": r["name"]})
            continue
        for c in claims:
            c = c if isinstance(c, dict) else _record(c)
            rows.append({"experiment": r["name"], **c, "section": c.get("section") or r["name"]})
    return rows


def _display_table(rows: list, transpose: bool = True) -> tuple[list, list]:
    """``(header, body)`` of a table of dict rows; wide tables with few rows are transposed."""
    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    if not transpose:
        return keys, [[r.get(k) for k in keys] for r in rows]
    if len(rows) == 1 and len(keys) > 3:
        return ["field", "value"], [[k, rows[0].get(k)] for k in keys]
    if len(keys) > TRANSPOSE_COLUMNS and len(rows) <= TRANSPOSE_MAX_ROWS:
        label = keys[0]
        return [label, *[format_value(r.get(label)) for r in rows]], [[k, *[r.get(k) for r in rows]]
                                                                      for k in keys[1:]]
    return keys, [[r.get(k) for k in keys] for r in rows]


def _footer_facts(records: list, meta: dict) -> list:
    versions = {}
    for r in records:
        for k in MACHINE_KEYS:
            v = (r.get("versions") or {}).get(k)
            if v not in (None, "") and k not in versions:
                versions[k] = v
    facts = [(k, versions[k]) for k in MACHINE_KEYS if k in versions]
    facts.append(("thread settings", meta.get("threads")))
    load = meta.get("load_average_end") or (list(os.getloadavg()) if hasattr(os, "getloadavg") else None)
    facts.append(("load average at the end of the run (1, 5, 15 min)", [round(x, 2) for x in load] if load else None))
    return [(k, v) for k, v in facts if v not in (None, "")]


def _run_rows(records: list) -> list:
    rows = []
    for r in records:
        t, v = r.get("timings") or {}, r.get("versions") or {}
        total, budget = t.get("total_s"), t.get("budget_s")
        load = v.get("load_average")
        rows.append({"experiment": r["name"], "time (s)": total, "budget (s)": budget,
                     "within budget": (total <= budget) if isinstance(total, (int, float)) and
                     isinstance(budget, (int, float)) else None,
                     "torch threads": v.get("torch_threads"),
                     "load average at start (1 min)": load[0] if load else None})
    return rows


def _figure(entry) -> tuple[str, str]:
    """``(path, caption)`` of a figure entry: a path, a :class:`Figure`, or ``{"path", "caption"}``."""
    if isinstance(entry, dict):
        return str(entry["path"]), str(entry.get("caption") or "")
    if hasattr(entry, "__fspath__"):
        return os.fspath(entry), str(getattr(entry, "caption", "") or "")
    return str(entry), ""


def _header_line(meta: dict) -> str:
    bits = [f"preset {meta.get('preset')}", f"seed {meta.get('seed')}",
            f"total {format_value(meta.get('total_s'))} s"]
    for key in ("device", "started"):
        if meta.get(key):
            bits.append(f"{key} {meta[key]}")
    return ", ".join(bits)


# --------------------------------------------------------------------------------------------- markdown
def _md_cell(v) -> str:
    text = v if isinstance(v, str) else format_value(v)
    return text.replace("|", "\\|").replace("\n", "<br>")


def _md_grid(header: list, body: list) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _md_table(rows: list, transpose: bool = True) -> str:
    if not rows:
        return "(no rows)\n"
    return _md_grid(*_display_table(rows, transpose))


def _twins_text(twins: dict, sep: str) -> str:
    return sep.join(f"{k}: {format_value(v)}" for k, v in (twins or {}).items())


def _markdown(records: list, meta: dict, claims: list) -> str:
    md = ["# equigen bench report", "", _header_line(meta), "", "## Claims and verdicts", ""]
    body = []
    for c in claims:
        metric = f"{c['metric']} ({c['better']} is better)" if c.get("better") else c.get("metric", "")
        builtin = format_value(c["builtin"]) if c.get("builtin") is not None else ""
        if c.get("builtin_name") and builtin:
            builtin = f"{c['builtin_name']}: {builtin}"
        verdict = f"**{c['verdict']}**" + (f": {c['detail']}" if c.get("detail") else "")
        body.append([c.get("statement") or "(no claim recorded)", metric, builtin,
                     _twins_text(c.get("twins"), "<br>"), verdict, f"[{c['section']}](#{_anchor(c['section'])})"])
    md.append(_md_grid(["claim", "metric", "built-in", "twins", "verdict", "section"], body))
    md += ["## Run times", "", _md_table(_run_rows(records), transpose=False)]
    for r in records:
        name = r["name"]
        md += [f'## <a id="{_anchor(name)}"></a>{name}', ""]
        if (meta.get("descriptions") or {}).get(name):
            md += [meta["descriptions"][name], ""]
        if r.get("metrics"):
            md += ["### Metrics", "", _md_grid(["metric", "value", "unit"],
                                              [list(m.values()) for m in metric_rows(r["metrics"], r.get("units"))])]
        for title, rows in (r.get("tables") or {}).items():
            md += [f"### {title}", "", _md_table(rows)]
        figures = [_figure(f) for f in r.get("figures") or []]
        if figures:
            md += ["### Figures", ""]
            for path, caption in figures:
                md += [f"![{caption or Path(path).name}]({Path(path).name})", ""]
                md += [f"*{caption}*" if caption else f"*{Path(path).name}*", ""]
        if r.get("notes"):
            md += ["### Notes", ""] + [f"- {n}" for n in r["notes"]] + [""]
    md += ["---", "", "Environment:", ""] + [f"- {k}: {format_value(v)}" for k, v in _footer_facts(records, meta)]
    return "\n".join(md) + "\n"


# --------------------------------------------------------------------------------------------- HTML
def _h(v) -> str:
    return html.escape(v if isinstance(v, str) else format_value(v))


def _html_grid(header: list, body: list, cls: str = "") -> str:
    head = "".join(f"<th>{_h(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>" for row in body)
    return f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def _html_table(rows: list, transpose: bool = True) -> str:
    if not rows:
        return "<p>(no rows)</p>"
    return _html_grid(*_display_table(rows, transpose))


def _verdict_badge(verdict: str) -> str:
    fg, bg = VERDICT_STYLE.get(verdict, VERDICT_STYLE["no claim recorded"])
    return f'<span class="verdict" style="color:{fg};background:{bg};border-color:{fg}">{html.escape(verdict)}</span>'


def _html_claims(claims: list) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("claim", "metric", "built-in", "twins / compared with", "verdict",
                                             "section"))
    body = []
    for c in claims:
        fg, bg = VERDICT_STYLE.get(c["verdict"], VERDICT_STYLE["no claim recorded"])
        link = f'<a href="#{_anchor(c["section"])}">{html.escape(str(c["section"]))}</a>'
        if c["verdict"] == "no claim recorded":
            body.append(f'<tr style="background:{bg}"><td class="claim"><i>{link}: no claim recorded</i></td>'
                        f'<td></td><td></td><td></td><td>{_verdict_badge(c["verdict"])}'
                        f'<div class="detail">{_h(c["detail"])}</div></td><td>{link}</td></tr>')
            continue
        arrow = {"lower": "lower is better", "higher": "higher is better"}.get(c.get("better"), "")
        builtin = "" if c.get("builtin") is None else _h(c["builtin"])
        if c.get("builtin_name"):
            builtin = f'<div class="who">{_h(c["builtin_name"])}</div><b>{builtin}</b>'
        twins = "".join(f'<div><span class="who">{_h(k)}</span> {_h(v)}</div>'
                        for k, v in (c.get("twins") or {}).items())
        body.append(f'<tr style="background:{bg}"><td class="claim">{_h(c["statement"])}</td>'
                    f'<td>{_metric_html(c["metric"])}<div class="detail">{arrow}</div></td>'
                    f'<td class="num">{builtin}</td>'
                    f'<td class="num">{twins}</td><td>{_verdict_badge(c["verdict"])}'
                    f'<div class="detail">{_h(c.get("detail") or "")}</div></td><td>{link}</td></tr>')
    return f'<table class="claims"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _metric_html(metric: str) -> str:
    m = _UNIT_IN_NAME.match(str(metric))
    if not m:
        return _h(metric)
    return f'{_h(m.group(1))} <span class="unit">({_h(m.group(2))})</span>'


def _counts(claims: list) -> str:
    counts = {}
    for c in claims:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    return " &middot; ".join(f"{_verdict_badge(v)} {n}" for v, n in counts.items())


STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1200px;margin:auto;padding:0.6em 1em;
     color:#1f2328;line-height:1.35}
h1{font-size:1.5em;margin:0.2em 0}h2{border-bottom:2px solid #d0d7de;padding-bottom:2px;margin-top:1.6em}
h3{font-size:1.05em;margin:1em 0 0.3em}
.meta{color:#57606a;font-size:0.9em;margin:0.2em 0 0.6em}
table{border-collapse:collapse;margin:0.4em 0;font-size:0.85em}
td,th{border:1px solid #d0d7de;padding:3px 7px;vertical-align:top;text-align:left}
th{background:#f6f8fa}
td{font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto;max-width:100%}
table.claims{width:100%;font-size:0.86em;table-layout:fixed}
table.claims th:nth-child(1){width:31%}table.claims th:nth-child(2){width:14%}
table.claims th:nth-child(3){width:12%}table.claims th:nth-child(4){width:16%}
table.claims th:nth-child(5){width:21%}table.claims th:nth-child(6){width:6%}
table.claims td{overflow-wrap:anywhere}
.unit{color:#57606a}
.who{color:#57606a;font-size:0.9em}
.verdict{display:inline-block;border:1px solid;border-radius:10px;padding:0 8px;font-weight:600;white-space:nowrap}
.detail{color:#57606a;font-size:0.88em;margin-top:2px}
figure{margin:0.8em 0;border:1px solid #d0d7de;padding:6px;border-radius:6px}
figcaption{font-size:0.9em;color:#1f2328;margin-top:4px}
img{max-width:100%}
ul.notes{font-size:0.9em;color:#3d444d}
details{font-size:0.85em;margin:0.4em 0}
footer{margin-top:2em;border-top:2px solid #d0d7de;font-size:0.82em;color:#57606a}
"""


def _html(records: list, meta: dict, claims: list, out_dir: Path) -> str:
    parts = ["<h1>equigen bench report</h1>", f'<p class="meta">{_h(_header_line(meta))}</p>',
             f'<h2 id="claims" style="margin-top:0.6em">Claims and verdicts</h2><p class="meta">{_counts(claims)}</p>',
             _html_claims(claims), "<h2>Run times</h2>", _html_table(_run_rows(records), transpose=False)]
    for r in records:
        name = r["name"]
        parts.append(f'<h2 id="{_anchor(name)}">{_h(name)}</h2>')
        if (meta.get("descriptions") or {}).get(name):
            parts.append(f"<p>{_h(meta['descriptions'][name])}</p>")
        own = [c for c in claims if c["section"] == name and c["verdict"] != "no claim recorded"]
        if own:
            parts.append("<p>" + "<br>".join(f"{_verdict_badge(c['verdict'])} {_h(c['statement'])}" for c in own)
                         + ' <a href="#claims">(claim table)</a></p>')
        if r.get("metrics"):
            parts.append("<h3>Metrics</h3>" + _html_grid(
                ["metric", "value", "unit"], [list(m.values()) for m in metric_rows(r["metrics"], r.get("units"))]))
        for title, rows in (r.get("tables") or {}).items():
            parts.append(f"<h3>{_h(title)}</h3>{_html_table(rows)}")
        for entry in r.get("figures") or []:
            path, caption = _figure(entry)
            p = Path(path) if Path(path).is_absolute() or Path(path).exists() else out_dir / Path(path).name
            label = caption or Path(path).name
            if p.exists():
                data = base64.b64encode(p.read_bytes()).decode()
                img = f'<img alt="{html.escape(label)}" src="data:image/png;base64,{data}">'
            else:
                img = f"<p>(figure file {html.escape(str(p))} not found)</p>"
            parts.append(f"<figure>{img}<figcaption><b>{html.escape(Path(path).name)}</b>"
                         f"{': ' + html.escape(caption) if caption else ''}</figcaption></figure>")
        if r.get("notes"):
            parts.append('<h3>Notes</h3><ul class="notes">' + "".join(f"<li>{_h(n)}</li>" for n in r["notes"])
                         + "</ul>")
        timings = r.get("timings") or {}
        if timings:
            parts.append("<details><summary>timings and config</summary>" + _html_grid(
                ["timing", "value", "unit"], [[k, v, "s" if k.endswith("_s") else ""] for k, v in timings.items()])
                + _html_table([{"setting": k, "value": v} for k, v in (r.get("config") or {}).items()])
                + "</details>")
    facts = "".join(f"<tr><th>{_h(k)}</th><td>{_h(v)}</td></tr>" for k, v in _footer_facts(records, meta))
    parts.append(f"<footer><h3>Environment</h3><table>{facts}</table></footer>")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>equigen bench report</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def write_report(results: list, out_dir: Path, meta: dict) -> tuple[Path, Path]:
    """``report.md`` and ``report.html`` (figures embedded as base64 PNG); returns both paths.

    ``meta``: run facts shown in the header (``preset``, ``seed``, ``total_s``, ``threads``; optional
    ``device``, ``started``, ``descriptions`` = ``{experiment: one-line description}``).
    """
    out_dir = Path(out_dir)
    records = [_record(r) for r in results]
    claims = claim_rows(records)
    md_path = out_dir / "report.md"
    md_path.write_text(_markdown(records, meta, claims))
    html_path = out_dir / "report.html"
    html_path.write_text(_html(records, meta, claims, out_dir))
    return md_path, html_path
