"""Results and claims, and the experiment harness: stages run in order on one Run, are timed, and a
failing stage leaves a partial result that ``equigen bench`` records before running the next experiment."""

import json
from dataclasses import dataclass

import pytest
import torch

import equigen.experiments as experiments_module
from equigen.cli import main
from equigen.experiments import Claim, Experiment, ExperimentConfig, Result, Run, partial_result


@dataclass
class TinyConfig(ExperimentConfig):
    size: int = 4
    fail_in: str = ""

    @classmethod
    def quick(cls):
        return cls(time_budget_s=5.0)


class Tiny(Experiment):
    name = "tiny"
    description = "a two-stage pipeline"
    Config = TinyConfig
    stages = ("simulate", "measure")

    def simulate(self, run: Run):
        if run.config.fail_in == "simulate":
            raise RuntimeError("simulator diverged")
        with run.timer("draw"):
            run.state.x = torch.randn(run.config.size, generator=run.generator(1))
        run.result.metrics["size"] = run.config.size

    def measure(self, run: Run):
        if run.config.fail_in == "measure":
            raise ValueError("bad measurement")
        run.result.metrics["mean"] = float(run.state.x.mean())


def test_stages_run_in_order_and_are_timed(tmp_path):
    result = Tiny().run(TinyConfig(), seed=3, out_dir=tmp_path)
    assert [s["name"] for s in result.stages] == ["simulate", "measure"]
    assert all(s["status"] == "done" and s["seconds"] >= 0 for s in result.stages)
    assert result.timings["draw_s"] >= 0 and result.error is None
    expected = torch.randn(4, generator=torch.Generator().manual_seed(4)).mean()
    assert result.metrics["mean"] == float(expected)  # run.generator(1) is seeded seed + 1


@pytest.mark.parametrize("stage", ["simulate", "measure"])
def test_failing_stage_gives_partial_result(tmp_path, stage):
    error = RuntimeError if stage == "simulate" else ValueError  # the stage's own exception, not a wrapper
    with pytest.raises(error, match="simulator diverged|bad measurement") as info:
        Tiny().run(TinyConfig(fail_in=stage), seed=0, out_dir=tmp_path)
    result = partial_result(info.value)
    assert any(f"failed in stage '{stage}'" in note for note in info.value.__notes__)
    assert isinstance(result, Result) and result.error.startswith(f"{stage}: ")
    assert result.stages[-1] == {**result.stages[-1], "name": stage, "status": "failed"}
    assert ("size" in result.metrics) == (stage == "measure")  # what the earlier stage measured is kept
    assert "total_s" in result.timings


def test_experiment_without_pipeline_says_so(tmp_path):
    class Empty(Experiment):
        name = "empty"

    with pytest.raises(NotImplementedError, match="neither stages nor execute") as info:
        Empty().run(ExperimentConfig(), out_dir=tmp_path)
    assert partial_result(info.value).error.startswith("execute: NotImplementedError")
    assert partial_result(ValueError("raised elsewhere")) is None


def test_stages_must_name_methods(tmp_path):
    class Misspelt(Tiny):
        name = "misspelt"
        stages = ("simulate", "measur")

    with pytest.raises(TypeError, match=r"names \['measur'\], which are not methods") as info:
        Misspelt().run(TinyConfig(), out_dir=tmp_path)
    assert partial_result(info.value).stages == []  # refused before the first stage ran


def test_bench_records_a_failure_and_runs_the_rest(tmp_path, monkeypatch, capsys):
    class Broken(Tiny):
        name = "broken"

        def simulate(self, run):
            raise RuntimeError("simulator diverged")

    selected = {"broken": Broken(), "tiny": Tiny()}
    monkeypatch.setattr(experiments_module, "names", lambda: list(selected))
    monkeypatch.setattr(experiments_module, "get", selected.__getitem__)
    rc = main(["bench", "--quick", "--only", "broken,tiny", "--out", str(tmp_path)])
    assert rc == 1
    assert "broken FAILED" in capsys.readouterr().err
    records = json.loads((tmp_path / "results.json").read_text())
    records = records["experiments"]
    by_name = {r["name"]: r for r in records}
    assert by_name["broken"]["error"] == "simulate: RuntimeError: simulator diverged"
    assert by_name["tiny"]["error"] is None and "mean" in by_name["tiny"]["metrics"]
    report = (tmp_path / "report.md").read_text()
    assert "failed in stage simulate" in report


def test_result_records_claims_with_section_and_serialises_them():
    result = Result("demo", {}, 0)
    claim = result.add_claim("built-in beats twin", "force RMSE (eV/A)", 0.2, {"mlp": 1.1}, "reproduced")
    assert isinstance(claim, Claim) and claim.section == "demo"
    assert result.to_dict()["claims"][0]["twins"] == {"mlp": 1.1}


@pytest.mark.parametrize("kwargs", [{"verdict": "maybe"}, {"verdict": "reproduced", "better": "smaller"}])
def test_claim_rejects_unknown_verdict_and_direction(kwargs):
    with pytest.raises(ValueError, match="verdict|better"):
        Claim("s", "m", 1.0, {}, **kwargs)


@pytest.mark.parametrize("ok, short, expected", [(True, True, "reproduced"), (False, True, "not converged"),
                                                 (False, False, "not reproduced")])
def test_short_run_verdict_lists_the_steps_each_run_reached(ok, short, expected):
    from equigen.experiments.base import short_run_verdict

    runs = {"GAN": {"steps": 40, "stopped_by": "time_limit"}, "VAE": {"steps": 50, "stopped_by": "steps"}}
    verdict, detail = short_run_verdict(ok, "the GAN is off", short=short, reached=runs, full="trains 900 steps")
    assert verdict == expected
    if expected == "not converged":
        assert detail == ("not converged at quick scale: the GAN is off. Steps reached: GAN 40 (stopped by "
                          "time_limit), VAE 50 (stopped by steps); the full preset trains 900 steps")
    else:
        assert detail == ("" if ok else "the GAN is off")


RENAMED_FIELDS = [("lorenz", "n_train", "num_train"), ("nbody-conservation", "iterations", "steps"),
                  ("fick", "mlp_epochs", "mlp_steps"), ("poisson", "n_val", "num_val"),
                  ("equivariant-generation", "n_samples", "num_samples")]


@pytest.mark.parametrize("name, old, new", RENAMED_FIELDS)
def test_renamed_config_fields_warn_and_set_the_new_field(name, old, new):
    from equigen.experiments import get

    config_cls = get(name).Config
    with pytest.warns(DeprecationWarning, match=f"use {new}="):
        config = config_cls(**{old: 7})
    assert getattr(config, new) == 7 and config == config_cls(**{new: 7})
    with pytest.raises(TypeError, match="got both"):
        config_cls(**{old: 7, new: 7})


def test_config_check_raises_before_any_stage(tmp_path):
    class Checked(Tiny):
        name = "checked"

        def check_config(self, config):
            if config.size > 10:
                raise ValueError(f"config.size={config.size} must be <= 10")

        def simulate(self, run):
            raise AssertionError("no stage may run on a refused config")

    with pytest.raises(ValueError, match="config.size=11"):  # the input error itself, before any stage
        Checked().run(TinyConfig(size=11), out_dir=tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_run_elapsed_counts_from_the_start(tmp_path):
    run = Run(TinyConfig(), seed=0, out_dir=tmp_path, result=Result("tiny", {}, 0))
    first = run.elapsed()
    assert 0 <= first <= run.elapsed()


def test_short_run_verdict_takes_the_steps_reached_as_text():
    from equigen.experiments.base import short_run_verdict

    assert short_run_verdict(False, "the gap is 0.3", short=True, reached="A 10 (stopped by steps)",
                             full="trains 4000 steps per model")[1] == (
        "not converged at quick scale: the gap is 0.3. Steps reached: A 10 (stopped by steps); "
        "the full preset trains 4000 steps per model")


def test_the_api_page_example_runs(tmp_path, monkeypatch):
    """docs/api/experiments.md: the two-stage example experiment runs as written."""
    import re

    from tests.support import ROOT

    page = (ROOT / "docs" / "api" / "experiments.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "api_page_example"}
    exec(compile(code, "docs/api/experiments.md", "exec"), namespace)
    assert namespace["result"].metrics["mean"] == pytest.approx(0.0, abs=0.2)
    assert [s["status"] for s in namespace["result"].stages] == ["done", "done"]
