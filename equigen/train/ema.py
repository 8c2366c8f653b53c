"""Exponential moving average of a model's weights.

``shadow <- decay * shadow + (1 - decay) * weights`` after every optimiser step (buffers are
copied). With ``warmup=True`` the decay of update ``n`` (from 0) is ``min(decay, (1 + n) / (10 + n))``,
so the initial weights fade quickly: without it they keep a weight ``decay^n`` (8% after 2500 steps
at 0.999), which matters for short runs. Averaged weights often evaluate and sample better than the raw ones (e.g. for
diffusion models). The average is a separate set of tensors; :meth:`EMA.swapped_into` puts it
in the model temporarily.

Example::

    ema = EMA(model, decay=0.999)
    ...; optimizer.step(); ema.update(model)
    with ema.swapped_into(model):
        evaluate(model)
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

__all__ = ["EMA"]


class EMA:
    """Moving average of ``model``'s floating-point parameters (``0 <= decay < 1``; ``warmup``: module doc)."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.999, *, warmup: bool = False):
        if not 0.0 <= float(decay) < 1.0:
            raise ValueError(f"ema decay must satisfy 0 <= decay < 1, got {decay!r} (typical: 0.999)")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.num_updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._params = {name for name, p in model.named_parameters() if p.is_floating_point()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        n = self.num_updates
        decay = min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay
        self.num_updates += 1
        for name, value in model.state_dict().items():
            if name in self._params:
                self.shadow[name].lerp_(value.detach(), 1.0 - decay)
            else:
                self.shadow[name].copy_(value)

    @contextmanager
    def swapped_into(self, model: torch.nn.Module):
        """Temporarily load the averaged weights into ``model`` (restored on exit)."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(backup)

    def copy_to(self, model: torch.nn.Module) -> None:
        """Load the averaged weights into ``model`` for good."""
        model.load_state_dict(self.shadow)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "warmup": self.warmup, "num_updates": self.num_updates,
                "shadow": dict(self.shadow)}

    def load_state_dict(self, state: dict) -> None:
        missing = set(self.shadow) ^ set(state["shadow"])
        if missing:
            raise ValueError(f"EMA state does not match the model: differing keys {sorted(missing)[:10]}")
        self.decay = float(state["decay"])
        self.warmup = bool(state.get("warmup", False))
        self.num_updates = int(state.get("num_updates", 0))
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)
