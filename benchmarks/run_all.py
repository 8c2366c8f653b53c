"""Run every benchmark script of this folder and collect their outputs in one JSON and one table.

Each ``benchmarks/*.py`` (except this file) is a standalone script measuring speed, memory or
accuracy as ratios against an unconstrained baseline or a peer library run in the same process.
This runner starts each one in a subprocess (``OMP_WAIT_POLICY=PASSIVE``), passes
``--json OUT/<name>.json`` to scripts that accept ``--json``, keeps their printed output in
``OUT/<name>.txt`` and writes ``OUT/benchmarks.json`` (status, seconds, the script's JSON) and
``OUT/benchmarks.md`` (one section per script: its printed tables).

Usage::

    python benchmarks/run_all.py --out bench-results            # everything
    python benchmarks/run_all.py --only bench_spectral_conv --out /tmp/b
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts(only=None) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))
    if only:
        missing = set(only) - {p.stem for p in found}
        if missing:
            raise SystemExit(f"run_all.py: unknown benchmark(s) {sorted(missing)}; known: {[p.stem for p in found]}")
        found = [p for p in found if p.stem in only]
    return found


def run(script: Path, out: Path, timeout: float) -> dict:
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    cmd = [sys.executable, str(script)]
    json_path = out / f"{script.stem}.json"
    if "--json" in script.read_text():
        cmd += ["--json", str(json_path)]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE.parent)
        status, text = ("ok" if done.returncode == 0 else f"exit {done.returncode}"), done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        status, text = f"timeout after {timeout:g} s", (err.stdout or b"").decode() if err.stdout else ""
    seconds = time.perf_counter() - start
    (out / f"{script.stem}.txt").write_text(text)
    data = json.loads(json_path.read_text()) if json_path.exists() else None
    return {"script": script.name, "status": status, "seconds": seconds, "command": " ".join(cmd[1:]),
            "json": data, "output": text}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench-results", help="output folder (default: bench-results)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="script names without .py")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per script (default: 1800)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    meta = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "load_average_1min": load,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    results = []
    for script in scripts(args.only):
        print(f"{script.name} ...", flush=True)
        r = run(script, out, args.timeout)
        print(f"  {r['status']} in {r['seconds']:.1f} s", flush=True)
        results.append(r)
    (out / "benchmarks.json").write_text(json.dumps({"meta": meta, "benchmarks": results}, indent=2, default=str))
    md = ["# equigen benchmarks", "", f"{meta}", "", "| script | status | seconds |", "|---|---|---|"]
    md += [f"| {r['script']} | {r['status']} | {r['seconds']:.1f} |" for r in results]
    for r in results:
        md += ["", f"## {r['script']}", "", f"`python {r['command']}`", "", "```text",
               r["output"].strip()[-6000:], "```"]
    (out / "benchmarks.md").write_text("\n".join(md) + "\n")
    print(f"wrote {out / 'benchmarks.json'} and {out / 'benchmarks.md'}")
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
