"""Batches whose order is a resumable state: shuffled epochs, shared across processes.

:class:`Batches` draws an endless stream of equal-size batches from a dataset. Each epoch's order
is the permutation ``torch.utils.data.DistributedSampler`` draws for ``(seed, epoch)``, so the
complete data-order state is three integers (``seed``, ``epoch``, ``position``) that a checkpoint
can store exactly. With ``world_size > 1`` each process takes its share of the epoch from its own
``DistributedSampler`` (items ``rank, rank + K, rank + 2K, ...`` of the shared permutation) and
cuts it into local batches of ``batch_size // world_size``; since the global batch size is a
multiple of K, the K local batches of a step together hold exactly the items of the global batch
one process would draw at that step. :class:`SampledBatches` wraps a function that *generates*
each batch from an explicit generator (simulated data).

Example::

    data = Batches(torch.randn(100, 3), batch_size=10, seed=0)
    x = data.next_batch()          # (10, 3)
    state = data.state_dict()      # {"seed": 0, "epoch": 0, "position": 10, ...}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch.utils.data import DistributedSampler, default_collate

from equigen.core.validation import check_positive_int

__all__ = ["Batches", "SampledBatches", "as_batches"]


class Batches:
    """Endless shuffled (or ordered) batches over a dataset, with exact resume and sharding.

    ``dataset``: a tensor (items along dim 0), a tuple/list or dict of tensors sharing dim 0, or
    any object with ``__len__``/``__getitem__`` (items combined by ``collate_fn``, default
    ``torch.utils.data.default_collate``; pass ``torch_geometric.data.Batch.from_data_list`` for graphs).
    ``batch_size`` is the *global* batch; each of ``world_size`` processes gets
    ``batch_size // world_size`` items of it, chosen by ``torch.utils.data.DistributedSampler``
    (``rank``/``world_size`` default to a single process). The incomplete last batch of an epoch is
    dropped so every step sees the same number of items.
    """

    def __init__(self, dataset, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 collate_fn: Callable | None = None, rank: int = 0, world_size: int = 1):
        batch_size = check_positive_int(batch_size, "batch_size")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank={rank!r} and world_size={world_size!r} must satisfy 0 <= rank < world_size")
        if batch_size % world_size:
            raise ValueError(
                f"batch_size={batch_size} (the global batch) is not divisible by the world size {world_size}: each "
                f"process must get the same number of items. Use a batch_size that is a multiple of {world_size} "
                f"(e.g. {batch_size + world_size - batch_size % world_size}) or launch a different number of processes")
        self.dataset = dataset
        self._kind, n = _dataset_kind(dataset)
        if n < batch_size:
            raise ValueError(f"the dataset has {n} items, fewer than batch_size={batch_size}; lower batch_size")
        self.num_items = n
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.collate_fn = collate_fn or default_collate
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.position = 0  # index into the epoch's order of the next global batch's first item
        self._order = None

    @property
    def batches_per_epoch(self) -> int:
        return self.num_items // self.batch_size

    def _epoch_order(self) -> torch.Tensor:
        """This process's indices for the current epoch, from torch's ``DistributedSampler``."""
        if self._order is None:
            # seed * 1_000_003: (seed, epoch) and (seed + 1, epoch - 1) must not share a permutation
            sampler = DistributedSampler(range(self.num_items), num_replicas=self.world_size, rank=self.rank,
                                         shuffle=self.shuffle, seed=self.seed * 1_000_003, drop_last=True)
            sampler.set_epoch(self.epoch)
            self._order = torch.tensor(list(sampler), dtype=torch.long)
        return self._order

    def next_batch(self):
        """The next batch (this process's share of the next global batch)."""
        if self.position + self.batch_size > self.num_items:
            self.epoch += 1
            self.position = 0
            self._order = None
        order = self._epoch_order()
        local = self.batch_size // self.world_size
        start = (self.position // self.batch_size) * local
        idx = order[start:start + local]
        self.position += self.batch_size
        return self._take(idx)

    def _take(self, idx: torch.Tensor):
        ds = self.dataset
        if self._kind == "tensor":
            return ds[idx]
        if self._kind == "tuple":
            return type(ds)(t[idx] for t in ds) if isinstance(ds, tuple) else [t[idx] for t in ds]
        if self._kind == "dict":
            return {k: v[idx] for k, v in ds.items()}
        return self.collate_fn([ds[int(i)] for i in idx])

    def __iter__(self):
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position, "shuffle": self.shuffle,
                "batch_size": self.batch_size, "num_items": self.num_items}

    def load_state_dict(self, state: Mapping) -> None:
        for key in ("batch_size", "num_items"):
            if state[key] != getattr(self, key):
                raise ValueError(f"data-order state was saved with {key}={state[key]}, but this run has "
                                 f"{key}={getattr(self, key)}; resume with the same data and batch_size")
        self.seed, self.epoch, self.position = int(state["seed"]), int(state["epoch"]), int(state["position"])
        self.shuffle = bool(state["shuffle"])
        self._order = None


class SampledBatches:
    """Batches generated on the fly: ``sample(generator) -> batch``, from a seeded ``torch.Generator``.

    In a multi-process run every process uses its own stream (seeded with ``seed`` and its rank) and
    generates its local share of the batch; ``sample`` decides the batch size itself.
    """

    def __init__(self, sample: Callable, *, seed: int = 0, rank: int = 0, world_size: int = 1):
        if not callable(sample):
            raise TypeError(f"sample must be callable as sample(generator) -> batch, got {type(sample).__name__}")
        self.sample = sample
        self.generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + rank)
        self.rank, self.world_size = rank, world_size

    def next_batch(self):
        return self.sample(self.generator)

    def __iter__(self):
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping) -> None:
        self.generator.set_state(state["generator"])


def _dataset_kind(ds) -> tuple[str, int]:
    if isinstance(ds, torch.Tensor):
        if ds.dim() == 0:
            raise ValueError("dataset is a 0-d tensor; put items along dimension 0")
        return "tensor", ds.shape[0]
    if isinstance(ds, (tuple, list)) and ds and all(isinstance(t, torch.Tensor) for t in ds):
        sizes = {t.shape[0] for t in ds}
        if len(sizes) != 1:
            raise ValueError(f"dataset tensors must share their first dimension, got sizes {sorted(sizes)}")
        return "tuple", sizes.pop()
    if isinstance(ds, Mapping) and ds and all(isinstance(t, torch.Tensor) for t in ds.values()):
        sizes = {t.shape[0] for t in ds.values()}
        if len(sizes) != 1:
            raise ValueError(f"dataset tensors must share their first dimension, got sizes {sorted(sizes)}")
        return "dict", sizes.pop()
    if hasattr(ds, "__len__") and hasattr(ds, "__getitem__") and not isinstance(ds, (str, bytes)):
        return "sequence", len(ds)
    raise TypeError(f"data of type {type(ds).__name__} is not supported: pass a tensor, a tuple/dict of tensors, a "
                    "dataset with __len__/__getitem__, a function sample(generator) -> batch, or a Batches object")


def as_batches(data, batch_size: int | None, *, shuffle: bool, seed: int, collate_fn, rank: int, world_size: int):
    """Canonical form at the Trainer boundary: anything accepted as ``data`` -> an object with
    ``next_batch``/``state_dict``/``load_state_dict``."""
    if hasattr(data, "next_batch") and hasattr(data, "state_dict") and hasattr(data, "load_state_dict"):
        return data
    if callable(data) and not isinstance(data, (torch.Tensor, Sequence, Mapping)) and not hasattr(data, "__len__"):
        return SampledBatches(data, seed=seed, rank=rank, world_size=world_size)
    if batch_size is None:
        raise ValueError("batch_size is required when data is a dataset; pass fit(data, batch_size=...)")
    return Batches(data, batch_size, shuffle=shuffle, seed=seed, collate_fn=collate_fn, rank=rank,
                   world_size=world_size)
