"""Checkpoint files: written atomically, read without running code, checked against the model.

A checkpoint is a ``torch.save`` file of plain containers and tensors. It is written to a
temporary file in the target directory, flushed, ``fsync``-ed and renamed over the final name
(``os.replace`` is atomic on POSIX), and the directory is ``fsync``-ed, so a process killed at any
moment, even halfway through the write, leaves either the old file set or the new one and never a
half-written checkpoint under a final name. Reading uses ``torch.load(weights_only=True)``: a file
that would execute code when unpickled is refused with :class:`CheckpointError` instead.

Example::

    atomic_save({"step": 3, "model": model.state_dict()}, "run/checkpoints/ckpt-00000003.pt")
    state = load_checkpoint("run/checkpoints/ckpt-00000003.pt")
    load_state_dict_checked(model, state["model"], source="run/checkpoints/ckpt-00000003.pt")
"""

from __future__ import annotations

import io
import os
import pickle
import random
import re
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "CheckpointError",
    "atomic_save",
    "load_checkpoint",
    "load_state_dict_checked",
    "checkpoint_path",
    "list_checkpoints",
    "latest_checkpoint",
    "capture_rng_state",
    "restore_rng_state",
    "TEST_PAUSE_ENV",
]

#: Test hook: when this environment variable holds ``NAME:MARKER`` and :func:`atomic_save` writes a
#: file called NAME, it writes half of the bytes, fsyncs them, creates the file MARKER and sleeps,
#: so a test can SIGKILL the process while a checkpoint is half-written. Only for equigen's tests.
TEST_PAUSE_ENV = "EQUIGEN_TEST_PAUSE_MID_CHECKPOINT_WRITE"

_CKPT_RE = re.compile(r"^ckpt-(\d{8,})\.pt$")


class CheckpointError(ValueError):
    """A checkpoint file is unsafe, truncated, corrupted or does not fit the model."""


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


CHECKSUM_KEY = "__equigen_crc32__"


def _checksum(obj) -> int:
    """CRC-32 of a nested structure of containers, scalars and tensors (dtype, shape and bytes)."""
    crc = 0

    def visit(x):
        nonlocal crc
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous().reshape(-1)
            crc = zlib.crc32(f"T{t.dtype}{tuple(x.shape)}".encode(), crc)
            crc = zlib.crc32(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"", crc)
        elif isinstance(x, dict):
            crc = zlib.crc32(f"D{len(x)}".encode(), crc)
            for k, v in x.items():
                crc = zlib.crc32(repr(k).encode(), crc)
                visit(v)
        elif isinstance(x, (list, tuple)):
            crc = zlib.crc32(f"L{len(x)}".encode(), crc)
            for v in x:
                visit(v)
        else:
            crc = zlib.crc32(repr(x).encode(), crc)

    visit(obj)
    return crc


def atomic_save(obj, path) -> Path:
    """Save ``obj`` with ``torch.save`` to ``path`` atomically (temp file + fsync + rename).

    The parent directory must exist. Returns the final path. On any failure (including
    ``KeyboardInterrupt``) the temporary file is removed and the previous file at ``path``, if any,
    is untouched. A dict gets a CRC-32 of its content under ``"__equigen_crc32__"``, which
    :func:`load_checkpoint` verifies (zip archives do not check tensor bytes on read).
    """
    path = Path(path)
    if isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if k != CHECKSUM_KEY}
        obj[CHECKSUM_KEY] = _checksum(obj)
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write checkpoint {str(path)!r}: directory {str(directory)!r} does not "
                                "exist; create it first (Trainer(out_dir=...) creates its own)")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            name, _, marker = os.environ.get(TEST_PAUSE_ENV, "").partition(":")
            if marker and name == path.name:
                _write_then_pause(obj, f, tmp, marker)
            else:
                torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)
    return path


def _write_then_pause(obj, f, tmp: str, marker: str) -> None:
    """Test hook: write half the bytes, make them durable, announce it, and wait to be killed."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    f.write(data[: len(data) // 2])
    f.flush()
    os.fsync(f.fileno())
    Path(marker).write_text(tmp)
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline:  # the test kills us here
        time.sleep(0.05)
    f.write(data[len(data) // 2:])


def load_checkpoint(path, *, map_location="cpu") -> dict:
    """Load a checkpoint with ``torch.load(weights_only=True)``; clear errors for bad files.

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` (a ``ValueError``)
    for a file that would run code when unpickled, or that is truncated or corrupted; every
    message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist (directory "
                                f"{str(path.parent)!r} {'exists' if path.parent.is_dir() else 'does not exist'})")
    if path.is_dir():
        raise CheckpointError(f"checkpoint path {str(path)!r} is a directory; pass a checkpoint file, or the run "
                              "directory as Trainer(out_dir=...) to resume from its latest checkpoint")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        detail = next((line.strip() for line in text.splitlines() if "Unpickler error" in line),
                      text.splitlines()[0] if text else "")
        if "weights_only" in text.lower() or "weights only" in text.lower():
            raise CheckpointError(
                f"refused to load {str(path)!r}: it contains Python objects other than tensors and plain "
                "containers, which could run arbitrary code when unpickled. equigen loads checkpoints only with "
                "torch.load(weights_only=True). If you wrote this file yourself with trusted code, re-save its "
                f"tensors as plain dicts. Details: {detail}"
            ) from exc
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupted (unpickling failed: {detail}); "
                              "delete it and resume from an earlier checkpoint") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError) as exc:
        size = path.stat().st_size
        raise CheckpointError(
            f"checkpoint {str(path)!r} ({size} bytes) is truncated or corrupted and cannot be read "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); delete it and resume from an "
            "earlier checkpoint"
        ) from exc
    if isinstance(obj, dict) and CHECKSUM_KEY in obj:
        stored = obj.pop(CHECKSUM_KEY)
        if stored != _checksum(obj):
            raise CheckpointError(f"checkpoint {str(path)!r} is corrupted: its content does not match the CRC-32 "
                                  "stored when it was written; delete it and resume from an earlier checkpoint")
    return obj


def _shorten(items, limit=10) -> str:
    items = list(items)
    shown = ", ".join(repr(k) for k in items[:limit])
    return shown + (f", ... and {len(items) - limit} more" if len(items) > limit else "")


def load_state_dict_checked(module: torch.nn.Module, state: dict, *, source: str = "checkpoint") -> None:
    """``module.load_state_dict(state)`` with one clear error listing missing, unexpected and mis-shaped keys."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: expected a state dict (mapping of names to tensors), got "
                              f"{type(state).__name__}")
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys (in the model, not in the file): {_shorten(missing)}")
        if unexpected:
            parts.append(f"unexpected keys (in the file, not in the model): {_shorten(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches: {'; '.join(shapes[:10])}" + (" ..." if len(shapes) > 10 else ""))
        raise CheckpointError(f"{source} does not match the architecture of {type(module).__name__}: "
                              + " | ".join(parts)
                              + ". Was it written by a different model or configuration?")
    module.load_state_dict(state)


def checkpoint_path(directory, step: int) -> Path:
    """The file name of the checkpoint after ``step`` optimisation steps."""
    return Path(directory) / f"ckpt-{int(step):08d}.pt"


def list_checkpoints(directory) -> list[tuple[int, Path]]:
    """``(step, path)`` of the finished checkpoints in ``directory``, oldest first (temp files ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        m = _CKPT_RE.match(entry.name)
        if m and entry.is_file():
            found.append((int(m.group(1)), entry))
    return sorted(found)


def latest_checkpoint(directory) -> Path | None:
    """The newest finished checkpoint in ``directory``, or None."""
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


# ----------------------------------------------------------------------------------- RNG states
def capture_rng_state() -> dict:
    """The global RNG states (torch CPU and CUDA, numpy, python ``random``) as plain containers/tensors."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": str(np_state[0]), "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": _python_state_to_plain(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    s = state["numpy"]
    np.random.set_state((s["name"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"],
                         s["cached_gaussian"]))
    random.setstate(_python_state_from_plain(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state_to_plain(state):
    version, internal, gauss = state
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def _python_state_from_plain(plain):
    return (plain["version"], tuple(int(v) for v in plain["internal"].tolist()), plain["gauss"])
