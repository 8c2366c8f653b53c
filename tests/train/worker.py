"""A small training run used by the trainer tests as a subprocess (plain python or torchrun).

It uses every source of state a resume must restore: shuffled epochs, dropout (global torch RNG),
noise from the trainer's generator, numpy and python ``random`` draws, AdamW moments, a warm-up +
cosine schedule, gradient clipping and an EMA. ``--pause-at-step S`` makes the loss function write
``<out>/PAUSED`` and sleep at the start of step S + 1, so the test can SIGKILL the process mid-step.
At the end rank 0 writes the final weights and EMA to ``--result``.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
import torch

from equigen.train import Trainer


def make_model(dtype, dropout: float) -> torch.nn.Module:
    g = torch.Generator().manual_seed(1234)
    model = torch.nn.Sequential(torch.nn.Linear(4, 32, dtype=dtype), torch.nn.Tanh(), torch.nn.Dropout(dropout),
                                torch.nn.Linear(32, 2, dtype=dtype))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype) * 0.3)
    return model


def make_data(dtype, n: int = 48):
    g = torch.Generator().manual_seed(99)
    x = torch.randn(n, 4, generator=g, dtype=dtype)
    y = torch.stack([x[:, 0] * x[:, 1], torch.sin(x[:, 2]) + x[:, 3]], dim=1)
    return x, y


def run(out: str | None, steps: int, *, checkpoint_every: int = 5, batch_size: int = 12, dtype=torch.float32,
        stochastic: bool = True, pause_at_step: int | None = None, result: str | None = None, seed: int = 0):
    calls = {"n": 0}

    def loss_fn(model, batch, generator):
        calls["n"] += 1
        if pause_at_step is not None and calls["n"] == pause_at_step + 1:
            Path(out, "PAUSED").write_text(str(pause_at_step))
            time.sleep(120)
        x, y = batch
        pred = model(x)
        loss = torch.nn.functional.mse_loss(pred, y)
        if stochastic:  # randomness from the trainer's generator, numpy and python's random module
            noise = torch.randn(pred.shape, generator=generator, dtype=pred.dtype)
            loss = loss + 1e-2 * (pred * noise).mean() * (1.0 + 0.1 * float(np.random.rand()) + 0.1 * random.random())
        return {"loss": loss, "pred_mean": pred.mean()}

    trainer = Trainer(make_model(dtype, 0.1 if stochastic else 0.0), loss_fn, lr=2e-2, weight_decay=1e-3,
                      schedule="cosine", warmup_steps=3, clip_grad_norm=1.0, ema_decay=0.9, out_dir=out,
                      checkpoint_every=checkpoint_every, log_every=1, progress=False, seed=seed)
    summary = trainer.fit(make_data(dtype), steps=steps, batch_size=batch_size)
    if result is not None and trainer.rank == 0:
        torch.save({"model": trainer.model.state_dict(), "ema": trainer.ema.state_dict()["shadow"],
                    "summary": summary, "world_size": trainer.world_size}, result)
    return trainer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=None)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--checkpoint-every", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=12)
    parser.add_argument("--float64", action="store_true")
    parser.add_argument("--deterministic-loss", action="store_true")
    parser.add_argument("--pause-at-step", type=int, default=None)
    parser.add_argument("--result", default=None)
    a = parser.parse_args()
    run(a.out, a.steps, checkpoint_every=a.checkpoint_every, batch_size=a.batch_size,
        dtype=torch.float64 if a.float64 else torch.float32, stochastic=not a.deterministic_loss,
        pause_at_step=a.pause_at_step, result=a.result)


if __name__ == "__main__":
    main()
