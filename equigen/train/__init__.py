"""Training for every equigen model: one :class:`Trainer`, safe checkpoints, exact resume, DDP.

* :mod:`~equigen.train.trainer`: :class:`Trainer` (optimiser, schedule, clipping, EMA, NaN guards,
  metrics, evaluation, checkpoints, torch.distributed);
* :mod:`~equigen.train.config`: the Trainer's options in validated groups (:class:`OptimConfig`,
  :class:`EMAConfig`, :class:`GuardConfig`, :class:`CheckpointConfig`, :class:`LogConfig`, :class:`RuntimeConfig`);
* :mod:`~equigen.train.checkpoint`: atomic writes, ``weights_only`` reads, clear errors;
* :mod:`~equigen.train.data`: batches whose order is a resumable state, sharded over processes;
* :mod:`~equigen.train.model_io`: save/load a model with its constructor arguments;
* :mod:`~equigen.train.distributed`: start the process group ``torchrun`` describes;
* :mod:`~equigen.train.ema`: exponential moving average of weights;
* :mod:`~equigen.train.compiling`: ``torch.compile`` with ``fullgraph=True`` and no silent eager fall-back.

See ``docs/training.md`` for a walk-through.
"""

from equigen.train.checkpoint import CheckpointError, atomic_save, latest_checkpoint, load_checkpoint
from equigen.train.compiling import compile_strict
from equigen.train.config import CheckpointConfig, EMAConfig, GuardConfig, LogConfig, OptimConfig, RuntimeConfig
from equigen.train.data import Batches, SampledBatches
from equigen.train.distributed import init_distributed, is_rank0
from equigen.train.ema import EMA
from equigen.train.model_io import configurable, load_model, save_model
from equigen.train.trainer import NonFiniteError, Trainer

__all__ = [
    "Trainer", "NonFiniteError", "OptimConfig", "EMAConfig", "GuardConfig", "CheckpointConfig", "LogConfig",
    "RuntimeConfig", "CheckpointError", "EMA", "Batches", "SampledBatches",
    "atomic_save", "load_checkpoint", "latest_checkpoint", "save_model", "load_model", "configurable",
    "init_distributed", "is_rank0", "compile_strict",
]
