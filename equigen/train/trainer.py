"""One training loop for every equigen model.

A model trains with :class:`Trainer` if it can say how to compute a scalar loss on a batch, in
one of two ways (checked in this order):

* ``Trainer(model, loss_fn)`` with ``loss_fn(model, batch) -> loss``;
* no ``loss_fn``: the model has a method ``model.training_loss(batch) -> loss``.

``loss`` is a scalar tensor, or a dict with a ``"loss"`` entry plus other scalars to log. If the
function (or method) accepts a ``generator`` keyword, the trainer passes its own seeded, checkpointed
``torch.Generator`` (e.g. for diffusion noise), so training with randomness resumes exactly.

What the loop does each step: move the batch to the device, compute the loss (optionally under
autocast), backpropagate (through ``DistributedDataParallel`` when launched by ``torchrun``, which
averages the gradients over processes), check the loss and gradients for NaN/inf (skip the step or
raise; the weights are untouched either way), clip the gradient norm, step the optimiser and LR
schedule, update the EMA, and every so often log metrics (JSON lines), evaluate, and write an atomic
checkpoint from which :meth:`Trainer.fit` resumes bit-for-bit.

Example::

    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(256, 3), torch.randn(256, 1)
    trainer = Trainer(model, lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1]),
                      lr=1e-2, out_dir="runs/linear", checkpoint_every=100, progress=False)
    trainer.fit((x, y), steps=500, batch_size=32)   # run again after a crash: resumes from the last checkpoint
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from equigen.core.validation import check_non_negative_int, check_positive_float
from equigen.train import checkpoint as ckpt
from equigen.train import config as cfg
from equigen.train import distributed as D
from equigen.train.compiling import compile_strict
from equigen.train.data import as_batches
from equigen.train.ema import EMA

__all__ = ["Trainer", "NonFiniteError"]

SCHEDULES = cfg.SCHEDULES  # the built-in learning-rate schedules (defined with the options)

CHECKPOINT_FORMAT = "equigen-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1


class NonFiniteError(FloatingPointError):
    """The loss or a gradient was NaN/inf (``nonfinite="raise"``, or too many skipped steps in a row)."""


class _LossModule(torch.nn.Module):
    """Puts the loss computation inside ``forward`` so DistributedDataParallel sees it."""

    def __init__(self, model: torch.nn.Module, compute: Callable):
        super().__init__()
        self.model = model
        self._compute = compute

    def forward(self, batch):
        return self._compute(self.model, batch)


def _accepts_generator(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "generator" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _to_device(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_to_device(b, device) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if hasattr(batch, "to") and callable(batch.to):
        return batch.to(device)
    return batch


class Trainer:
    """Optimiser, schedule, clipping, EMA, guards, logging, checkpoints and DDP around one model.

    ``model``: a ``torch.nn.Module``. ``loss_fn(model, batch)``: see the module docstring; ``None``
    uses ``model.training_loss(batch)``. The options come in six groups, each a config object that
    checks its fields (see their docstrings):

    * ``optim``: :class:`~equigen.train.config.OptimConfig` (optimizer, lr, weight_decay, schedule,
      warmup_steps, scheduler, clip_grad_norm);
    * ``ema``: :class:`~equigen.train.config.EMAConfig` (decay, warmup);
    * ``guard``: :class:`~equigen.train.config.GuardConfig` (nonfinite, max_consecutive_skips);
    * ``checkpoint``: :class:`~equigen.train.config.CheckpointConfig` (out_dir, every, keep);
    * ``log``: :class:`~equigen.train.config.LogConfig` (every, eval_fn, eval_every, eval_with_ema, progress);
    * ``runtime``: :class:`~equigen.train.config.RuntimeConfig` (amp, device, seed, distributed,
      find_unused_parameters, generators, compile).

    Every field can also be given as a flat keyword (``Trainer(model, loss_fn, lr=1e-2, ema_decay=0.999,
    out_dir="runs/a", checkpoint_every=100, progress=False)``); the table is
    :data:`~equigen.train.config.FLAT_OPTIONS`. A group comes either as its config or as flat keywords,
    not both; an unknown keyword is a ``TypeError`` listing the valid ones. ``trainer.config`` holds the
    resolved :class:`~equigen.train.config.TrainerConfig`.
    """

    def __init__(self, model: torch.nn.Module, loss_fn: Callable | None = None, *,
                 optim: cfg.OptimConfig | None = None, ema: cfg.EMAConfig | None = None,
                 guard: cfg.GuardConfig | None = None, checkpoint: cfg.CheckpointConfig | None = None,
                 log: cfg.LogConfig | None = None, runtime: cfg.RuntimeConfig | None = None, **options):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if loss_fn is None and not callable(getattr(model, "training_loss", None)):
            raise TypeError(f"no loss: pass Trainer(model, loss_fn) with loss_fn(model, batch) -> loss, or give "
                            f"{type(model).__name__} a method training_loss(batch) -> loss")
        groups = {"optim": optim, "ema": ema, "guard": guard, "checkpoint": checkpoint, "log": log, "runtime": runtime}
        self.config = config = cfg.TrainerConfig.from_options(groups, options)
        rt = config.runtime
        self.rank, self.world_size = _process_group(rt.distributed)
        self.device = self._choose_device(model, rt.device)
        self.model = model.to(self.device)
        if rt.compile is not False:  # True, or a mapping of torch.compile options
            compile_strict(self.model, inplace=True, **({} if rt.compile is True else rt.compile))
        self.amp_dtype, self.scaler = self._amp_setup(rt.amp)

        self.loss_fn = loss_fn
        self._pass_generator = _accepts_generator(loss_fn if loss_fn is not None else model.training_loss)
        self.seed = rt.seed
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed * 1_000_003 + self.rank)
        self.generators = dict(rt.generators or {})
        self.optimizer = self._build_optimizer(model, config.optim)
        self.scheduler = None
        self.ema = EMA(model, config.ema.decay, warmup=config.ema.warmup) if config.ema.decay is not None else None
        self.out_dir = None if config.checkpoint.out_dir is None else Path(config.checkpoint.out_dir)
        if self.out_dir is not None and self.rank == 0:
            _prepare_out_dir(self.out_dir)
        self._init_progress()

    def _choose_device(self, model: torch.nn.Module, device) -> torch.device:
        """The given device; else ``cuda:LOCAL_RANK`` under multi-process CUDA; else where the model is."""
        if device is None:
            if self.world_size > 1 and torch.cuda.is_available():
                device = torch.device("cuda", D.local_rank())
            else:
                first = next(iter(model.parameters()), None)
                device = first.device if first is not None else torch.device("cpu")
        return torch.device(device)

    def _amp_setup(self, amp):
        """``(autocast dtype or None, GradScaler or None)`` for the ``amp`` option on this device."""
        amp_dtype = cfg.AMP_DTYPES[amp]
        if amp_dtype is torch.float16 and self.device.type != "cuda":
            raise ValueError("amp='fp16' needs a CUDA device (it relies on a gradient scaler); use amp='bf16' on CPU")
        return amp_dtype, (torch.amp.GradScaler("cuda") if amp_dtype is torch.float16 else None)

    @staticmethod
    def _build_optimizer(model: torch.nn.Module, optim: cfg.OptimConfig) -> torch.optim.Optimizer:
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"{type(model).__name__} has no trainable parameters")
        if optim.optimizer is None:
            return torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)
        if isinstance(optim.optimizer, torch.optim.Optimizer):
            return optim.optimizer
        return optim.optimizer(params)

    def _init_progress(self) -> None:
        """Step counters, history and per-fit state of a new trainer."""
        self.step = 0
        self.total_steps = None
        self.skipped_steps = 0
        self.consecutive_skips = 0
        self.amp_overflows = 0
        self.history: list[dict] = []
        self.last_eval: dict = {}
        self._wrapped = None
        self._data = None

    # ------------------------------------------------------------------ paths
    @property
    def checkpoint_dir(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / "checkpoints"

    @property
    def metrics_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / "metrics.jsonl"

    # ------------------------------------------------------------------ fit
    def fit(self, data, *, steps: int, batch_size: int | None = None, shuffle: bool = True,
            collate_fn: Callable | None = None, resume=True, time_limit_s: float | None = None) -> dict:
        """Train until ``self.step == steps``; returns ``{"step", "skipped_steps", "loss", "eval", "stopped_by"}``.

        ``data``: a tensor / tuple / dict of tensors or a dataset (with ``batch_size``, the global
        batch, split over processes; epochs reshuffled from ``seed``), a function
        ``sample(generator) -> batch``, or a :class:`~equigen.train.data.Batches` object.
        ``resume``: ``True`` continues from the newest checkpoint in ``out_dir`` if there is one,
        ``False`` starts fresh, a path resumes from that checkpoint file.
        ``time_limit_s``: also stop once this many wall-clock seconds of this call have passed
        (checked after each step; the schedule still spans ``steps``, so pick ``steps`` as the most
        the budget could allow). ``stopped_by`` is ``"steps"`` or ``"time_limit"``; a run stopped by the
        limit ends with an eval and a checkpoint like a finished one.
        """
        steps = check_non_negative_int(steps, "steps")
        check_positive_float(time_limit_s, "time_limit_s", allow_none=True)
        self._data = as_batches(data, batch_size, shuffle=shuffle, seed=self.seed, collate_fn=collate_fn,
                                rank=self.rank, world_size=self.world_size)
        if self.total_steps is None or self.total_steps != steps:
            self.total_steps = steps
            self.scheduler = self._make_scheduler(steps)
        self._resume_or_seed(resume)
        last, stopped_by = self._run_steps(steps, time_limit_s)
        D.barrier()
        return {"step": self.step, "skipped_steps": self.skipped_steps, "loss": last.get("loss"),
                "eval": dict(self.last_eval), "stopped_by": stopped_by}

    def _resume_or_seed(self, resume) -> None:
        """Load the checkpoint ``resume`` points to, or seed every RNG if this is a fresh run."""
        path = self._checkpoint_to_resume(resume)
        if path is not None:
            self.load_checkpoint(path)
            if self.rank == 0 and self.metrics_path is not None:
                _truncate_log(self.metrics_path, self.step)
        elif self.step == 0:
            _seed_everything(self.seed + self.rank)
            self.generator.manual_seed(self.seed * 1_000_003 + self.rank)

    def _checkpoint_to_resume(self, resume) -> Path | None:
        """``True``: the newest checkpoint in ``out_dir`` (if any); ``False``/``None``: none; else that file."""
        if resume is True and self.checkpoint_dir is not None:
            if self.rank == 0:
                _remove_stale_temp_files(self.checkpoint_dir)
            return ckpt.latest_checkpoint(self.checkpoint_dir)
        if resume in (True, False, None):
            return None
        if not Path(resume).exists():
            raise FileNotFoundError(f"resume={str(resume)!r}: no such checkpoint file; pass resume=True to use the "
                                    "newest checkpoint in out_dir, or resume=False to start fresh")
        return Path(resume)

    def _run_steps(self, steps: int, time_limit_s: float | None) -> tuple[dict, str]:
        """Step until ``steps`` (or the time limit); returns the last metric record and ``stopped_by``."""
        module = self._wrapped_module()
        self.model.train()
        bar = tqdm(total=steps, initial=self.step, disable=not (self.config.log.progress and self.rank == 0),
                   dynamic_ncols=True, desc=type(self.model).__name__)
        window, last = _MetricWindow(), {}
        t0 = time.perf_counter()
        try:
            while self.step < steps:
                window.add(self._train_step(module, _to_device(self._data.next_batch(), self.device)))
                self.step += 1
                bar.update(1)
                out_of_time = time_limit_s is not None and self._agree(time.perf_counter() - t0 >= time_limit_s)
                final = self.step == steps or out_of_time
                if _due(self.step, self.config.log.every, final):
                    last = self._log(window.sums, window.count, time.perf_counter() - t0)
                    bar.set_postfix(loss=f"{last.get('loss', float('nan')):.4g}", refresh=False)
                    window = _MetricWindow()
                self._evaluate_and_checkpoint(final)
                if out_of_time and self.step < steps:
                    return last, "time_limit"
        finally:
            bar.close()
        return last, "steps"

    def _evaluate_and_checkpoint(self, final: bool) -> None:
        """Evaluate every ``eval_every`` and checkpoint every ``checkpoint_every`` steps, and after the last one."""
        if self.config.log.eval_fn is not None and _due(self.step, self.config.log.eval_every, final):
            self._evaluate()
        if self.out_dir is not None and _due(self.step, self.config.checkpoint.every, final):
            self.save_checkpoint()

    # ------------------------------------------------------------------ one step
    def _compute(self, model, batch):
        kw = {"generator": self.generator} if self._pass_generator else {}
        if self.loss_fn is not None:
            return self.loss_fn(model, batch, **kw)
        return model.training_loss(batch, **kw)

    def _wrapped_module(self):
        if self._wrapped is None:
            module = _LossModule(self.model, self._compute)
            if self.world_size > 1:
                from torch.nn.parallel import DistributedDataParallel

                ids = [self.device.index] if self.device.type == "cuda" else None
                module = DistributedDataParallel(module, device_ids=ids,
                                                 find_unused_parameters=self.config.runtime.find_unused_parameters)
            self._wrapped = module
        return self._wrapped

    def _train_step(self, module, batch) -> dict | None:
        self.optimizer.zero_grad(set_to_none=True)
        autocast = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype is not None
                    else contextlib.nullcontext())
        with autocast:
            out = module(batch)
        loss, extras = _split_loss(out)
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        loss_bad = ~torch.isfinite(loss.detach())
        grad_ok = [torch.isfinite(p.grad).all() for p in params]
        grad_bad = ~torch.stack(grad_ok).all() if grad_ok else torch.zeros((), dtype=torch.bool, device=loss.device)
        flags = torch.stack([loss_bad, grad_bad]).to(torch.float32)
        if self.world_size > 1:
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        loss_bad, grad_bad = bool(flags[0]), bool(flags[1])
        if self.scaler is not None and grad_bad and not loss_bad:  # fp16 overflow: the scaler's job
            self.amp_overflows += 1
            self.scaler.step(self.optimizer)  # skipped internally
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            return None
        if loss_bad or grad_bad:
            self._handle_nonfinite(loss, loss_bad)
            return None
        self.consecutive_skips = 0
        grad_norm = None
        if self.config.optim.clip_grad_norm is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.optim.clip_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        metrics = {"loss": loss.detach()}
        metrics.update({k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in extras.items()})
        if grad_norm is not None:
            metrics["grad_norm"] = grad_norm.detach()
        return {k: float(v) for k, v in metrics.items()}

    def _agree(self, flag: bool) -> bool:
        """``flag`` made the same on every process (True if any process says True)."""
        if self.world_size == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t[0])

    def _handle_nonfinite(self, loss: torch.Tensor, loss_bad: bool) -> None:
        first = None
        for name, p in self.model.named_parameters():
            if p.grad is not None and not torch.isfinite(p.grad).all():
                g = p.grad
                first = (f"first non-finite gradient in parameter {name!r} (shape {tuple(p.shape)}: "
                         f"{int(torch.isnan(g).sum())} NaN, {int(torch.isinf(g).sum())} inf of {g.numel()} entries)")
                break
        what = [f"loss = {float(loss.detach())}" + ("" if loss_bad else " (finite on this process)")]
        if first:
            what.append(first)
        message = f"non-finite training step {self.step + 1}: " + "; ".join(what)
        self.optimizer.zero_grad(set_to_none=True)
        guard = self.config.guard
        if guard.nonfinite == "raise":
            raise NonFiniteError(message + ". The weights were not updated by this step.")
        self.skipped_steps += 1
        self.consecutive_skips += 1
        if self.rank == 0:
            warnings.warn(message + " -- step skipped, weights unchanged", RuntimeWarning, stacklevel=3)
        if self.consecutive_skips >= guard.max_consecutive_skips:
            raise NonFiniteError(f"{self.consecutive_skips} consecutive non-finite steps (max_consecutive_skips="
                                 f"{guard.max_consecutive_skips}); last: {message}. Lower the learning rate, clip "
                                 "gradients, or check the data")

    def _make_scheduler(self, steps: int):
        optim = self.config.optim
        if optim.scheduler is not None:
            # built once: the factory's schedule does not depend on ``steps``
            return self.scheduler if self.scheduler is not None else optim.scheduler(self.optimizer)
        warmup, kind, total = optim.warmup_steps, optim.schedule, max(steps, 1)

        def factor(i: int) -> float:
            if warmup and i < warmup:
                return (i + 1) / warmup
            frac = min(max(i - warmup, 0) / max(total - warmup, 1), 1.0)
            if kind == "cosine":
                return 0.5 * (1.0 + math.cos(math.pi * frac))
            if kind == "linear":
                return 1.0 - frac
            return 1.0

        for group in self.optimizer.param_groups:  # LambdaLR reads initial_lr on re-creation
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"]
        scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        if self.step:  # fit() called again with a new number of steps: the new schedule continues from here
            scheduler.last_epoch = self.step
            lrs = [base * factor(self.step) for base in scheduler.base_lrs]
            for group, lr in zip(self.optimizer.param_groups, lrs):
                group["lr"] = lr
            scheduler._last_lr = lrs
        return scheduler

    # ------------------------------------------------------------------ logging / eval
    def _log(self, acc: dict, n: int, elapsed: float) -> dict:
        keys = sorted(acc)
        values = torch.tensor([acc[k] for k in keys] + [float(n)], dtype=torch.float64)
        if self.world_size > 1:
            values = values.to(self.device)
            dist.all_reduce(values)
            values = values.cpu()
        count = float(values[-1])
        record = {"step": self.step}
        record.update({k: float(values[i]) / count for i, k in enumerate(keys)} if count else {})
        record.update({"lr": self.optimizer.param_groups[0]["lr"], "skipped_steps": self.skipped_steps,
                       "time_s": round(elapsed, 3)})
        if self.amp_overflows:
            record["amp_overflows"] = self.amp_overflows
        if self.rank == 0:
            self.history.append(record)
            self._append_log(record)
        return record

    def _append_log(self, record: dict) -> None:
        if self.metrics_path is not None:
            with open(self.metrics_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def _evaluate(self) -> None:
        if self.rank != 0:
            return
        use_ema = self.ema is not None and self.config.log.eval_with_ema
        ctx = self.ema.swapped_into(self.model) if use_ema else contextlib.nullcontext()
        self.model.eval()
        try:
            with ctx:
                result = self.config.log.eval_fn(self.model)
        finally:
            self.model.train()
        if not isinstance(result, Mapping):
            raise TypeError(f"eval_fn must return a mapping of metric names to numbers, got {type(result).__name__}")
        self.last_eval = {k: float(v) for k, v in result.items()}
        record = {"step": self.step, **{f"eval/{k}": v for k, v in self.last_eval.items()}}
        self.history.append(record)
        self._append_log(record)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """This process's complete training state (plain containers and tensors)."""
        return {
            "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION,
            "equigen_version": _version(), "torch_version": str(torch.__version__),
            "model_class": f"{type(self.model).__module__}.{type(self.model).__qualname__}",
            "step": self.step, "total_steps": self.total_steps, "world_size": self.world_size,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "counters": {"skipped_steps": self.skipped_steps, "consecutive_skips": self.consecutive_skips,
                         "amp_overflows": self.amp_overflows},
            "per_rank": [self._rank_state()],
        }

    def _rank_state(self) -> dict:
        return {"rng": ckpt.capture_rng_state(), "generator": self.generator.get_state(),
                "generators": {k: g.get_state() for k, g in self.generators.items()},
                "data": self._data.state_dict() if self._data is not None else None}

    def save_checkpoint(self, path=None) -> Path | None:
        """Write the training state atomically (rank 0 only; every rank must call it under DDP)."""
        state = self.state_dict()
        if self.world_size > 1:
            gathered = [None] * self.world_size
            dist.all_gather_object(gathered, state["per_rank"][0])
            state["per_rank"] = gathered
        if self.rank != 0:
            return None
        if path is None:
            if self.checkpoint_dir is None:
                raise ValueError("save_checkpoint() needs a path, or Trainer(out_dir=...)")
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            path = ckpt.checkpoint_path(self.checkpoint_dir, self.step)
        path = ckpt.atomic_save(state, path)
        if self.checkpoint_dir is not None and Path(path).parent == self.checkpoint_dir:
            for _, old in ckpt.list_checkpoints(self.checkpoint_dir)[:-self.config.checkpoint.keep]:
                old.unlink(missing_ok=True)
        return path

    def load_checkpoint(self, path) -> None:
        """Restore the full training state from a checkpoint written by :meth:`save_checkpoint`."""
        state = ckpt.load_checkpoint(path)
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise ckpt.CheckpointError(f"{str(path)!r} is not an equigen training checkpoint (no "
                                       f"format={CHECKPOINT_FORMAT!r} entry); to load bare weights use "
                                       "model.load_state_dict(load_checkpoint(path))")
        ckpt.load_state_dict_checked(self.model, state["model"], source=f"checkpoint {str(path)!r}")
        self.optimizer.load_state_dict(state["optimizer"])
        if state["scheduler"] is not None and self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None:
            if state["ema"] is None:
                warnings.warn(f"{path}: checkpoint has no EMA; starting the average from the loaded weights",
                              stacklevel=2)
                self.ema = EMA(self.model, self.ema.decay, warmup=self.ema.warmup)
            else:
                self.ema.load_state_dict(state["ema"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        c = state["counters"]
        self.skipped_steps, self.consecutive_skips = c["skipped_steps"], c["consecutive_skips"]
        self.amp_overflows = c["amp_overflows"]
        self.step = int(state["step"])
        if state.get("total_steps") not in (None, self.total_steps) and self.config.optim.scheduler is None \
                and self.config.optim.schedule != "constant":
            warnings.warn(f"{path} was written for steps={state['total_steps']}, this run has "
                          f"steps={self.total_steps}: the LR schedule differs from the original run", stacklevel=2)
        per_rank = state["per_rank"]
        if len(per_rank) != self.world_size:
            warnings.warn(f"{path} was written by {len(per_rank)} process(es), this run has {self.world_size}: "
                          "data order is kept, per-process random streams are reseeded (resume is not bitwise)",
                          stacklevel=2)
            mine = per_rank[0]
            ckpt.restore_rng_state(mine["rng"])
            _seed_everything(self.seed + self.rank + 7919 * self.step)
        else:
            mine = per_rank[self.rank]
            ckpt.restore_rng_state(mine["rng"])
            self.generator.set_state(mine["generator"])
            for k, g in self.generators.items():
                if k in mine["generators"]:
                    g.set_state(mine["generators"][k])
        if self._data is not None and mine["data"] is not None:
            self._data.load_state_dict(mine["data"])


# ---------------------------------------------------------------------------------- helpers
class _MetricWindow:
    """Running sums of the step metrics since the last log record (steps skipped by a guard add nothing)."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, metrics: dict | None) -> None:
        if metrics is None:
            return
        for k, v in metrics.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1


def _due(step: int, every: int | None, final: bool) -> bool:
    """Whether a periodic action (every ``every`` steps, ``None``: never) runs after ``step``; always if ``final``."""
    return final or (every is not None and step % every == 0)


def _process_group(distributed) -> tuple[int, int]:
    """``(rank, world_size)``: ``"auto"`` starts the group ``torchrun`` describes; ``False`` is one process."""
    rank_size = D.init_distributed() if distributed == "auto" else (D.rank(), D.world_size())
    return (0, 1) if distributed is False else rank_size


def _split_loss(out):
    if isinstance(out, Mapping):
        if "loss" not in out:
            raise ValueError(f"the loss function returned a dict without a 'loss' entry (keys {sorted(out)})")
        extras = {k: v for k, v in out.items() if k != "loss"}
        out = out["loss"]
    else:
        extras = {}
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        raise ValueError(f"the loss function must return a scalar tensor (or a dict with one under 'loss'), got "
                         f"{type(out).__name__}{tuple(out.shape) if isinstance(out, torch.Tensor) else ''}")
    return out.reshape(()), extras


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _version() -> str:
    from equigen import __version__

    return __version__


def _prepare_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "checkpoints").mkdir(exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-test-"):
            pass
    except FileExistsError as exc:
        raise ValueError(f"out_dir={str(out_dir)!r} exists but is not a directory; choose another out_dir") from exc
    except (PermissionError, NotADirectoryError, OSError) as exc:
        raise ValueError(f"out_dir={str(out_dir)!r} cannot be created or written ({type(exc).__name__}: {exc}); "
                         "choose a writable directory") from exc


def _remove_stale_temp_files(directory: Path) -> None:
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.name.startswith(".ckpt-") and entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)


def _truncate_log(path: Path, step: int) -> None:
    """Drop records written after ``step`` by a run that was killed after its last checkpoint."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:
            continue  # a line cut by the kill
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)
