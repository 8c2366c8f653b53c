"""The integrators' declared properties, measured: convergence order, symplecticity, reversibility, energy.

Run::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/integrator_orders.py [--long] [--out orders.json]

Order: global error at ``T = 10`` (``T = 2`` for first-order methods) of the Kepler problem with
eccentricity 0.6 against its exact solution (Hairer, Lubich & Wanner, Geometric Numerical
Integration), step counts doubled three times; the slope is ``log2(err(n) / err(2n))``.
Symplecticity: ``max|J^T Omega J - Omega|`` of one step (``dt = 0.1``) at the periapsis.
Reversibility: relative return error after 200 steps forward and 200 back (``dt = 0.01``).
Energy: maximal relative energy error over 10^4 steps of ``dt = 0.05`` and, with ``--long``,
over 10^6 steps (leapfrog and RK4 only; minutes), with the maxima over the first and second
halves of the run (a secular drift shows as a larger second half).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from equigen.dynamics import METHODS, Kepler, integrate, stepper  # noqa: E402
from equigen.testing import measure_conservation, symplecticity_error  # noqa: E402

E = 0.6
STEPS = {1: (2.0, (2000, 4000, 8000, 16000)), 2: (10.0, (500, 1000, 2000, 4000)),
         4: (10.0, (500, 1000, 2000, 4000)), 6: (10.0, (250, 500, 1000, 2000))}


def kepler_error(method, T, n):
    q0, p0 = Kepler.initial_state(E)
    with torch.no_grad():
        q, p = integrate(Kepler(), q0, p0, T / n, n, method=method, save_every=n)
    qe, pe = Kepler.exact_state(E, T)
    return float(torch.cat([q[-1] - qe, p[-1] - pe]).norm())


def reversibility_error(method, dt=0.01, n=200):
    q0, p0 = Kepler.initial_state(E)
    with torch.no_grad():
        q, p = integrate(Kepler(), q0, p0, dt, n, method=method, save_every=n)
        qb, pb = integrate(Kepler(), q[-1], p[-1], -dt, n, method=method, save_every=n)
    return float(torch.cat([qb[-1] - q0, pb[-1] - p0]).abs().max() / torch.cat([q0, p0]).abs().max())


def energy_run(method, steps, dt=0.05):
    k = Kepler()
    with torch.no_grad():
        r = measure_conservation(stepper(k, dt, method, check=False), Kepler.initial_state(E),
                                 lambda s: k.energy(*s), steps, mode="bounded", rtol=1.0)
    return {"max": r.max_deviation, "first_half": r.first_half, "second_half": r.second_half}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="also 10^6 Kepler steps for leapfrog and rk4")
    parser.add_argument("--out", "--json", dest="out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name, m in METHODS.items():
        t0 = time.perf_counter()
        T, ns = STEPS[m.order]
        errs = [kepler_error(name, T, n) for n in ns]
        slopes = [math.log2(errs[i] / errs[i + 1]) for i in range(len(ns) - 1)]
        rows.append({"method": name, "declared_order": m.order, "measured_slopes": slopes,
                     "errors": errs, "steps": list(ns), "T": T,
                     "symplectic": m.is_symplectic, "reversible": m.is_reversible,
                     "symplecticity_error": symplecticity_error(stepper(Kepler(), 0.1, name), Kepler.initial_state(E)),
                     "reversibility_error": reversibility_error(name),
                     "energy_1e4_steps": energy_run(name, 10_000), "seconds": time.perf_counter() - t0})
        r = rows[-1]
        print(f"{name:18s} order {m.order}  slopes {' '.join(f'{s:5.2f}' for s in slopes)}  "
              f"symplectic {str(m.is_symplectic):5s} err {r['symplecticity_error']:.1e}  "
              f"reversible {str(m.is_reversible):5s} err {r['reversibility_error']:.1e}  "
              f"energy(1e4) {r['energy_1e4_steps']['max']:.2e}", flush=True)
    out = {"orders": rows, "torch_threads": 1, "load_average": list(os.getloadavg())}
    if args.long:
        out["energy_1e6_steps"] = {}
        for name in ("leapfrog", "rk4"):
            t0 = time.perf_counter()
            out["energy_1e6_steps"][name] = {**energy_run(name, 1_000_000), "seconds": time.perf_counter() - t0}
            print(name, "1e6 steps", out["energy_1e6_steps"][name], flush=True)
    if args.out:
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
