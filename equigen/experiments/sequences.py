"""Experiment "sequences": autoregressive vs masked transformers under long-range constraints.

Ground truth: a planted Potts model (:mod:`equigen.data.potts`) with a "bond" between two distant
positions (10 and 100 at full scale) that is favoured only when both hold ``C``, a letter rare on
its own. Both models (the same trunk, hence the same parameter count; the same data, step cap and
learning-rate grid, each keeping its own best learning rate by held-out loss; trained by
:class:`equigen.train.Trainer` on MCMC samples, with a wall-clock limit per run) generate in three
settings:

(a) unconditional; (b) inpainting: ``C`` fixed at the later bond position, so a bond needs a
partner at the earlier one; (c) a global constraint "the two positions bond" (a
:class:`~equigen.generative.constraints.PairConstraint`). The masked model enforces fixed letters
and the constraint during refinement. The autoregressive model gets every tool it has: the clamp
(``fixed=``: the bond's only allowed pair is ``C``-``C``, so in (c) both positions are clamped), the
clamp with sampling-importance-resampling over ``candidates`` draws (weights: the model's own
likelihood of the clamped letters, i.e. the ratio of its joint likelihood to the proposal's), and in
(c) rejection with up to ``candidates`` unconstrained draws. An equal-wall-clock arm trains the
model that is cheaper per step for as long as the other one trained; an equal-evaluations arm gives
the masked model ``candidates`` times more refinement steps, the cost of the resampling rows.

Measured per row: the bond satisfaction rate with a 95 % Wilson interval, the Potts energies of the
samples (mean, 1-Wasserstein distance to the exact conditional's MCMC samples, with an independent
MCMC set of the same size as the noise floor), model evaluations (forward passes) per sample and
seconds; and the agreement of unconditional samples with the Potts ground truth (single-site
frequencies, connected pair correlations at the planted long-range pairs, energy histogram).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from equigen.data.potts import PottsModel, pair_covariances, sample_mcmc, single_site_frequencies
from equigen.experiments.base import Experiment, ExperimentConfig, short_run_verdict
from equigen.experiments.registry import register
from equigen.generative.constraints import PairConstraint, importance_resample, rejection_sample, wilson_interval
from equigen.generative.sequence import AutoregressiveTransformer, MaskedTransformer
from equigen.train import Trainer

MODELS = {"AR": AutoregressiveTransformer, "MLM": MaskedTransformer}
FLOOR = "Potts MCMC (independent, n as models)"
FEATURES = {"AR": "letters + learned positions; causal attention (p(s_i | s_<i)), start token",
            "MLM": "letters + learned positions; bidirectional attention, mask token"}


@dataclass
class SequencesConfig(ExperimentConfig):
    """Sizes, step cap, learning-rate grid and wall-clock budget of the sequences experiment.

    Every training run (two models x ``learning_rates``, plus the equal-wall-clock arm) stops at
    ``train_steps`` or at its share of the budget, whichever comes first: the budget left, minus
    ``eval_reserve_s`` for sampling and evaluation, split evenly over the runs still to train.
    ``mlm_long_settings``: the settings (``"a"``, ``"b"``, ``"c"``) that get the equal-evaluations
    row "MLM (K*L steps)".
    """

    length: int = 120
    q: int = 20
    bond: tuple = (10, 100)
    bond_strength: float = 5.0
    rare_penalty: float = 1.0
    num_contacts: int = 6
    mcmc_sweeps: int = 400
    mcmc_chains: int = 1000
    train_samples: int = 20000
    truth_samples: int = 4000
    width: int = 64
    depth: int = 3
    heads: int = 4
    train_steps: int = 4000
    batch_size: int = 64
    learning_rates: tuple = (2e-3, 5e-3)
    equal_wall_clock: bool = True
    num_samples: int = 1000
    candidates: int = 4
    mlm_steps: int | None = None  # default: L, the autoregressive model's evaluations per sample
    mlm_long_settings: tuple = ("b", "c")
    eval_reserve_s: float = 900.0
    threads: int = 1
    time_budget_s: float = 3 * 3600.0

    @classmethod
    def quick(cls):
        return cls(length=32, q=4, bond=(4, 28), rare_penalty=1.5, num_contacts=2, mcmc_sweeps=160, mcmc_chains=800,
                   train_samples=6400, truth_samples=1600, width=32, depth=2, heads=4, train_steps=500,
                   batch_size=64, learning_rates=(1e-2, 2e-2), num_samples=400, candidates=4,
                   mlm_long_settings=("c",), eval_reserve_s=24.0, time_budget_s=90.0)

    @classmethod
    def full(cls):
        return cls()


def _on_cpu(out):
    """A model's :class:`SampleOutput` with its tensors moved to the CPU (scoring runs there)."""
    out.seqs = out.seqs.cpu()
    if out.log_weights is not None:
        out.log_weights = out.log_weights.cpu()
    return out


def _w1(a, b) -> float:
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(a.numpy(), b.numpy()))


def _rate_row(model, setting, seqs, bond, potts, e_truth, evals, seconds, extra=None):
    ok = bond.satisfied(seqs)
    n, k = ok.numel(), int(ok.sum())
    lo, hi = wilson_interval(k, n)
    e = potts.energy(seqs)
    row = {"model": model, "setting": setting, "satisfied": k / n, "ci95_low": lo, "ci95_high": hi, "n": n,
           "mean_potts_energy": float(e.mean()), "energy_sem": float(e.std() / math.sqrt(n)),
           "energy_W1_to_truth": _w1(e, e_truth), "evaluations_per_sample": evals, "seconds": seconds,
           "mean_ess": None}
    row.update(extra or {})
    return row


def _timed(fn):
    """``(fn(), the seconds it took)``."""
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


@register
class Sequences(Experiment):
    name = "sequences"
    description = ("Autoregressive vs masked transformers on a planted Potts model: satisfying a long-range bond "
                   "unconditionally, by inpainting and as a global constraint, judged by satisfaction and by the "
                   "energy distance to the exact conditional")
    Config = SequencesConfig
    stages = ("ground_truth", "train_models", "equal_wall_clock", "record_training", "generate", "summarise",
              "agreement", "sides", "claims", "report")

    def check_config(self, config):
        if not tuple(config.learning_rates):
            raise ValueError("config.learning_rates must hold at least one learning rate, got ()")

    # ------------------------------------------------------------------ ground truth and training
    def ground_truth(self, run):
        """The planted Potts model and the bond; by MCMC the training set and, per setting, a reference set and a
        noise floor of the models' sample size."""
        cfg, s, g = run.config, run.state, run.generator()
        L, (bi, bj) = cfg.length, cfg.bond
        s.potts = PottsModel.planted(L, cfg.q, bond=cfg.bond, bond_strength=cfg.bond_strength,
                                     rare_penalty=cfg.rare_penalty, num_contacts=cfg.num_contacts, generator=g)
        s.c = s.potts.index("C")
        s.bond = PairConstraint(bi, bj, [("C", "C")], length=L, alphabet=s.potts.alphabet)
        s.conditions = {"a": None, "b": {bj: s.c}, "c": {bi: s.c, bj: s.c}}
        s.labels = {"a": "(a) unconditional", "b": f"(b) inpaint C at {bj}", "c": f"(c) constraint: {bi}-{bj} bond"}

        def mcmc(m, fixed=None):
            return sample_mcmc(s.potts, m, sweeps=cfg.mcmc_sweeps, chains=min(cfg.mcmc_chains, m), fixed=fixed,
                               generator=g)

        with run.timer("mcmc"):
            s.train = mcmc(cfg.train_samples)
            s.truth = {k: mcmc(cfg.truth_samples, f) for k, f in s.conditions.items()}
            s.floor = {k: mcmc(cfg.num_samples, f).samples for k, f in s.conditions.items()}
        diag = {k: {kk: v for kk, v in r.diagnostics.items() if kk != "method"} for k, r in s.truth.items()}
        diag["train"] = {kk: v for kk, v in s.train.diagnostics.items() if kk != "method"}
        run.result.tables["MCMC diagnostics"] = [{"chain set": k, **v} for k, v in diag.items()]

    def train_models(self, run):
        """Both models with the same trunk, data, step cap and lr grid; each keeps its rate of lowest held-out loss."""
        cfg, s = run.config, run.state
        s.lrs = tuple(float(v) for v in cfg.learning_rates)
        s.held_out = s.truth["a"].samples[:512].to(cfg.device)
        s.runs_left = len(MODELS) * len(s.lrs)  # the equal-wall-clock arm, if any, gets what is left after them
        sweep, best = [], {}
        for kind in MODELS:
            for lr in s.lrs:
                model, info = self._fit(run, kind, lr, cfg.train_steps, self._share(run))
                s.runs_left -= 1
                sweep.append({"model": kind, **info})
                if kind not in best or info["heldout_loss"] < best[kind][1]["heldout_loss"]:
                    best[kind] = (model, info)
        run.result.tables["learning-rate sweep (equal steps)"] = sweep
        s.models = {kind: best[kind][0] for kind in MODELS}
        s.runs = {kind: best[kind][1] for kind in MODELS}
        s.params = {kind: sum(p.numel() for p in m.parameters()) for kind, m in s.models.items()}

    def equal_wall_clock(self, run):
        """The model cheaper per step trains, at its chosen lr, for as long as the other one did; its step cap is
        what its own rate allows, so the cosine schedule ends when the time does."""
        if not run.config.equal_wall_clock:
            return
        s, runs = run.state, run.state.runs
        per_step = {k: r["seconds"] / max(r["steps"], 1) for k, r in runs.items()}
        fast = min(per_step, key=per_step.get)
        slow = max(per_step, key=per_step.get) if len(set(per_step.values())) > 1 else next(
            k for k in MODELS if k != fast)
        target = runs[slow]["seconds"]
        steps_eq = max(int(target / per_step[fast]), 1)
        run.result.metrics["train_seconds_per_step_ratio"] = per_step[slow] / per_step[fast]
        if steps_eq >= 1.2 * runs[fast]["steps"]:
            arm = f"{fast} (equal wall-clock)"
            s.runs_left = 1
            model, info = self._fit(run, fast, runs[fast]["lr"], steps_eq, min(1.1 * target, self._share(run)))
            s.models[arm], runs[arm] = model, {**info, "matched to": f"{slow} ({target:.1f} s)"}
        else:
            run.result.notes.append(
                f"equal wall-clock: {fast}'s equal-steps run took {runs[fast]['seconds']:.1f} s, {slow}'s "
                f"{target:.1f} s; in {slow}'s time {fast} would reach {steps_eq} steps, within 20 % of the "
                f"{runs[fast]['steps']} it took, so the equal-steps runs are also the equal-wall-clock arm.")

    def record_training(self, run):
        """Steps, rate, chosen lr and held-out loss of every training run, and the parameter counts."""
        result, s = run.result, run.state
        for name, info in s.runs.items():
            result.timings[f"train_{name}_s"] = info["seconds"]
            result.metrics[f"steps {name}"] = info["steps"]
            result.metrics[f"stopped_by {name}"] = info["stopped_by"]
            result.metrics[f"steps_per_s {name}"] = info["steps_per_s"]
            result.metrics[f"lr {name}"] = info["lr"]
            result.metrics[f"heldout_loss {name}"] = info["heldout_loss"]
            result.units[f"steps {name}"] = "optimiser steps"
            result.units[f"steps_per_s {name}"] = "optimiser steps / s"
            result.units[f"heldout_loss {name}"] = "nats / position"
        result.metrics["parameters_per_model"] = s.params["AR"]
        result.metrics["parameters MLM"] = s.params["MLM"]
        result.timings["train_total_s"] = run.elapsed() - result.timings["mcmc_s"]

    @staticmethod
    def _share(run):
        """This training run's part of the training budget that is left."""
        cfg = run.config
        left = cfg.time_budget_s - cfg.eval_reserve_s - run.elapsed()
        return max(left / max(run.state.runs_left, 1), 1.0)

    @staticmethod
    def _fit(run, kind, lr, steps, limit):
        """``(model, training record)`` of one run of a freshly initialised ``kind`` model."""
        cfg, s, seed = run.config, run.state, run.seed
        torch.manual_seed(seed)  # the same initial weights for every run of a model
        model = MODELS[kind](cfg.length, s.potts.alphabet, width=cfg.width, depth=cfg.depth, heads=cfg.heads)
        trainer = Trainer(model, lr=lr, schedule="cosine", warmup_steps=max(steps // 20, 1), clip_grad_norm=1.0,
                          progress=False, distributed=False, seed=seed, device=cfg.device)
        out, seconds = _timed(lambda: trainer.fit(s.train.samples, steps=steps, batch_size=cfg.batch_size,
                                                  time_limit_s=limit))
        with torch.no_grad():
            model.eval()
            held = float(model.training_loss(s.held_out, generator=torch.Generator().manual_seed(seed)))
        return model, {"lr": lr, "step cap": steps, "steps": out["step"], "stopped_by": out["stopped_by"],
                       "time limit (s)": limit, "seconds": seconds, "steps_per_s": out["step"] / seconds,
                       "final_train_loss": out["loss"], "heldout_loss": held}

    # ------------------------------------------------------------------ generation in the three settings
    def generate(self, run):
        """Every model's samples in the three settings, next to the truth and the noise floor: the main table."""
        s = run.state
        s.rows, s.samples = [], {}
        with run.timer("sampling"):
            for key, setting in s.labels.items():
                e_truth = s.potts.energy(s.truth[key].samples)

                def add(model, seqs, evals, seconds, extra=None, setting=setting, e_truth=e_truth):
                    s.rows.append(_rate_row(model, setting, seqs, s.bond, s.potts, e_truth, evals, seconds, extra))

                add("Potts MCMC (truth)", s.truth[key].samples, None, None)
                add(FLOOR, s.floor[key], None, None)
                fixed = {p: s.potts.alphabet[a] for p, a in (s.conditions[key] or {}).items()}
                for name in [k for k in s.models if k.startswith("AR")]:
                    self._ar_rows(run, name, key, fixed, add)
                for name in [k for k in s.models if k.startswith("MLM")]:
                    self._mlm_rows(run, name, key, fixed, add)
            run.result.tables["bond satisfaction and energy"] = s.rows

    @staticmethod
    def _gen(run, offset):
        return torch.Generator().manual_seed(run.seed * 7919 + offset)

    def _ar_rows(self, run, name, key, fixed, add):
        """The autoregressive model's rows: one draw in (a); the clamp, the clamp + SIR and, under the constraint,
        rejection in (b) and (c)."""
        cfg, s = run.config, run.state
        ar, n, K, L = s.models[name], cfg.num_samples, cfg.candidates, cfg.length
        if key == "a":
            out, sec = _timed(lambda: _on_cpu(ar.sample(n, generator=self._gen(run, 1))))
            add(name, out.seqs, out.evaluations_per_sample, sec)
            s.samples[(name, "a")] = out.seqs
            return
        (one, s1), (picked, ess, sec) = self._clamp_and_sir(run, ar, fixed, 2)
        add(f"{name} + clamp", one, float(L), s1)
        s.samples[(f"{name} + clamp", key)] = one
        add(f"{name} + clamp + SIR (K={K})", picked, float(K * L), sec, {"mean_ess": float(ess.mean())})
        if key == "c":
            sub = self._gen(run, 4)

            def draw(m):
                return ar.sample(m, generator=sub).seqs.cpu()

            (seqs, info), sec = _timed(lambda: rejection_sample(draw, s.bond, n, tries=K))
            add(f"{name} + rejection (<= {K} draws)", seqs, info["rounds_per_sample"] * L, sec)

    def _clamp_and_sir(self, run, ar, fixed, offset):
        """One clamped draw per output, then K - 1 more: (one-draw seqs, s), (SIR seqs, ESS, s)."""
        n, K, L = run.config.num_samples, run.config.candidates, run.config.length
        sub = self._gen(run, offset)
        first, s1 = _timed(lambda: _on_cpu(ar.sample(n, fixed=fixed, generator=sub)))
        rest, s2 = _timed(lambda: _on_cpu(ar.sample(n * (K - 1), fixed=fixed, generator=sub)) if K > 1 else None)
        seqs = first.seqs[:, None] if rest is None else torch.cat(
            [first.seqs[:, None], rest.seqs.reshape(K - 1, n, L).transpose(0, 1)], 1)
        lw = first.log_weights[:, None] if rest is None else torch.cat(
            [first.log_weights[:, None], rest.log_weights.reshape(K - 1, n).T], 1)
        (picked, ess), s3 = _timed(lambda: importance_resample(seqs, lw, generator=self._gen(run, offset + 1)))
        return (first.seqs, s1), (picked, ess, s1 + s2 + s3)

    def _mlm_rows(self, run, name, key, fixed, add):
        """The masked model's rows: L refinement steps (and K*L in ``mlm_long_settings``), letters fixed and the
        constraint enforced during refinement."""
        cfg, s = run.config, run.state
        mlm, n, K = s.models[name], cfg.num_samples, cfg.candidates
        mlm_steps = cfg.mlm_steps or cfg.length
        constraint = s.bond if key == "c" else None
        for steps in [mlm_steps] + ([K * mlm_steps] if key in cfg.mlm_long_settings and name == "MLM" else []):
            out, sec = _timed(lambda steps=steps: _on_cpu(mlm.sample(
                n, steps=steps, fixed=fixed or None, constraint=constraint, generator=self._gen(run, 5))))
            label = name if steps == mlm_steps else f"{name} ({K}L = {steps} steps)"
            add(label, out.seqs, out.evaluations_per_sample, sec)
            if steps == mlm_steps:
                s.samples[(name, key)] = out.seqs

    # ------------------------------------------------------------------ what the rows say
    def summarise(self, run):
        """Headline metrics per setting: truth, equal-cost AR row, MLM and (b, c) SIR rates and energy W1."""
        result, s, K = run.result, run.state, run.config.candidates

        def row(model, key):
            return next((r for r in s.rows if r["model"] == model and r["setting"] == s.labels[key]), None)

        equal_cost = {"a": "AR", "b": "AR + clamp", "c": "AR + clamp"}
        for key in s.labels:
            t_row, a_row, m_row = row("Potts MCMC (truth)", key), row(equal_cost[key], key), row("MLM", key)
            result.metrics[f"truth_rate_{key}"] = t_row["satisfied"]
            for tag in ("truth", "ar", "mlm") + (("ar_sir",) if key != "a" else ()):
                result.units[f"{tag}_rate_{key}"] = "fraction of samples"
            if key != "a":
                result.units[f"ar_sir_energy_W1_{key}"] = "Potts energy units"
            result.units[f"floor_energy_W1_{key}"] = result.units[f"truth_energy_mean_{key}"] = "Potts energy units"
            result.metrics[f"truth_energy_mean_{key}"] = t_row["mean_potts_energy"]
            result.metrics[f"floor_energy_W1_{key}"] = row(FLOOR, key)["energy_W1_to_truth"]
            for tag, r in (("ar", a_row), ("mlm", m_row)):
                result.metrics[f"{tag}_rate_{key}"] = r["satisfied"]
                result.metrics[f"{tag}_energy_W1_{key}"] = r["energy_W1_to_truth"]
                result.units[f"{tag}_energy_W1_{key}"] = "Potts energy units"
            result.metrics[f"mlm_over_ar_{key}"] = (m_row["satisfied"] / a_row["satisfied"]
                                                    if a_row["satisfied"] > 0 else float("inf"))
            if key != "a":
                sir = row(f"AR + clamp + SIR (K={K})", key)
                result.metrics[f"ar_sir_rate_{key}"] = sir["satisfied"]
                result.metrics[f"ar_sir_energy_W1_{key}"] = sir["energy_W1_to_truth"]

    def agreement(self, run):
        """Unconditional samples against the Potts ground truth: single-site frequencies, long-range connected
        pair correlations, the bond's C-C covariance and the energy distribution."""
        s, (bi, bj) = run.state, run.config.bond
        ref, q = s.truth["a"].samples, s.potts.q
        f_ref = single_site_frequencies(ref, q)
        long_pairs = [tuple(e) for e in s.potts.edges.tolist() if e[1] - e[0] > 4]
        cov_ref = pair_covariances(ref, q, long_pairs)
        e_ref = s.potts.energy(ref)
        stats = []
        for name, seqs in [("Potts MCMC (independent)", s.floor["a"])] + [(k, s.samples[(k, "a")]) for k in s.models]:
            f = single_site_frequencies(seqs, q)
            cov = pair_covariances(seqs, q, long_pairs)
            e = s.potts.energy(seqs)
            corr = torch.corrcoef(torch.stack([cov.flatten(), cov_ref.flatten()]))[0, 1]
            stats.append({
                "samples": name, "n": seqs.shape[0],
                "single_site_mae": float((f - f_ref).abs().mean()),
                "long_range_cov_rmse": float(((cov - cov_ref) ** 2).mean().sqrt()),
                "long_range_cov_corr": float(corr),
                "bond_CC_cov": float(cov[long_pairs.index((bi, bj)), s.c, s.c]),
                "bond_CC_cov_truth": float(cov_ref[long_pairs.index((bi, bj)), s.c, s.c]),
                "energy_mean": float(e.mean()), "energy_std": float(e.std()),
                "energy_wasserstein": _w1(e, e_ref),
            })
        run.result.tables["agreement with the Potts ground truth (unconditional)"] = stats
        run.result.metrics["truth_energy_mean"] = float(e_ref.mean())

    def sides(self, run):
        """The table "what each side got": features, parameters, budget, steps reached and samplers per model."""
        cfg, s = run.config, run.state
        got = []
        for name, info in s.runs.items():
            kind = name.split()[0]
            got.append({"model": name, "features": FEATURES[kind], "parameters": s.params[kind],
                        "width x depth (heads)": f"{cfg.width} x {cfg.depth} ({cfg.heads})",
                        "lr grid": list(s.lrs) if name in MODELS else [info["lr"]], "lr chosen": info["lr"],
                        "step cap": info["step cap"], "steps": info["steps"], "stopped_by": info["stopped_by"],
                        "train seconds": info["seconds"], "steps_per_s": info["steps_per_s"],
                        "heldout_loss": info["heldout_loss"], "matched to": info.get("matched to", ""),
                        "samplers": ("one draw; clamp; clamp + SIR (K); rejection (K)" if kind == "AR" else
                                     "refinement (L steps; K*L in " + ", ".join(cfg.mlm_long_settings) + ")"
                                     if name == "MLM" else "refinement (L steps)")})
        run.result.tables["what each side got"] = got

    def claims(self, run):
        s = run.state
        self._claims(run.config, run.result, s.rows, s.labels, s.runs, run.config.candidates)

    def report(self, run):
        """The two figures and the closing note."""
        cfg, s = run.config, run.state
        run.figure(self._satisfaction_figure(s.rows), "sequences-satisfaction",
                   "Bond satisfaction (bars, 95 % Wilson intervals) and energy 1-Wasserstein distance to the "
                   "exact conditional (numbers) of every sampler in every setting. Look for: rows that satisfy "
                   "the bond as often as the truth and also have a W1 near the independent-MCMC floor.")
        run.figure(self._energy_figure(s.potts, s.truth, s.samples, s.labels), "sequences-energy",
                   "Potts energy histograms of the truth (black) and of each model's plain samples, per "
                   "setting. Look for: a model's histogram shifted to higher energy than the truth's.")
        run.result.notes.append(
            f"L={cfg.length}, q={cfg.q}, bond {cfg.bond[0]}-{cfg.bond[1]}; {cfg.width}x{cfg.depth} transformers "
            f"({s.params['AR']} parameters each), step cap {cfg.train_steps}, lr grid {list(s.lrs)} (each model "
            f"keeps the lr of lowest held-out loss); AR evaluations are prefix forwards (causal), MLM evaluations "
            f"full-length forwards; SIR weights are the AR's own likelihood of the clamped letters; torch "
            f"threads={cfg.threads}.")

    # ------------------------------------------------------------------ claims
    @staticmethod
    def _claims(config, result, rows, labels, runs, K):
        """Claims with verdicts computed from the rows; "not converged" when the training was short."""
        full = SequencesConfig.full()
        # the equal-wall-clock arm stops on its time by design; the equal-steps runs must reach their cap
        short = (config.train_steps < full.train_steps
                 or any(r["stopped_by"] == "time_limit" for k, r in runs.items() if k in MODELS))
        reached = ", ".join(f"{k} {r['steps']} (stopped by {r['stopped_by']})" for k, r in runs.items())

        def verdict(ok, what):
            return short_run_verdict(ok, what, short=short, reached=reached,
                                     full=f"trains {full.train_steps} steps per run (lr grid "
                                          f"{list(full.learning_rates)}) on L={full.length}, q={full.q}")

        def by(key):
            return {r["model"]: r for r in rows if r["setting"] == labels[key]}

        Sequences._inpainting_claim(result, by("b"), verdict, K)
        for key, what in (("b", "inpainted"), ("c", "constrained")):
            Sequences._energy_claim(result, by(key), key, labels[key], what, verdict, K)

    @staticmethod
    def _inpainting_claim(result, b, verdict, K):
        """(b): the masked model inpaints the bond at the conditional rate, closer than every AR sampler."""
        truth_b, mlm_b = b["Potts MCMC (truth)"], b["MLM"]
        twins = [m for m in b if m.startswith("AR")]
        gap = {m: abs(b[m]["satisfied"] - truth_b["satisfied"]) for m in ["MLM"] + twins}
        overlap = mlm_b["ci95_low"] <= truth_b["ci95_high"] and truth_b["ci95_low"] <= mlm_b["ci95_high"]
        ok = overlap and all(gap["MLM"] < gap[m] for m in twins)
        v, detail = verdict(ok, "the masked model's rate is not within the truth's interval, or an AR row is closer")
        result.add_claim(
            f"With C fixed at the later bond position, the masked model inpaints the bond at the Potts conditional "
            f"rate ({truth_b['satisfied']:.3f}), closer than the autoregressive model with the same clamp, at equal "
            f"cost or with {K}-draw importance resampling.",
            "|bond satisfaction - Potts conditional rate| (fraction)", gap["MLM"], {m: gap[m] for m in twins}, v,
            better="lower", builtin_name="MLM",
            detail=detail or ("rates: " + ", ".join(f"{m} {b[m]['satisfied']:.3f}" for m in ["MLM"] + twins)
                              + f"; truth {truth_b['satisfied']:.3f}"))

    @staticmethod
    def _energy_claim(result, rs, key, label, what, verdict, K):
        """(b) or (c): the masked model's samples are closer in energy W1 to the conditional truth than every AR
        sampler's (and, under the constraint, satisfy the bond at least as often)."""
        twins = [m for m in rs if m.startswith("AR")]
        w1 = {m: rs[m]["energy_W1_to_truth"] for m in ["MLM"] + twins}
        sat = {m: rs[m]["satisfied"] for m in ["MLM"] + twins}
        ok_sat = key != "c" or sat["MLM"] >= max(sat[m] for m in twins)
        ok = ok_sat and all(w1["MLM"] < w1[m] for m in twins)
        e = {m: rs[m]["mean_potts_energy"] for m in rs}
        long = [m for m in rs if m.startswith("MLM (")]
        v, detail = verdict(ok, f"the masked model's {what} samples are farther from the conditional Potts "
                                f"energy distribution than {min(twins, key=w1.get)}'s")
        extra = (f"mean energy: truth {e['Potts MCMC (truth)']:.1f}, MLM {e['MLM']:.1f}, "
                 + ", ".join(f"{m} {e[m]:.1f}" for m in twins)
                 + f"; satisfaction: MLM {sat['MLM']:.3f}, " + ", ".join(f"{m} {sat[m]:.3f}" for m in twins)
                 + f"; independent-MCMC floor W1 {rs[FLOOR]['energy_W1_to_truth']:.2f}"
                 + "".join(f"; {m}: W1 {rs[m]['energy_W1_to_truth']:.2f}, satisfaction {rs[m]['satisfied']:.3f}"
                           for m in long))
        statement = (
            f"In setting {label}, the masked model's samples follow the exact conditional Potts "
            f"distribution (energy 1-Wasserstein distance) more closely than every autoregressive sampler given "
            f"the same clamp (one draw, or {K}-draw importance resampling"
            + (f"; or rejection with up to {K} draws), and satisfy the bond at least as often." if key == "c"
               else ")."))
        result.add_claim(statement, "energy W1 to the conditional truth's samples (Potts energy units)",
                         w1["MLM"], {m: w1[m] for m in twins}, v, better="lower", builtin_name="MLM",
                         detail=(detail + "; " if detail else "") + extra)

    # ------------------------------------------------------------------ figures
    @staticmethod
    def _satisfaction_figure(rows):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 0.28 * len(rows) + 1))
        labels = [f"{r['setting']} | {r['model']}" for r in rows]
        vals = [r["satisfied"] for r in rows]
        err = [[r["satisfied"] - r["ci95_low"] for r in rows], [r["ci95_high"] - r["satisfied"] for r in rows]]
        colors = ["0.5" if r["model"].startswith("Potts") else ("tab:blue" if r["model"].startswith("AR")
                                                                 else "tab:orange") for r in rows]
        ax.barh(range(len(rows)), vals, xerr=err, color=colors)
        for i, r in enumerate(rows):
            ax.text(1.02, i, f"W1 {r['energy_W1_to_truth']:.2f}", va="center", fontsize=6)
        ax.set_yticks(range(len(rows)), labels, fontsize=6)
        ax.invert_yaxis()
        ax.set_xlabel("bond satisfaction rate (95 % Wilson interval); right: energy W1 to the conditional truth")
        ax.set_xlim(0, 1.2)
        return fig

    @staticmethod
    def _energy_figure(potts, truth, samples, labels):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for ax, key in zip(axes, labels):
            e_ref = potts.energy(truth[key].samples)
            bins = torch.linspace(float(e_ref.min()) - 5, float(e_ref.max()) + 15, 40).numpy()
            ax.hist(e_ref.numpy(), bins=bins, density=True, histtype="step", color="k", label="Potts MCMC")
            for (name, k), seqs in samples.items():
                if k == key:
                    ax.hist(potts.energy(seqs).numpy(), bins=bins, density=True, histtype="step", label=name)
            ax.set_xlabel("Potts energy E(s)")
            ax.set_title(labels[key], fontsize=9)
        axes[0].set_ylabel("density")
        axes[0].legend(fontsize=7)
        return fig
