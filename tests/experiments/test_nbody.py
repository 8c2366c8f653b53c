"""The "nbody-conservation" experiment: registered with presets, and a tiny run measures what it claims."""

import math
from pathlib import Path

import torch

from equigen.experiments import get, names
from equigen.experiments.nbody import MASSES, NBodyConfig, planetary_systems


def test_registered_with_presets_of_5e3_and_1e4_steps():
    assert "nbody-conservation" in names()
    exp = get("nbody-conservation")
    quick, full = exp.Config.quick(), exp.Config.full()
    assert quick.rollout_steps == 5_000 and full.rollout_steps == 10_000
    assert quick.train_time_limit_s is not None and quick.time_budget_s == 70.0
    assert 3 <= len(MASSES) <= 5
    assert quick.time_budget_s <= full.time_budget_s


def test_planetary_systems_are_in_the_centre_of_mass_frame():
    q, p = planetary_systems(5, generator=torch.Generator().manual_seed(0))
    m = torch.tensor(MASSES, dtype=torch.float64)
    assert q.shape == p.shape == (5, len(MASSES), 3)
    assert float((m[:, None] * q).sum(1).abs().max()) < 1e-14
    assert float(p.sum(1).abs().max()) < 1e-16


def test_tiny_run_separates_the_three_models(tmp_path):
    config = NBodyConfig(train_trajectories=4, train_snapshots=40, test_trajectories=2, rollout_steps=200,
                         steps=30, hidden=16, batch_size=64)
    result = get("nbody-conservation").run(config, seed=0, out_dir=tmp_path)
    rows = {r["model"]: r for r in result.tables["drift over rollout (max over time and test systems)"]}
    assert {"truth (yoshida4)", "truth (leapfrog, same step)", "linear", "hnn", "hnn + 1/r", "pair (r only)",
            "pair"} <= set(rows)
    # the pair potential conserves both momenta to float64 rounding, whatever it learned in 30 iterations
    assert rows["pair"]["max_angular_momentum"] < 1e-12
    assert rows["pair"]["max_linear_momentum"] < 1e-12
    # the unconstrained models do not
    assert rows["hnn"]["max_angular_momentum"] > 1e-8
    assert rows["hnn + 1/r"]["max_angular_momentum"] > 1e-8
    assert rows["pair (r only)"]["max_angular_momentum"] < 1e-12
    assert rows["linear"]["max_angular_momentum"] > 1e-8
    assert rows["truth (yoshida4)"]["max_position_error"] == 0.0
    for name in ("linear", "hnn", "pair"):
        assert f"{name}_max_energy_drift" in result.metrics
        assert not math.isnan(result.metrics[f"{name}_max_angular_momentum_drift"])
    training = {r["model"]: r for r in result.tables["training"]}
    for twin in ("hnn", "hnn + 1/r", "pair (r only)"):
        assert abs(training[twin]["parameters"] - training["pair"]["parameters"]) < 0.2 * training["pair"]["parameters"]
    assert all(t["stopped_by"] == "steps" and t["iterations"] == 30 for t in training.values()
               if "equal wall-clock" not in t["model"])
    claims = {c.metric: c for c in result.claims}
    assert claims["max relative angular-momentum drift"].verdict == "reproduced"
    assert all(c.verdict in ("reproduced", "not reproduced", "not converged") for c in result.claims)
    assert all(Path(f).exists() for f in result.figures)


def test_claims_cut_short_by_the_time_cap_are_not_converged_not_refuted():
    """A claim that fails while a network was stopped by the wall-clock cap says "not converged"."""
    from equigen.experiments.base import Result
    from equigen.experiments.nbody import NBodyConservation

    def row(l, pos):
        return {"max_angular_momentum": l, "position_error_at_100": pos}

    by = {"pair": row(1e-15, 0.5), "hnn": row(1.0, 0.2), "linear": row(1e3, 9.0), "pair (r only)": row(1e-15, 0.9)}
    config = NBodyConfig(rollout_steps=100, train_time_limit_s=1.0)
    for stopped, expected in (("steps", "not reproduced"), ("time_limit", "not converged")):
        result = Result("nbody-conservation", {}, 0)
        info = {"pair": {"stopped_by": stopped}, "hnn": {"stopped_by": "steps"}}
        NBodyConservation._claims(result, by, 100, config, info)
        verdicts = [c.verdict for c in result.claims]
        assert verdicts == ["reproduced", expected, "reproduced"]
        assert ("wall-clock cap" in result.claims[1].detail) == (stopped == "time_limit")
