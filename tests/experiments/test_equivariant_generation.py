"""The "equivariant-generation" experiment at a tiny scale: both arms, the training table, computed claims."""

from __future__ import annotations

from equigen.experiments import get, names
from equigen.experiments.base import VERDICTS, Result
from equigen.experiments.equivariant_generation import (
    MODELS,
    EquivariantGeneration,
    EquivariantGenerationConfig,
    _clash_distances,
    _clash_fraction,
)


def _tiny(**kw):
    base = dict(systems=("DW4",), num_train=64, num_test=64, chains=16, burn_in=200, diffusion_steps=10,
                max_steps={"DW4": 12}, time_limit_s={"DW4": 30.0}, batch_size={"DW4": 16}, hidden=8, num_layers=1,
                num_heldout=16, evals=2, num_samples=16, num_nll=8, nll_steps=2, num_align=4, threads=1)
    base.update(kw)
    return EquivariantGenerationConfig(**base)


def test_registered_with_presets():
    assert "equivariant-generation" in names()
    quick, full = EquivariantGenerationConfig.quick(), EquivariantGenerationConfig.full()
    assert quick.time_budget_s == 230.0 and full.time_budget_s > quick.time_budget_s
    # the EGNN and the two equal-wall-clock twins each train up to the time limit: they must fit the budget
    assert 3 * sum(quick.time_limit_s.values()) < quick.time_budget_s
    assert set(quick.max_steps) == set(quick.time_limit_s) == set(quick.systems)


def test_tiny_run_has_both_arms_and_claims(tmp_path):
    result = get("equivariant-generation").run(_tiny(), seed=0, out_dir=tmp_path)
    train = {r["model"]: r for r in result.tables["training (what each side got)"]}
    egnn = train[MODELS[0]]
    assert egnn["steps"] == 12 and egnn["stopped_by"] == "steps"
    for twin in MODELS[1:]:
        assert train[f"{twin} (equal steps)"]["steps"] == egnn["steps"]
        assert f"{twin} (equal wall-clock)" in train
        # parameter counts matched to the EGNN's within 20 %
        assert abs(train[f"{twin} (equal steps)"]["params"] / egnn["params"] - 1) < 0.2
    rows = result.tables["metrics (held-out reference)"]
    assert all(r["clash_fraction"] is None for r in rows)  # DW4 has no hard core
    assert all(t["train_cpu_s"] >= 0 for t in train.values())
    assert [s["name"] for s in result.stages] == list(EquivariantGeneration.stages)
    assert result.figures and result.figures[0].caption
    assert all(r["heldout_loss"] > 0 for r in rows if r["arm"])
    assert result.claims and all(c.verdict in VERDICTS for c in result.claims)
    assert {c.metric for c in result.claims} >= {"energy W1 (k_B T)", "NLL (nats per configuration)"}


def _rows(egnn, twin, *, above):
    """Synthetic LJ13 metric rows: the EGNN and one twin with given (clash fraction, energy W1)."""
    def row(model, arm, clash, w1):
        return {"system": "LJ13", "model": model, "arm": arm, "clash_fraction": clash, "clash_fraction_0.8rm": clash,
                "energy_W1": w1, "frac_above_ref_max": above, "nll": 1.0}
    return [row(MODELS[0], "built-in", *egnn), row("MLP (equal steps)", "equal steps", *twin)]


def _claims(rows):
    result = Result("equivariant-generation", {}, 0)
    EquivariantGeneration._claims(result, rows, _tiny(systems=("LJ13",)))
    return {c.metric: c for c in result.claims}


def test_claims_wait_for_the_acceptance_gates():
    # most EGNN samples clash / lie above the reference maximum: no verdict, whatever the ranking
    c = _claims(_rows((0.5, 3.0), (0.9, 9.0), above=0.6))
    assert c["energy W1 (k_B T)"].verdict == "not converged"
    assert "above the highest reference energy" in c["energy W1 (k_B T)"].detail
    assert c["fraction of samples with a clash"].verdict == "not converged"
    # few samples above the maximum but an energy W1 beyond the target: still no energy verdict
    c = _claims(_rows((0.02, 3.0), (0.01, 2.0), above=0.1))
    assert c["energy W1 (k_B T)"].verdict == "not converged" and "energy W1" in c["energy W1 (k_B T)"].detail
    c = _claims(_rows((0.02, 0.6), (0.01, 0.4), above=0.1))
    assert c["energy W1 (k_B T)"].verdict == "not reproduced"
    assert c["fraction of samples with a clash"].verdict == "not reproduced"
    c = _claims(_rows((0.01, 0.6), (0.3, 9.0), above=0.1))
    assert c["energy W1 (k_B T)"].verdict == "reproduced"
    assert c["fraction of samples with a clash"].verdict == "reproduced"


def test_clash_fraction():
    import torch

    x = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0]], [[0.0, 0, 0], [0.7, 0, 0]]], dtype=torch.float64)
    assert _clash_fraction(x, 0.8) == 0.5 and _clash_fraction(x, None) is None


def test_clash_distances_in_sigma_units():
    from equigen.data import particles

    config = _tiny(systems=("LJ13",))
    d = _clash_distances(particles.LJ13(), config)
    # 0.8 sigma with sigma = r_m / 2^(1/6) (r_m = 1), next to the stricter 0.8 r_m
    assert abs(d["clash_fraction"] - 0.8 / 2 ** (1 / 6)) < 1e-12 and d["clash_fraction_0.8rm"] == 0.8
    assert _clash_distances(particles.DW4(), config) is None
