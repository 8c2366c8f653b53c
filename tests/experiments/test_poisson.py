"""The "poisson" experiment runs end to end on a tiny config and reports what it promises."""

import math
import os

import pytest

from equigen.experiments import get
from equigen.experiments.base import VERDICTS
from equigen.experiments.poisson import VARIANTS, PoissonConfig

TABLE = "error table (variant x sampler x steps)"


def _tiny(**kw):
    cfg = PoissonConfig.quick()
    cfg.problems = [["periodic", 12], ["dirichlet", 12]]
    cfg.num_train, cfg.num_test, cfg.samples, cfg.steps, cfg.batch_size = 16, 3, 2, 2, 8
    cfg.width, cfg.modes, cfg.sine_modes, cfg.depth, cfg.time_dim = 4, 3, 8, 1, 4
    cfg.num_steps, cfg.ddpm_steps, cfg.ddim_steps, cfg.threads = 20, 4, [3], 1
    cfg.variants, cfg.wall_clock_twins, cfg.time_budget_s = list(VARIANTS), ["diffusion-soft-sine"], 600.0
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def test_poisson_experiment_tiny_run(tmp_path):
    result = get("poisson").run(_tiny(), seed=0, out_dir=tmp_path)
    rows = result.tables[TABLE]
    keys = {(r["problem"], r["variant"], r["sampler"], r["steps"]) for r in rows}
    for problem in ("periodic12", "dirichlet12"):
        for variant in ("diffusion-soft", "diffusion-hard", "diffusion-hard +jacobi5"):
            assert (problem, variant, "ddpm", 4) in keys and (problem, variant, "ddim", 3) in keys
        assert (problem, "regressor", "direct", 1) in keys
        assert (problem, "exact, projected", "-", 0) in keys
    # the soft twin in the sine basis, at equal steps and at equal wall-clock, on the box only
    assert ("dirichlet12", "diffusion-soft-sine", "ddim", 3) in keys
    assert ("dirichlet12", "diffusion-soft-sine (equal wall-clock)", "ddim", 3) in keys
    assert not any(k[0] == "periodic12" and "sine" in k[1] for k in keys)
    for r in rows:
        assert math.isfinite(r["rel_l2"]) and math.isfinite(r["residual"])
        if r["problem"].startswith("dirichlet") and r["variant"].startswith("diffusion-hard"):
            assert r["boundary_violation"] == 0.0
        if r["problem"].startswith("dirichlet") and r["variant"].startswith("diffusion-soft"):
            assert r["boundary_violation"] > 0.0
        if r["problem"].startswith("periodic") and r["variant"].startswith("diffusion-hard"):
            assert r["gauge_violation"] < 1e-12
        if r["variant"] == "exact, projected":
            assert r["rel_l2"] < 0.05
        if r["sampler"] in ("ddpm", "ddim"):
            assert r["spread"] > 0
            assert r["train_steps"] == 2 or "wall-clock" in r["variant"]
    assert len(result.figures) == 3 and all((tmp_path / os.fspath(p).split("/")[-1]).exists() for p in result.figures)
    assert result.timings["periodic12/diffusion-soft/train_s"] > 0
    # what each side got: equal steps, stated parameters (twins equal, or the free boundary's few extra)
    runs = {(r["problem"], r["variant"]): r for r in result.tables["what each side got"]}
    for r in runs.values():
        assert r["stopped_by"] == "steps" and r["steps"] == r["step cap"] and r["lr"] > 0
        assert r["steps"] == 2 or "wall-clock" in r["variant"]
    assert runs["periodic12", "diffusion-soft"]["parameters"] == runs["periodic12", "diffusion-hard"]["parameters"]
    width = _tiny().width
    assert (runs["dirichlet12", "diffusion-soft-sine"]["parameters"]
            == runs["dirichlet12", "diffusion-hard"]["parameters"] + width + 1)
    # claims with computed verdicts: exactness holds at any scale, accuracy is not reached in 2 steps
    claims = result.claims
    assert claims and all(c.verdict in VERDICTS for c in claims)
    exact = [c for c in claims if "exactly; the soft twins" in c.statement]
    assert len(exact) == 2 and all(c.verdict == "reproduced" for c in exact)
    accuracy = [c for c in claims if "solves the Poisson problem" in c.statement]
    assert len(accuracy) == 2 and all(c.verdict == "not converged" for c in accuracy)
    assert all(c.detail.startswith("not converged at quick scale") for c in accuracy)
    same_basis = next(c for c in claims if c.statement.startswith("dirichlet12: with the basis held fixed"))
    assert set(same_basis.twins) == {"diffusion-soft-sine", "diffusion-soft-sine (equal wall-clock)"}
    basis = next(c for c in claims if c.statement.startswith("dirichlet12: the basis matters"))
    assert set(basis.twins) == {"diffusion-soft"} and basis.builtin_name == "diffusion-soft-sine"


def test_poisson_time_limit_stops_training_and_is_recorded(tmp_path, monkeypatch):
    import equigen.experiments.poisson as poisson

    cfg = _tiny(problems=[["dirichlet", 12]], variants=["diffusion-hard", "diffusion-soft-sine"], steps=10**6,
                time_budget_s=2.0, eval_reserve_s=0.0)
    monkeypatch.setattr(poisson, "ARM_MIN_FRACTION", 100.0)  # no budget is ever enough: the arm must be skipped
    result = get("poisson").run(cfg, seed=0, out_dir=tmp_path)
    runs = {r["variant"]: r for r in result.tables["what each side got"]}
    for name in ("diffusion-hard", "diffusion-soft-sine"):
        assert runs[name]["stopped_by"] == "time_limit" and 0 < runs[name]["steps"] < 10**6
    arm = runs["diffusion-soft-sine (equal wall-clock)"]
    assert arm["stopped_by"] == "not run" and arm["steps"] == 0
    assert not any("wall-clock" in r["variant"] for r in result.tables[TABLE])  # no strawman rows
    assert any("not run" in n for n in result.notes)
    accuracy = next(c for c in result.claims if "solves the Poisson problem" in c.statement)
    assert accuracy.verdict == "not converged" and "stopped by time_limit" in accuracy.detail
    same_basis = next(c for c in result.claims if "with the basis held fixed" in c.statement)
    assert "wall-clock" not in same_basis.statement and "not run" in same_basis.detail
    assert set(same_basis.twins) == {"diffusion-soft-sine"}
    exact = next(c for c in result.claims if "exactly; the soft twins" in c.statement)
    assert exact.verdict == "reproduced" and set(exact.twins) == {"diffusion-soft-sine"}


def test_poisson_lr_grid_keeps_the_best_validation_rate(tmp_path):
    cfg = _tiny(problems=[["dirichlet", 12]], variants=["diffusion-hard", "regressor"], wall_clock_twins=[],
                lr_grid=[1e-4, 3e-2], num_val=3, steps=6)
    result = get("poisson").run(cfg, seed=0, out_dir=tmp_path)
    for r in result.tables["what each side got"]:
        scores = dict(item.split(": ") for item in r["validation rel_l2 by lr"].split(", "))
        assert set(scores) == {"0.0001", "0.03"} and r["lr grid"] == "0.0001, 0.03"
        assert r["lr"] == float(min(scores, key=lambda k: float(scores[k])))
    with pytest.raises(ValueError, match="num_val"):
        get("poisson").run(_tiny(lr_grid=[1e-3]), seed=0, out_dir=tmp_path)


def test_poisson_presets():
    quick, full = PoissonConfig.quick(), PoissonConfig.full()
    assert quick.steps < full.steps and ["periodic", 64] in full.problems
    assert full.ddpm_steps == 1000 and full.ddim_steps == [20, 50, 100]
    assert quick.time_budget_s == 170.0 and max(quick.ddim_steps) <= 20
    assert set(full.variants) == set(VARIANTS) and "diffusion-soft-sine" in quick.variants
    from equigen.experiments.poisson import PoissonDiffusion

    for boundary, _ in quick.problems:  # every quick model has its own rate from the sweep
        for variant, _ in PoissonDiffusion._plan(quick, boundary):
            assert f"{boundary}/{variant}" in quick.lrs
    with pytest.raises(ValueError, match="problems"):
        get("poisson").run(_tiny(problems=[["neumann", 12]]), out_dir="/tmp/unused-poisson")
    for bad in (["diffusion-medium"], ["neumann/diffusion-hard"], ["periodic/dirichlet/regressor"]):
        with pytest.raises(ValueError, match="unknown"):
            get("poisson").run(_tiny(variants=bad), out_dir="/tmp/unused-poisson")


@pytest.mark.parametrize("coords", [True, False])
def test_dirichlet_fourier_networks_get_coordinates_by_default(tmp_path, coords):
    """The Dirichlet solution operator depends on the distance to the boundary: the soft and regressor
    networks get coordinate channels unless told otherwise, and the result says which."""
    cfg = _tiny(problems=[["dirichlet", 12]], variants=["regressor"], dirichlet_coordinates=coords)
    result = get("poisson").run(cfg, seed=0, out_dir=tmp_path)
    note = next(n for n in result.notes if n.startswith("Dirichlet diffusion-soft"))
    assert ("with grid-coordinate" in note) == coords
    assert PoissonConfig().dirichlet_coordinates is True


def test_dirichlet_coordinates_must_be_a_bool(tmp_path):
    with pytest.raises(ValueError, match="dirichlet_coordinates"):
        get("poisson").run(_tiny(dirichlet_coordinates="yes"), seed=0, out_dir=tmp_path)
