"""Experiment "lorenz": painting vs sculpting -- VAE and GANs on the Lorenz attractor, judged by D2.

A VAE with a Gaussian decoder (sigma > 0) has a density in all of R^3, so its samples have
correlation dimension 3 below the scale sigma; a GAN pushes its latent space through a smooth map,
so its samples have dimension at most d_z. Trained on the same standardised Lorenz samples:
VAE(d_z=2, learnable sigma), GAN(d_z=2), GAN(d_z=3), GAN(d_z=8). Measured: the local slopes
d log C / d log r of every sample set against r (the scale-dependent dimension), D2 over the data's
own scaling region, slopes below it and, for the VAE, on [sigma/10, sigma] and above sigma; the
sliced Wasserstein distance and MMD of each model's samples to held-out data.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from equigen.experiments.base import Experiment, ExperimentConfig, save_figure
from equigen.experiments.registry import register


@dataclass
class LorenzConfig(ExperimentConfig):
    n_train: int = 20000
    n_test: int = 20000
    n_eval: int = 50000  # samples drawn from each model for D2
    vae_latent_dim: int = 2
    vae_steps: int = 3000
    vae_hidden: int = 128
    vae_layers: int = 3
    gan_latent_dims: tuple = (2, 3, 8)
    gan_objective: str = "ns-r1"
    gan_penalty: float | None = 0.1  # R1 weight (None: the objective's default)
    gan_steps: int = 3000
    gan_hidden: int = 128
    gan_layers: int = 3
    gan_lr: float = 2e-4
    gan_batch_size: int = 256
    gan_time_limit_s: float | None = None  # per GAN; None: run all steps
    threads: int = 1
    time_budget_s: float = 300.0

    @classmethod
    def quick(cls):
        return cls(n_train=20000, n_test=10000, n_eval=30000, vae_steps=1500, gan_steps=2500, gan_time_limit_s=75.0,
                   time_budget_s=360.0)

    @classmethod
    def full(cls):
        return cls(n_train=50000, n_test=20000, n_eval=100000, vae_steps=20000, gan_steps=30000, gan_time_limit_s=None,
                   time_budget_s=4 * 3600.0)


@register
class Lorenz(Experiment):
    name = "lorenz"
    description = "VAE vs GAN(d_z=2,3,8) on the Lorenz attractor: scale-dependent correlation dimension"
    Config = LorenzConfig

    def execute(self, config, *, seed, out_dir, result):
        from equigen.data import lorenz_dataset
        from equigen.generative import GAN, VAE
        from equigen.metrics import correlation_dimension, mmd_rbf, sliced_wasserstein

        t0 = time.perf_counter()
        dev = torch.device(config.device)
        data = lorenz_dataset(config.n_train, config.n_test, seed=seed, dtype=torch.float32, device=dev)
        result.timings["data_s"] = time.perf_counter() - t0
        train, test = data.train, data.test.cpu()

        d_data = correlation_dimension(train.double().cpu(), seed=seed)
        lo, hi = d_data.fit_range
        samples = {"data (train)": train}
        models = {}
        t0 = time.perf_counter()
        vae = VAE(3, config.vae_latent_dim, hidden=config.vae_hidden, layers=config.vae_layers, device=dev)
        vae.fit(train, steps=config.vae_steps, batch_size=256, lr=1e-3, seed=seed, schedule="cosine",
                warmup_steps=100)
        result.timings["train_VAE_s"] = time.perf_counter() - t0
        models["VAE"] = {"steps": config.vae_steps, "seconds": result.timings["train_VAE_s"],
                         "sigma": float(vae.sigma.detach())}
        g = torch.Generator().manual_seed(seed + 1)
        samples["VAE"] = vae.sample(config.n_eval, generator=g)
        samples["VAE means"] = vae.sample(config.n_eval, generator=torch.Generator().manual_seed(seed + 1),
                                          noise=False)
        for dz in config.gan_latent_dims:
            name = f"GAN(d_z={dz})"
            gan = GAN(3, dz, hidden=config.gan_hidden, layers=config.gan_layers, objective=config.gan_objective,
                      penalty=config.gan_penalty, device=dev)
            out = gan.fit(train, steps=config.gan_steps, batch_size=config.gan_batch_size, lr=config.gan_lr,
                          seed=seed, time_limit_s=config.gan_time_limit_s, log_every=100)
            result.timings[f"train_{name}_s"] = out["seconds"]
            models[name] = {"steps": out["steps"], "seconds": out["seconds"], "stopped_early": out["stopped_early"]}
            samples[name] = gan.sample(config.n_eval, generator=torch.Generator().manual_seed(seed + 2))

        t0 = time.perf_counter()
        curves, rows = {}, []
        sigma = models["VAE"]["sigma"]
        for name, x in samples.items():
            x = x.detach().cpu()
            x64 = x.double()
            if name.startswith("data"):
                d_auto = d_data
            else:
                try:
                    d_auto = correlation_dimension(x64, seed=seed)
                except ValueError as err:  # e.g. a collapsed generator
                    d_auto = None
                    result.notes.append(f"{name}: automatic D2 failed: {err}")
            # one count on a fine grid; every slope below is a least-squares fit over part of it
            grid = correlation_dimension(x64, lo / 20, 20 * hi, n_radii=64, seed=seed)
            curves[name] = grid
            row = {"samples": name, "n": len(x), "D2_data_range": _safe_slope(grid, lo, hi),
                   "slope_fine_[lo/5,lo]": _safe_slope(grid, lo / 5, lo),
                   "D2_auto": float(d_auto) if d_auto is not None else None,
                   "auto_range": [round(v, 5) for v in d_auto.fit_range] if d_auto is not None else None}
            vae_rows = name.startswith("VAE")  # same keys in every row (the report's columns)
            row["slope_[sigma/10,sigma]"] = _safe_slope(grid, sigma / 10, sigma) if vae_rows else None
            row["slope_[sigma,5sigma]"] = _safe_slope(grid, sigma, 5 * sigma) if vae_rows else None
            gd = torch.Generator().manual_seed(seed + 3)
            row["sliced_W2_to_test"] = sliced_wasserstein(x.double(), test.double(), generator=gd)
            row["MMD2_to_test"] = mmd_rbf(x.double(), test.double(), generator=torch.Generator().manual_seed(seed))
            rows.append(row)
        result.timings["metrics_s"] = time.perf_counter() - t0
        result.tables["correlation dimension"] = rows
        result.tables["training"] = [{"model": k, **v} for k, v in models.items()]
        curves_path = Path(out_dir) / "lorenz-curves.json"
        curves_path.write_text(json.dumps({k: c.to_dict() for k, c in curves.items()}))
        result.notes.append(f"log C(r) and local slopes of every sample set: {curves_path}")
        by = {r["samples"]: r for r in rows}
        result.metrics.update({
            "data_D2": float(d_data), "data_fit_range": [lo, hi], "vae_sigma": sigma,
            **{f"D2_data_range[{k}]": v["D2_data_range"] for k, v in by.items()},
            "vae_slope_sigma/10..sigma": by["VAE"]["slope_[sigma/10,sigma]"],
        })
        for dz in config.gan_latent_dims:
            name = f"GAN(d_z={dz})"
            v = by[name]["D2_data_range"]
            result.metrics[f"|D2-D2_data| {name}"] = None if v is None else abs(v - float(d_data))
        result.notes.append(
            f"data scaling region (automatic rule): r in [{lo:.4g}, {hi:.4g}] (standardised units); "
            f"VAE decoder sigma = {sigma:.4g}; fine scales = [lo/5, lo]")
        result.figures.append(self._scatter(samples, out_dir))
        result.figures.append(self._curves(curves, lo, hi, sigma, out_dir))

    @staticmethod
    def _scatter(samples, out_dir):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(samples)
        ref = samples[names[0]].detach().cpu().double()
        lims = torch.stack([ref.min(0).values, ref.max(0).values], 1).numpy()  # the data's box, for every panel
        fig = plt.figure(figsize=(4 * len(names), 4))
        for i, name in enumerate(names):
            ax = fig.add_subplot(1, len(names), i + 1, projection="3d")
            x = samples[name][:6000].detach().cpu().double().numpy()
            ax.scatter(x[:, 0], x[:, 1], x[:, 2], s=0.3, alpha=0.4)
            ax.set_title(name, fontsize=9)
            ax.set_xlim(*lims[0])
            ax.set_ylim(*lims[1])
            ax.set_zlim(*lims[2])
            ax.view_init(elev=20, azim=-60)
            for setter in (ax.set_xticklabels, ax.set_yticklabels, ax.set_zticklabels):
                setter([])
        return save_figure(fig, out_dir, "lorenz-samples")

    @staticmethod
    def _curves(curves, lo, hi, sigma, out_dir):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
        for name, c in curves.items():
            m = c.C > 0
            style = {"color": "k", "lw": 2} if name.startswith("data") else {}
            a.loglog(c.radii[m], c.C[m], label=name, **style)
            b.semilogx(c.radii, c.slopes, label=name, **style)
        for ax in (a, b):
            ax.axvspan(lo, hi, color="0.9", zorder=0, label="data scaling region")
            ax.axvline(sigma, color="tab:red", ls=":", lw=1, label="VAE sigma")
            ax.set_xlabel("r (standardised units)")
        a.set_ylabel("C(r)")
        b.set_ylabel("local slope d log C / d log r")
        b.set_ylim(0, 3.5)
        for y in (1, 2, 2.05, 3):
            b.axhline(y, color="0.6", lw=0.5)
        b.legend(fontsize=7)
        a.set_title("correlation sums")
        b.set_title("scale-dependent dimension")
        return save_figure(fig, out_dir, "lorenz-correlation")


def _safe_slope(curve, r_lo, r_hi):
    """Slope of log C vs log r over the counted radii in [r_lo, r_hi] (None if fewer than two have pairs)."""
    try:
        return curve.slope_between(r_lo * (1 - 1e-9), r_hi * (1 + 1e-9))
    except ValueError:
        return None
