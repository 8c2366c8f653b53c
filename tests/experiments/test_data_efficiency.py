"""The data-efficiency experiment: registered, equal sizes, runs end to end at a tiny scale."""

import pytest
import torch

from equigen.experiments import get, names
from equigen.experiments.data_efficiency import MODELS, DataEfficiencyConfig, _complete_edges, build_models
from equigen.groups import E3, SO3, Permutations
from equigen.nn import count_parameters
from equigen.testing import EquivarianceError, assert_equivariant


def test_registered_with_presets():
    assert "data-efficiency" in names()
    quick, full = DataEfficiencyConfig.quick(), DataEfficiencyConfig.full()
    assert tuple(quick.train_sizes) == (100, 1000, 10000) == tuple(full.train_sizes)
    assert quick.time_budget_s <= 600 and full.steps > quick.steps


def test_models_equal_size_and_declared_symmetry():
    models = build_models(DataEfficiencyConfig.quick(), dtype=torch.float64)
    counts = [count_parameters(m) for m in models.values()]
    assert max(counts) / min(counts) < 1.2
    pos = torch.randn(13, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 1.2
    batch = torch.zeros(13, dtype=torch.long)
    idx = torch.arange(13)
    edges = torch.stack(torch.meshgrid(idx, idx, indexing="ij")).reshape(2, -1)
    edges = edges[:, edges[0] != edges[1]]
    args = (torch.ones(13, 1, dtype=torch.float64), pos, edges, batch)
    kinds = ("nodes", "positions", "edge_index", "batch")
    assert_equivariant(models["equivariant"], args, E3() * Permutations(), kinds, ("scalars", "vectors"))
    try:
        assert_equivariant(models["MLP"], args, SO3(), kinds, ("scalars", "vectors"))
        raise AssertionError("the unconstrained twin should not be rotation invariant")
    except EquivarianceError:
        pass


def test_tiny_run_end_to_end(tmp_path):
    cfg = DataEfficiencyConfig(train_sizes=(8, 24), test_size=16, val_size=8, steps=3, batch_size=4,
                               learning_rates=(1e-3,), hidden=12, num_layers=1,
                               burn_in_sweeps=40)
    result = get("data-efficiency").run(cfg, seed=0, out_dir=tmp_path)
    rows = result.tables["test error (equal steps)"]
    assert {(r["model"], r["train_size"]) for r in rows} == {(m, s) for m in MODELS for s in (8, 24)}
    assert all(r["test_energy_mae"] > 0 and r["test_force_rmse"] > 0 for r in rows)
    assert result.metrics["parameter_ratio_max_min"] < 1.2
    assert (tmp_path / "data-efficiency.png").exists()
    assert result.tables["test error (equal wall-clock)"] and len(result.claims) == 8
    assert result.figures[0].caption.startswith("Test energy MAE")
    assert all(c.verdict in ("reproduced", "not reproduced", "not converged") for c in result.claims)


def test_distance_mlp_invariant_and_standardised():
    from equigen.nn import ForceField
    from equigen.nn.invariant_baselines import ClusterDistanceMLP

    gen = torch.Generator().manual_seed(1)
    pos = torch.randn(2, 13, 3, generator=gen, dtype=torch.float64)
    for basis in ("distance", "bessel"):
        m = ClusterDistanceMLP(13, 16, 2, basis=basis, dtype=torch.float64).fit_standardization(pos)
        f = m.features(pos)
        expected = (f - f.mean(0)) / f.std(0).clamp(min=1e-6)
        assert torch.allclose((f - m.feature_mean) / m.feature_std, expected)
        args = (torch.ones(13, 1, dtype=torch.float64), pos[0], _complete_edges(1, 13),
                torch.zeros(13, dtype=torch.long))
        assert_equivariant(ForceField(m), args, E3() * Permutations(), ("nodes", "positions", "edge_index",
                                                                        "batch"), ("scalars", "vectors"))


def test_significant_increase_is_a_paired_test_on_the_same_configurations():
    from equigen.experiments.data_efficiency import significant_increase

    g = torch.Generator().manual_seed(0)
    base = torch.rand(400, generator=g, dtype=torch.float64) + 1.0
    noise = 0.01 * torch.randn(400, generator=g, dtype=torch.float64)
    assert not significant_increase(base, base + noise - noise.mean())  # no mean change: no rise
    assert significant_increase(base, base + noise + 0.01)  # a rise of 1 noise sd in every configuration
    assert not significant_increase(base, base - 0.05)


def test_tiny_run_claims_name_both_twin_families(tmp_path):
    cfg = DataEfficiencyConfig(train_sizes=(8, 24), test_size=16, val_size=8, steps=3, batch_size=4,
                               learning_rates=(1e-3,), hidden=12, num_layers=1, burn_in_sweeps=40)
    result = get("data-efficiency").run(cfg, seed=0, out_dir=tmp_path)
    m = result.metrics
    assert isinstance(m["curves_without_significant_rise_all"], bool)
    assert set(m["curves_with_significant_rise"]) <= {f"{n} {k}" for n in MODELS
                                                      for k in ("test_energy_mae", "test_force_rmse")}
    headline = [c for c in result.claims if "trained on 8 configurations" in c.statement]
    assert len(headline) == 4  # raw-coordinate and invariant-feature twins, energies and forces
    for c in headline:
        best = min(c.twins.values())
        assert c.verdict == "reproduced" if c.builtin < best else c.verdict in ("not reproduced", "not converged")


def test_dense_forward_equals_the_edge_list_forward():
    from equigen.experiments.data_efficiency import _predict, dense_node_features
    from equigen.nn import EGNN

    gen = torch.Generator().manual_seed(3)
    models = build_models(DataEfficiencyConfig.quick(), dtype=torch.float64)
    pos = torch.randn(4, 13, 3, generator=gen, dtype=torch.float64) * 1.2
    for name in ("equivariant", "message passing + rot. aug."):
        model = models[name]
        for p in model.parameters():  # away from the initialisation: every weight block matters
            p.data.add_(0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        model.energy_model.pos_scale.fill_(1.3)
        model.energy_model.energy_std.fill_(2.5)
        model.energy_model.energy_mean.fill_(-40.0)
        e_list, f_list = _predict(model, pos, lambda b: _complete_edges(b, 13), dense=False)
        e_dense, f_dense = _predict(model, pos, lambda b: _complete_edges(b, 13))
        assert torch.allclose(e_dense, e_list, rtol=1e-12, atol=1e-10), name
        assert torch.allclose(f_dense, f_list, rtol=1e-12, atol=1e-10), name
        assert e_dense.requires_grad and f_dense.requires_grad  # a force loss can be trained
    with torch.no_grad():
        e, f = _predict(models["equivariant"], pos, lambda b: _complete_edges(b, 13))
    assert not e.requires_grad and not f.requires_grad
    try:
        dense_node_features(EGNN(1, 8, 8, num_layers=1), torch.ones(1, 13, 1), pos[:1].float())
        raise AssertionError("an EGNN that moves positions is not supported by the dense path")
    except ValueError as err:
        assert "update_pos" in str(err)


def test_model_names_are_checked_at_construction():
    with pytest.raises(ValueError, match="model_learning_rates names \\['EGNN'\\]"):
        DataEfficiencyConfig(model_learning_rates=(("EGNN", 1e-3),))
    with pytest.raises(ValueError, match="config.models names \\['GNN'\\]"):
        DataEfficiencyConfig(models=("equivariant", "GNN"))
    with pytest.raises(ValueError, match="must include 'equivariant'"):
        DataEfficiencyConfig(models=("MLP",))


def test_held_out_chains_run_as_long_as_the_pools():
    """Test/validation chains store as many configurations per chain as the training pool's
    (the same distribution over chain positions), and the set has the requested size."""
    from equigen.experiments.data_efficiency import POOL_CHAINS, _held_out

    pool_size = 3 * POOL_CHAINS  # 3 configurations per pool chain
    held = _held_out(10, pool_size, 4, 0.3, 7, 5)
    assert len(held) == 10
    assert held.info["num_chains"] == 4  # ceil(10 / min(4, 3)) chains of 3 stored configurations each
    small = _held_out(20, 50, 4, 0.3, 7, 5)  # pool: 50 chains of 1; held out: 20 chains of 1
    assert len(small) == 20 and small.info["num_chains"] == 20


def test_monotone_claim_verdicts():
    """No rise: reproduced; a rise at quick scale: not converged, naming the model and the models that
    did not learn; a rise at full scale: not reproduced."""
    from equigen.experiments.base import Result
    from equigen.experiments.data_efficiency import BUILTIN, _monotone_claim, paired_rise

    key, sizes, models = "test_energy_mae", (10, 20), (BUILTIN, "MLP")
    by = {(BUILTIN, 10): {key: 0.2}, (BUILTIN, 20): {key: 0.1}, ("MLP", 10): {key: 1.5}, ("MLP", 20): {key: 1.6}}
    info = (key, "energy", "energy")

    def claim(rise, quick):
        result = Result("data-efficiency", {}, 0)
        z = {(BUILTIN, key): -3.0, ("MLP", key): 5.0 if rise else 1.0}
        rises = {k: v > 2 for k, v in z.items()}
        _monotone_claim(result, by, sizes, models, info, rises, z, 1.58, quick, False)
        return result.claims[0]

    assert claim(False, True).verdict == "reproduced"
    c = claim(True, True)
    assert c.verdict == "not converged" and "rises: MLP (1.5 -> 1.6" in c.detail and "not learned: MLP" in c.detail
    assert c.builtin == -3.0 and c.twins == {"MLP": 5.0}
    assert claim(True, False).verdict == "not reproduced"
    g = torch.Generator().manual_seed(0)
    base = torch.rand(100, generator=g, dtype=torch.float64)
    ones = torch.ones(100, dtype=torch.float64)
    assert paired_rise(ones, ones - 0.5) == float("-inf")  # a fall without spread: minus infinity
    assert paired_rise(base, base - 0.1) < -1e6
    assert paired_rise(base, base + 0.01 * torch.randn(100, generator=g, dtype=torch.float64) + 0.01) > 2
