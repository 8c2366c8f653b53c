"""Correlation-dimension estimator: time for 10^4, 10^5, 10^6 Lorenz points, and nolds.corr_dim at 10^4.

How the comparison with nolds is made (nolds is a bench extra, never a runtime dependency):

* nolds.corr_dim works on a scalar time series it delay-embeds. To feed it the *same* 3-D points,
  we pass the point indices as a 1-D series with ``emb_dim=1`` and a ``dist`` function that returns
  Euclidean distances between the indexed 3-D points; the radii ``rvals`` are ours (the automatic
  fit range of :func:`equigen.metrics.correlation_dimension`) and ``fit="poly"`` (least squares,
  like ours; the default RANSAC is random).
* nolds fills an ``N x N`` distance matrix whose diagonal zeros count as pairs within every radius
  and divides by ``N (N - 1)``: its ``C(r)`` is ours plus ``1/(N-1)``, which flattens ``log C`` at
  small radii and biases the slope low. We report nolds' raw value, the value after subtracting
  ``1/(N-1)`` from its ``C(r)`` (which must then agree with our exact count), and ours.
* The ``N x N`` float64 matrix is 800 MB at ``N = 10^4`` and 80 GB at ``10^5``, so nolds runs at 10^4 only.
* The nolds package (0.6.3) fails to import on Python >= 3.11 (its ``datasets`` module vs folder);
  its ``measures`` module is loaded directly from the installed file.

Timings: median of ``--repeats`` runs (default 3 for 10^4, 1 otherwise), wall clock, with the torch/numpy
thread count given by ``--threads``; the machine's load average is printed with the results, because it
moves absolute numbers. Compare ratios.

Usage::

    PYTHONPATH=. OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_correlation_dimension.py --json out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np


def load_nolds_measures():
    spec = importlib.util.find_spec("nolds")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "measures.py"
    mspec = importlib.util.spec_from_file_location("_nolds_measures", path)
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    return mod


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-nolds", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from equigen.data import lorenz_attractor
    from equigen.metrics import correlation_dimension, correlation_sum

    sizes = [int(s) for s in args.sizes.split(",")]
    t = time.perf_counter()
    pts = lorenz_attractor(max(sizes), trajectories=500, seed=0)
    gen_s = time.perf_counter() - t
    rows = []
    for n in sizes:
        x = pts[:n]
        res, sec = timed(lambda x=x: correlation_dimension(x), args.repeats if n <= 10**4 else 1)
        rows.append({"N": n, "equigen_s": sec, "D2": float(res), "fit_range": list(res.fit_range),
                     "num_reference": res.num_reference})
        print(f"equigen N={n:>8}: {sec:8.2f} s  D2={float(res):.4f}  range={res.fit_range}", flush=True)

    comparison = None
    if not args.no_nolds:
        measures = load_nolds_measures()
        if measures is None:
            print("nolds not installed (pip install equigen[bench]); skipping the comparison")
        else:
            n = 10**4
            x = pts[:n]
            ours = correlation_dimension(x, num_reference=None)  # exact counts, all points as references
            lo, hi = ours.fit_range
            rvals = ours.radii[ours.fit_mask]

            def dist(rows_, row):
                return np.linalg.norm(x[rows_[:, 0].astype(np.int64)] - x[int(row[0])], axis=1)

            def run_nolds():
                return measures.corr_dim(np.arange(n, dtype=np.float64), 1, rvals=rvals, dist=dist, fit="poly",
                                         debug_data=True)

            (d_nolds, (log_r, log_c, _)), nolds_s = timed(run_nolds, 1)
            c_nolds = np.exp(log_c)
            c_corrected = c_nolds - 1.0 / (n - 1)
            d_corrected = float(np.polyfit(log_r, np.log(c_corrected), 1)[0])
            c_ours, _, _ = correlation_sum(x, rvals, num_reference=None)
            _, ours_s = timed(lambda: correlation_dimension(x, lo, hi, num_radii=len(rvals), num_reference=None),
                              args.repeats)
            comparison = {
                "N": n, "fit_range": [lo, hi], "radii": len(rvals),
                "D2_equigen_exact": float(np.polyfit(np.log(rvals), np.log(c_ours), 1)[0]),
                "D2_equigen_auto_default": float(correlation_dimension(x)),
                "D2_nolds_raw": float(d_nolds), "D2_nolds_self_pairs_removed": d_corrected,
                "max_rel_diff_C_after_correction": float(np.max(np.abs(c_corrected / c_ours - 1))),
                "nolds_s": nolds_s, "equigen_same_radii_exact_s": ours_s, "speedup": nolds_s / ours_s,
            }
            print(json.dumps(comparison, indent=1))
    out = {"rows": rows, "nolds": comparison, "threads": args.threads, "load_average": list(os.getloadavg()),
           "cpu_count": os.cpu_count(), "lorenz_generation_s": gen_s}
    print("load average", os.getloadavg())
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
