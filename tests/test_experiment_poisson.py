"""The "poisson" experiment runs end to end on a tiny config and reports what it promises."""

import math

import pytest

from equigen.experiments import get
from equigen.experiments.poisson import PoissonConfig

TABLE = "error table (variant x sampler x steps)"


def _tiny(**kw):
    cfg = PoissonConfig.quick()
    cfg.problems = [["periodic", 12], ["dirichlet", 12]]
    cfg.n_train, cfg.n_test, cfg.samples, cfg.steps, cfg.batch_size = 16, 3, 2, 2, 8
    cfg.width, cfg.modes, cfg.sine_modes, cfg.depth, cfg.time_dim = 4, 3, 8, 1, 4
    cfg.num_steps, cfg.ddpm_steps, cfg.ddim_steps, cfg.threads = 20, 4, [3], 1
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
    for r in rows:
        assert math.isfinite(r["rel_l2"]) and math.isfinite(r["residual"])
        if r["problem"].startswith("dirichlet") and r["variant"].startswith("diffusion-hard"):
            assert r["boundary_violation"] == 0.0
        if r["problem"].startswith("periodic") and r["variant"].startswith("diffusion-hard"):
            assert r["gauge_violation"] < 1e-12
        if r["variant"] == "exact, projected":
            assert r["rel_l2"] < 0.05
        if r["sampler"] in ("ddpm", "ddim"):
            assert r["spread"] > 0 and r["train_steps"] == 2
    assert len(result.figures) == 3 and all((tmp_path / p.split("/")[-1]).exists() for p in result.figures)
    assert result.timings["periodic12/diffusion-soft/train_s"] > 0


def test_poisson_presets():
    quick, full = PoissonConfig.quick(), PoissonConfig.full()
    assert quick.steps < full.steps and ["periodic", 64] in full.problems
    assert full.ddpm_steps == 1000 and full.ddim_steps == [20, 50, 100]
    with pytest.raises(ValueError, match="problems"):
        get("poisson").run(_tiny(problems=[["neumann", 12]]), out_dir="/tmp/unused-poisson")


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
