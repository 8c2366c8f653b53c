"""Experiment "nbody-conservation": learned dynamics vs Noether.

A star with three planets (4 bodies, 3-D Newtonian gravity) is simulated accurately
(``yoshida4`` with fine substeps) and sampled every ``Delta``. Three models learn the map
``(q, p)_t -> (q, p)_{t + Delta}`` from the same snapshots:

* ``linear``: :class:`~equigen.dynamics.LinearDynamics`, least squares on flattened states;
* ``hnn``: :class:`~equigen.dynamics.HamiltonianNet`, the unconstrained twin built by
  :meth:`~equigen.dynamics.PairPotentialNet.twin` (known kinetic energy + an MLP ``V(q)`` of all
  12 coordinates, width chosen to match the pair model's parameter count), trained through
  one leapfrog step, rolled out with leapfrog;
* ``pair``: :class:`~equigen.dynamics.PairPotentialNet` (E(3)- and permutation-invariant pair
  energy), trained the same way, rolled out with leapfrog.

Both networks are trained in float32 by :func:`~equigen.dynamics.train_one_step` (the project's
:class:`~equigen.train.Trainer`, same steps, batch and schedule) with the same data-driven energy unit (the mean
kinetic energy of the snapshots).

Each model (the two networks trained in float32, all rolled out in float64) is rolled out
``rollout_steps`` steps from *new* initial conditions, as is the true system with the same
integrator and step. Measured along the rollouts: the relative drift of angular momentum
``|L_t - L_0| / |L_0|``, of linear momentum ``|P_t - P_0| / sum_i |p_i(0)|`` (the total
momentum is zero in the centre-of-mass frame, so it is measured against the momentum scale),
of the true energy ``|E_t - E_0| / |E_0|``, and the position error against the true
trajectory ``|q_t - q_t^true| / |q^true_t|``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch

from equigen.core.deprecation import renamed_fields
from equigen.dynamics import (
    LinearDynamics,
    NBodyGravity,
    PairPotentialNet,
    angular_momentum,
    integrate,
    linear_momentum,
    train_one_step,
)
from equigen.experiments.base import Experiment, ExperimentConfig, save_figure
from equigen.experiments.registry import register

MASSES = (1.0, 2e-3, 1e-3, 5e-4)
NETWORKS = ("hnn", "hnn + 1/r", "pair (r only)", "pair")
FEATURES = {"hnn": "12 coordinates", "hnn + 1/r": "12 coordinates + 6 inverse distances 1/r_ij",
            "pair (r only)": "r_ij (per pair)", "pair": "1/r_ij, r_ij (per pair)"}
RADII = (1.0, 1.8, 3.0)


@renamed_fields(iterations="steps")
@dataclass
class NBodyConfig(ExperimentConfig):
    train_trajectories: int = 32
    train_snapshots: int = 200         # per trajectory
    test_trajectories: int = 4
    delta: float = 0.05                # time between snapshots (the learned step)
    truth_substeps: int = 2            # yoshida4 substeps per snapshot (data and reference rollouts)
    rollout_steps: int = 10_000
    steps: int = 600                   # Adam steps per network
    batch_size: int = 256
    hidden: int = 64
    models: tuple = NETWORKS           # the learned networks to train (any subset, in this order)
    train_time_limit_s: float | None = None  # per network: stop at `steps` or after this long
    equal_time_arm: bool = True        # also train each cheaper twin for the pair model's wall-clock time
    time_budget_s: float = 70.0

    @classmethod
    def quick(cls):
        # 5,000 rollout steps (the rollouts and the reference simulation are a third of the cost), a
        # wall-clock cap per network that only a loaded machine reaches, and one torch thread: every tensor
        # is small (batches of 256 four-body states, 4 test systems in the rollouts), where a second
        # intra-op thread only adds overhead
        return cls(rollout_steps=5000, train_time_limit_s=15.0, threads=1)

    @classmethod
    def full(cls):
        return cls(train_trajectories=128, train_snapshots=400, test_trajectories=16, steps=4000,
                   hidden=128, time_budget_s=3600.0)


def planetary_systems(count: int, *, generator: torch.Generator, dtype=torch.float64):
    """Random star + 3 planet systems on near-circular, slightly inclined orbits, centre-of-mass frame.

    Returns ``q, p`` of shape ``(count, 4, 3)`` (``G = 1``, star mass 1).
    """
    m = torch.tensor(MASSES, dtype=torch.float64)
    q = torch.zeros(count, 4, 3, dtype=torch.float64)
    v = torch.zeros_like(q)
    for k, a0 in enumerate(RADII, start=1):
        u = torch.rand(count, 4, generator=generator, dtype=torch.float64)
        a = a0 * (1 + 0.1 * (u[:, 0] - 0.5))
        phase = 2 * math.pi * u[:, 1]
        incl = 0.15 * (u[:, 2] - 0.5)
        speed = torch.sqrt((m[0] + m[k]) / a) * (1 + 0.06 * (u[:, 3] - 0.5))
        c, s = torch.cos(phase), torch.sin(phase)
        q[:, k] = torch.stack([a * c, a * s * torch.cos(incl), a * s * torch.sin(incl)], -1)
        v[:, k] = speed[:, None] * torch.stack([-s, c * torch.cos(incl), c * torch.sin(incl)], -1)
    com_q = (m[:, None] * q).sum(1, keepdim=True) / m.sum()
    com_v = (m[:, None] * v).sum(1, keepdim=True) / m.sum()
    q, v = q - com_q, v - com_v
    return q.to(dtype), (m[:, None] * v).to(dtype)


def drifts(system_true, q, p):
    """Relative drifts along trajectories ``(T, B, N, 3)`` -> dict of ``(T, B)`` float64 tensors."""
    with torch.no_grad():
        L = angular_momentum(q, p)
        P = linear_momentum(p)
        E = system_true.energy(q, p)
        scale_p = p[0].norm(dim=-1).sum(-1)
        return {
            "angular_momentum": (L - L[0]).norm(dim=-1) / L[0].norm(dim=-1),
            "linear_momentum": (P - P[0]).norm(dim=-1) / scale_p,
            "energy": (E - E[0]).abs() / E[0].abs(),
        }


@register
class NBodyConservation(Experiment):
    name = "nbody-conservation"
    description = ("Linear map vs Hamiltonian net vs E(3)-invariant pair potential learned from N-body snapshots: "
                   "drift of angular momentum, momentum, energy over 5e3-step (quick) and 1e4-step rollouts")
    Config = NBodyConfig

    stages = ("simulate", "train", "rollout", "measure", "claims", "figures")

    def simulate(self, run):
        """Training snapshots: ``train_trajectories`` systems integrated accurately, sampled every ``delta``."""
        c, s = run.config, run.state
        s.gen = run.generator()  # CPU generator: same data on every device (the test systems come from it too)
        s.truth = NBodyGravity(torch.tensor(MASSES, dtype=torch.float64, device=run.device))
        with run.timer("simulate_train"):
            q0, p0 = (x.to(run.device) for x in planetary_systems(c.train_trajectories, generator=s.gen))
            k = c.train_snapshots - 1
            with torch.no_grad():
                s.qs, s.ps = integrate(s.truth, q0, p0, c.delta / c.truth_substeps, k * c.truth_substeps,
                                       method="yoshida4", save_every=c.truth_substeps)

    def train(self, run):
        """Fit the linear map, train every network, then the equal wall-clock arm of the cheaper twins."""
        c, s = run.config, run.state
        qs, ps = s.qs, s.ps  # pairs (state_t, state_t+Delta) of every trajectory
        s.snapshots = (qs[:-1].reshape(-1, 4, 3), ps[:-1].reshape(-1, 4, 3), qs[1:].reshape(-1, 4, 3),
                       ps[1:].reshape(-1, 4, 3))
        s.models, s.losses, s.train_info = {}, {}, {}
        with run.timer("fit_linear"):
            s.models["linear"] = LinearDynamics(4, 3, device=run.device).fit(s.qs, s.ps)
        build = self._builder(run)
        for name in c.models:
            self._train_network(run, name, build(name), c.steps, c.train_time_limit_s)
        # equal wall-clock arm: a twin cheaper per step gets the steps the pair model's training time buys
        if c.equal_time_arm and "pair" in s.train_info:
            t_pair = s.train_info["pair"]["seconds"]
            for name in [k for k in c.models if k.startswith("hnn")]:
                info = s.train_info[name]
                its = int(t_pair / (info["seconds"] / info["iterations"]))
                if its >= 1.2 * info["iterations"]:  # otherwise equal steps is equal time
                    limit = None if c.train_time_limit_s is None else 1.5 * t_pair
                    self._train_network(run, f"{name} (equal wall-clock)", build(name), its, limit)

    @staticmethod
    def _builder(run):
        """``build(name)``: a fresh network (its own initialisation stream: the same weights whatever else runs)."""
        c, seed = run.config, run.seed
        masses32 = torch.tensor(MASSES, dtype=torch.float32)
        # the same data-driven energy unit for every network: the mean kinetic energy of the snapshots
        # (virial: |V| ~ 2T); the pair models' unit is per unit of m_i m_j summed over pairs
        kinetic = float(run.state.truth.kinetic(run.state.snapshots[1]).mean())
        mm = torch.tensor(MASSES, dtype=torch.float64)
        pair_scale = kinetic / float((mm[:, None] * mm[None, :]).triu(1).sum())

        def build(name):
            g = torch.Generator().manual_seed(seed * 1000 + NETWORKS.index(name))
            pair = PairPotentialNet(masses32, hidden=c.hidden, energy_scale=pair_scale, generator=g)
            if name == "pair":
                return pair
            if name == "pair (r only)":
                return PairPotentialNet(masses32, hidden=c.hidden, energy_scale=pair_scale, features=("r",),
                                        generator=g)
            # unconstrained twins, parameter count matched to the pair model
            return pair.twin(3, energy_scale=kinetic, pair_features=name == "hnn + 1/r", generator=g)

        return build

    @staticmethod
    def _train_network(run, name, model, iterations, limit):
        """Train ``model`` through one leapfrog step on the snapshot pairs; keep a float64 copy for the rollouts."""
        c, s = run.config, run.state
        model.to(run.device)
        t0 = time.perf_counter()
        losses = s.losses[name] = train_one_step(model, *s.snapshots, c.delta, steps=iterations,
                                                 batch_size=c.batch_size, seed=run.seed + 17, time_limit_s=limit)
        s.train_info[name] = {"seconds": time.perf_counter() - t0, "iterations": len(losses),
                              "stopped_by": "steps" if len(losses) >= iterations else "time_limit",
                              "parameters": sum(t.numel() for t in model.parameters())}
        run.result.timings[f"train_{name}_s"] = s.train_info[name]["seconds"]
        s.models[name] = copy.deepcopy(model).double()  # roll out in float64 whatever it was trained in

    def rollout(self, run):
        """New initial conditions, rolled out by the truth (same integrator, same step) and by each model."""
        c, s = run.config, run.state
        qt0, pt0 = (x.to(run.device) for x in planetary_systems(c.test_trajectories, generator=s.gen))
        n, every = c.rollout_steps, max(1, c.rollout_steps // 1000)
        s.every = every
        with run.timer("simulate_test"), torch.no_grad():
            s.trajectories = {"truth (yoshida4)": integrate(s.truth, qt0, pt0, c.delta / c.truth_substeps,
                                                            n * c.truth_substeps, method="yoshida4",
                                                            save_every=c.truth_substeps * every)}
        with torch.no_grad():
            s.trajectories["truth (leapfrog, same step)"] = integrate(s.truth, qt0, pt0, c.delta, n,
                                                                      save_every=every)
        for name, model in s.models.items():
            with run.timer(f"rollout_{name}"), torch.no_grad():
                if name == "linear":
                    q, p = model.rollout(qt0, pt0, n)
                    q, p = q[::every], p[::every]
                else:
                    q, p = integrate(model, qt0, pt0, c.delta, n, method="leapfrog", save_every=every)
            s.trajectories[name] = (q, p)

    def measure(self, run):
        """Drift and position-error table of every trajectory, the training table and the metrics."""
        c, s, result = run.config, run.state, run.result
        true_q = s.trajectories["truth (yoshida4)"][0].cpu()
        s.steps_axis = torch.arange(true_q.shape[0]) * s.every
        truth = NBodyGravity(torch.tensor(MASSES, dtype=torch.float64))
        rows, s.curves = [], {}
        for name, (q, p) in s.trajectories.items():
            row, s.curves[name] = self._drift_row(name, q.cpu(), p.cpu(), truth, true_q, c.rollout_steps,
                                                  s.every, s.steps_axis)
            rows.append(row)
        result.tables["drift over rollout (max over time and test systems)"] = rows
        result.tables["training"] = [self._training_row(name, info, s.losses[name], c)
                                     for name, info in s.train_info.items()]
        s.by = by = {r["model"]: r for r in rows}
        for name in ("linear", *s.train_info):
            for key in ("angular_momentum", "linear_momentum", "energy"):
                result.metrics[f"{name}_max_{key}_drift"] = by[name][f"max_{key}"]
            result.metrics[f"{name}_position_error_at_end"] = by[name][f"position_error_at_{c.rollout_steps}"]
        for name, info in s.train_info.items():
            result.metrics[f"{name}_train_iterations"] = info["iterations"]
            result.metrics[f"{name}_stopped_by"] = info["stopped_by"]

    @staticmethod
    def _drift_row(name, q, p, truth, true_q, n, every, steps_axis):
        """``(row, curves)`` of one trajectory ``(T, B, N, 3)``: worst drifts, position errors, median curves."""
        finite = torch.isfinite(q).all(dim=(-1, -2, -3)) & torch.isfinite(p).all(dim=(-1, -2, -3))
        d = drifts(truth, q, p)
        pos_err = (q - true_q).flatten(-2).norm(dim=-1) / true_q.flatten(-2).norm(dim=-1)
        d["position_error"] = pos_err
        row = {"model": name}
        for key, val in d.items():
            worst = val.nan_to_num(nan=math.inf).max(dim=1).values  # worst test system at each saved time
            worst = torch.where(finite, worst, torch.full_like(worst, math.inf))
            row[f"max_{key}"] = float(worst.max())
        for at in sorted({a for a in (100, 1000) if a <= n} | {n}):
            i = at // every
            row[f"position_error_at_{at}"] = float(pos_err[i].median()) if bool(finite[i]) else math.inf
        row["first_nonfinite_step"] = (int(steps_axis[int((~finite).nonzero()[0])])
                                       if not bool(finite.all()) else None)
        return row, {key: val.median(dim=1).values for key, val in d.items()}

    @staticmethod
    def _training_row(name, info, losses, config):
        """One row of the training table: what each network got and how its loss went."""
        return {"model": name, "parameters": info["parameters"], "iterations": info["iterations"],
                "stopped_by": info["stopped_by"], "train_s": info["seconds"], "lr": 3e-3,
                "batch": config.batch_size, "features": FEATURES[name.split(" (equal")[0]],
                "integrator (train and rollout)": "leapfrog, step Delta",
                "trained_dtype": "float32", "rollout_dtype": "float64",
                "first_loss": losses[0], "final_loss": sum(losses[-20:]) / len(losses[-20:])}

    def claims(self, run):
        """The claims, with verdicts from the rollout table, and what each model conserves by construction."""
        self._claims(run.result, run.state.by, run.config.rollout_steps, run.config, run.state.train_info)
        run.result.notes.append(
            "pair: E(3)-invariant pair potential -> angular and linear momentum conserved to float64 rounding "
            "by the leapfrog rollout; hnn: conserves its own energy but not momentum; linear: nothing. Every "
            "network is trained through one leapfrog step and rolled out with leapfrog at the same step.")

    def figures(self, run):
        """The median drift curves of every trajectory against the rollout step."""
        run.result.figures.append(self._figure(run.state.curves, run.state.steps_axis, run.out_dir))

    @staticmethod
    def _claims(result, by, n, config, train_info=None):
        """Claims with verdicts computed from the rollout table ``by`` (model -> row).

        A claim that fails while a network's training was cut short by the wall-clock cap is "not converged".
        """
        cut = [k for k, v in (train_info or {}).items() if v["stopped_by"] == "time_limit"]
        short = (f"not converged at this scale: training of {', '.join(cut)} stopped by the wall-clock cap "
                 f"({config.train_time_limit_s:g} s per network) before {config.steps} iterations; the full "
                 "preset trains longer") if cut else ""

        def decide(ok, fail_detail=""):
            if ok:
                return "reproduced", ""
            return ("not converged", short) if cut else ("not reproduced", fail_detail)

        twins = [k for k in by if k == "linear" or k.startswith("hnn")]
        if "pair" not in by or not twins:
            return
        NBodyConservation._claim_momentum(result, by, twins, n, decide)
        NBodyConservation._claim_positions(result, by, twins, n, config, decide)

    @staticmethod
    def _claim_momentum(result, by, twins, n, decide):
        """Angular momentum to rounding for the pair potential, not for the twins."""
        rounding = 1e-10
        pair_l = by["pair"]["max_angular_momentum"]
        twin_l = {k: by[k]["max_angular_momentum"] for k in twins}
        ok = pair_l <= rounding and all(v > 100 * max(pair_l, 1e-16) for v in twin_l.values())
        verdict, why = decide(ok)
        result.add_claim(
            f"An E(3)-invariant pair potential rolled out with leapfrog conserves angular momentum to rounding over "
            f"{n} steps; the unconstrained models, rolled out with the same integrator, do not.",
            "max relative angular-momentum drift", pair_l, twin_l, verdict, builtin_name="pair",
            detail="; ".join(x for x in (f"threshold: pair <= {rounding:g} and every twin > 100x the pair's drift",
                                         why) if x))

    @staticmethod
    def _claim_positions(result, by, twins, n, config, decide):
        """The pair potential tracks new trajectories better than every twin, and better than with r only."""
        pos = {k: by[k][f"position_error_at_{n}"] for k in twins}
        pair_pos = by["pair"][f"position_error_at_{n}"]
        if not pair_pos < 1.0:
            verdict = "not converged"
            detail = (f"not converged at this scale ({config.steps} iterations): the pair model's own position "
                      "error is >= 100 %, so the ranking says nothing; the full preset trains longer")
        else:
            verdict, detail = decide(pair_pos < min(pos.values()),
                                     "a twin tracks the true trajectory at least as well as the pair potential")
        result.add_claim(
            f"The pair potential predicts positions after {n} steps from new initial conditions better than "
            "every unconstrained twin (HNN on coordinates, HNN with 1/r_ij features, linear map; the HNNs also "
            "given the pair model's training wall-clock).",
            f"median relative position error at step {n}", pair_pos, pos, verdict, detail=detail,
            builtin_name="pair")
        if "pair (r only)" in by:
            r_only = by["pair (r only)"][f"position_error_at_{n}"]
            verdict, detail = decide(pair_pos < r_only)
            result.add_claim(
                "The 1/r feature matters: the same pair model given only r tracks the trajectory worse.",
                f"median relative position error at step {n}", pair_pos, {"pair (r only)": r_only},
                verdict, detail=detail, builtin_name="pair")

    @staticmethod
    def _figure(curves, steps_axis, out_dir):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        keys = ("angular_momentum", "linear_momentum", "energy", "position_error")
        fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
        floor = 1e-17
        for ax, key in zip(axes, keys):
            for name, c in curves.items():
                y = c[key].clamp_min(floor).nan_to_num(nan=1e30, posinf=1e30)
                ax.plot(steps_axis[1:], y[1:], label=name, lw=1.2)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("rollout step")
            ax.set_title(f"relative {key.replace('_', ' ')} (median over test systems)", fontsize=9)
            ax.set_ylim(floor, 1e3)
        axes[0].legend(fontsize=8)
        return save_figure(fig, out_dir, "nbody-conservation-drift")
