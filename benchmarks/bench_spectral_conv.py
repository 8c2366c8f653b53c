"""Speed of SpectralConv forward+backward as a ratio to the FFT floor, and against neuraloperator.

The floor is the forward+backward of a bare ``rfftn`` + ``irfftn`` round trip of the same tensor:
every spectral convolution that goes through a full FFT pays at least that. All timings of one
case are interleaved in one run (median of ``--repeats`` rounds), because thread count and the
machine's load move absolute numbers a lot; only the ratios are meant to be compared.

Cases (float32):

* 2-D ``(16, 32, 64, 64)``, the classic FNO "16 modes": frequencies ``-16..15`` on the first
  (full-FFT) axis and ``0..16`` on the last (real-FFT) axis -- neuraloperator's
  ``n_modes=(32, 32)``. equigen's ``modes=(16, 16)`` keeps ``-16..16`` x ``0..16`` (one
  frequency row more).
* 3-D ``(4, 32, 32, 32, 32)`` with ``modes=(8, 8, 8)`` (neuraloperator ``n_modes=(16, 16, 16)``).

Usage::

    PYTHONPATH=. OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_spectral_conv.py --threads 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from equigen.nn import SpectralConv


def _fwd_bwd(fn, x):
    y = fn(x)
    y.backward(torch.ones_like(y))


def floor_fn(x):
    dims = tuple(range(2, x.dim()))
    return torch.fft.irfftn(torch.fft.rfftn(x, dim=dims), s=x.shape[2:], dim=dims)


def make_cases(which):
    cases = []
    if which in ("all", "2d"):
        cases.append(dict(name="2d (16,32,64,64) modes 16", shape=(16, 32, 64, 64), modes=(16, 16),
                          neuralop_modes=[(32, 32), (16, 16)]))
    if which in ("all", "3d"):
        cases.append(dict(name="3d (4,32,32,32,32) modes 8", shape=(4, 32, 32, 32, 32), modes=(8, 8, 8),
                          neuralop_modes=[(16, 16, 16)]))
    return cases


def run_case(case, repeats, warmup, with_neuralop):
    g = torch.Generator().manual_seed(0)
    shape = case["shape"]
    x = torch.randn(*shape, generator=g).requires_grad_(True)
    c = shape[1]
    contenders = {"floor rfftn+irfftn": floor_fn,
                  "equigen SpectralConv": SpectralConv(c, c, case["modes"], generator=g)}
    if with_neuralop:
        try:
            from neuralop.layers.spectral_convolution import SpectralConv as NOSpectralConv
        except ImportError:
            print("neuraloperator is not installed (pip install equigen[bench]); skipping it")
        else:
            for nm in case["neuralop_modes"]:
                contenders[f"neuraloperator n_modes={nm}"] = NOSpectralConv(c, c, nm)
    for fn in contenders.values():
        for _ in range(warmup):
            _fwd_bwd(fn, x)
    times = {k: [] for k in contenders}
    for _ in range(repeats):
        for k, fn in contenders.items():  # interleaved so that load changes hit every contender alike
            x.grad = None
            t = time.perf_counter()
            _fwd_bwd(fn, x)
            times[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med["floor rfftn+irfftn"]
    rows = [{"case": case["name"], "contender": k, "median_ms": 1e3 * v, "ratio_to_floor": v / floor}
            for k, v in med.items()]
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--case", choices=["all", "2d", "3d"], default="all")
    p.add_argument("--no-neuralop", action="store_true")
    p.add_argument("--json", help="write the rows here")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    load = os.getloadavg()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load average {load}")
    rows = []
    for case in make_cases(a.case):
        rows += run_case(case, a.repeats, a.warmup, not a.no_neuralop)
    for r in rows:
        print(f"{r['case']:28s} {r['contender']:36s} {r['median_ms']:9.2f} ms  {r['ratio_to_floor']:5.2f}x floor")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": torch.get_num_threads(), "load_before": load, "load_after": os.getloadavg(),
                       "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
