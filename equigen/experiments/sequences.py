"""Experiment "sequences": autoregressive vs masked transformers under long-range constraints.

Ground truth: a planted Potts model (:mod:`equigen.data.potts`) with a "bond" between two distant
positions (10 and 100 at full scale) that is favoured only when both hold ``C``, a letter rare on
its own. Both models (same width, depth, heads, training steps and data, trained by
:class:`equigen.train.Trainer` on MCMC samples) generate in three settings:

(a) unconditional; (b) inpainting: ``C`` fixed at the later bond position, so a bond needs a
partner at the earlier one; (c) a global constraint "the two positions bond" (a
:class:`~equigen.generative.constraints.PairConstraint`), enforced during masked refinement, and for
the autoregressive model by rejection with a budget of ``candidates`` draws.

Measured: the bond satisfaction rate of each model in each setting with a 95 % Wilson interval,
model evaluations (forward passes) per sample, seconds; Potts energies of the samples; and the
agreement of unconditional samples with the Potts ground truth (single-site frequencies,
connected pair correlations at the planted long-range pairs, energy histogram).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from equigen.data.potts import PottsModel, pair_covariances, sample_mcmc, single_site_frequencies
from equigen.experiments.base import Experiment, ExperimentConfig, save_figure
from equigen.experiments.registry import register
from equigen.generative.constraints import PairConstraint, importance_resample, rejection_sample, wilson_interval
from equigen.generative.sequence import AutoregressiveTransformer, MaskedTransformer
from equigen.train import Trainer


@dataclass
class SequencesConfig(ExperimentConfig):
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
    lr: float = 5e-3
    num_samples: int = 1000
    candidates: int = 4
    mlm_steps: int | None = None  # default: L, the autoregressive model's evaluations per sample
    threads: int = 1
    time_budget_s: float = 3600.0

    @classmethod
    def quick(cls):
        return cls(length=32, q=4, bond=(4, 28), rare_penalty=1.5, num_contacts=2, mcmc_sweeps=160, mcmc_chains=800,
                   train_samples=6400, truth_samples=1600, width=32, depth=2, heads=4, train_steps=1500,
                   batch_size=64, lr=1e-2, num_samples=400, candidates=4, time_budget_s=600.0)

    @classmethod
    def full(cls):
        return cls()


def _on_cpu(out):
    """A model's :class:`SampleOutput` with its tensors moved to the CPU (scoring runs there)."""
    out.seqs = out.seqs.cpu()
    if out.log_weights is not None:
        out.log_weights = out.log_weights.cpu()
    return out


def _rate_row(model, setting, seqs, bond, potts, evals, seconds, extra=None):
    ok = bond.satisfied(seqs)
    n, k = ok.numel(), int(ok.sum())
    lo, hi = wilson_interval(k, n)
    e = potts.energy(seqs)
    row = {"model": model, "setting": setting, "satisfied": k / n, "ci95_low": lo, "ci95_high": hi, "n": n,
           "mean_potts_energy": float(e.mean()), "energy_sem": float(e.std() / math.sqrt(n)),
           "evaluations_per_sample": evals, "seconds": seconds}
    row.update(extra or {})
    return row


@register
class Sequences(Experiment):
    name = "sequences"
    description = ("Autoregressive vs masked transformers on a planted Potts model: satisfying a long-range bond "
                   "unconditionally, by inpainting and as a global constraint")
    Config = SequencesConfig

    def execute(self, config, *, seed, out_dir, result):
        g = torch.Generator().manual_seed(seed)
        L, (bi, bj) = config.length, config.bond
        potts = PottsModel.planted(L, config.q, bond=config.bond, bond_strength=config.bond_strength,
                                   rare_penalty=config.rare_penalty, num_contacts=config.num_contacts, generator=g)
        c = potts.index("C")
        bond = PairConstraint(bi, bj, [("C", "C")], length=L, alphabet=potts.alphabet)
        timings = result.timings

        # ---- ground truth by MCMC
        t0 = time.perf_counter()
        def mcmc(n, fixed=None):
            chains = min(config.mcmc_chains, n)
            return sample_mcmc(potts, n, sweeps=config.mcmc_sweeps, chains=chains, fixed=fixed, generator=g)
        train = mcmc(config.train_samples)
        truth = {"a": mcmc(config.truth_samples), "b": mcmc(config.truth_samples, {bj: c}),
                 "c": mcmc(config.truth_samples, {bi: c, bj: c})}
        timings["mcmc_s"] = time.perf_counter() - t0
        diag = {k: {kk: v for kk, v in r.diagnostics.items() if kk != "method"} for k, r in truth.items()}
        diag["train"] = {kk: v for kk, v in train.diagnostics.items() if kk != "method"}
        result.tables["MCMC diagnostics"] = [{"chain set": k, **v} for k, v in diag.items()]

        # ---- models of the same size, trained the same way
        kw = {"width": config.width, "depth": config.depth, "heads": config.heads}
        torch.manual_seed(seed)
        ar = AutoregressiveTransformer(L, potts.alphabet, **kw)
        torch.manual_seed(seed)
        mlm = MaskedTransformer(L, potts.alphabet, **kw)
        held_out = truth["a"].samples[:512]
        for name, model in (("ar", ar), ("mlm", mlm)):
            t0 = time.perf_counter()
            trainer = Trainer(model, lr=config.lr, schedule="cosine", warmup_steps=config.train_steps // 20,
                              clip_grad_norm=1.0, progress=False, distributed=False, seed=seed,
                              device=config.device)
            fit = trainer.fit(train.samples, steps=config.train_steps, batch_size=config.batch_size)
            timings[f"train_{name}_s"] = time.perf_counter() - t0
            with torch.no_grad():
                model.eval()
                result.metrics[f"{name}_final_train_loss"] = fit["loss"]
                result.metrics[f"{name}_heldout_loss"] = float(
                    model.training_loss(held_out.to(config.device), generator=torch.Generator().manual_seed(seed)))
        result.metrics["parameters_per_model"] = sum(p.numel() for p in ar.parameters())

        # ---- generation in the three settings
        n, K = config.num_samples, config.candidates
        mlm_steps = config.mlm_steps or L
        rows, samples = [], {}

        def timed(fn):
            t = time.perf_counter()
            out = fn()
            return out, time.perf_counter() - t

        def gen(seed_offset):
            return torch.Generator().manual_seed(seed * 7919 + seed_offset)

        for key, setting in (("a", "(a) unconditional"), ("b", f"(b) inpaint C at {bj}"),
                             ("c", f"(c) constraint: {bi}-{bj} bond")):
            t_rate = bond.satisfied(truth[key].samples).float().mean().item()
            rows.append(_rate_row("Potts MCMC (truth)", setting, truth[key].samples, bond, potts, float("nan"),
                                  float("nan")))
            fixed = {bj: "C"} if key == "b" else None
            constraint = bond if key == "c" else None
            # autoregressive, one draw (same evaluations as the masked model)
            out, s = timed(lambda fixed=fixed: _on_cpu(ar.sample(n, fixed=fixed, generator=gen(1))))
            rows.append(_rate_row("AR", setting, out.seqs, bond, potts, out.evaluations_per_sample, s))
            samples[("AR", key)] = out.seqs
            # autoregressive with K draws per sample: reweighting (b) or rejection (c)
            if key == "b":
                def sir(fixed=fixed):
                    cand = _on_cpu(ar.sample(n * K, fixed=fixed, generator=gen(2)))
                    seqs, ess = importance_resample(cand.seqs.reshape(n, K, L), cand.log_weights.reshape(n, K),
                                                    generator=gen(3))
                    return seqs, ess
                (seqs, ess), s = timed(sir)
                rows.append(_rate_row(f"AR + reweighting (K={K})", setting, seqs, bond, potts, float(K * L), s,
                                      {"mean_ess": float(ess.mean())}))
            elif key == "c":
                def draw(m, sub=gen(4)):
                    return ar.sample(m, generator=sub).seqs.cpu()
                (seqs, info), s = timed(lambda: rejection_sample(draw, bond, n, tries=K))
                rows.append(_rate_row(f"AR + rejection (<= {K} draws)", setting, seqs, bond, potts,
                                      info["rounds_per_sample"] * L, s))
            # masked refinement
            out, s = timed(lambda fixed=fixed, constraint=constraint: _on_cpu(mlm.sample(
                n, steps=mlm_steps, fixed=fixed, constraint=constraint, generator=gen(5))))
            rows.append(_rate_row("MLM", setting, out.seqs, bond, potts, out.evaluations_per_sample, s))
            samples[("MLM", key)] = out.seqs
            result.metrics[f"truth_rate_{key}"] = t_rate
        result.tables["bond satisfaction"] = rows

        def rate(model, setting_prefix):
            return next(r["satisfied"] for r in rows if r["model"] == model and r["setting"].startswith(setting_prefix))

        for key in ("a", "b", "c"):
            result.metrics[f"ar_rate_{key}"] = rate("AR", f"({key})")
            result.metrics[f"mlm_rate_{key}"] = rate("MLM", f"({key})")
            ar_rate = result.metrics[f"ar_rate_{key}"]
            result.metrics[f"mlm_over_ar_{key}"] = (result.metrics[f"mlm_rate_{key}"] / ar_rate
                                                    if ar_rate > 0 else float("inf"))

        # ---- agreement with the ground truth (unconditional)
        ref = truth["a"].samples
        f_ref = single_site_frequencies(ref, potts.q)
        long_pairs = [tuple(e) for e in potts.edges.tolist() if e[1] - e[0] > 4]
        cov_ref = pair_covariances(ref, potts.q, long_pairs)
        e_ref = potts.energy(ref)
        # sampling noise floor: a second independent MCMC sample set of the same size as the models'
        noise = sample_mcmc(potts, n, sweeps=config.mcmc_sweeps, chains=min(config.mcmc_chains, n), generator=g).samples
        stats = []
        from scipy.stats import wasserstein_distance

        for name, seqs in (("Potts MCMC (independent)", noise), ("AR", samples[("AR", "a")]),
                           ("MLM", samples[("MLM", "a")])):
            f = single_site_frequencies(seqs, potts.q)
            cov = pair_covariances(seqs, potts.q, long_pairs)
            e = potts.energy(seqs)
            corr = torch.corrcoef(torch.stack([cov.flatten(), cov_ref.flatten()]))[0, 1]
            stats.append({
                "samples": name, "n": seqs.shape[0],
                "single_site_mae": float((f - f_ref).abs().mean()),
                "long_range_cov_rmse": float(((cov - cov_ref) ** 2).mean().sqrt()),
                "long_range_cov_corr": float(corr),
                "bond_CC_cov": float(cov[long_pairs.index((bi, bj)), c, c]),
                "bond_CC_cov_truth": float(cov_ref[long_pairs.index((bi, bj)), c, c]),
                "energy_mean": float(e.mean()), "energy_std": float(e.std()),
                "energy_wasserstein": float(wasserstein_distance(e.numpy(), e_ref.numpy())),
            })
        result.tables["agreement with the Potts ground truth (unconditional)"] = stats
        result.metrics["truth_energy_mean"] = float(e_ref.mean())
        result.figures.extend(self._figures(rows, potts, e_ref, samples, out_dir))
        result.notes.append(
            f"L={L}, q={config.q}, bond {bi}-{bj}; {config.width}x{config.depth} transformers "
            f"({result.metrics['parameters_per_model']} parameters each), {config.train_steps} training steps; "
            f"AR evaluations are prefix forwards (causal), MLM evaluations full-length forwards; "
            f"torch threads={config.threads}.")

    @staticmethod
    def _figures(rows, potts, e_ref, samples, out_dir):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figs = []
        fig, ax = plt.subplots(figsize=(9, 4.5))
        labels = [f"{r['setting']}\n{r['model']}" for r in rows]
        vals = [r["satisfied"] for r in rows]
        err = [[r["satisfied"] - r["ci95_low"] for r in rows], [r["ci95_high"] - r["satisfied"] for r in rows]]
        colors = ["0.5" if r["model"].startswith("Potts") else ("tab:blue" if r["model"].startswith("AR")
                                                                 else "tab:orange") for r in rows]
        ax.barh(range(len(rows)), vals, xerr=err, color=colors)
        ax.set_yticks(range(len(rows)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("bond satisfaction rate (95 % Wilson interval)")
        ax.set_xlim(0, 1.05)
        figs.append(save_figure(fig, out_dir, "sequences-satisfaction"))

        fig, ax = plt.subplots(figsize=(6, 4))
        bins = torch.linspace(float(e_ref.min()) - 5, float(e_ref.max()) + 5, 40).numpy()
        ax.hist(e_ref.numpy(), bins=bins, density=True, histtype="step", color="k", label="Potts MCMC")
        for (name, key), seqs in samples.items():
            if key == "a":
                ax.hist(potts.energy(seqs).numpy(), bins=bins, density=True, histtype="step",
                        label=name, color="tab:blue" if name == "AR" else "tab:orange")
        ax.set_xlabel("Potts energy E(s)")
        ax.set_ylabel("density")
        ax.legend()
        ax.set_title("Unconditional samples")
        figs.append(save_figure(fig, out_dir, "sequences-energy"))
        return figs
