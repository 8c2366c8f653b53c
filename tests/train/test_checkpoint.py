"""Checkpoint files: atomic writes, no code execution on load, clear errors for bad files."""

import os
import random

import numpy as np
import pytest
import torch

from equigen.train import CheckpointError, Trainer, atomic_save, latest_checkpoint, load_checkpoint
from equigen.train.checkpoint import (
    capture_rng_state,
    checkpoint_path,
    list_checkpoints,
    load_state_dict_checked,
    restore_rng_state,
)


class _RunsCode:
    """Unpickling this object runs ``open(marker, "w").write("pwned")``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "payload": _RunsCode(marker)}, bad)
    with pytest.raises(CheckpointError, match="refused to load") as info:
        load_checkpoint(bad)
    assert str(bad) in str(info.value)
    assert "weights_only" in str(info.value)
    assert not marker.exists(), "loading ran the payload"
    # control: the payload is live, an unsafe load would have run it
    torch.load(bad, weights_only=False)
    assert marker.read_text() == "pwned"


def test_malicious_checkpoint_in_run_dir_is_refused_on_resume(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    torch.save({"format": "equigen-checkpoint", "step": 1, "payload": _RunsCode(marker)},
               tmp_path / "run" / "checkpoints" / "ckpt-00000001.pt")
    model = torch.nn.Linear(2, 1)
    trainer = Trainer(model, lambda m, b: m(b).pow(2).mean(), out_dir=tmp_path / "run", progress=False)
    with pytest.raises(CheckpointError, match="ckpt-00000001.pt"):
        trainer.fit(torch.randn(8, 2), steps=2, batch_size=4)
    assert not marker.exists()


def test_truncated_and_garbage_files_name_the_file(tmp_path):
    good = atomic_save({"w": torch.randn(500), "step": 3}, tmp_path / "good.pt")
    data = good.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted") as info:
        load_checkpoint(cut)
    assert str(cut) in str(info.value)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(junk)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pt"):
        load_checkpoint(empty)


def test_flipped_tensor_bytes_are_caught_by_the_checksum(tmp_path):
    w = torch.arange(4000, dtype=torch.float32)
    path = atomic_save({"w": w}, tmp_path / "c.pt")
    data = bytearray(path.read_bytes())
    start = bytes(data).find(w[1000:1002].numpy().tobytes())  # locate the tensor's bytes in the archive
    assert start > 0
    data[start:start + 8] = b"\x5a" * 8
    path.write_bytes(bytes(data))
    assert not torch.equal(torch.load(path, weights_only=True)["w"], w)  # torch itself loads it silently
    with pytest.raises(CheckpointError, match="CRC-32"):
        load_checkpoint(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nope" / "ckpt.pt")
    with pytest.raises(FileNotFoundError, match="directory"):
        atomic_save({"a": 1}, tmp_path / "missing_dir" / "x.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_atomic_save_roundtrip_and_no_leftovers(tmp_path):
    state = {"w": torch.randn(3, 4, dtype=torch.float64), "b": torch.ones(2, dtype=torch.bfloat16),
             "nested": [1, 2.5, "x", None, (torch.tensor(3),)]}
    path = atomic_save(state, tmp_path / "s.pt")
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["w"], state["w"]) and torch.equal(loaded["b"], state["b"])
    assert loaded["nested"][:4] == [1, 2.5, "x", None]
    assert sorted(os.listdir(tmp_path)) == ["s.pt"]  # no temp file remains


def test_failed_write_keeps_previous_file(tmp_path):
    path = atomic_save({"v": torch.tensor(1)}, tmp_path / "c.pt")

    class Unsaveable:
        pass

    with pytest.raises(Exception):  # noqa: B017 - torch.save fails on a local class; which error is torch's business
        atomic_save({"v": torch.tensor(2), "bad": Unsaveable()}, path)
    assert int(load_checkpoint(path)["v"]) == 1
    assert sorted(os.listdir(tmp_path)) == ["c.pt"]


def test_latest_checkpoint_ignores_temp_files(tmp_path):
    for step in (5, 10):
        atomic_save({"step": step}, checkpoint_path(tmp_path, step))
    (tmp_path / ".ckpt-00000015.pt.abc.tmp").write_bytes(b"half")
    assert [s for s, _ in list_checkpoints(tmp_path)] == [5, 10]
    assert latest_checkpoint(tmp_path).name == "ckpt-00000010.pt"
    assert latest_checkpoint(tmp_path / "none") is None


def test_architecture_mismatch_lists_keys():
    a = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    b = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    with pytest.raises(CheckpointError) as info:
        load_state_dict_checked(b, a.state_dict(), source="checkpoint 'x.pt'")
    msg = str(info.value)
    assert "missing keys" in msg and "'2.weight'" in msg
    assert "unexpected keys" in msg and "'1.weight'" in msg
    assert "shape mismatches" in msg and "0.weight: file (4, 3) vs model (5, 3)" in msg
    assert "x.pt" in msg


def test_rng_state_roundtrip_through_a_file(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.randn()  # leave a cached gaussian behind
    atomic_save({"rng": capture_rng_state()}, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), np.random.randn(), random.random())
    torch.manual_seed(9)
    np.random.seed(9)
    random.seed(9)
    restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    got = (torch.rand(3), np.random.rand(3), np.random.randn(), random.random())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])
    assert expected[2] == got[2] and expected[3] == got[3]
