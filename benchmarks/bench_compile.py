"""Speed-up of ``torch.compile(fullgraph=True)`` over eager for the core layers, as ratios.

For each core layer found in ``equigen.nn`` (EGNN, TensorProductConv, SpectralConv) this times a
forward and a forward+backward pass of one mid-sized input, eager and compiled with
:func:`equigen.train.compile_strict` (``fullgraph=True``: a graph break would be an error, not a
silent fall-back). Eager and compiled calls are interleaved (median of ``--repeats`` rounds), so
load changes on a shared machine hit both alike; only the ratios are meant to be compared. The
one-off compile time (first call, forward and forward+backward) is reported too.

Cases (``--dtype``, default float32):

* EGNN ``(16 -> 64 hidden -> 16, 4 layers)`` on 256 nodes, radius graph of ~16 neighbours;
* TensorProductConv ``16x0e+8x1o+4x2e -> same`` on 256 nodes, same graph;
* SpectralConv 2-D, 16 -> 16 channels, ``modes=(12, 12)`` on ``(8, 16, 64, 64)``.

Usage::

    PYTHONPATH=. OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_compile.py --threads 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import torch._dynamo

from equigen.geometry import radius_graph
from equigen.train import compile_strict


def _graph(n, dtype, g):
    side = (n / 1.0) ** (1 / 3)  # unit density: ~ (4/3) pi r^3 neighbours
    pos = torch.rand(n, 3, generator=g, dtype=dtype) * side
    return pos, radius_graph(pos, 1.6)


def make_cases(dtype):
    import equigen.nn as nn

    g = torch.Generator().manual_seed(0)
    cases = []
    if hasattr(nn, "EGNN"):
        pos, ei = _graph(256, dtype, g)
        h = torch.randn(256, 16, generator=g, dtype=dtype)
        torch.manual_seed(0)
        model = nn.EGNN(16, 64, 16, num_layers=4, dtype=dtype)
        cases.append(("EGNN 16-64-16 x4, 256 nodes", model, (h, pos, ei), f"{ei.shape[1]} edges"))
    if hasattr(nn, "TensorProductConv"):
        from e3nn import o3

        irreps = o3.Irreps("16x0e+8x1o+4x2e")
        pos, ei = _graph(256, dtype, g)
        x = torch.randn(256, irreps.dim, generator=g, dtype=dtype)
        torch.manual_seed(0)
        model = nn.TensorProductConv(irreps, irreps, cutoff=1.6, num_neighbors=16.0, dtype=dtype)
        cases.append(("TensorProductConv 16x0e+8x1o+4x2e, 256 nodes", model, (x, pos, ei), f"{ei.shape[1]} edges"))
    if hasattr(nn, "SpectralConv"):
        x = torch.randn(8, 16, 64, 64, generator=g, dtype=dtype)
        model = nn.SpectralConv(16, 16, (12, 12), generator=g, dtype=dtype)
        cases.append(("SpectralConv 2-D 16ch modes 12, (8,16,64,64)", model, (x,), ""))
    return cases


def _loss(out):
    out = out if isinstance(out, tuple) else (out,)
    return sum(o.square().sum() for o in out)


def _fwd(fn, inputs):
    with torch.no_grad():
        fn(*inputs)


def _fwd_bwd(fn, inputs, model):
    model.zero_grad(set_to_none=True)
    _loss(fn(*inputs)).backward()


def run_case(name, model, inputs, note, repeats, warmup):
    torch._dynamo.reset()
    compiled = compile_strict(model)
    row = {"case": name, "note": note}
    t = time.perf_counter()
    _fwd(compiled, inputs)
    row["compile_forward_s"] = time.perf_counter() - t
    t = time.perf_counter()
    _fwd_bwd(compiled, inputs, model)
    row["compile_forward_backward_s"] = time.perf_counter() - t
    calls = (("forward", lambda f: _fwd(f, inputs)), ("forward_backward", lambda f: _fwd_bwd(f, inputs, model)))
    for what, call in calls:
        for _ in range(warmup):
            call(model), call(compiled)
        times = {"eager": [], "compiled": []}
        for _ in range(repeats):
            for label, f in (("eager", model), ("compiled", compiled)):
                t = time.perf_counter()
                call(f)
                times[label].append(time.perf_counter() - t)
        eager, comp = statistics.median(times["eager"]), statistics.median(times["compiled"])
        row[f"{what}_eager_ms"], row[f"{what}_compiled_ms"] = 1e3 * eager, 1e3 * comp
        row[f"{what}_speedup"] = eager / comp
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--json", help="write the rows here")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    load = os.getloadavg()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {a.dtype}, load average {load}")
    rows = []
    for name, model, inputs, note in make_cases(getattr(torch, a.dtype)):
        rows.append(run_case(name, model, inputs, note, a.repeats, a.warmup))
        r = rows[-1]
        print(f"{name:48s} fwd {r['forward_eager_ms']:8.2f} -> {r['forward_compiled_ms']:8.2f} ms "
              f"({r['forward_speedup']:.2f}x)  fwd+bwd {r['forward_backward_eager_ms']:8.2f} -> "
              f"{r['forward_backward_compiled_ms']:8.2f} ms ({r['forward_backward_speedup']:.2f}x)  "
              f"compile {r['compile_forward_s']:.0f}+{r['compile_forward_backward_s']:.0f} s {note}", flush=True)
    if not rows:
        print("none of EGNN, TensorProductConv, SpectralConv is in equigen.nn yet")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": torch.get_num_threads(), "dtype": a.dtype, "load_before": load,
                       "load_after": os.getloadavg(), "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
