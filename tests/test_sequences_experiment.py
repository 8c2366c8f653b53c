"""The "sequences" experiment runs end to end at a tiny scale and reports what the closing note needs."""

import math

from equigen.experiments import get


def test_sequences_experiment_tiny_run(tmp_path):
    exp = get("sequences")
    cfg = exp.Config(length=16, q=4, bond=(2, 13), num_contacts=0, mcmc_sweeps=20, mcmc_chains=64,
                     train_samples=256, truth_samples=128, width=16, depth=1, heads=2, train_steps=20,
                     batch_size=32, num_samples=24, candidates=2, time_budget_s=60.0)
    quick, full = exp.Config.quick(), exp.Config.full()
    assert full.length == 120 and full.bond == (10, 100) and full.q == 20
    assert quick.length < full.length and quick.time_budget_s <= full.time_budget_s
    r = exp.run(cfg, seed=0, out_dir=tmp_path)
    rows = r.tables["bond satisfaction"]
    models = {(row["model"], row["setting"][:3]) for row in rows}
    for key in ("(a)", "(b)", "(c)"):
        assert ("AR", key) in models and ("MLM", key) in models and ("Potts MCMC (truth)", key) in models
    for row in rows:
        assert 0 <= row["ci95_low"] <= row["satisfied"] <= row["ci95_high"] <= 1
    # ground truth under the constraint, and the masked model's hard constraint, are always satisfied
    assert next(r_["satisfied"] for r_ in rows if r_["model"].startswith("Potts") and r_["setting"][:3] == "(c)") == 1
    assert r.metrics["mlm_rate_c"] == 1.0
    # equal evaluations per sample for the plain AR and MLM rows
    ev = {(row["model"], row["setting"][:3]): row["evaluations_per_sample"] for row in rows}
    assert ev[("AR", "(b)")] == ev[("MLM", "(b)")] == 16
    stats = r.tables["agreement with the Potts ground truth (unconditional)"]
    assert [s["samples"] for s in stats] == ["Potts MCMC (independent)", "AR", "MLM"]
    assert all(math.isfinite(s["single_site_mae"]) for s in stats)
    assert len(r.figures) == 2 and r.timings["train_ar_s"] > 0
    diag = r.tables["MCMC diagnostics"]
    assert all(d["r_hat"] < 1.2 for d in diag)
