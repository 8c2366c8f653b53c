"""Experiment "poisson": conditional diffusion solving ``lap(phi) = rho``, constraint violations measured.

For each boundary condition (periodic box, Dirichlet square) and grid size, on ``n_train``
exact pairs (:mod:`equigen.data.poisson`, Gaussian random fields and blobs):

* ``diffusion-soft``: :class:`~equigen.generative.field_diffusion.FieldDenoiser` with Fourier
  blocks (``SpectralConv``), no constraint: the gauge (periodic mean) and the boundary values
  (Dirichlet) are learned softly. On the Dirichlet box it also gets the grid coordinates as input
  channels (``dirichlet_coordinates``): the solution operator there depends on the distance to the
  boundary, which a shift-equivariant network cannot see;
* ``diffusion-hard``: the chain lives in a constraint subspace (``Diffusion(project=...)``):
  periodic -- zero mean and Fourier band limit ``|n_i| <= band_modes``; Dirichlet -- sine modes
  ``k_i <= sine_modes`` with a denoiser built from ``SineConv`` blocks: boundary values
  identically 0. Its "+jacobi" rows add ``jacobi_sweeps`` (capped) damped Jacobi sweeps on the
  sample, reported separately from the raw sample;
* ``regressor``: the soft network trained as a direct map ``rho -> phi`` (noise input 0, t = 0).

Evaluated on ``n_test`` held-out ``rho``, ``samples`` samples each, with DDPM (ancestral,
``ddpm_steps``) and DDIM (``ddim_steps``): relative L2 error to the exact solution (mean over
samples and ``rho``; also of the sample mean), PDE residual ``||lap(phi) - rho|| / ||rho||``,
boundary violation ``max |phi|`` on the boundary (Dirichlet) or gauge violation ``max |mean phi|``
(periodic), spread across samples ``std / ||phi||`` and its calibration (Pearson correlation of
per-``rho`` spread with per-``rho`` error). The ``exact, projected`` row is the floor of the hard
variant: the exact solution projected onto its subspace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from equigen.core.validation import check_positive_int
from equigen.data.poisson import boundary_violation, pde_residual, poisson_pairs
from equigen.experiments.base import Experiment, ExperimentConfig, save_figure
from equigen.experiments.registry import register
from equigen.generative.diffusion import Diffusion
from equigen.generative.field_diffusion import (
    FieldDenoiser,
    FourierBandLimit,
    SineBandLimit,
    SineFieldDenoiser,
    jacobi_sweeps,
)


@dataclass
class PoissonConfig(ExperimentConfig):
    problems: list = field(default_factory=lambda: [["periodic", 32], ["dirichlet", 32]])
    n_train: int = 2048
    n_test: int = 32
    samples: int = 4
    steps: int = 2500
    batch_size: int = 32
    lr: float = 2e-3
    warmup_steps: int = 100
    ema_decay: float = 0.999
    width: int = 32
    modes: int = 8
    sine_modes: int = 16
    band_modes: int = 12
    depth: int = 4
    time_dim: int = 32
    num_steps: int = 1000
    schedule: str = "cosine"
    objective: str = "v"
    clip_x0: float | None = None
    ddpm_steps: int = 1000
    ddim_steps: list = field(default_factory=lambda: [20, 50, 100])
    jacobi_sweeps: int = 5
    dirichlet_coordinates: bool = True
    variants: list = field(default_factory=lambda: ["diffusion-soft", "diffusion-hard", "regressor"])
    threads: int = 2
    time_budget_s: float = 3600.0

    @classmethod
    def quick(cls):
        return cls(n_train=512, n_test=8, samples=2, steps=120, width=16, modes=6, sine_modes=12, depth=2,
                   time_dim=16, ddpm_steps=100, ddim_steps=[20, 50], ema_decay=0.98, warmup_steps=10,
                   time_budget_s=300.0)

    @classmethod
    def full(cls):
        return cls(problems=[["periodic", 32], ["dirichlet", 32], ["periodic", 64]], time_budget_s=7200.0)


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else float("nan")


class _Regressor(torch.nn.Module):
    """The denoiser network used as a direct map ``rho -> phi`` (zero field input, time step 0)."""

    def __init__(self, net: FieldDenoiser):
        super().__init__()
        self.net = net

    def forward(self, rho):
        zeros = torch.zeros_like(rho)
        t = torch.zeros(rho.shape[0], dtype=torch.long, device=rho.device)
        return self.net(zeros, t, rho)


@register
class PoissonDiffusion(Experiment):
    name = "poisson"
    description = ("Conditional diffusion for Poisson rho -> phi: soft vs hard-constrained (gauge, Dirichlet "
                   "boundary in the sine basis), DDPM vs DDIM, regressor baseline; error, residual, spread")
    Config = PoissonConfig

    @staticmethod
    def _validate(cfg):
        for item in cfg.problems:
            if (not isinstance(item, (list, tuple)) or len(item) != 2 or item[0] not in ("periodic", "dirichlet")
                    or not isinstance(item[1], int) or item[1] < 8):
                raise ValueError(f"problems entry {item!r} must be [boundary, size] with boundary 'periodic' or "
                                 "'dirichlet' and an int size >= 8")
        for name in ("n_train", "n_test", "samples", "steps", "batch_size", "width", "modes", "sine_modes",
                     "band_modes", "depth", "num_steps", "threads"):
            v = getattr(cfg, name)
            check_positive_int(v, name)
        for s in [cfg.ddpm_steps, *cfg.ddim_steps]:
            if not 1 <= s <= cfg.num_steps:
                raise ValueError(f"sampler steps {s} must lie in 1..num_steps={cfg.num_steps}")
        if not isinstance(cfg.dirichlet_coordinates, bool):
            raise ValueError(f"dirichlet_coordinates={cfg.dirichlet_coordinates!r} must be True or False")
        unknown = set(cfg.variants) - {"diffusion-soft", "diffusion-hard", "regressor"}
        if unknown:
            raise ValueError(f"variants {sorted(unknown)} unknown; use diffusion-soft, diffusion-hard, regressor")

    def execute(self, config, *, seed, out_dir, result):
        self._validate(config)
        rows, calib = [], {}
        for boundary, size in config.problems:
            self._problem(config, boundary, int(size), seed, out_dir, result, rows, calib)
        result.tables["error table (variant x sampler x steps)"] = rows
        result.notes.append(
            f"threads={config.threads}, optimizer steps={config.steps} at batch {config.batch_size} per model; "
            "errors are relative L2 to the exact spectral solution, mean over held-out rho and samples")
        if any(b == "dirichlet" for b, _ in config.problems):
            result.notes.append(
                "Dirichlet diffusion-soft and regressor: Fourier network "
                + ("with grid-coordinate input channels" if config.dirichlet_coordinates
                   else "without coordinates (shift-equivariant: it cannot locate the boundary)"))
        result.figures.append(self._calibration_figure(calib, out_dir))

    # ------------------------------------------------------------------ one problem
    def _problem(self, cfg, boundary, size, seed, out_dir, result, rows, calib):
        gen = torch.Generator().manual_seed(seed * 7919 + size + (0 if boundary == "periodic" else 1))
        rho_tr, phi_tr = poisson_pairs(cfg.n_train, size, boundary, generator=gen, dtype=torch.float32)
        rho_te, phi_te = poisson_pairs(cfg.n_test, size, boundary, generator=gen, dtype=torch.float64)
        scale = float(phi_tr.std())
        key = f"{boundary}{size}"
        modes = min(cfg.modes, size // 2)
        sine_modes = min(cfg.sine_modes, size - 2)
        projections = {
            "periodic": FourierBandLimit(min(cfg.band_modes, size // 2), zero_mean=True),
            "dirichlet": SineBandLimit(sine_modes),
        }
        proj = projections[boundary]
        floor = proj(phi_te)
        rows.append(self._metrics_row(key, "exact, projected", "-", 0, floor[:, None], phi_te, rho_te, boundary,
                                      0.0))
        samples_fig = {}
        for variant in cfg.variants:
            net_kw = dict(width=cfg.width, depth=cfg.depth, time_dim=cfg.time_dim, num_steps=cfg.num_steps,
                          generator=torch.Generator().manual_seed(seed + 11))
            if variant == "diffusion-hard" and boundary == "dirichlet":
                net = SineFieldDenoiser(1, 1, modes=sine_modes, **net_kw)
            else:
                # on the box the solution operator is not shift-invariant: the Fourier network needs the
                # coordinates to know where the boundary is (periodic problems keep exact shift equivariance)
                coords = boundary == "dirichlet" and cfg.dirichlet_coordinates
                net = FieldDenoiser(1, 1, modes=modes, positional=coords, **net_kw)
            if variant == "regressor":
                model = _Regressor(net)

                def loss_fn(m, batch):
                    phi, rho = batch
                    return (m(rho) - phi).pow(2).mean()
                diffusion = None
            else:
                diffusion = Diffusion(cfg.schedule, num_steps=cfg.num_steps, objective=cfg.objective,
                                      project=proj if variant == "diffusion-hard" else None,
                                      clip_x0=cfg.clip_x0)
                model = net

                def loss_fn(m, batch, generator, diffusion=diffusion):
                    phi, rho = batch
                    return diffusion.training_loss(m, phi, rho, generator=generator)
            train_s, final_loss = self._train(cfg, model, loss_fn, (phi_tr / scale, rho_tr), seed)
            result.timings[f"{key}/{variant}/train_s"] = train_s
            result.metrics[f"{key}/{variant}/final_loss"] = final_loss
            model = model.double().eval()
            rho_in = rho_te.to(cfg.device)
            if diffusion is None:
                t0 = time.perf_counter()
                with torch.no_grad():
                    pred = model(rho_in).cpu() * scale
                dt = time.perf_counter() - t0
                rows.append(self._metrics_row(key, variant, "direct", 1, pred[:, None], phi_te, rho_te, boundary,
                                              dt, train_s, cfg.steps))
                samples_fig[variant] = pred
                self._write_partial(out_dir, rows, result)
                continue
            samplers = [("ddpm", cfg.ddpm_steps)] + [("ddim", s) for s in cfg.ddim_steps]
            for sampler, steps in samplers:
                out, dt = self._sample(cfg, diffusion, net, rho_in, sampler, steps, seed)
                out = out * scale
                row = self._metrics_row(key, variant, sampler, steps, out, phi_te, rho_te, boundary, dt, train_s,
                                        cfg.steps)
                rows.append(row)
                calib[f"{key} {variant} {sampler}-{steps}"] = (row.pop("_spread"), row.pop("_err"))
                result.metrics[f"{key}/{variant}/{sampler}{steps}/rel_l2"] = row["rel_l2"]
                if variant == "diffusion-hard" and cfg.jacobi_sweeps > 0:
                    fixed = jacobi_sweeps(out.reshape(-1, 1, size, size), rho_te.repeat_interleave(cfg.samples, 0),
                                          boundary, cfg.jacobi_sweeps).reshape(out.shape)
                    rows.append(self._metrics_row(key, f"{variant} +jacobi{cfg.jacobi_sweeps}", sampler, steps, fixed,
                                                  phi_te, rho_te, boundary, dt, train_s, cfg.steps))
                    rows[-1].pop("_spread"), rows[-1].pop("_err")
                if sampler == "ddim" and steps == cfg.ddim_steps[0]:
                    samples_fig[f"{variant} ddim-{steps}"] = out[:, 0]
                self._write_partial(out_dir, rows, result)
        for r in rows:
            r.pop("_spread", None), r.pop("_err", None)
        result.figures.append(self._fields_figure(key, rho_te, phi_te, samples_fig, out_dir))

    @staticmethod
    def _write_partial(out_dir, rows, result):
        """Rows so far, to ``out_dir/poisson-partial.json`` (long runs can be followed and survive a kill)."""
        import json
        from pathlib import Path

        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        Path(out_dir, "poisson-partial.json").write_text(json.dumps({"rows": clean, "timings": result.timings},
                                                                    indent=1))

    def _train(self, cfg, model, loss_fn, data, seed):
        from equigen.train import Trainer

        trainer = Trainer(model, loss_fn, lr=cfg.lr, schedule="cosine", warmup_steps=cfg.warmup_steps,
                          ema_decay=cfg.ema_decay, ema_warmup=True, clip_grad_norm=1.0, seed=seed, progress=False,
                          distributed=False, log_every=max(cfg.steps // 10, 1), device=cfg.device)
        t0 = time.perf_counter()
        out = trainer.fit(data, steps=cfg.steps, batch_size=cfg.batch_size)
        if trainer.ema is not None:
            trainer.ema.copy_to(model)
        return time.perf_counter() - t0, float(out["loss"]) if out["loss"] is not None else float("nan")

    @staticmethod
    def _sample(cfg, diffusion, net, rho, sampler, steps, seed):
        k = cfg.samples
        cond = rho.repeat_interleave(k, 0)
        gen = torch.Generator().manual_seed(seed + 101)
        t0 = time.perf_counter()
        if sampler == "ddpm":
            x = diffusion.sample_ddpm(net, cond.shape, cond, steps=steps, generator=gen, dtype=torch.float64,
                                      device=cond.device)
        else:
            x = diffusion.sample_ddim(net, cond.shape, cond, steps=steps, generator=gen, dtype=torch.float64,
                                      device=cond.device)
        x = x.cpu()
        dt = time.perf_counter() - t0
        return x.reshape(rho.shape[0], k, *rho.shape[1:]), dt

    @staticmethod
    def _metrics_row(key, variant, sampler, steps, out, phi, rho, boundary, dt, train_s=0.0, train_steps=0):
        """``out``: (n, k, 1, H, W) samples per rho."""
        n, k = out.shape[:2]
        flat = out.reshape(n * k, *out.shape[2:])
        ref = phi.repeat_interleave(k, 0)
        norm = phi.flatten(1).norm(dim=1)
        err = ((flat - ref).flatten(1).norm(dim=1) / norm.repeat_interleave(k)).reshape(n, k)
        res = pde_residual(flat[:, 0], rho.repeat_interleave(k, 0)[:, 0], boundary).reshape(n, k)
        mean = out.mean(1)
        err_mean = (mean - phi).flatten(1).norm(dim=1) / norm
        spread = (out.std(1, correction=1).flatten(1).norm(dim=1) / norm) if k > 1 else torch.zeros(n)
        if boundary == "dirichlet":
            viol = float(boundary_violation(flat[:, 0]).max())
        else:
            viol = float(flat.mean(dim=(-2, -1)).abs().max())
        per_rho_err = err.mean(1)
        return {
            "problem": key, "variant": variant, "sampler": sampler, "steps": steps,
            "rel_l2": float(err.mean()), "rel_l2_of_mean": float(err_mean.mean()),
            "residual": float(res.mean()),
            ("boundary_violation" if boundary == "dirichlet" else "gauge_violation"): viol,
            "spread": float(spread.mean()),
            "spread_error_corr": _pearson(spread, per_rho_err) if k > 1 and n > 2 else float("nan"),
            "sample_s": dt, "train_s": train_s, "train_steps": train_steps,
            "_spread": spread.tolist(), "_err": per_rho_err.tolist(),
        }

    # ------------------------------------------------------------------ figures
    @staticmethod
    def _fields_figure(key, rho, phi, samples, out_dir):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(samples)
        cols = 2 + 2 * len(names)
        fig, axes = plt.subplots(1, cols, figsize=(2.3 * cols, 2.6))
        i = 0
        panels = [("rho", rho[i, 0]), ("exact phi", phi[i, 0])]
        for name in names:
            s = samples[name][i, 0]
            panels.append((f"{name}", s))
            panels.append((f"error {name}", s - phi[i, 0]))
        for ax, (title, img) in zip(axes, panels):
            im = ax.imshow(img.detach().cpu().numpy(), cmap="RdBu_r" if "error" in title else "viridis")
            ax.set_title(title, fontsize=6)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=5)
        fig.suptitle(f"Poisson {key}: rho, exact phi, samples, error maps", fontsize=8)
        return save_figure(fig, out_dir, f"poisson-{key}-fields")

    @staticmethod
    def _calibration_figure(calib, out_dir):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 4))
        for name, (spread, err) in calib.items():
            if any(s > 0 for s in spread):
                ax.scatter(spread, err, s=8, label=name)
        lim = [1e-5, 1.0]
        ax.plot(lim, lim, "k--", lw=0.8, label="spread = error")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("spread across samples (std / ||phi||)")
        ax.set_ylabel("relative L2 error (mean over samples)")
        ax.set_title("Is the spread a calibrated uncertainty? (one point per held-out rho)", fontsize=8)
        ax.legend(fontsize=5)
        return save_figure(fig, out_dir, "poisson-calibration")
