"""The "fick" experiment at a tiny scale: it runs, fills its table and metrics, and shows the claims."""

from __future__ import annotations

import math

import torch

from equigen.experiments import get, names
from equigen.experiments.fick import FickConfig


def test_fick_is_registered_with_presets():
    assert "fick" in names()
    quick, full = FickConfig.quick(), FickConfig.full()
    assert quick.sizes == (64,) and full.sizes == (64, 128) and full.pairs == tuple(2**i for i in range(10))
    assert 16 in quick.pairs and 0.01 in quick.noises  # the pairs and noise the headline claim is stated at
    assert quick.time_budget_s == 40.0 <= full.time_budget_s


def test_fick_tiny_run(tmp_path):
    config = FickConfig(sizes=(16,), pairs=(1, 32), noises=(0.0, 0.01), sources=("exact", "fd"), test_fields=2,
                        rollout_steps=5, mass_steps=50, mlp_hidden=8, mlp_steps=5, mlp_max_pairs=32)
    result = get("fick").run(config, seed=0, out_dir=tmp_path)
    rows = result.tables["fick"]
    models = {r["model"] for r in rows}
    assert models == {"isotropic", "conserving", "free", "naive log-ratio", "dense N x N", "ridge",
                      "dense + shift-aug", "MLP"}
    assert len(rows) == 1 * 2 * 2 * 2 * 8
    m = result.metrics
    assert m["D_rel_error_exact_N16_noise0_pairs1"] < 1e-6
    assert m["max_shift_error_constrained"] < 1e-13
    assert m["max_mass_drift_isotropic_1000_steps"] < 1e-13
    dense_1 = [r for r in rows if r["model"] == "dense N x N" and r["pairs"] == 1 and r["noise"] == 0.0
               and r["source"] == "exact"][0]
    iso_1 = [r for r in rows if r["model"] == "isotropic" and r["pairs"] == 1 and r["noise"] == 0.0
             and r["source"] == "exact"][0]
    assert dense_1["rollout_rel_error"] > 1e6 * iso_1["rollout_rel_error"]
    assert dense_1["shift_equivariance_error"] > 1e-3  # one pair: the dense map memorised, not equivariant
    dense_32 = [r for r in rows if r["model"] == "dense N x N" and r["pairs"] == 32 and r["noise"] == 0.0
                and r["source"] == "exact"][0]
    assert dense_32["rollout_rel_error"] < 1e-6  # with >= N clean pairs it has learned the operator
    assert all(math.isfinite(r["shift_equivariance_error"]) for r in rows if r["model"] != "MLP")
    assert len(result.figures) == 2 and all((tmp_path / f.split("/")[-1]).exists() for f in result.figures)
    claims = {c.metric.split(",")[0]: c for c in result.claims}
    assert len(result.claims) == 4 and all(c.section == "fick" for c in result.claims)
    rollout = claims["relative rollout error"]
    assert set(rollout.twins) == {"free", "dense + shift-aug", "ridge", "dense N x N", "MLP"}
    iso_noisy = max(r["rollout_rel_error"] for r in rows if r["model"] == "isotropic" and r["noise"] == 0.01
                    and r["pairs"] == 32)
    assert rollout.builtin == iso_noisy  # the built-in figure is the worst isotropic fit at that setting
    assert rollout.verdict == ("reproduced" if rollout.builtin < min(rollout.twins.values()) else "not reproduced")
    assert claims["relative error of D"].verdict == "reproduced"  # one clean pair: D to rounding
    assert claims["relative integer-shift equivariance error"].builtin < 1e-13


def test_dense_map_with_all_cyclic_shifts_equals_the_free_symbol(tmp_path):
    """Augmented with every cyclic shift, the dense twin is circulant: its rollout matches the Free symbol's."""
    config = FickConfig(sizes=(16,), pairs=(4,), noises=(0.01,), sources=("exact",), test_fields=2,
                        rollout_steps=5, mass_steps=20, mlp_hidden=8, mlp_steps=2, mlp_max_pairs=0)
    rows = {r["model"]: r for r in get("fick").run(config, seed=0, out_dir=tmp_path).tables["fick"]}
    aug, free = rows["dense + shift-aug"], rows["free"]
    assert aug["shift_equivariance_error"] < 1e-10 < rows["dense N x N"]["shift_equivariance_error"]
    assert abs(aug["rollout_rel_error"] - free["rollout_rel_error"]) <= 1e-6 * max(free["rollout_rel_error"], 1e-12)
    assert rows["ridge"]["ridge_penalty"] > 0


def test_mass_drift_of_an_overflowing_rollout_is_infinite():
    """A twin whose rollout overflows (the dense map at quick scale) reports an infinite drift, not an error."""
    from equigen.experiments.fick import _mass_drift
    from equigen.nn.baselines import DenseLinearMap

    dense = DenseLinearMap(8, dtype=torch.float64)
    with torch.no_grad():
        dense.A.copy_(1e3 * torch.eye(8, dtype=torch.float64))
    drift, size = _mass_drift(dense.step, torch.ones(2, 8, dtype=torch.float64), steps=200)
    assert drift == float("inf") and size == float("inf")
