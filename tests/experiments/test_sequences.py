"""The "sequences" experiment runs end to end at a tiny scale and reports what the closing note needs."""

import math

from equigen.experiments import get
from equigen.experiments.base import VERDICTS


def test_sequences_experiment_tiny_run(tmp_path):
    exp = get("sequences")
    cfg = exp.Config(length=16, q=4, bond=(2, 13), num_contacts=0, mcmc_sweeps=20, mcmc_chains=64,
                     train_samples=256, truth_samples=128, width=16, depth=1, heads=2, train_steps=12,
                     batch_size=32, learning_rates=(1e-2, 3e-2), num_samples=24, candidates=2, eval_reserve_s=5.0,
                     time_budget_s=60.0)
    quick, full = exp.Config.quick(), exp.Config.full()
    assert full.length == 120 and full.bond == (10, 100) and full.q == 20
    assert quick.length < full.length and quick.time_budget_s == 90.0 and quick.train_steps < full.train_steps
    assert len(quick.learning_rates) == len(full.learning_rates) >= 2
    r = exp.run(cfg, seed=0, out_dir=tmp_path)
    rows = r.tables["bond satisfaction and energy"]
    by = {(row["model"], row["setting"][:3]): row for row in rows}
    for key in ("(a)", "(b)", "(c)"):
        assert ("MLM", key) in by and ("Potts MCMC (truth)", key) in by
        assert ("Potts MCMC (independent, n as models)", key) in by
    assert ("AR", "(a)") in by
    for key in ("(b)", "(c)"):
        assert ("AR + clamp", key) in by and ("AR + clamp + SIR (K=2)", key) in by
    assert ("AR + rejection (<= 2 draws)", "(c)") in by and ("MLM (2L = 32 steps)", "(c)") in by
    for row in rows:
        assert 0 <= row["ci95_low"] <= row["satisfied"] <= row["ci95_high"] <= 1
        assert math.isfinite(row["energy_W1_to_truth"]) and row["energy_W1_to_truth"] >= 0
    # the truth under the constraint, the masked model's hard constraint and the AR clamp are always satisfied
    for model in ("Potts MCMC (truth)", "MLM", "AR + clamp", "AR + clamp + SIR (K=2)"):
        assert by[(model, "(c)")]["satisfied"] == 1.0
    assert by[("Potts MCMC (truth)", "(b)")]["energy_W1_to_truth"] == 0.0
    # equal evaluations per sample for the one-draw AR rows and the MLM; K times that for SIR
    assert by[("AR + clamp", "(b)")]["evaluations_per_sample"] == by[("MLM", "(b)")]["evaluations_per_sample"] == 16
    assert by[("AR + clamp + SIR (K=2)", "(c)")]["evaluations_per_sample"] == 32
    assert 1.0 <= by[("AR + clamp + SIR (K=2)", "(b)")]["mean_ess"] <= 2.0
    # both sides: the same parameters, step cap and lr grid; steps and stopped_by recorded
    got = {g["model"]: g for g in r.tables["what each side got"]}
    assert got["AR"]["parameters"] == got["MLM"]["parameters"] == r.metrics["parameters_per_model"]
    assert got["AR"]["lr grid"] == got["MLM"]["lr grid"] == [1e-2, 3e-2]
    for name in ("AR", "MLM"):
        assert got[name]["step cap"] == 12 and r.metrics[f"steps {name}"] == got[name]["steps"] <= 12
        assert r.metrics[f"stopped_by {name}"] in ("steps", "time_limit")
    assert len(r.tables["learning-rate sweep (equal steps)"]) == 4
    assert "train_seconds_per_step_ratio" in r.metrics
    # claims with computed verdicts
    assert len(r.claims) == 3
    for claim in r.claims:
        assert claim.verdict in VERDICTS and claim.builtin_name == "MLM" and claim.twins
        assert all(math.isfinite(v) for v in claim.twins.values())
    stats = r.tables["agreement with the Potts ground truth (unconditional)"]
    assert [s["samples"] for s in stats][:3] == ["Potts MCMC (independent)", "AR", "MLM"]
    assert all(math.isfinite(s["single_site_mae"]) for s in stats)
    assert len(r.figures) == 2 and r.timings["train_AR_s"] > 0
    assert all(d["r_hat"] < 1.2 for d in r.tables["MCMC diagnostics"])


def test_sequences_claim_verdicts_follow_the_measurements():
    """The verdict logic: reproduced when the masked model wins, "not converged" at quick scale otherwise."""
    from equigen.experiments.base import Result
    from equigen.experiments.sequences import FLOOR, Sequences, SequencesConfig

    labels = {"a": "(a) x", "b": "(b) x", "c": "(c) x"}

    def rows(mlm_rate_b, mlm_w1):
        out = []
        for key, truth_rate in (("b", 0.75), ("c", 1.0)):
            for model, rate, w1 in (("Potts MCMC (truth)", truth_rate, 0.0), (FLOOR, truth_rate, 0.3),
                                    ("AR + clamp", 0.2 if key == "b" else 1.0, 3.0),
                                    ("AR + clamp + SIR (K=4)", 0.45 if key == "b" else 1.0, 2.5),
                                    ("MLM", mlm_rate_b if key == "b" else 1.0, mlm_w1)):
                out.append({"model": model, "setting": labels[key], "satisfied": rate, "ci95_low": rate - 0.04,
                            "ci95_high": min(rate + 0.04, 1.0), "energy_W1_to_truth": w1,
                            "mean_potts_energy": -17.0 + w1})
        return out

    runs = {"AR": {"steps": 600, "stopped_by": "steps"}, "MLM": {"steps": 600, "stopped_by": "steps"}}
    for cfg, mlm_rate_b, mlm_w1, expect in (
            (SequencesConfig.quick(), 0.74, 6.0, ["reproduced", "not converged", "not converged"]),
            (SequencesConfig.full(), 0.74, 6.0, ["reproduced", "not reproduced", "not reproduced"]),
            (SequencesConfig.full(), 0.40, 1.0, ["not reproduced", "reproduced", "reproduced"])):
        result = Result("sequences", {}, 0)
        Sequences._claims(cfg, result, rows(mlm_rate_b, mlm_w1), labels, runs, 4)
        assert [c.verdict for c in result.claims] == expect
        assert all(("not converged at quick scale" in c.detail) == (c.verdict == "not converged")
                   for c in result.claims)
