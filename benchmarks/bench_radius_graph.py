"""radius_graph scaling: time vs N at constant density (~24 neighbours), and vs brute force.

Usage: ``PYTHONPATH=. python benchmarks/bench_radius_graph.py [--sizes 1000 10000 100000] [--threads 1]``.
Prints a markdown table: N, edges, mean degree, seconds (median of --repeats), seconds per N log2 N
relative to the smallest N (about 1 for O(N log N) scaling), and brute force (torch.cdist) where affordable.
Timings are wall-clock on whatever machine runs it: report the thread count and the load.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch

from equigen.geometry import radius_graph


def _brute(pos, cutoff):
    d = torch.cdist(pos, pos)
    mask = (d < cutoff) & ~torch.eye(pos.shape[0], dtype=torch.bool)
    return mask.nonzero().t()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--neighbours", type=float, default=24.0)
    parser.add_argument("--cutoff", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--brute-max", type=int, default=20000)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    density = args.neighbours / (4 / 3 * math.pi * args.cutoff**3)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for n in args.sizes:
        box = (n / density) ** (1 / 3)
        pos = torch.rand(n, 3, generator=gen, dtype=torch.float64) * box
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            ei = radius_graph(pos, args.cutoff)
            times.append(time.perf_counter() - t0)
        brute = None
        if n <= args.brute_max:
            t0 = time.perf_counter()
            eb = _brute(pos, args.cutoff)
            brute = time.perf_counter() - t0
            assert eb.shape[1] == ei.shape[1], "brute force and radius_graph disagree"
        rows.append((n, ei.shape[1], ei.shape[1] / n, statistics.median(times), brute))
    base = rows[0][3] / (rows[0][0] * math.log2(rows[0][0]))
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    print(f"threads={args.threads}, load average={load}, cutoff={args.cutoff}, target degree={args.neighbours}")
    print("| N | edges | mean degree | radius_graph s | s / (N log2 N), rel. to first | brute force s |")
    print("|---|---|---|---|---|---|")
    for n, e, deg, t, b in rows:
        rel = t / (n * math.log2(n)) / base
        print(f"| {n} | {e} | {deg:.1f} | {t:.4f} | {rel:.2f} | {'-' if b is None else f'{b:.4f}'} |")


if __name__ == "__main__":
    main()
