"""Write a bench run to ``results.json``, ``report.md`` and a self-contained ``report.html``."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

__all__ = ["write_results", "write_report", "format_value"]


def format_value(v) -> str:
    """Numbers to 4 significant digits; everything else as text."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return f"{v:.4g}"
    return str(v)


def _json_default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def write_results(results: list, out_dir: Path, meta: dict) -> Path:
    """``results.json``: run metadata plus every experiment's :meth:`Result.to_dict`."""
    path = Path(out_dir) / "results.json"
    payload = {"meta": meta, "experiments": [r.to_dict() for r in results]}
    path.write_text(json.dumps(payload, indent=2, default=_json_default, allow_nan=True))
    return path


def _md_table(rows: list) -> str:
    if not rows:
        return "(no rows)\n"
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(format_value(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _html_table(rows: list) -> str:
    if not rows:
        return "<p>(no rows)</p>"
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(format_value(r.get(k)))}</td>" for k in keys) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(results: list, out_dir: Path, meta: dict) -> tuple[Path, Path]:
    """``report.md`` and ``report.html`` (figures embedded as base64 PNG)."""
    out_dir = Path(out_dir)
    md = ["# equigen bench report", "", f"Preset: {meta.get('preset')}, seed {meta.get('seed')}, "
          f"total {format_value(meta.get('total_s'))} s, threads {meta.get('threads')}", ""]
    md += ["| experiment | time (s) | budget (s) |", "|---|---|---|"]
    md += [f"| {r.name} | {format_value(r.timings.get('total_s'))} | {format_value(r.timings.get('budget_s'))} |"
           for r in results]
    parts = [f"<h1>equigen bench report</h1><p>Preset <b>{html.escape(str(meta.get('preset')))}</b>, seed "
             f"{meta.get('seed')}, total {format_value(meta.get('total_s'))} s, threads {meta.get('threads')}</p>",
             _html_table([{"experiment": r.name, "time (s)": r.timings.get("total_s"),
                           "budget (s)": r.timings.get("budget_s")} for r in results])]
    for r in results:
        md += ["", f"## {r.name}", "", "### Metrics", "", _md_table([r.metrics]) if r.metrics else ""]
        parts.append(f"<h2>{html.escape(r.name)}</h2><h3>Metrics</h3>{_html_table([r.metrics])}")
        for title, rows in r.tables.items():
            md += [f"### {title}", "", _md_table(rows)]
            parts.append(f"<h3>{html.escape(title)}</h3>{_html_table(rows)}")
        for note in r.notes:
            md.append(f"> {note}")
            parts.append(f"<p><i>{html.escape(note)}</i></p>")
        for fig in r.figures:
            name = Path(fig).name
            md.append(f"![{name}]({name})")
            data = base64.b64encode(Path(fig).read_bytes()).decode()
            parts.append(f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{html.escape(name)}</figcaption></figure>")
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(md) + "\n")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;margin:0.5em 0;font-size:0.85em}"
             "td,th{border:1px solid #ccc;padding:2px 6px}th{background:#eee}img{max-width:100%}")
    html_path = out_dir / "report.html"
    html_path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>equigen bench</title>"
                         f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
    return md_path, html_path
