"""The options of :class:`~equigen.train.Trainer`, grouped in small validated config objects.

``Trainer(model, loss_fn, optim=OptimConfig(lr=1e-2), checkpoint=CheckpointConfig(out_dir="runs/a"))``
and the flat form ``Trainer(model, loss_fn, lr=1e-2, out_dir="runs/a")`` build the same trainer:
every flat keyword is one field of one group (:data:`FLAT_OPTIONS`). Each config checks its own
fields when it is built; error messages name the option by its flat keyword (``ema_decay``,
``checkpoint_every``, ...), the name the documentation's table lists next to the field.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from equigen.core.validation import (
    check_choice,
    check_device_available,
    check_float,
    check_int,
    check_non_negative_float,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
)

__all__ = ["OptimConfig", "EMAConfig", "GuardConfig", "CheckpointConfig", "LogConfig", "RuntimeConfig",
           "TrainerConfig", "FLAT_OPTIONS", "SCHEDULES"]

SCHEDULES = ("constant", "cosine", "linear")
AMP_DTYPES = {False: None, None: None, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
              torch.bfloat16: torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
              torch.float16: torch.float16}


def _store(config, **values) -> None:
    """Write canonical values into a frozen config (from ``__post_init__`` only)."""
    for name, value in values.items():
        object.__setattr__(config, name, value)


def _check_callable(value, name: str, what: str) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be {what} or None, got {type(value).__name__}")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser, learning-rate schedule and gradient clipping.

    * ``optimizer``: ``None`` (AdamW with ``lr`` and ``weight_decay``), a ``torch.optim.Optimizer``
      instance, or a factory ``optimizer(params) -> Optimizer``.
    * ``schedule``: ``"constant"``, ``"cosine"`` or ``"linear"`` (decay to 0 at the last step), after
      ``warmup_steps`` of linear warm-up; or ``scheduler``: a factory ``scheduler(optimizer) -> LRScheduler``
      (stepped once per optimiser step), which replaces ``schedule``.
    * ``clip_grad_norm``: max global gradient norm, or ``None``.
    """

    optimizer: Any = None
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    scheduler: Callable | None = None
    clip_grad_norm: float | None = None

    def __post_init__(self):
        if self.optimizer is not None and not isinstance(self.optimizer, torch.optim.Optimizer) \
                and not callable(self.optimizer):
            raise TypeError(f"optimizer must be None, a torch.optim.Optimizer or a factory params -> Optimizer, "
                            f"got {type(self.optimizer).__name__}")
        check_choice(self.schedule, "schedule", SCHEDULES)
        _check_callable(self.scheduler, "scheduler", "a factory optimizer -> LRScheduler")
        _store(self, clip_grad_norm=check_positive_float(self.clip_grad_norm, "clip_grad_norm", allow_none=True),
               lr=check_positive_float(self.lr, "lr"),
               weight_decay=check_non_negative_float(self.weight_decay, "weight_decay"),
               warmup_steps=check_non_negative_int(self.warmup_steps, "warmup_steps"))


@dataclass(frozen=True)
class EMAConfig:
    """Exponential moving average of the weights: ``decay`` (e.g. ``0.999``; ``None``: off), and
    ``warmup`` (ramp the decay up from 0.1, see :class:`~equigen.train.ema.EMA`)."""

    decay: float | None = None
    warmup: bool = False

    def __post_init__(self):
        if self.decay is not None and not 0 <= check_float(self.decay, "ema_decay") < 1:
            raise ValueError(f"ema_decay must lie in [0, 1) (typical: 0.999) or be None, got {self.decay!r}")


@dataclass(frozen=True)
class GuardConfig:
    """What a step with a NaN/inf loss or gradient does.

    ``nonfinite``: ``"skip"`` (drop the step, count it in ``skipped_steps``, raise after
    ``max_consecutive_skips`` in a row) or ``"raise"`` (:class:`~equigen.train.NonFiniteError`). In
    both cases the weights, optimiser state and schedule are unchanged by the bad step.
    """

    nonfinite: str = "skip"
    max_consecutive_skips: int = 10

    def __post_init__(self):
        check_choice(self.nonfinite, "nonfinite", ("skip", "raise"))
        _store(self, max_consecutive_skips=check_positive_int(self.max_consecutive_skips, "max_consecutive_skips"))


@dataclass(frozen=True)
class CheckpointConfig:
    """Where and how often checkpoints and the metric log are written.

    ``out_dir``: run directory (created if missing) for ``checkpoints/ckpt-XXXXXXXX.pt`` and
    ``metrics.jsonl``; ``None`` writes nothing. ``every``: steps between checkpoints (a final
    checkpoint is always written when ``out_dir`` is set); ``keep``: how many to keep.
    """

    out_dir: Any = None
    every: int | None = None
    keep: int = 3

    def __post_init__(self):
        _store(self, every=check_positive_int(self.every, "checkpoint_every", allow_none=True),
               keep=check_positive_int(self.keep, "keep_checkpoints"))


@dataclass(frozen=True)
class LogConfig:
    """Metric records, evaluation and the progress bar.

    ``every``: steps between metric records (``None``: only at the end). ``eval_fn(model) -> {name:
    float}`` runs every ``eval_every`` steps and at the end, on rank 0, with the EMA weights when EMA
    is on (``eval_with_ema``); it manages ``torch.no_grad`` itself (forces may need gradients).
    ``progress``: show a tqdm bar on rank 0.
    """

    every: int | None = 10
    eval_fn: Callable | None = None
    eval_every: int | None = None
    eval_with_ema: bool = True
    progress: bool = True

    def __post_init__(self):
        _check_callable(self.eval_fn, "eval_fn", "a function eval_fn(model) -> {name: value}")
        _store(self, every=check_positive_int(self.every, "log_every", allow_none=True),
               eval_every=check_positive_int(self.eval_every, "eval_every", allow_none=True))


@dataclass(frozen=True)
class RuntimeConfig:
    """Precision, device, seeding, processes, extra generators and compilation.

    * ``amp``: ``False`` (default, full precision: right for physics), ``"bf16"`` (autocast to bfloat16 on
      CPU or CUDA) or ``"fp16"`` (CUDA only, with a gradient scaler).
    * ``device``: ``None`` keeps the model where it is (``cuda:LOCAL_RANK`` under torchrun with CUDA).
    * ``seed``: seeds torch/numpy/python RNGs (plus the rank, in multi-process runs) and the trainer's
      ``generator`` when a fresh run starts; resumed runs restore the saved states instead.
    * ``distributed``: ``"auto"`` starts torch.distributed when launched by ``torchrun`` with more than one
      process (gloo on CPU, NCCL on CUDA); ``False`` never does.
    * ``find_unused_parameters``: passed to ``DistributedDataParallel``.
    * ``generators``: extra named ``torch.Generator`` objects your code uses, saved and restored with
      every checkpoint.
    * ``compile``: ``False`` (default), ``True`` or a dict of ``torch.compile`` options (``mode``,
      ``dynamic``, ...): compiles the model's ``forward`` in place with ``fullgraph=True`` (see
      :func:`~equigen.train.compiling.compile_strict`), so a graph break or a recompilation limit is an
      error, never a silent fall-back to eager. Parameter names and checkpoints are unchanged.
    """

    amp: Any = False
    device: Any = None
    seed: int = 0
    distributed: Any = "auto"
    find_unused_parameters: bool = False
    generators: Mapping[str, torch.Generator] | None = None
    compile: Any = False

    def __post_init__(self):
        check_choice(self.amp, "amp", tuple(AMP_DTYPES))
        _store(self, seed=check_int(self.seed, "seed"))
        if self.device is not None:
            _store(self, device=check_device_available(self.device, "device"))
        if not isinstance(self.compile, (bool, Mapping)):
            raise TypeError(f"compile must be True, False or a dict of torch.compile options, got "
                            f"{type(self.compile).__name__}")


# ---------------------------------------------------------------------------------- flat keywords
GROUPS = {"optim": OptimConfig, "ema": EMAConfig, "guard": GuardConfig, "checkpoint": CheckpointConfig,
          "log": LogConfig, "runtime": RuntimeConfig}

#: Flat keyword of ``Trainer(...)`` -> (group keyword, field of that group's config).
FLAT_OPTIONS = {
    "optimizer": ("optim", "optimizer"), "lr": ("optim", "lr"), "weight_decay": ("optim", "weight_decay"),
    "schedule": ("optim", "schedule"), "warmup_steps": ("optim", "warmup_steps"),
    "scheduler": ("optim", "scheduler"), "clip_grad_norm": ("optim", "clip_grad_norm"),
    "ema_decay": ("ema", "decay"), "ema_warmup": ("ema", "warmup"),
    "nonfinite": ("guard", "nonfinite"), "max_consecutive_skips": ("guard", "max_consecutive_skips"),
    "out_dir": ("checkpoint", "out_dir"), "checkpoint_every": ("checkpoint", "every"),
    "keep_checkpoints": ("checkpoint", "keep"),
    "log_every": ("log", "every"), "eval_fn": ("log", "eval_fn"), "eval_every": ("log", "eval_every"),
    "eval_with_ema": ("log", "eval_with_ema"), "progress": ("log", "progress"),
    "amp": ("runtime", "amp"), "device": ("runtime", "device"), "seed": ("runtime", "seed"),
    "distributed": ("runtime", "distributed"), "find_unused_parameters": ("runtime", "find_unused_parameters"),
    "generators": ("runtime", "generators"), "compile": ("runtime", "compile"),
}


@dataclass(frozen=True)
class TrainerConfig:
    """All options of one :class:`~equigen.train.Trainer`, one config per group."""

    optim: OptimConfig
    ema: EMAConfig
    guard: GuardConfig
    checkpoint: CheckpointConfig
    log: LogConfig
    runtime: RuntimeConfig

    @classmethod
    def from_options(cls, groups: Mapping[str, Any], flat: Mapping[str, Any]) -> TrainerConfig:
        """Combine config objects (``groups``: group keyword -> config or ``None``) and flat keywords.

        A group is given either as its config object or by its flat keywords, not both. Raises
        ``TypeError`` for an unknown keyword (listing the valid ones), a config of the wrong class, or
        a group given both ways; the configs raise for bad values.
        """
        unknown = [key for key in flat if key not in FLAT_OPTIONS]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], FLAT_OPTIONS, n=1)
            raise TypeError(f"Trainer() got unknown option(s) {', '.join(map(repr, unknown))}"
                            + (f" (did you mean {hint[0]!r}?)" if hint else "")
                            + f"; valid options: {', '.join(FLAT_OPTIONS)}, or config objects "
                            + ", ".join(f"{g}={c.__name__}(...)" for g, c in GROUPS.items()))
        fields: dict[str, dict] = {group: {} for group in GROUPS}
        for key, value in flat.items():
            group, name = FLAT_OPTIONS[key]
            fields[group][name] = value
        built = {}
        for group, config_cls in GROUPS.items():
            given = groups.get(group)
            if given is None:
                built[group] = config_cls(**fields[group])
            elif not isinstance(given, config_cls):
                keys = [key for key, (g, _) in FLAT_OPTIONS.items() if g == group]
                raise TypeError(f"{group} must be None or an instance of {config_cls.__name__}, got "
                                f"{type(given).__name__}; pass {group}={config_cls.__name__}({FLAT_OPTIONS[keys[0]][1]}"
                                f"=...) or the keywords {', '.join(keys)}")
            elif fields[group]:
                both = [key for key in flat if FLAT_OPTIONS[key][0] == group]
                raise TypeError(f"{', '.join(both)} and {group}={config_cls.__name__}(...) both given: a group of "
                                f"options comes one way; set them in the config, e.g. {group}=dataclasses.replace("
                                f"{group}, {', '.join(FLAT_OPTIONS[k][1] + '=...' for k in both)}), or pass every "
                                f"{group} option as a keyword")
            else:
                built[group] = given
        return cls(**built)

