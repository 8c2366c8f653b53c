"""Experiment "poisson": conditional diffusion solving ``lap(phi) = rho``, constraint violations measured.

For each boundary condition (periodic box, Dirichlet square) and grid size, on ``num_train``
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

Evaluated on ``num_test`` held-out ``rho``, ``samples`` samples each, with DDPM (ancestral,
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
from types import SimpleNamespace

import torch

from equigen.core.deprecation import renamed_fields
from equigen.core.validation import check_positive_int
from equigen.data.poisson import boundary_violation, pde_residual, poisson_pairs
from equigen.experiments.base import Experiment, ExperimentConfig, short_run_verdict
from equigen.experiments.registry import register
from equigen.generative.diffusion import Diffusion
from equigen.generative.field_diffusion import (
    FieldDenoiser,
    FourierBandLimit,
    SineBandLimit,
    SineFieldDenoiser,
    jacobi_sweeps,
)

VARIANTS = ("diffusion-hard", "diffusion-soft", "diffusion-soft-sine", "regressor")


@renamed_fields(n_train="num_train", n_test="num_test", n_val="num_val")
@dataclass
class PoissonConfig(ExperimentConfig):
    """Sizes, step caps, learning rates and the wall-clock budget of the Poisson experiment.

    Every model trains until ``steps`` or its share of the budget, whichever comes first: the
    budget left, minus what is left of ``eval_reserve_s`` for sampling, split evenly over the
    training runs still to do. ``lr`` is the default learning rate and ``lrs`` overrides it per
    ``"variant"`` or ``"boundary/variant"`` (the presets' values come from the sweep in the docs);
    ``lr_grid`` (with ``num_val`` validation ``rho``) instead trains every model at each rate of the
    grid and keeps the one with the lowest validation error (DDIM at ``ddim_steps[0]``, or the
    direct output). ``wall_clock_twins``: variants that get a second, "equal wall-clock" arm,
    trained for as many seconds as ``diffusion-hard`` on the same problem. Entries of ``variants`` and
    ``wall_clock_twins`` may name one boundary condition: ``"periodic/diffusion-soft"``.
    """

    problems: list = field(default_factory=lambda: [["periodic", 32], ["dirichlet", 32]])
    num_train: int = 2048
    num_test: int = 32
    num_val: int = 0
    samples: int = 4
    steps: int = 2500
    batch_size: int = 32
    lr: float = 2e-3
    lrs: dict = field(default_factory=dict)
    lr_grid: list | None = None
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
    variants: list = field(default_factory=lambda: list(VARIANTS))
    wall_clock_twins: list = field(default_factory=lambda: ["diffusion-soft", "diffusion-soft-sine"])
    target_rel_l2: float = 0.05  # the claim: best DDIM (<= 20 steps) rel. L2 of the hard variant
    eval_reserve_s: float = 600.0
    threads: int = 2
    time_budget_s: float = 3600.0

    @classmethod
    def quick(cls):
        return cls(variants=list(QUICK_VARIANTS), wall_clock_twins=["diffusion-soft-sine"],
                   num_train=512, num_test=8, samples=2, steps=QUICK_STEPS, width=16, modes=6, sine_modes=12, depth=2,
                   time_dim=16, ddpm_steps=20, ddim_steps=[10, 20], ema_decay=0.98, warmup_steps=20,
                   lr=5e-3, lrs=dict(QUICK_LRS), eval_reserve_s=QUICK_EVAL_RESERVE_S, time_budget_s=170.0)

    @classmethod
    def full(cls):
        return cls(problems=[["periodic", 32], ["dirichlet", 32], ["periodic", 64]], time_budget_s=7200.0)


# quick preset: the step cap is what 2 idle cores reach in the budget; the rates are each model's best of the
# sweep in docs/experiments/poisson.md (same step cap and grid for both sides of a pair: periodic 2.5e-3 .. 2e-2,
# Dirichlet 2.5e-3 .. 4e-2, doubling), chosen on 8 validation rho; models outside the sweep use the quick ``lr``
QUICK_STEPS = 250
ARM_MIN_FRACTION = 0.9  # an equal wall-clock arm runs only if the budget leaves it this much of the hard variant's time
# the models that carry the claims: the hard variant and its soft twin in the same basis on each problem (the
# Fourier network on the box and the regressor are in the full preset)
QUICK_VARIANTS = ("diffusion-hard", "periodic/diffusion-soft", "diffusion-soft-sine")
QUICK_EVAL_RESERVE_S = 20.0
QUICK_LRS = {"periodic/diffusion-hard": 1e-2, "periodic/diffusion-soft": 1e-2,
             "dirichlet/diffusion-hard": 4e-2, "dirichlet/diffusion-soft-sine": 2e-2}


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else float("nan")


def _n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


class _Regressor(torch.nn.Module):
    """The denoiser network used as a direct map ``rho -> phi`` (zero field input, time step 0)."""

    def __init__(self, net: FieldDenoiser):
        super().__init__()
        self.net = net

    def forward(self, rho):
        zeros = torch.zeros_like(rho)
        t = torch.zeros(rho.shape[0], dtype=torch.long, device=rho.device)
        return self.net(zeros, t, rho)


def _constraint(key: str):
    """``(dirichlet, the constraint in words, the violation that counts as exact)`` of a problem key."""
    dirichlet = key.startswith("dirichlet")
    what = "boundary values (max |phi| on the boundary)" if dirichlet else "gauge (max |mean phi|)"
    # exactly zero on the Dirichlet boundary (the projection writes zeros); rounding for the periodic mean
    return dirichlet, what, 0.0 if dirichlet else 1e-12


class _Evidence:
    """What the claims read from the error table (``rows``) and the per-rho errors (``calib``)."""

    def __init__(self, rows, calib):
        self.rows, self.calib = rows, calib

    def sel(self, key, name):
        return [r for r in self.rows if r["problem"] == key and r["variant"] == name]

    def best(self, key, name):
        """The best DDIM (<= 20 steps) rel. L2 in %, or the direct output's; None without such rows."""
        rs = self.sel(key, name)
        ddim = [r["rel_l2"] for r in rs if r["sampler"] == "ddim" and r["steps"] <= 20]
        direct = [r["rel_l2"] for r in rs if r["sampler"] == "direct"]
        vals = ddim or direct
        return 100.0 * min(vals) if vals else None

    def violation(self, key, name):
        vals = [r.get("boundary_violation", r.get("gauge_violation")) for r in self.sel(key, name)]
        return max(vals) if vals else None

    def best_key(self, key, name):
        """The calibration key of the best DDIM (<= 20 steps) row."""
        rs = [r for r in self.sel(key, name) if r["sampler"] == "ddim" and r["steps"] <= 20]
        r = min(rs, key=lambda r: r["rel_l2"]) if rs else None
        return None if r is None else f"{key} {name} ddim-{r['steps']}"

    def no_worse(self, key, a, b):
        """``(a no worse than b, mean paired gap in %, its standard error in %)`` over the held-out rho."""
        ka, kb = self.best_key(key, a), self.best_key(key, b)
        if ka not in self.calib or kb not in self.calib:
            return False, float("nan"), float("nan")
        d = (torch.tensor(self.calib[ka][1], dtype=torch.float64)
             - torch.tensor(self.calib[kb][1], dtype=torch.float64))
        se = float(d.std(correction=1) / len(d) ** 0.5) if len(d) > 1 else float("inf")
        return float(d.mean()) <= 2 * se, 100 * float(d.mean()), 100 * se


@register
class PoissonDiffusion(Experiment):
    name = "poisson"
    description = ("Conditional diffusion for Poisson rho -> phi: hard-constrained (gauge, Dirichlet boundary in "
                   "the sine basis) vs soft twins (Fourier; sine basis with a free boundary), DDPM vs DDIM, "
                   "regressor baseline; error, residual, spread")
    Config = PoissonConfig
    stages = ("plan_budget", "solve_problems", "record", "claims", "calibration_figure")

    @staticmethod
    def _validate(cfg):
        for item in cfg.problems:
            if (not isinstance(item, (list, tuple)) or len(item) != 2 or item[0] not in ("periodic", "dirichlet")
                    or not isinstance(item[1], int) or item[1] < 8):
                raise ValueError(f"problems entry {item!r} must be [boundary, size] with boundary 'periodic' or "
                                 "'dirichlet' and an int size >= 8")
        for name in ("num_train", "num_test", "samples", "steps", "batch_size", "width", "modes", "sine_modes",
                     "band_modes", "depth", "num_steps", "threads"):
            v = getattr(cfg, name)
            check_positive_int(v, name)
        if not cfg.ddim_steps:
            raise ValueError("ddim_steps=[] must list at least one DDIM step count, e.g. [20]")
        for s in [cfg.ddpm_steps, *cfg.ddim_steps]:
            if not 1 <= s <= cfg.num_steps:
                raise ValueError(f"sampler steps {s} must lie in 1..num_steps={cfg.num_steps}")
        if not isinstance(cfg.dirichlet_coordinates, bool):
            raise ValueError(f"dirichlet_coordinates={cfg.dirichlet_coordinates!r} must be True or False")
        def known(entry):
            parts = str(entry).split("/")
            return parts[-1] in VARIANTS and (len(parts) == 1 or (len(parts) == 2 and parts[0] in ("periodic",
                                                                                                   "dirichlet")))

        unknown = [v for v in [*cfg.variants, *cfg.wall_clock_twins] if not known(v)]
        if unknown:
            raise ValueError(f"variants {sorted(map(str, unknown))} unknown; use {', '.join(VARIANTS)}, optionally "
                             "as 'periodic/VARIANT' or 'dirichlet/VARIANT' for one boundary condition only")
        if cfg.lr_grid is not None:
            if not cfg.lr_grid or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0
                                      for v in cfg.lr_grid):
                raise ValueError(f"lr_grid={cfg.lr_grid!r} must be None or a non-empty list of positive rates")
            if isinstance(cfg.num_val, bool) or not isinstance(cfg.num_val, int) or cfg.num_val < 1:
                raise ValueError(f"num_val={cfg.num_val!r}: an lr_grid needs num_val >= 1 validation rho to choose by")
        if not isinstance(cfg.lrs, dict):
            raise ValueError(f"lrs={cfg.lrs!r} must be a dict {{'variant' or 'boundary/variant': rate}}")

    def check_config(self, config):
        self._validate(config)

    def plan_budget(self, run):
        """Count the equal-steps runs and the equal wall-clock arms that share the budget; start the tables."""
        cfg, s = run.config, run.state
        s.rows, s.calib, s.runs = [], {}, []
        grid = len(cfg.lr_grid) if cfg.lr_grid is not None else 1
        s.budget = dict(eval_s=0.0, runs_left=0, arms_left=0)
        for boundary, _ in cfg.problems:
            plan = self._plan(cfg, boundary)
            s.budget["runs_left"] += sum(grid for _, wc in plan if not wc)
            s.budget["arms_left"] += sum(1 for _, wc in plan if wc)

    def solve_problems(self, run):
        """Each (boundary, size) in turn: its data, every variant of its plan trained and evaluated, a figure."""
        for boundary, size in run.config.problems:
            self._problem(run, boundary, int(size))

    def record(self, run):
        """The error table, the training record of every model, and the notes saying how they were made."""
        cfg, result = run.config, run.result
        result.tables["error table (variant x sampler x steps)"] = run.state.rows
        result.tables["what each side got"] = run.state.runs
        result.notes.append(
            f"threads={cfg.threads}; step cap {cfg.steps} at batch {cfg.batch_size} per model, and a share "
            f"of the {cfg.time_budget_s:g} s budget (stops at whichever comes first: see 'what each side got'); "
            "errors are relative L2 to the exact spectral solution, mean over held-out rho and samples")
        if any(b == "dirichlet" for b, _ in cfg.problems):
            result.notes.append(
                "Dirichlet diffusion-soft and regressor: Fourier network "
                + ("with grid-coordinate input channels" if cfg.dirichlet_coordinates
                   else "without coordinates (shift-equivariant: it cannot locate the boundary)")
                + "; diffusion-soft-sine: the diffusion-hard network (SineConv blocks) plus a pointwise output map "
                  "that frees the boundary values, trained and sampled without the projection")

    def claims(self, run):
        s = run.state
        self._claims(run.config, run.result, s.rows, s.runs, s.calib)

    def calibration_figure(self, run):
        run.figure(self._calibration_figure(run.state.calib), "poisson-calibration",
                   "Spread across samples against the error, one point per held-out rho and sampler: points "
                   "near the dashed diagonal mean the spread is a calibrated error estimate.")

    @staticmethod
    def _plan(cfg, boundary):
        """``[(variant, equal_wall_clock)]`` in training order: the hard variant first (it sets the clock)."""
        def wants(entries, v):
            return v in entries or f"{boundary}/{v}" in entries

        variants = [v for v in VARIANTS if wants(cfg.variants, v)
                    and not (v == "diffusion-soft-sine" and boundary != "dirichlet")]
        plan = [(v, False) for v in variants]
        if "diffusion-hard" in variants:
            plan += [(v, True) for v in variants if wants(cfg.wall_clock_twins, v) and v != "diffusion-hard"]
        return plan

    @staticmethod
    def _lr(cfg, boundary, variant):
        return float(cfg.lrs.get(f"{boundary}/{variant}", cfg.lrs.get(variant, cfg.lr)))

    # ------------------------------------------------------------------ one problem
    def _problem(self, run, boundary, size):
        """One problem: its data and floor row, then each variant of the plan trained and evaluated, a figure."""
        p = self._problem_data(run, boundary, size)
        for variant, wall_clock in self._plan(run.config, boundary):
            if wall_clock and p.hard_s is None:
                continue
            self._variant(run, p, variant, wall_clock)
        for r in run.state.rows:
            r.pop("_spread", None), r.pop("_err", None)
        run.figure(self._fields_figure(p.key, p.rho_te, p.phi_te, p.samples_fig), f"poisson-{p.key}-fields",
                   f"{p.key}: one held-out rho, its exact phi, each model's DDIM sample (or direct output) and "
                   "its error map: look for errors concentrated at the walls in the soft Dirichlet models.")

    @staticmethod
    def _problem_data(run, boundary, size):
        """The problem's exact pairs (training float32; test and validation float64), its constraint subspace and
        the "exact, projected" row (the hard variant's floor); a namespace the variants of the problem share."""
        cfg = run.config
        gen = torch.Generator().manual_seed(run.seed * 7919 + size + (0 if boundary == "periodic" else 1))
        key = f"{boundary}{size}"
        with run.timer(f"{key}/data"):
            rho_tr, phi_tr = poisson_pairs(cfg.num_train, size, boundary, generator=gen, dtype=torch.float32)
            rho_te, phi_te = poisson_pairs(cfg.num_test, size, boundary, generator=gen, dtype=torch.float64)
            val = None
            if cfg.lr_grid is not None:
                val = poisson_pairs(cfg.num_val, size, boundary, generator=gen, dtype=torch.float64)
        scale = float(phi_tr.std())
        sine_modes = min(cfg.sine_modes, size - 2)
        projections = {
            "periodic": FourierBandLimit(min(cfg.band_modes, size // 2), zero_mean=True),
            "dirichlet": SineBandLimit(sine_modes),
        }
        p = SimpleNamespace(boundary=boundary, size=size, key=key, train_data=(phi_tr / scale, rho_tr), rho_te=rho_te,
                            phi_te=phi_te, val=val, scale=scale, modes=min(cfg.modes, size // 2), sine_modes=sine_modes,
                            proj=projections[boundary], samples_fig={}, hard_s=None)
        run.state.rows.append(PoissonDiffusion._metrics_row(key, "exact, projected", "-", 0, p.proj(phi_te)[:, None],
                                                            phi_te, rho_te, boundary, 0.0))
        return p

    def _variant(self, run, p, variant, wall_clock):
        """Train one variant of the plan (the best rate of the grid, or its equal wall-clock arm) and evaluate it."""
        cfg, s = run.config, run.state
        name = f"{variant} (equal wall-clock)" if wall_clock else variant
        lrs = [self._lr(cfg, p.boundary, variant)] if (cfg.lr_grid is None or wall_clock) else list(cfg.lr_grid)
        if wall_clock:  # the variant's own best rate, as many seconds as the hard variant trained
            lrs = [next(r["lr"] for r in s.runs if r["problem"] == p.key and r["variant"] == variant)]
            left = self._share(run, True)
            if left < ARM_MIN_FRACTION * p.hard_s:
                self._skip_arm(run, p, name, lrs[0], left)
                return
        (lr, model, net, diffusion, info, description), sweep = self._train_best(run, p, variant, wall_clock, lrs)
        s.runs.append({"problem": p.key, "variant": name, "network": description, "parameters": _n_params(model),
                       "lr": lr, "lr grid": ", ".join(f"{v:g}" for v in cfg.lr_grid) if cfg.lr_grid and not wall_clock
                       else "-", **info,
                       "validation rel_l2 by lr": ", ".join(f"{k:g}: {v:.4f}" for k, v in sweep.items()) or "-"})
        if variant == "diffusion-hard":
            p.hard_s = info["train_s"]
        run.result.timings[f"{p.key}/{name}/train_s"] = info["train_s"]
        run.result.metrics[f"{p.key}/{name}/final_loss"] = info["final_loss"]
        t_eval = time.perf_counter()
        if diffusion is None:
            self._evaluate_direct(run, p, name, model, info)
        else:
            self._evaluate_samplers(run, p, variant, name, wall_clock, net, diffusion, info)
        s.budget["eval_s"] += time.perf_counter() - t_eval

    @staticmethod
    def _skip_arm(run, p, name, lr, left):
        """Record an equal wall-clock arm the budget cannot give the hard variant's time: a shorter arm would be a
        strawman, so it is recorded as not run and left out of the claims."""
        run.state.budget["arms_left"] -= 1
        run.state.runs.append({"problem": p.key, "variant": name, "network": "-", "parameters": 0, "lr": lr,
                               "lr grid": "-", "step cap": 0, "steps": 0, "stopped_by": "not run",
                               "time limit (s)": left, "train_s": 0.0, "steps/s": float("nan"),
                               "final_loss": float("nan"), "validation rel_l2 by lr": "-"})
        run.result.notes.append(f"{p.key} {name}: not run -- the budget left {left:.1f} s, less than "
                                f"{ARM_MIN_FRACTION:g} x the {p.hard_s:.1f} s diffusion-hard trained")

    def _train_best(self, run, p, variant, wall_clock, lrs):
        """``((lr, model, net, diffusion, training record, description), {lr: validation error})``: the variant
        trained at each rate of ``lrs``, keeping the lowest validation error (the first rate without validation)."""
        cfg, s = run.config, run.state
        best, sweep = None, {}
        for lr in lrs:
            model, net, diffusion, loss_fn, description = self._build(cfg, variant, p.boundary, p.modes, p.sine_modes,
                                                                      p.proj, run.seed)
            limit, step_cap = self._share(run, wall_clock), cfg.steps
            if wall_clock:
                rate = next(r["steps"] / max(r["train_s"], 1e-9) for r in s.runs
                            if r["problem"] == p.key and r["variant"] == variant)
                limit = min(p.hard_s, limit)
                step_cap = max(int(rate * p.hard_s), 1)  # its schedule ends when the time does
            info = self._train(cfg, model, loss_fn, p.train_data, run.seed, lr, step_cap, limit)
            s.budget["arms_left" if wall_clock else "runs_left"] -= 1
            model = model.double().eval()
            score = None
            if p.val is not None and not wall_clock:
                t_eval = time.perf_counter()
                score = self._val_error(cfg, model, net, diffusion, p.val, p.scale, run.seed)
                s.budget["eval_s"] += time.perf_counter() - t_eval
                sweep[lr] = score
            if best is None or (score is not None and score < best[0]):
                best = (score, lr, model, net, diffusion, info, description)
        return best[1:], sweep

    def _evaluate_direct(self, run, p, name, model, info):
        """The regressor's row: its direct output on the held-out rho."""
        t0 = time.perf_counter()
        with torch.no_grad():
            pred = model(p.rho_te.to(run.config.device)).cpu() * p.scale
        dt = time.perf_counter() - t0
        row = self._metrics_row(p.key, name, "direct", 1, pred[:, None], p.phi_te, p.rho_te, p.boundary, dt,
                                info["train_s"], info["steps"])
        run.state.rows.append(row)
        run.result.metrics[f"{p.key}/{name}/direct/rel_l2"] = row["rel_l2"]
        p.samples_fig[name] = pred
        self._write_partial(run.out_dir, run.state.rows, run.result)

    def _evaluate_samplers(self, run, p, variant, name, wall_clock, net, diffusion, info):
        """A diffusion model's rows: DDPM and each DDIM step count (the hard variant also after Jacobi sweeps)."""
        cfg, s = run.config, run.state
        rho_in = p.rho_te.to(cfg.device)
        for sampler, steps in [("ddpm", cfg.ddpm_steps)] + [("ddim", k) for k in cfg.ddim_steps]:
            out, dt = self._sample(cfg, diffusion, net, rho_in, sampler, steps, run.seed)
            out = out * p.scale
            row = self._metrics_row(p.key, name, sampler, steps, out, p.phi_te, p.rho_te, p.boundary, dt,
                                    info["train_s"], info["steps"])
            s.rows.append(row)
            s.calib[f"{p.key} {name} {sampler}-{steps}"] = (row.pop("_spread"), row.pop("_err"))
            run.result.metrics[f"{p.key}/{name}/{sampler}{steps}/rel_l2"] = row["rel_l2"]
            if variant == "diffusion-hard" and cfg.jacobi_sweeps > 0:
                fixed = jacobi_sweeps(out.reshape(-1, 1, p.size, p.size), p.rho_te.repeat_interleave(cfg.samples, 0),
                                      p.boundary, cfg.jacobi_sweeps).reshape(out.shape)
                s.rows.append(self._metrics_row(p.key, f"{variant} +jacobi{cfg.jacobi_sweeps}", sampler, steps, fixed,
                                                p.phi_te, p.rho_te, p.boundary, dt, info["train_s"], info["steps"]))
                s.rows[-1].pop("_spread"), s.rows[-1].pop("_err")
            if sampler == "ddim" and steps == cfg.ddim_steps[-1] and not wall_clock:
                p.samples_fig[f"{variant} ddim-{steps}"] = out[:, 0]
            self._write_partial(run.out_dir, s.rows, run.result)

    @staticmethod
    def _share(run, wall_clock=False):
        """This run's part of the wall-clock budget: what is left (less the unused eval reserve) over the runs left.

        The equal-steps runs share the budget; the equal wall-clock arms get what those leave (at most the hard
        variant's time), so a tight budget shortens the arms first, not the equal-steps comparison.
        """
        cfg, budget = run.config, run.state.budget
        elapsed = run.elapsed()
        reserve = max(cfg.eval_reserve_s - budget["eval_s"], 0.0)
        left = cfg.time_budget_s - elapsed - reserve
        count = budget["arms_left"] if wall_clock else budget["runs_left"]
        return max(left / max(count, 1), 1.0)

    def _build(self, cfg, variant, boundary, modes, sine_modes, proj, seed):
        """``(model, denoiser, diffusion or None, loss_fn, description)`` of one variant, freshly initialised."""
        net_kw = dict(width=cfg.width, depth=cfg.depth, time_dim=cfg.time_dim, num_steps=cfg.num_steps,
                      generator=torch.Generator().manual_seed(seed + 11))
        if boundary == "dirichlet" and variant in ("diffusion-hard", "diffusion-soft-sine"):
            free = variant == "diffusion-soft-sine"
            net = SineFieldDenoiser(1, 1, modes=sine_modes, free_boundary=free, **net_kw)
            description = (f"SineConv x{cfg.depth} (sine modes {sine_modes}), " + (
                "SineConv + pointwise output (boundary free)" if free else "SineConv output (boundary 0)"))
        else:
            # on the box the solution operator is not shift-invariant: the Fourier network needs the
            # coordinates to know where the boundary is (periodic problems keep exact shift equivariance)
            coords = boundary == "dirichlet" and cfg.dirichlet_coordinates
            net = FieldDenoiser(1, 1, modes=modes, positional=coords, **net_kw)
            description = f"SpectralConv x{cfg.depth} (Fourier modes {modes})" + (", +2 coordinate channels"
                                                                                  if coords else "")
        if variant == "regressor":
            model = _Regressor(net)

            def loss_fn(m, batch):
                phi, rho = batch
                return (m(rho) - phi).pow(2).mean()
            return model, net, None, loss_fn, description + "; direct map, MSE"
        hard = variant == "diffusion-hard"
        diffusion = Diffusion(cfg.schedule, num_steps=cfg.num_steps, objective=cfg.objective,
                              project=proj if hard else None, clip_x0=cfg.clip_x0)

        def loss_fn(m, batch, generator, diffusion=diffusion):
            phi, rho = batch
            return diffusion.training_loss(m, phi, rho, generator=generator)
        return net, net, diffusion, loss_fn, description + ("; chain projected onto " + repr(proj) if hard
                                                            else "; no projection")

    def _val_error(self, cfg, model, net, diffusion, val, scale, seed):
        """Validation rel. L2 (1 sample, DDIM at ``ddim_steps[0]``; or the direct output) for the lr choice."""
        rho, phi = val
        if diffusion is None:
            with torch.no_grad():
                pred = model(rho.to(cfg.device)).cpu() * scale
        else:
            k, cfg.samples = cfg.samples, 1
            try:
                out, _ = self._sample(cfg, diffusion, net, rho.to(cfg.device), "ddim", cfg.ddim_steps[0], seed + 7)
            finally:
                cfg.samples = k
            pred = out[:, 0] * scale
        return float(((pred - phi).flatten(1).norm(dim=1) / phi.flatten(1).norm(dim=1)).mean())

    @staticmethod
    def _claims(cfg, result, rows, runs, calib):
        """The claims, with verdicts computed from the error table and the training record.

        "At least as accurate" is a paired test over the held-out rho: model A is no worse than B when the mean of
        A's per-rho error minus B's is at most two standard errors of that difference (a few test rho cannot
        separate smaller gaps, and the verdict says so rather than ranking noise).
        """
        full = PoissonConfig.full()
        arms = [r for r in runs if r["variant"].endswith("(equal wall-clock)")]
        short = cfg.steps < full.steps or any(r["stopped_by"] == "time_limit" for r in runs if r not in arms)
        reached = "; ".join(f"{r['problem']} {r['variant']} {r['steps']} (stopped by {r['stopped_by']})" for r in runs)
        skipped = {(r["problem"], r["variant"]) for r in arms if r["stopped_by"] == "not run"}

        def verdict(ok, what):
            return short_run_verdict(ok, what, short=short, reached=reached,
                                     full=f"trains {full.steps} steps per model at width {full.width}")

        ev = _Evidence(rows, calib)
        for key in dict.fromkeys(r["problem"] for r in rows):
            if not ev.sel(key, "diffusion-hard") or ev.best(key, "diffusion-hard") is None:
                continue
            names = [r["variant"] for r in runs if r["problem"] == key and r["variant"] != "diffusion-hard"
                     and (key, r["variant"]) not in skipped]
            soft = [n for n in names if n.startswith("diffusion-soft")]
            PoissonDiffusion._accuracy_claim(cfg, result, ev, key, names, verdict)
            PoissonDiffusion._exactness_claim(result, ev, key, soft, verdict)
            PoissonDiffusion._same_basis_claim(result, ev, key, soft, [n for k, n in skipped if k == key], verdict)
            if key.startswith("dirichlet"):
                PoissonDiffusion._basis_claim(result, ev, key, verdict)

    @staticmethod
    def _accuracy_claim(cfg, result, ev, key, names, verdict):
        """The hard variant reaches the target error with DDIM in <= 20 steps, its constraint exact."""
        dirichlet, what, exact = _constraint(key)
        h_err, h_viol = ev.best(key, "diffusion-hard"), ev.violation(key, "diffusion-hard")
        ok = h_err <= 100 * cfg.target_rel_l2 and h_viol <= exact
        v, detail = verdict(ok, f"the hard variant's best DDIM (<= 20 steps) rel. L2 is {h_err:.2f} % "
                            f"(> {100 * cfg.target_rel_l2:g} %)" if h_viol <= exact
                            else f"the hard variant's {what} violation is {h_viol:.2g}")
        result.add_claim(
            f"{key}: hard-constrained diffusion solves the Poisson problem to <= {100 * cfg.target_rel_l2:g} % "
            f"relative L2 with DDIM in at most 20 steps, its samples' {what} exact "
            f"({'0' if dirichlet else '<= 1e-12'}).",
            "best DDIM (<= 20 steps) relative L2 error (%)", h_err, {n: ev.best(key, n) for n in names}, v,
            better="lower", builtin_name="diffusion-hard",
            detail=detail or f"violation of the hard samples: {h_viol:.2g}; the twins' figures for comparison "
                             "(a regressor's: its direct output)")

    @staticmethod
    def _exactness_claim(result, ev, key, soft, verdict):
        """The hard variant meets the constraint exactly, the soft twins only approximately."""
        if not soft:
            return
        _, what, exact = _constraint(key)
        h_viol = ev.violation(key, "diffusion-hard")
        twin_viol = {n: ev.violation(key, n) for n in soft}
        ok = h_viol <= exact and all(t is not None and t > exact for t in twin_viol.values())
        v, detail = verdict(ok, "a soft twin meets the constraint as exactly as the hard variant, or the hard "
                                "variant misses it")
        if not ok and h_viol <= exact:
            v = "not reproduced"  # exactness does not come with training: no scale settles it differently
        result.add_claim(
            f"{key}: the hard variant meets the {what} exactly; the soft twins, trained on exact solutions, "
            "only approximately.", f"max {what} violation (field units)", h_viol, twin_viol, v,
            better="lower", builtin_name="diffusion-hard", detail=detail)

    @staticmethod
    def _same_basis_claim(result, ev, key, soft, not_run, verdict):
        """With the basis held fixed, the hard variant is at least as accurate as its soft twin (paired test)."""
        dirichlet = key.startswith("dirichlet")
        same_basis = "diffusion-soft-sine" if dirichlet else "diffusion-soft"
        twins = {n: ev.best(key, n) for n in soft if n.startswith(same_basis)}
        twins = {n: x for n, x in twins.items() if n == same_basis or n.startswith(same_basis + " (")}
        if not twins or any(x is None for x in twins.values()):
            return
        tests = {n: ev.no_worse(key, "diffusion-hard", n) for n in twins}
        ok = all(t[0] for t in tests.values())
        gaps = "; ".join(f"hard - {n}: {g:+.2f} +- {e:.2f} percentage points" for n, (_, g, e) in tests.items())
        basis = ("SineConv blocks, boundary free" if dirichlet else "the same Fourier network")
        v, detail = verdict(ok, f"the hard variant is less accurate than its twin in the same basis by more "
                                f"than two standard errors over the held-out rho ({gaps})")
        detail = detail or f"paired gap over the held-out rho, mean +- standard error: {gaps}"
        arm_run = any(n.endswith("(equal wall-clock)") for n in twins)
        if not_run:
            detail += (f"; {', '.join(not_run)} not run (the budget left less than {ARM_MIN_FRACTION:g} x "
                       "the hard variant's time), so only equal steps is compared")
        result.add_claim(
            f"{key}: with the basis held fixed ({basis}), imposing the constraint exactly costs no accuracy: "
            "the hard variant is at least as accurate as its soft twin at equal steps"
            + (" and at equal wall-clock." if arm_run else "."),
            "best DDIM (<= 20 steps) relative L2 error (%)", ev.best(key, "diffusion-hard"), twins, v,
            better="lower", builtin_name="diffusion-hard", detail=detail)

    @staticmethod
    def _basis_claim(result, ev, key, verdict):
        """Dirichlet: the sine-basis soft twin is at least as accurate as the Fourier network with coordinates."""
        s_err, f_err = ev.best(key, "diffusion-soft-sine"), ev.best(key, "diffusion-soft")
        if s_err is None or f_err is None:
            return
        ok, g, e = ev.no_worse(key, "diffusion-soft-sine", "diffusion-soft")
        v, detail = verdict(ok, f"the sine-basis soft twin is less accurate than the Fourier network with "
                                f"coordinates (paired gap {g:+.2f} +- {e:.2f} percentage points)")
        detail = detail or (f"paired gap sine - Fourier over the held-out rho: {g:+.2f} +- {e:.2f} "
                            "percentage points")
        result.add_claim(
            f"{key}: the basis matters apart from the constraint: with the boundary learned softly in both, "
            "the sine-basis network is at least as accurate as the Fourier network with coordinate channels.",
            "best DDIM (<= 20 steps) relative L2 error (%)", s_err, {"diffusion-soft": f_err}, v,
            better="lower", builtin_name="diffusion-soft-sine", detail=detail)

    @staticmethod
    def _write_partial(out_dir, rows, result):
        """Rows so far, to ``out_dir/poisson-partial.json`` (long runs can be followed and survive a kill)."""
        import json
        from pathlib import Path

        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        Path(out_dir, "poisson-partial.json").write_text(json.dumps({"rows": clean, "timings": result.timings},
                                                                    indent=1))

    def _train(self, cfg, model, loss_fn, data, seed, lr, steps, time_limit_s):
        from equigen.train import Trainer

        trainer = Trainer(model, loss_fn, lr=lr, schedule="cosine", warmup_steps=min(cfg.warmup_steps, steps // 5),
                          ema_decay=cfg.ema_decay, ema_warmup=True, clip_grad_norm=1.0, seed=seed, progress=False,
                          distributed=False, log_every=max(steps // 10, 1), device=cfg.device)
        t0 = time.perf_counter()
        out = trainer.fit(data, steps=steps, batch_size=cfg.batch_size, time_limit_s=time_limit_s)
        seconds = time.perf_counter() - t0
        if trainer.ema is not None:
            trainer.ema.copy_to(model)
        return {"step cap": steps, "steps": out["step"], "stopped_by": out["stopped_by"],
                "time limit (s)": time_limit_s, "train_s": seconds, "steps/s": out["step"] / max(seconds, 1e-9),
                "final_loss": float(out["loss"]) if out["loss"] is not None else float("nan")}

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
    def _fields_figure(key, rho, phi, samples):
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
        return fig

    @staticmethod
    def _calibration_figure(calib):
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
        return fig
