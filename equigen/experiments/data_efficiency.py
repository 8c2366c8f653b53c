"""Experiment "data-efficiency": learning LJ13 energies and forces with and without E(3) built in.

Data: Lennard-Jones 13-particle clusters sampled by Metropolis Monte Carlo
(:func:`equigen.data.sample_lj_cluster`), exact energies and forces. Test and validation sets
come from independent chains (other seeds) than the training set.

Models, all trained as force fields (energy head, forces ``-dE/dx`` by autograd, loss on
both), with parameter counts matched within 20 %:

* ``equivariant``: :class:`~equigen.nn.EGNN` (invariant features, Bessel radial basis) +
  :class:`~equigen.nn.EnergyReadout` -- E(3) x permutation invariant energy by construction;
* ``unconstrained``: :class:`~equigen.nn.graph_baselines.FlatMLP` on the flattened
  coordinates -- no symmetry;
* ``augmented``: the same FlatMLP trained with every configuration (and its forces) rotated
  by a fresh uniformly random rotation at each step.

Same tuning budget for every model: the same optimiser (Adam), number of steps, batch size,
learning-rate grid (the best learning rate is chosen on the validation set), and seed.
Measured: test energy MAE and force RMSE (reduced units) for each training-set size.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import torch

from equigen.data.lennard_jones import LJDataset, sample_lj_cluster
from equigen.experiments.base import Experiment, ExperimentConfig, save_figure
from equigen.experiments.registry import register
from equigen.groups import haar_orthogonal
from equigen.nn import EGNN, EnergyModel, ForceField
from equigen.nn.graph_baselines import FlatMLP, count_parameters, width_for_params

MODELS = ("equivariant", "unconstrained", "augmented")


@dataclass
class DataEfficiencyConfig(ExperimentConfig):
    train_sizes: tuple = (100, 1000, 10000)
    test_size: int = 1000
    val_size: int = 500
    num_particles: int = 13
    temperature: float = 0.3
    burn_in_sweeps: int = 400
    steps: int = 2000
    batch_size: int = 32
    learning_rates: tuple = (1e-3, 3e-3)
    force_weight: float = 1.0
    hidden: int = 32
    num_layers: int = 3
    num_radial: int = 8
    cutoff: float = 4.5
    mlp_layers: int = 3
    threads: int = 1
    time_budget_s: float = 3600.0

    @classmethod
    def quick(cls):
        return cls(test_size=500, val_size=200, steps=400, learning_rates=(3e-3,), time_budget_s=300.0)

    @classmethod
    def full(cls):
        return cls(test_size=2000, val_size=500, steps=4000, learning_rates=(1e-3, 3e-3), time_budget_s=7200.0)


@functools.lru_cache(maxsize=4)
def _dataset(num_samples: int, num_particles: int, temperature: float, seed: int, burn_in: int) -> LJDataset:
    return sample_lj_cluster(num_samples, num_particles, temperature=temperature, seed=seed, burn_in_sweeps=burn_in)


def _complete_edges(num_graphs: int, n: int) -> torch.Tensor:
    idx = torch.arange(n)
    src, dst = torch.meshgrid(idx, idx, indexing="ij")
    keep = src != dst
    one = torch.stack([src[keep], dst[keep]])
    offsets = (torch.arange(num_graphs) * n).repeat_interleave(one.shape[1])
    return one.repeat(1, num_graphs) + offsets


def build_models(config: DataEfficiencyConfig, *, dtype=torch.float32, device=None):
    """The three force fields of the experiment (equivariant, unconstrained, augmented twin)."""
    n, h = config.num_particles, config.hidden
    egnn = EGNN(1, h, h, num_layers=config.num_layers, num_radial=config.num_radial, cutoff=config.cutoff,
                update_pos=False, dtype=dtype, device=device)
    equivariant = ForceField(EnergyModel(egnn, h, h, dtype=dtype, device=device))
    target = count_parameters(equivariant)

    def flat(width):
        return ForceField(EnergyModel(FlatMLP(n, 1, width, 4, num_layers=config.mlp_layers, dtype=dtype,
                                              device=device), 4, 16, dtype=dtype, device=device))

    width = width_for_params(flat, target, lo=1, hi=4096)
    return {"equivariant": equivariant, "unconstrained": flat(width), "augmented": flat(width)}


def _predict(model, pos, norm, edges_for):
    """Energies ``(B,)`` and forces ``(B, N, 3)`` in physical units."""
    b, n, _ = pos.shape
    flat = pos.reshape(b * n, 3)
    batch = torch.arange(b, device=pos.device).repeat_interleave(n)
    h = torch.ones(b * n, 1, dtype=pos.dtype, device=pos.device)
    energy, forces = model(h, flat, edges_for(b), batch, num_graphs=b)
    mean, std = norm
    return energy * std + mean, forces.reshape(b, n, 3) * std


def evaluate(model, data: LJDataset, norm, edges_for, *, chunk: int = 250) -> dict:
    """Energy MAE and force RMSE (per component) over ``data``."""
    model.eval()
    e_err, f_err = [], []
    for start in range(0, len(data), chunk):
        part = data[start:start + chunk]
        with torch.no_grad():
            energy, forces = _predict(model, part.pos, norm, edges_for)
        e_err.append((energy.detach() - part.energy).abs())
        f_err.append((forces.detach() - part.forces).square().reshape(-1))
    model.train()
    return {"energy_mae": float(torch.cat(e_err).mean()), "force_rmse": float(torch.cat(f_err).mean().sqrt())}


def train(model, data: LJDataset, *, steps: int, lr: float, batch_size: int, force_weight: float,
          augment: bool, generator: torch.Generator, edges_for, norm) -> list:
    """Adam with cosine decay on ``MSE(E)/std^2 + force_weight * MSE(F)/std^2``; returns the loss curve."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    mean, std = norm
    curve = []
    for _ in range(steps):
        idx = torch.randint(len(data), (min(batch_size, len(data)),), generator=generator).to(data.pos.device)
        pos, energy, forces = data.pos[idx], data.energy[idx], data.forces[idx]
        if augment:
            rot = haar_orthogonal(3, proper=True, size=(idx.shape[0],), generator=generator,
                                  dtype=pos.dtype).to(pos.device)
            pos, forces = pos @ rot.transpose(-1, -2), forces @ rot.transpose(-1, -2)
        e_pred, f_pred = _predict(model, pos, norm, edges_for)
        loss = ((e_pred - energy) / std).square().mean() + force_weight * ((f_pred - forces) / std).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        curve.append(float(loss.detach()))
    return curve


@register
class DataEfficiency(Experiment):
    name = "data-efficiency"
    description = ("LJ13 energies and forces: E(3)-equivariant EGNN vs an unconstrained MLP (and with random-"
                   "rotation augmentation) at 100 / 1,000 / 10,000 training configurations, equal size and tuning")
    Config = DataEfficiencyConfig

    def execute(self, config, *, seed, out_dir, result):
        dtype, device = torch.float32, torch.device(config.device)
        start = time.perf_counter()
        sizes = sorted(int(s) for s in config.train_sizes)
        args = (config.num_particles, config.temperature)
        pool = _dataset(sizes[-1], *args, seed, config.burn_in_sweeps).to(dtype, device)
        test = _dataset(config.test_size, *args, seed + 1000, config.burn_in_sweeps).to(dtype, device)
        val = _dataset(config.val_size, *args, seed + 2000, config.burn_in_sweeps).to(dtype, device)
        result.timings["data_s"] = time.perf_counter() - start
        result.notes.append(f"LJ{config.num_particles} at T={config.temperature}: MCMC acceptance "
                            f"{pool.info['acceptance']:.2f}; train, validation and test from independent chains.")

        edges = {}

        def edges_for(b):
            if b not in edges:
                edges[b] = _complete_edges(b, config.num_particles).to(device)
            return edges[b]

        rows, curves = [], {}
        for size in sizes:
            train_set = pool[:size]
            norm = (float(train_set.energy.mean()), float(train_set.energy.std()) if size > 1 else 1.0)
            for name in MODELS:
                best = None
                for lr in config.learning_rates:
                    torch.manual_seed(seed)
                    model = build_models(config, dtype=dtype, device=device)[name]
                    gen = torch.Generator().manual_seed(seed)
                    t0 = time.perf_counter()
                    curve = train(model, train_set, steps=config.steps, lr=lr, batch_size=config.batch_size,
                                  force_weight=config.force_weight, augment=name == "augmented", generator=gen,
                                  edges_for=edges_for, norm=norm)
                    seconds = time.perf_counter() - t0
                    val_metrics = evaluate(model, val, norm, edges_for)
                    score = val_metrics["energy_mae"] / norm[1] + val_metrics["force_rmse"] / norm[1]
                    if best is None or score < best[0]:
                        best = (score, lr, model, curve, val_metrics, seconds)
                _, lr, model, curve, val_metrics, seconds = best
                test_metrics = evaluate(model, test, norm, edges_for)
                rows.append({"model": name, "train_size": size, "parameters": count_parameters(model),
                             "learning_rate": lr, "test_energy_mae": test_metrics["energy_mae"],
                             "test_force_rmse": test_metrics["force_rmse"],
                             "val_energy_mae": val_metrics["energy_mae"], "val_force_rmse": val_metrics["force_rmse"],
                             "final_train_loss": float(np.mean(curve[-20:])), "train_seconds": seconds})
                curves[(name, size)] = curve
        result.tables["test error"] = rows
        by = {(r["model"], r["train_size"]): r for r in rows}
        small, large = sizes[0], sizes[-1]
        params = [r["parameters"] for r in rows]
        result.metrics.update({
            "parameter_ratio_max_min": max(params) / min(params),
            "test_energy_std": float(test.energy.std()),
            "test_force_rms": float(test.forces.square().mean().sqrt()),
        })
        for name in MODELS:
            for size in sizes:
                result.metrics[f"{name}_{size}_energy_mae"] = by[(name, size)]["test_energy_mae"]
                result.metrics[f"{name}_{size}_force_rmse"] = by[(name, size)]["test_force_rmse"]
        eq, un = by[("equivariant", small)], by[("unconstrained", large)]
        result.metrics["equivariant_at_smallest_beats_unconstrained_at_largest_energy"] = bool(
            eq["test_energy_mae"] < un["test_energy_mae"])
        result.metrics["equivariant_at_smallest_beats_unconstrained_at_largest_forces"] = bool(
            eq["test_force_rmse"] < un["test_force_rmse"])
        result.figures.append(self._figure(rows, sizes, out_dir))

    @staticmethod
    def _figure(rows, sizes, out_dir):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, key, label in ((axes[0], "test_energy_mae", "test energy MAE (epsilon)"),
                               (axes[1], "test_force_rmse", "test force RMSE (epsilon/sigma)")):
            for name, style in zip(MODELS, ("o-", "s--", "^:")):
                ys = [next(r[key] for r in rows if r["model"] == name and r["train_size"] == s) for s in sizes]
                ax.plot(sizes, ys, style, label=name)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("training configurations")
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
        axes[0].legend()
        fig.suptitle("LJ13: data efficiency of built-in E(3) symmetry")
        return save_figure(fig, out_dir, "data-efficiency")

