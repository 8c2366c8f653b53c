"""The "lorenz" experiment runs end to end (tiny config) and fills its tables and figures."""

import json
from pathlib import Path

import pytest

from equigen.experiments import get, names
from equigen.experiments.lorenz import LorenzConfig


def test_lorenz_registered_with_presets():
    assert "lorenz" in names()
    q, f = LorenzConfig.quick(), LorenzConfig.full()
    assert q.time_budget_s <= 600 and f.gan_steps > q.gan_steps and f.n_eval >= q.n_eval
    assert tuple(q.gan_latent_dims) == (2, 3, 8)


@pytest.mark.slow
def test_lorenz_tiny_run(tmp_path):
    cfg = LorenzConfig(n_train=3000, n_test=1000, n_eval=4000, vae_steps=20, gan_steps=10, vae_hidden=16,
                       gan_hidden=16, vae_layers=1, gan_layers=1, gan_latent_dims=(2, 3))
    r = get("lorenz").run(cfg, seed=0, out_dir=tmp_path)
    rows = {row["samples"]: row for row in r.tables["correlation dimension"]}
    assert set(rows) == {"data (train)", "VAE", "VAE means", "GAN(d_z=2)", "GAN(d_z=3)"}
    assert 1.8 < r.metrics["data_D2"] < 2.3
    assert r.metrics["vae_sigma"] > 0
    for row in rows.values():
        assert row["sliced_W2_to_test"] >= 0
    assert rows["data (train)"]["sliced_W2_to_test"] < rows["GAN(d_z=2)"]["sliced_W2_to_test"]
    for fig in r.figures:
        assert Path(fig).exists()
    curves = json.loads((tmp_path / "lorenz-curves.json").read_text())
    assert set(curves) == set(rows) and len(curves["VAE"]["radii"]) == 64
    assert {t["model"] for t in r.tables["training"]} == {"VAE", "GAN(d_z=2)", "GAN(d_z=3)"}
