"""The experiment protocol and registry."""

from dataclasses import dataclass

import pytest

from equigen.experiments import Experiment, ExperimentConfig, experiments, get, names, register


def test_registry_lists_experiments_with_presets():
    assert "symmetry-kit" in names()
    for exp in experiments():
        assert exp.description and exp.name
        quick, full = exp.Config.quick(), exp.Config.full()
        assert isinstance(quick, exp.Config) and isinstance(full, exp.Config)
        assert quick.time_budget_s <= full.time_budget_s


def test_unknown_name_lists_known():
    with pytest.raises(KeyError, match="symmetry-kit"):
        get("no-such-experiment")


def test_run_records_metrics_timings_versions(tmp_path):
    @dataclass
    class Cfg(ExperimentConfig):
        value: float = 2.0

    class Tiny(Experiment):
        name = "tiny-test"
        description = "a test experiment"
        Config = Cfg

        def execute(self, config, *, seed, out_dir, result):
            result.metrics["double"] = 2 * config.value + seed

    result = Tiny().run(Cfg(value=3.0), seed=1, out_dir=tmp_path)
    assert result.metrics == {"double": 7.0}
    assert result.timings["total_s"] >= 0 and result.timings["budget_s"] == 60.0
    assert result.versions["torch"] and result.config["value"] == 3.0
    with pytest.raises(TypeError, match="Cfg"):
        Tiny().run(ExperimentConfig(), out_dir=tmp_path)
    with pytest.raises(ValueError, match="name"):
        register(type("NoName", (Experiment,), {}))
