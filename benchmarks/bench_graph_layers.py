"""Throughput (forward + backward) and peak memory of the graph layers vs their unconstrained twins.

Usage: ``PYTHONPATH=. python benchmarks/bench_graph_layers.py [--sizes 64 512 4096] [--threads 1] [--device cpu]``.

For each N, points are uniform in a cube at the density that gives ``--neighbours`` (default 24)
neighbours within ``--cutoff``; ``radius_graph`` builds the edges once (not timed). Each case runs
in a fresh subprocess: one warm-up step, then the median of ``--repeats`` timed steps of
``loss = sum(out^2)``, ``loss.backward()``; the peak memory is the growth of the process's peak
RSS over the run (CPU) or ``torch.cuda.max_memory_allocated`` (CUDA). Models (float32):

* ``EGNN``: 4 layers, 64 hidden, 16 scalar features in and out;
* ``TensorProductNet``: 2 TensorProductConv layers, ``16x0e -> 16x0e+8x1o+4x2e -> 16x0e``;
* ``RawMP (=EGNN)`` / ``RawMP (=TP)``: RawMessagePassing with the parameter count of each;
* ``FlatMLP``: an MLP on the N flattened coordinates (3 hidden layers of 64; no graph).

The table reports nodes per second and the ratio of each equivariant layer's step time to its
parameter-matched unconstrained twin (> 1: the equivariant layer is slower). One run; wall-clock
on a possibly shared machine -- report thread count and load with the numbers. The points sit in
a periodic box (minimum image, ``shifts`` passed to the layers), so every node has ~24 neighbours.
Peak memory on CPU: growth of the peak RSS (``VmHWM``, reset through ``/proc/self/clear_refs``)
over the timed steps, i.e. activations, gradients and workspace.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

CASES = ["EGNN", "RawMP (=EGNN)", "TensorProductNet", "RawMP (=TP)", "FlatMLP"]


def _build(case, n, device):
    from equigen.nn import EGNN, TensorProductNet
    from equigen.nn.graph_baselines import FlatMLP, RawMessagePassing, count_parameters, width_for_params

    def egnn():
        return EGNN(16, 64, 16, num_layers=4, device=device)

    def tp():
        return TensorProductNet("16x0e", "16x0e+8x1o+4x2e", "16x0e", num_layers=2, cutoff=2.0, num_neighbors=24.0,
                                device=device)

    def raw(target):
        w = width_for_params(lambda w: RawMessagePassing(16, w, 16, num_layers=4), target)
        return RawMessagePassing(16, w, 16, num_layers=4, device=device)

    model = {"EGNN": egnn, "TensorProductNet": tp, "RawMP (=EGNN)": lambda: raw(count_parameters(egnn())),
             "RawMP (=TP)": lambda: raw(count_parameters(tp())),
             "FlatMLP": lambda: FlatMLP(n, 16, 64, 16, num_layers=3, device=device)}[case]()
    return model, count_parameters(model)


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark (Linux >= 4.0) and return the current RSS in KiB, or None."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_kib("VmRSS")
    except OSError:
        return None


def run_case(case, n, args):
    import torch

    from equigen.geometry import radius_graph

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    density = args.neighbours / (4 / 3 * math.pi * args.cutoff**3)
    box = (n / density) ** (1 / 3)
    pos = (torch.rand(n, 3, generator=gen) * box).to(device)
    edge_index, shifts = radius_graph(pos, args.cutoff, box=[box] * 3)
    h = torch.randn(n, 16, generator=gen).to(device)
    model, params = _build(case, n, device)

    def step():
        p = pos.detach().requires_grad_(True)
        out = model(h, p, edge_index, shifts=shifts) if case != "FlatMLP" else model(h, p)
        out = out[0] if isinstance(out, tuple) else out
        out.square().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step()  # warm-up (lazy imports and allocations are not counted)
    rss0 = _reset_peak_rss()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = (_status_kib("VmHWM") - rss0) / 1024 if rss0 is not None else float("nan")
    return {"case": case, "n": n, "edges": int(edge_index.shape[1]), "params": params,
            "seconds": statistics.median(times), "peak_mib": peak}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 512, 4096])
    parser.add_argument("--cases", nargs="+", default=CASES)
    parser.add_argument("--neighbours", type=float, default=24.0)
    parser.add_argument("--cutoff", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default="")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_case(args.child[0], int(args.child[1]), args)))
        return
    rows = []
    for n in args.sizes:
        for case in args.cases:
            cmd = [sys.executable, __file__, "--child", case, str(n), "--threads", str(args.threads), "--device",
                   args.device, "--repeats", str(args.repeats), "--cutoff", str(args.cutoff), "--neighbours",
                   str(args.neighbours)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=dict(os.environ))
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  {case} N={n}: {rows[-1]['seconds']:.4f} s", file=sys.stderr, flush=True)
    by = {(r["case"], r["n"]): r for r in rows}
    twin = {"EGNN": "RawMP (=EGNN)", "TensorProductNet": "RawMP (=TP)"}
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    print(f"threads={args.threads}, device={args.device}, load average={tuple(round(x, 2) for x in load)}, "
          f"cutoff={args.cutoff}, target degree={args.neighbours}, repeats={args.repeats} (median)")
    print("| model | params | N | edges | fwd+bwd s | nodes/s | peak MiB | time / twin |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        t = twin.get(r["case"])
        ratio = f"{r['seconds'] / by[(t, r['n'])]['seconds']:.2f}" if t and (t, r["n"]) in by else "-"
        print(f"| {r['case']} | {r['params']} | {r['n']} | {r['edges']} | {r['seconds']:.4f} | "
              f"{r['n'] / r['seconds']:.0f} | {r['peak_mib']:.1f} | {ratio} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "threads": args.threads, "load": list(load)}, f, indent=1)


if __name__ == "__main__":
    main()
