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


def _tiny(cpu_only):
    @dataclass
    class Cfg(ExperimentConfig):
        pass

    class Tiny(Experiment):
        name = "tiny-device-test"
        description = "records the device it ran on"
        Config = Cfg

        def execute(self, config, *, seed, out_dir, result):
            result.metrics["device"] = config.device

    Tiny.cpu_only = cpu_only
    return Tiny, Cfg


def test_cpu_only_experiment_runs_on_cpu_and_says_so(tmp_path):
    Tiny, Cfg = _tiny("closed-form fits")
    result = Tiny().run(Cfg(device="meta"), out_dir=tmp_path)
    assert result.metrics["device"] == "cpu" and result.config["device"] == "cpu"
    assert any("closed-form fits" in n and "CPU" in n for n in result.notes)
    other, cfg = _tiny(None)
    assert other().run(cfg(device="meta"), out_dir=tmp_path).metrics["device"] == "meta"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error without CUDA")
def test_cuda_config_without_cuda_is_a_clear_error(tmp_path):
    Tiny, Cfg = _tiny(None)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        Tiny().run(Cfg(device="cuda"), out_dir=tmp_path)
