"""Real processes: SIGKILL mid-step and mid-checkpoint-write, then resume bit-for-bit; torchrun with 2 processes.

The training run is ``tests/train/worker.py`` (shuffled epochs, dropout, generator noise, numpy and
python randomness, AdamW, warm-up + cosine schedule, clipping, EMA), checkpointing every 5 steps.
"""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import equigen
from equigen.train import load_checkpoint
from equigen.train.checkpoint import TEST_PAUSE_ENV

WORKER = Path(__file__).with_name("worker.py")
ROOT = Path(equigen.__file__).resolve().parent.parent
STEPS = 30


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.update(extra)
    return env


def _run(args, **env):
    proc = subprocess.run([sys.executable, str(WORKER), *args], env=_env(**env), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _start_and_kill(args, marker: Path, **env):
    """Start the worker, wait until it announces it is paused (``marker``), SIGKILL it."""
    proc = subprocess.Popen([sys.executable, str(WORKER), *args], env=_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited ({proc.returncode}) before pausing: {proc.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("worker did not reach the pause point within 90 s")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _losses(run_dir: Path):
    return [(r["step"], r["loss"]) for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())]


def _assert_bitwise(a_path, b_path):
    a, b = torch.load(a_path, weights_only=True), torch.load(b_path, weights_only=True)
    for part in ("model", "ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs after resume"


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    d = tmp_path_factory.mktemp("straight")
    _run(["--out", str(d / "run"), "--steps", str(STEPS), "--result", str(d / "result.pt")])
    return d


def test_sigkill_mid_step_then_resume_is_bitwise_identical(straight, tmp_path):
    run = tmp_path / "run"
    _start_and_kill(["--out", str(run), "--steps", str(STEPS), "--pause-at-step", "12"], run / "PAUSED")
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["ckpt-00000005.pt", "ckpt-00000010.pt"]  # killed during step 13, last checkpoint at 10
    _run(["--out", str(run), "--steps", str(STEPS), "--result", str(tmp_path / "result.pt")])
    _assert_bitwise(straight / "result.pt", tmp_path / "result.pt")
    assert _losses(run) == _losses(straight / "run")  # the log after resume: no duplicates, same numbers


def test_sigkill_during_checkpoint_write_keeps_last_good_checkpoint(straight, tmp_path):
    run = tmp_path / "run"
    marker = tmp_path / "paused-mid-write"
    _start_and_kill(["--out", str(run), "--steps", str(STEPS)], marker,
                    **{TEST_PAUSE_ENV: f"ckpt-00000010.pt:{marker}"})
    temp = Path(marker.read_text())
    assert temp.exists() and temp.name.startswith(".ckpt-00000010.pt.") and temp.stat().st_size > 0
    assert not (run / "checkpoints" / "ckpt-00000010.pt").exists()
    assert load_checkpoint(run / "checkpoints" / "ckpt-00000005.pt")["step"] == 5  # last good one is intact
    with pytest.raises(ValueError, match="truncated or corrupted"):  # the half-written bytes are not loadable
        load_checkpoint(temp)
    _run(["--out", str(run), "--steps", str(STEPS), "--result", str(tmp_path / "result.pt")])
    assert not temp.exists()  # the stale temp file was cleaned up on resume
    _assert_bitwise(straight / "result.pt", tmp_path / "result.pt")


def _load_worker():
    spec = importlib.util.spec_from_file_location("train_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("torchrun") is None and importlib.util.find_spec("torch.distributed.run") is None,
                    reason="torchrun is not available")
def test_torchrun_two_processes_equal_single_process(tmp_path):
    steps, batch = 20, 12
    single = _load_worker().run(str(tmp_path / "single"), steps, batch_size=batch, dtype=torch.float64,
                                stochastic=False)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
           "--out", str(tmp_path / "ddp"), "--steps", str(steps), "--batch-size", str(batch), "--float64",
           "--deterministic-loss", "--result", str(tmp_path / "ddp.pt")]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert ddp["world_size"] == 2
    diff = max(float((single.model.state_dict()[k] - v).abs().max()) for k, v in ddp["model"].items())
    print(f"torchrun 2 processes vs 1 process, float64, global batch {batch}, {steps} steps: max |diff| = {diff:.3e}")
    assert diff < 1e-12
    ddp_losses, single_losses = _losses(tmp_path / "ddp"), _losses(tmp_path / "single")
    assert [s for s, _ in ddp_losses] == list(range(1, steps + 1))  # only rank 0 logged, once per step
    assert [loss for _, loss in ddp_losses] == pytest.approx([loss for _, loss in single_losses], rel=1e-12)
    assert sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir()) == \
        sorted(p.name for p in (tmp_path / "single" / "checkpoints").iterdir())


def _torchrun(out: Path, steps: int, result: Path, *extra):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
           "--out", str(out), "--steps", str(steps), "--result", str(result), *extra]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None and importlib.util.find_spec("torch.distributed.run") is None,
                    reason="torchrun is not available")
def test_torchrun_resume_is_bitwise_and_other_world_size_warns(tmp_path):
    """2 processes with every source of randomness: resuming from a mid-run checkpoint is bitwise; a
    checkpoint of 2 processes loads into 1 process with a warning (data order kept, streams reseeded)."""
    _torchrun(tmp_path / "straight", STEPS, tmp_path / "straight.pt")
    ckpt = load_checkpoint(tmp_path / "straight" / "checkpoints" / "ckpt-00000025.pt")
    assert len(ckpt["per_rank"]) == 2
    assert not torch.equal(ckpt["per_rank"][0]["generator"], ckpt["per_rank"][1]["generator"])
    run = tmp_path / "resumed"
    shutil.copytree(tmp_path / "straight", run)
    for name in ("ckpt-00000025.pt", "ckpt-00000030.pt"):
        (run / "checkpoints" / name).unlink()  # as if killed after step 20's checkpoint
    _torchrun(run, STEPS, tmp_path / "resumed.pt")
    _assert_bitwise(tmp_path / "straight.pt", tmp_path / "resumed.pt")
    assert _losses(run) == _losses(tmp_path / "straight")

    single = tmp_path / "single"
    (single / "checkpoints").mkdir(parents=True)
    shutil.copy(tmp_path / "straight" / "checkpoints" / "ckpt-00000025.pt", single / "checkpoints")
    with pytest.warns(UserWarning, match="written by 2 process"):
        trainer = _load_worker().run(str(single), STEPS)
    assert trainer.step == STEPS and all(torch.isfinite(p).all() for p in trainer.model.parameters())
