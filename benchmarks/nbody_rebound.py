"""equigen's N-body leapfrog against REBOUND (compiled C): energy error and speed, as ratios.

Run (REBOUND comes with the ``bench`` extra, ``pip install -e ".[bench]"``)::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/nbody_rebound.py [--quick] [--threads 1] [--out results.json]

Part 1, accuracy. The outer solar system of Hairer, Lubich & Wanner (Geometric Numerical
Integration, I.2.4: Sun + Jupiter, Saturn, Uranus, Neptune, Pluto; AU, days, solar masses,
G = 2.95912208286e-4), same initial data and step for both codes. REBOUND's ``leapfrog`` is
drift-kick-drift, so equigen's ``leapfrog_dkd`` must match its maximal relative energy error
within 1%, and equigen's kick-drift-kick ``leapfrog`` within a factor 3. Energies of both
trajectories are evaluated by the same function (``NBodyGravity.energy``), so only the
integrators differ. The final positions of the two drift-kick-drift runs are compared too.

Part 2, speed. Steps per second of ``integrate(NBodyGravity, ..., "leapfrog")`` for one
system of N = 8, 64, 512, 4096 bodies and for a batch of 1,024 systems of 8 bodies, and of
REBOUND's leapfrog (``gravity = "basic"``, direct summation) on the same inputs, measured in
the same process, interleaved, best of several rounds. Times are CPU time of this process
(``time.process_time``; torch on one thread, REBOUND single-threaded), so time slices lost
to other processes on a shared machine do not count; wall-clock ratios are reported too. The batch is
compared with a Python loop over 1,024 REBOUND simulations stepped in lock-step (one call
per system per step, what a batched training loop would need) and, REBOUND's best case,
each simulation advanced through all steps in one call. Next to each time: the FLOP floor
``ordered pairs x 20 flops / peak``, with the peak measured as the float64 GEMM rate of this
process (a practical upper bound for dense float64 arithmetic on one core).

Target (issue 6): within 2x of REBOUND for one system of N = 512; far ahead of the Python
loop for the batch. Nothing here is asserted; the script reports the measured ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from equigen.dynamics import NBodyGravity, integrate  # noqa: E402

# Hairer, Lubich & Wanner, Geometric Numerical Integration (2006), Section I.2.4, Table 2.1.
HLW_G = 2.95912208286e-4
HLW_MASSES = [1.00000597682, 0.000954786104043, 0.000285583733151, 0.0000437273164546, 0.0000517759138449,
              1 / 1.3e8]
HLW_Q = [[0.0, 0.0, 0.0], [-3.5023653, -3.8169847, -1.5507963], [9.0755314, -3.0458353, -1.6483708],
         [8.3101420, -16.2901086, -7.2521278], [11.4707666, -25.7294829, -10.8169456],
         [-15.5387357, -25.2225594, -3.1902382]]
HLW_V = [[0.0, 0.0, 0.0], [0.00565429, -0.00412490, -0.00190589], [0.00168318, 0.00483525, 0.00192462],
         [0.00354178, 0.00137102, 0.00055029], [0.00288930, 0.00114527, 0.00039677],
         [0.00276725, -0.00170702, -0.00136504]]

FLOPS_PER_PAIR = 20  # 3 sub, 3 mul + 2 add (r^2), rsqrt, 2 mul (cube), 1 mul (m_j), 3 mul + 3 add (sum)


def rebound_sim(masses, x, v, dt, G=1.0):
    import rebound

    sim = rebound.Simulation()
    sim.G = G
    sim.integrator = "leapfrog"
    sim.gravity = "basic"
    sim.dt = dt
    for m, xi, vi in zip(masses, x, v):
        sim.add(m=float(m), x=float(xi[0]), y=float(xi[1]), z=float(xi[2]),
                vx=float(vi[0]), vy=float(vi[1]), vz=float(vi[2]))
    return sim


def rebound_state(sim):
    n = sim.N
    xyz, vxvyvz = np.zeros((n, 3)), np.zeros((n, 3))
    sim.serialize_particle_data(xyz=xyz, vxvyvz=vxvyvz)
    return xyz, vxvyvz


def accuracy(steps: int, dt: float, every: int) -> dict:
    """Max relative energy error over ``steps`` steps of the outer solar system, both codes."""
    m = torch.tensor(HLW_MASSES, dtype=torch.float64)
    q0 = torch.tensor(HLW_Q, dtype=torch.float64)
    v0 = torch.tensor(HLW_V, dtype=torch.float64)
    p0 = m[:, None] * v0
    system = NBodyGravity(m, G=HLW_G)
    e0 = float(system.energy(q0, p0))
    out = {"case": "outer solar system (HLW I.2.4)", "dt_days": dt, "steps": steps, "sample_every": every}
    finals = {}
    with torch.no_grad():
        for method in ("leapfrog_dkd", "leapfrog"):
            t = time.perf_counter()
            q, p = integrate(system, q0, p0, dt, steps, method=method, save_every=every)
            out[f"equigen_{method}_s"] = time.perf_counter() - t
            e = system.energy(q, p)
            out[f"equigen_{method}_max_rel_energy_error"] = float(((e - e0) / e0).abs().max())
            finals[method] = q[-1]
    sim = rebound_sim(HLW_MASSES, HLW_Q, HLW_V, dt, G=HLW_G)
    energies, t = [e0], time.perf_counter()
    for _ in range(steps // every):
        sim.steps(every)
        x, v = rebound_state(sim)
        xt, vt = torch.from_numpy(x), torch.from_numpy(v)
        energies.append(float(system.energy(xt, m[:, None] * vt)))
    out["rebound_leapfrog_s"] = time.perf_counter() - t
    e = torch.tensor(energies, dtype=torch.float64)
    out["rebound_leapfrog_max_rel_energy_error"] = float(((e - e0) / e0).abs().max())
    out["rebound_own_energy_rel_error_final"] = abs((sim.energy() - e0) / e0)
    ref = out["rebound_leapfrog_max_rel_energy_error"]
    out["ratio_dkd_to_rebound"] = out["equigen_leapfrog_dkd_max_rel_energy_error"] / ref
    out["ratio_kdk_to_rebound"] = out["equigen_leapfrog_max_rel_energy_error"] / ref
    out["dkd_within_1_percent"] = abs(out["ratio_dkd_to_rebound"] - 1) <= 0.01
    out["kdk_within_factor_3"] = 1 / 3 <= out["ratio_kdk_to_rebound"] <= 3
    xr = torch.from_numpy(rebound_state(sim)[0])
    out["final_position_difference_dkd_vs_rebound_AU"] = float((finals["leapfrog_dkd"] - xr).abs().max())
    return out


def gemm_peak_gflops(n: int = 512, rounds: int = 5) -> float:
    a = torch.randn(n, n, dtype=torch.float64)
    b = torch.randn(n, n, dtype=torch.float64)
    best = float("inf")
    for _ in range(rounds):
        t = time.process_time()
        a @ b
        best = min(best, time.process_time() - t)
    return 2 * n ** 3 / best / 1e9


def random_cluster(n, batch=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (n, 3) if batch is None else (batch, n, 3)
    q = torch.randn(*shape, generator=g, dtype=torch.float64)
    v = 0.3 * torch.randn(*shape, generator=g, dtype=torch.float64)
    m = torch.full((n,), 1.0 / n, dtype=torch.float64)
    return m, q, v


def _clock():
    return time.process_time(), time.perf_counter()


def _since(start):
    cpu, wall = _clock()
    return cpu - start[0], wall - start[1]


def time_equigen(m, q, v, dt, steps):
    system = NBodyGravity(m, softening=0.0)
    p = m[:, None] * v
    with torch.no_grad():
        t = _clock()
        integrate(system, q, p, dt, steps, method="leapfrog", save_every=steps)
        return _since(t)


def time_rebound(m, q, v, dt, steps):
    sim = rebound_sim(m.tolist(), q.tolist(), v.tolist(), dt)
    t = _clock()
    sim.steps(steps)
    return _since(t)


def time_rebound_batch(m, q, v, dt, steps, lockstep):
    sims = [rebound_sim(m.tolist(), q[b].tolist(), v[b].tolist(), dt) for b in range(q.shape[0])]
    t = _clock()
    if lockstep:
        for _ in range(steps):
            for sim in sims:
                sim.steps(1)
    else:
        for sim in sims:
            sim.steps(steps)
    return _since(t)


def _best(times, steps):
    """Best (CPU, wall) seconds per step over rounds."""
    return min(t[0] for t in times) / steps, min(t[1] for t in times) / steps


def speed(sizes, batch, batch_n, rounds, peak) -> list[dict]:
    rows = []
    dt = 1e-4
    for n in sizes:
        m, q, v = random_cluster(n)
        steps = max(2, min(2000, int(2e7 // (n * n))))
        ours, theirs = [], []
        time_equigen(m, q, v, dt, 2)  # warm-up
        for _ in range(rounds):
            ours.append(time_equigen(m, q, v, dt, steps))
            theirs.append(time_rebound(m, q, v, dt, steps))
        (a, a_wall), (b, b_wall) = _best(ours, steps), _best(theirs, steps)
        pairs = n * (n - 1)
        rows.append({"case": f"single system N={n}", "N": n, "steps_timed": steps,
                     "equigen_steps_per_s": 1 / a, "rebound_steps_per_s": 1 / b,
                     "equigen_time_over_rebound": a / b, "equigen_time_over_rebound_wall": a_wall / b_wall,
                     "flop_floor_s_per_step": pairs * FLOPS_PER_PAIR / (peak * 1e9),
                     "equigen_s_per_step": a, "rebound_s_per_step": b})
    m, q, v = random_cluster(batch_n, batch)
    steps = 50
    time_equigen(m, q, v, dt, 2)
    ours, lock, each = [], [], []
    for _ in range(rounds):
        ours.append(time_equigen(m, q, v, dt, steps))
        lock.append(time_rebound_batch(m, q, v, dt, steps, lockstep=True))
        each.append(time_rebound_batch(m, q, v, dt, steps, lockstep=False))
    (a, a_wall), (lk, lk_wall), (ea, _) = _best(ours, steps), _best(lock, steps), _best(each, steps)
    rows.append({"case": f"batch of {batch} systems, N={batch_n}", "N": batch_n, "batch": batch,
                 "steps_timed": steps, "equigen_steps_per_s": 1 / a,
                 "rebound_python_loop_lockstep_steps_per_s": 1 / lk,
                 "rebound_each_system_one_call_steps_per_s": 1 / ea,
                 "equigen_speedup_over_lockstep_loop": lk / a,
                 "equigen_speedup_over_lockstep_loop_wall": lk_wall / a_wall,
                 "equigen_speedup_over_one_call_per_system": ea / a,
                 "flop_floor_s_per_step": batch * batch_n * (batch_n - 1) * FLOPS_PER_PAIR / (peak * 1e9),
                 "equigen_s_per_step": a})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds, skip N=4096")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (REBOUND runs on one)")
    parser.add_argument("--out", "--json", dest="out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import rebound

    peak = gemm_peak_gflops()
    facts = {"torch_threads": torch.get_num_threads(), "rebound": rebound.__version__, "torch": torch.__version__,
             "platform": platform.platform(), "cpu_count": os.cpu_count(),
             "load_average_start": list(os.getloadavg()), "gemm_float64_gflops": peak}
    acc = accuracy(steps=2_000 if args.quick else 20_000, dt=10.0, every=10)
    print(json.dumps(acc, indent=1))
    sizes = (8, 64, 512) if args.quick else (8, 64, 512, 4096)
    rows = speed(sizes, batch=1024, batch_n=8, rounds=2 if args.quick else 3, peak=peak)
    facts["load_average_end"] = list(os.getloadavg())
    for r in rows:
        print(json.dumps(r))
    print(json.dumps(facts))
    if args.out:
        args.out.write_text(json.dumps({"facts": facts, "accuracy": acc, "speed": rows}, indent=1))


if __name__ == "__main__":
    main()
