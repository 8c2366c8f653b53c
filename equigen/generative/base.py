"""The interface every equigen generative model shares: ``fit(data, ...)``, ``sample(num_samples, *, generator)``.

* ``event_shape``: the shape of one sample.
* ``fit(data, *, steps, batch_size, lr, seed, ...)`` trains in place for ``steps`` optimiser steps
  and returns a summary dict (final losses, steps, seconds). ``data`` is a tensor ``(N, *event_shape)``.
* ``sample(num_samples, *, generator=None, ...)`` returns ``num_samples`` samples
  ``(num_samples, *event_shape)`` without gradients, drawn with ``generator`` (a
  ``torch.Generator``) when given, so sampling is reproducible. Sequence models return a
  :class:`~equigen.generative.sequence.SampleOutput` whose ``seqs`` are those samples (with the
  evaluations spent and importance log-weights alongside).
* ``training_loss(batch, *, generator=None)``: the loss :meth:`GenerativeModel.fit` minimises
  (models trained by their own loop, such as the GAN, override ``fit`` instead).
* Conditional models set ``conditional = True`` and take ``cond=`` in both (one condition row per
  data row / per sample).
"""

from __future__ import annotations

import warnings

import torch

from equigen.core.blocks import mlp as _mlp
from equigen.core.validation import check_finite, check_non_negative_int, check_positive_float, check_tensor

__all__ = ["GenerativeModel", "mlp", "check_data", "check_num_samples", "check_n", "randn"]


class GenerativeModel(torch.nn.Module):
    """Base class: subclasses implement :meth:`fit` and :meth:`sample` with the signatures below.

    ``event_shape`` is the shape of one sample. Models that train with one optimiser provide
    ``training_loss(batch, *, generator=None)`` and inherit :meth:`fit`, which runs
    :class:`equigen.train.Trainer`.
    """

    conditional: bool = False
    event_shape: tuple = ()

    def fit(self, data, *, steps: int = 1000, batch_size: int = 256, lr: float = 1e-3, seed: int = 0,
            cond=None, **trainer_kwargs) -> dict:
        """Train on ``data`` (``(N, *event_shape)``) for ``steps`` optimiser steps; returns a summary.

        Extra keyword arguments go to :class:`equigen.train.Trainer` (``out_dir``, ``schedule``,
        ``clip_grad_norm``, ``ema_decay``, ...).
        """
        from equigen.train import Trainer

        data = self._check_fit_data(data)
        lr = check_positive_float(lr, "lr")
        if cond is not None or self.conditional:
            raise NotImplementedError(f"{type(self).__name__}.fit: conditional training is model-specific; "
                                      "override fit")
        trainer_kwargs.setdefault("progress", False)
        trainer = Trainer(self, lr=lr, seed=seed, **trainer_kwargs)
        out = trainer.fit(data, steps=steps, batch_size=min(batch_size, len(data)))
        self.history = trainer.history
        return out

    def sample(self, num_samples: int, *, generator: torch.Generator | None = None, cond=None) -> torch.Tensor:
        """``num_samples`` samples ``(num_samples, *event_shape)``, drawn with ``generator`` when given."""
        raise NotImplementedError

    def _check_fit_data(self, data) -> torch.Tensor:
        """The training data :meth:`fit` hands to the Trainer (default: :func:`check_data`)."""
        return check_data(data, self.event_shape, like=self)

    def _first_param(self) -> torch.Tensor:
        return next(self.parameters())


def check_data(data, event_shape: tuple, *, like: torch.nn.Module | None = None,
               argument: str = "data") -> torch.Tensor:
    """Validate training data: a finite tensor ``(N, *event_shape)``, ``N >= 2``; cast to the model's dtype/device."""
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"{argument} must be a torch.Tensor of shape (N, {', '.join(map(str, event_shape))}), "
                        f"got {type(data).__name__}")
    if data.dim() != 1 + len(event_shape) or tuple(data.shape[1:]) != tuple(event_shape):
        raise ValueError(f"{argument} must have shape (N, {', '.join(map(str, event_shape))}), got {tuple(data.shape)}")
    if len(data) < 2:
        raise ValueError(f"{argument} needs at least 2 rows, got {len(data)}")
    check_finite(data, argument, fix="clean it before training")
    if like is not None:
        p = next(like.parameters())
        data = data.to(dtype=p.dtype, device=p.device)
    return data


def randn(shape, *, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise with ``like``'s dtype/device, drawn on ``generator``'s device when given."""
    dev = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=dev).to(like.device)


def check_num_samples(num_samples) -> int:
    """The number of samples to draw: a non-negative integer (0 gives an empty batch)."""
    return check_non_negative_int(num_samples, "num_samples")


def check_n(n) -> int:
    """Deprecated alias of :func:`check_num_samples` (removed in the next release)."""
    warnings.warn("equigen.generative.base.check_n is deprecated; use check_num_samples", DeprecationWarning,
                  stacklevel=2)
    return check_num_samples(n)


def check_input(x, name: str, model: torch.nn.Module, width: int) -> torch.Tensor:
    """A finite ``(..., width)`` tensor in ``model``'s dtype (the input of an encoder, decoder or generator)."""
    check_tensor(x, name, floating=True, like=model)
    if x.dim() < 1 or x.shape[-1] != width:
        raise ValueError(f"{name} must have shape (..., {width}), got {tuple(x.shape)}")
    return x


def mlp(d_in: int, d_out: int, hidden: int, layers: int, *, activation=torch.nn.SiLU, dtype=None, device=None,
        wrap=None) -> torch.nn.Sequential:
    """``layers`` hidden layers of width ``hidden``; ``wrap`` (e.g. spectral_norm) is applied to each Linear."""
    if layers < 1 or hidden < 1:
        raise ValueError(f"need layers >= 1 and hidden >= 1, got layers={layers}, hidden={hidden}")
    return _mlp([d_in] + [hidden] * layers + [d_out], activation, wrap=wrap, dtype=dtype, device=device)
